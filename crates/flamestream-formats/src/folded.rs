//! Text formats: `folded` (`frame;frame;frame count` per line) and `lines` (one stack a line,
//! counted once).
//!
//! Unlike the peers: there is no 64 KiB line limit, negative or non-integer counts are skipped
//! rather than wrapped, and every skipped line is counted so the caller can report it.

use crate::builder::Builder;
use crate::DecodeError;
use flamestream_model::profile_type::SuffixType;
use flamestream_model::{Limits, Profile};
use std::borrow::Cow;

fn text(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

fn trim_end(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b' ' | b'\t' | b'\r'] = line {
        line = rest;
    }
    line
}

/// Frames of a `;`-separated stack, root first; empty frames are left out.
fn frames(stack: &str) -> impl Iterator<Item = &str> {
    stack.split(';').filter(|f| !f.is_empty())
}

/// Parses the count of a folded line: ASCII digits only, at most `i64::MAX`.
fn count(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 19 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let v: u64 = std::str::from_utf8(text).ok()?.parse().ok()?;
    (v <= i64::MAX as u64).then_some(v)
}

/// Decodes a folded body. Returns the profile and the number of skipped lines (no space, no
/// valid non-negative integer count, or an empty stack). Empty lines are not counted.
///
/// # Errors
/// [`DecodeError::Limit`] `max_samples` when more lines than allowed carry a stack.
pub fn decode_folded(
    body: &[u8],
    ty: &SuffixType,
    sample_rate: u32,
    limits: &Limits,
) -> Result<(Profile, u64), DecodeError> {
    let mut b = Builder::new(ty, sample_rate, limits);
    let mut skipped = 0u64;
    for line in body.split(|&c| c == b'\n') {
        let line = trim_end(line);
        if line.is_empty() {
            continue;
        }
        let Some(space) = line.iter().rposition(|&c| c == b' ') else {
            skipped += 1;
            continue;
        };
        let (stack, n) = (trim_end(&line[..space]), &line[space + 1..]);
        let Some(n) = count(n) else {
            skipped += 1;
            continue;
        };
        let stack = text(stack);
        if frames(&stack).next().is_none() {
            skipped += 1;
            continue;
        }
        b.add_names(frames(&stack), n)?;
    }
    Ok((b.finish(), skipped))
}

/// Decodes a `lines` body: each non-empty line is a stack counted once.
///
/// # Errors
/// [`DecodeError::Limit`] `max_samples` when there are more lines than allowed.
pub fn decode_lines(
    body: &[u8],
    ty: &SuffixType,
    sample_rate: u32,
    limits: &Limits,
) -> Result<Profile, DecodeError> {
    let mut b = Builder::new(ty, sample_rate, limits);
    for line in body.split(|&c| c == b'\n') {
        let line = trim_end(line);
        if line.is_empty() {
            continue;
        }
        let stack = text(line);
        if frames(&stack).next().is_none() {
            continue;
        }
        b.add_names(frames(&stack), 1)?;
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flamestream_model::profile_type::type_for_suffix;
    use proptest::prelude::*;

    fn cpu() -> SuffixType {
        type_for_suffix("cpu", 100).unwrap()
    }

    fn stacks(p: &Profile) -> Vec<(String, i64)> {
        if p.series.is_empty() {
            return Vec::new();
        }
        p.named_stacks(0)
            .into_iter()
            .map(|(f, v)| (f.join(";"), v))
            .collect()
    }

    #[test]
    fn folded_lines_split_at_the_last_space_and_add_up() {
        let body = b"main;work 1\nmain;work 2\r\nmain;a b;c 3\n\nmain 0\n";
        let (p, skipped) = decode_folded(body, &cpu(), 100, &Limits::default()).unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(
            stacks(&p),
            vec![
                ("main;a b;c".into(), 30_000_000),
                ("main;work".into(), 30_000_000)
            ]
        );
        assert_eq!(
            p.series[0].profile_type.id(),
            "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
        );
    }

    #[test]
    fn bad_lines_are_skipped_and_counted() {
        let body = b"nospace\na;b -3\na;b 1.5\na;b x\n 7\na;b 99999999999999999999\na;b 2\n";
        let (p, skipped) = decode_folded(
            body,
            &type_for_suffix("alloc_objects", 100).unwrap(),
            100,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(skipped, 6);
        assert_eq!(stacks(&p), vec![("a;b".into(), 2)]);
    }

    #[test]
    fn long_lines_are_fine() {
        let frame = "f".repeat(100);
        let stack = vec![frame.as_str(); 1000].join(";");
        let body = format!("{stack} 5\nx 1\n");
        let (p, skipped) = decode_folded(
            body.as_bytes(),
            &type_for_suffix("cpu", 0).unwrap(),
            0,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(p.series[0].samples.total(), 6);
    }

    #[test]
    fn limits_apply() {
        let limits = Limits {
            max_samples: 2,
            max_stack_depth: 2,
            max_symbol_bytes: 3,
            ..Limits::default()
        };
        let (p, _) = decode_folded(b"abcdef;b;c 1\n", &cpu(), 0, &limits).unwrap();
        assert_eq!(stacks(&p), vec![("abc;b".into(), 1)]);
        let err = decode_folded(b"a 1\nb 1\nc 1\n", &cpu(), 0, &limits).unwrap_err();
        assert_eq!(err.to_string(), "`max_samples` exceeded: 3 > 2");
    }

    #[test]
    fn lines_count_each_line_once() {
        let p = decode_lines(
            b"a;b\na;b\r\n\na;c\n",
            &type_for_suffix("cpu", 0).unwrap(),
            0,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(stacks(&p), vec![("a;b".into(), 2), ("a;c".into(), 1)]);
    }

    #[test]
    fn async_profiler_fixture() {
        let body = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/async-profiler/test/test/jfrconverter/sample1.collapsed"
        ))
        .unwrap();
        let expected: u64 = String::from_utf8_lossy(&body)
            .lines()
            .filter_map(|l| l.rsplit_once(' ').and_then(|(_, n)| n.parse::<u64>().ok()))
            .sum();
        let (p, skipped) = decode_folded(
            &body,
            &type_for_suffix("cpu", 0).unwrap(),
            0,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(skipped, 0);
        assert_eq!(p.series[0].samples.total() as u64, expected);
    }

    proptest! {
        #[test]
        fn folded_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_folded(&body, &cpu(), 100, &Limits::default());
            let _ = decode_lines(&body, &cpu(), 100, &Limits::default());
        }

        #[test]
        fn folded_text_never_panics(body in "[a-c; 0-9\\-\n]{0,200}") {
            let _ = decode_folded(body.as_bytes(), &cpu(), 7, &Limits::default());
        }
    }
}
