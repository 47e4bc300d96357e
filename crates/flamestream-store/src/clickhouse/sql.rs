//! Client-side value binding (ClickHouse 18.16 has no server-side query parameters), the
//! RowBinary encoding used for inserts and reads, and the mapping of ClickHouse's errors.

use crate::StoreError;

/// `s` as a ClickHouse string literal: single-quoted, with `\` and `'` escaped and every control
/// character written as `\xHH`, so no input can end the literal or the statement.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// True for a database name flamestream accepts: `[A-Za-z_][A-Za-z0-9_]*`, at most 64 bytes.
/// Identifiers are interpolated into DDL, so nothing else is allowed in.
pub fn is_plain_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && s.len() <= 64
}

/// A comma-separated list of integers for `IN (...)`.
pub fn int_list<T: std::fmt::Display>(ids: &[T]) -> String {
    let mut s = String::with_capacity(ids.len() * 20);
    for (i, id) in ids.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&id.to_string());
    }
    s
}

/// Appends RowBinary values to a buffer.
#[derive(Debug, Default)]
pub struct RowBinary {
    /// The encoded rows.
    pub buf: Vec<u8>,
    /// Rows written so far.
    pub rows: usize,
}

impl RowBinary {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ends a row (for counting only).
    pub fn end_row(&mut self) {
        self.rows += 1;
    }

    /// `Int64`.
    pub fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `UInt64`.
    pub fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `Int32`.
    pub fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// `UInt32` and `DateTime` (seconds since the epoch).
    pub fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// LEB128 length prefix.
    pub fn varint(&mut self, mut v: u64) {
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.buf.push(byte);
                return;
            }
            self.buf.push(byte | 0x80);
        }
    }

    /// `String` (also `LowCardinality(String)`).
    pub fn string(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
    }

    /// `Array(String)`.
    pub fn strings<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a str>) {
        self.varint(items.len() as u64);
        for s in items {
            self.string(s);
        }
    }
}

/// Reads RowBinary values from a query result.
#[derive(Debug)]
pub struct RowReader<'a> {
    buf: &'a [u8],
    pos: usize,
}

fn short() -> StoreError {
    StoreError::Other("clickhouse: truncated RowBinary result".to_string())
}

impl<'a> RowReader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        RowReader { buf, pos: 0 }
    }

    /// True when every byte was read.
    pub fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], StoreError> {
        let end = self.pos.checked_add(n).ok_or_else(short)?;
        let slice = self.buf.get(self.pos..end).ok_or_else(short)?;
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// `Int64`.
    pub fn i64(&mut self) -> Result<i64, StoreError> {
        Ok(i64::from_le_bytes(self.array()?))
    }

    /// `UInt64`.
    pub fn u64(&mut self) -> Result<u64, StoreError> {
        Ok(u64::from_le_bytes(self.array()?))
    }

    /// `Int32`.
    pub fn i32(&mut self) -> Result<i32, StoreError> {
        Ok(i32::from_le_bytes(self.array()?))
    }

    /// `UInt32` / `DateTime`.
    pub fn u32(&mut self) -> Result<u32, StoreError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    /// LEB128.
    pub fn varint(&mut self) -> Result<u64, StoreError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(StoreError::Other(
            "clickhouse: varint too long in RowBinary result".to_string(),
        ))
    }

    /// `String`.
    pub fn string(&mut self) -> Result<String, StoreError> {
        let n = usize::try_from(self.varint()?).map_err(|_| short())?;
        let bytes = self.take(n)?;
        Ok(String::from_utf8_lossy(bytes).into_owned())
    }

    /// `Array(String)` joined by `sep`.
    pub fn strings_joined(&mut self, sep: char) -> Result<String, StoreError> {
        let n = self.varint()?;
        let mut out = String::new();
        for i in 0..n {
            if i > 0 {
                out.push(sep);
            }
            out.push_str(&self.string()?);
        }
        Ok(out)
    }
}

