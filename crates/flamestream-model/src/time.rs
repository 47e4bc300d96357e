//! Unix times whose unit is told by their digit count: ≤10 digits seconds, 11–13 milliseconds,
//! 14–16 microseconds, ≥17 nanoseconds (Go sends ns, Java s, old .NET ms).

/// Why a time parameter was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("time `{0}` is invalid: send a Unix time in s, ms, µs or ns")]
pub struct TimeError(pub String);

/// Parses a Unix time in any of the four units into nanoseconds since the epoch.
///
/// # Errors
/// [`TimeError`] when the text is not a non-negative integer or overflows.
pub fn parse_unix_time_ns(text: &str) -> Result<i64, TimeError> {
    let digits = text.trim();
    let value: i64 = digits
        .parse()
        .ok()
        .filter(|v| *v >= 0)
        .ok_or_else(|| TimeError(text.to_string()))?;
    let n = digits.trim_start_matches('0').len();
    let scale: i64 = match n {
        0..=10 => 1_000_000_000,
        11..=13 => 1_000_000,
        14..=16 => 1_000,
        _ => 1,
    };
    value
        .checked_mul(scale)
        .ok_or_else(|| TimeError(text.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_by_digit_count() {
        let s = 1_700_000_000_i64;
        assert_eq!(parse_unix_time_ns("1700000000").unwrap(), s * 1_000_000_000);
        assert_eq!(
            parse_unix_time_ns("1700000000123").unwrap(),
            s * 1_000_000_000 + 123_000_000
        );
        assert_eq!(
            parse_unix_time_ns("1700000000123456").unwrap(),
            s * 1_000_000_000 + 123_456_000
        );
        assert_eq!(
            parse_unix_time_ns("1700000000123456789").unwrap(),
            s * 1_000_000_000 + 123_456_789
        );
        assert!(parse_unix_time_ns("-1").is_err());
        assert!(parse_unix_time_ns("abc").is_err());
    }
}