/// ClickHouse error codes that say "try again later" rather than "this request is wrong".
const TRANSIENT_CODES: &[u32] = &[
    159, // TIMEOUT_EXCEEDED
    202, // TOO_MANY_SIMULTANEOUS_QUERIES
    203, // NO_FREE_CONNECTION
    209, // SOCKET_TIMEOUT
    210, // NETWORK_ERROR
    241, // MEMORY_LIMIT_EXCEEDED
    242, // TABLE_IS_READ_ONLY
    252, // TOO_MANY_PARTS
    279, // ALL_CONNECTION_TRIES_FAILED
    394, // QUERY_WAS_CANCELLED (server shutting down)
    425, // SYSTEM_ERROR
    999, // KEEPER_EXCEPTION
];

/// The `Code: N` of a ClickHouse exception text.
pub fn exception_code(body: &str) -> Option<u32> {
    let rest = body.trim_start().strip_prefix("Code: ")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Maps an HTTP error answer to a [`StoreError`]: ClickHouse exceptions are
/// [`StoreError::Other`] with ClickHouse's message, except the transient ones (timeouts, too
/// many parts, memory, shutdown); any other 5xx (a proxy, a server starting) is
/// [`StoreError::Unavailable`] so the pipeline retries.
pub fn status_error(status: u16, body: &str, what: &str) -> StoreError {
    let message = body.trim();
    let message: String = message.chars().take(2000).collect();
    match exception_code(&message) {
        Some(code) if TRANSIENT_CODES.contains(&code) => {
            StoreError::Unavailable(format!("clickhouse {what}: {message}"))
        }
        Some(_) => StoreError::Other(format!("clickhouse {what}: {message}")),
        None if status >= 500 || status == 429 || status == 408 => {
            StoreError::Unavailable(format!("clickhouse {what}: http {status}: {message}"))
        }
        None => StoreError::Other(format!("clickhouse {what}: http {status}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_escapes_quotes_backslashes_and_controls() {
        assert_eq!(quote("plain"), "'plain'");
        assert_eq!(quote("it's"), r"'it\'s'");
        assert_eq!(quote(r"a\b"), r"'a\\b'");
        assert_eq!(quote("a\nb\tc\0"), r"'a\x0Ab\x09c\x00'");
        assert_eq!(quote(r"\'; DROP TABLE x; --"), r"'\\\'; DROP TABLE x; --'");
        assert_eq!(quote("ünï 火"), "'ünï 火'");
        assert_eq!(quote(""), "''");
    }

    #[test]
    fn identifiers_are_plain() {
        assert!(is_plain_identifier("flamestream"));
        assert!(is_plain_identifier("_t1"));
        assert!(!is_plain_identifier("1abc"));
        assert!(!is_plain_identifier("a-b"));
        assert!(!is_plain_identifier("a`b"));
        assert!(!is_plain_identifier(""));
    }

    #[test]
    fn row_binary_round_trips() {
        let mut w = RowBinary::new();
        w.i64(-5);
        w.u64(u64::MAX);
        w.i32(-1);
        w.u32(1_700_000_000);
        w.string("héllo");
        w.string(&"x".repeat(300));
        w.strings(["a", "b\nc"].into_iter());
        let mut r = RowReader::new(&w.buf);
        assert_eq!(r.i64().unwrap(), -5);
        assert_eq!(r.u64().unwrap(), u64::MAX);
        assert_eq!(r.i32().unwrap(), -1);
        assert_eq!(r.u32().unwrap(), 1_700_000_000);
        assert_eq!(r.string().unwrap(), "héllo");
        assert_eq!(r.string().unwrap().len(), 300);
        assert_eq!(r.strings_joined('|').unwrap(), "a|b\nc");
        assert!(r.is_empty());
        assert!(r.i64().is_err());
    }

    #[test]
    fn errors_are_classified() {
        let e = status_error(
            404,
            "Code: 60, e.displayText() = DB::Exception: Table x.y doesn't exist.",
            "select",
        );
        assert!(matches!(e, StoreError::Other(m) if m.contains("doesn't exist")));
        let e = status_error(
            500,
            "Code: 252, e.displayText() = DB::Exception: Too many parts",
            "insert",
        );
        assert!(matches!(e, StoreError::Unavailable(_)));
        let e = status_error(502, "Bad Gateway", "insert");
        assert!(matches!(e, StoreError::Unavailable(_)));
        let e = status_error(403, "forbidden", "select");
        assert!(matches!(e, StoreError::Other(_)));
        assert_eq!(exception_code("Code: 62, e.displayText()"), Some(62));
        assert_eq!(exception_code("nope"), None);
    }
}
