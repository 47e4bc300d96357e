//! A bounds-checked cursor over JFR bytes: big-endian fixed-width values, or JFR's
//! LEB128-like varints (the ninth byte carries eight bits) when a chunk uses compressed ints.

/// An error inside one chunk; the caller adds the chunk number and the position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReadError(pub(crate) String);

impl ReadError {
    pub(crate) fn new(msg: impl Into<String>) -> Self {
        ReadError(msg.into())
    }
}

pub(crate) type Res<T> = Result<T, ReadError>;

pub(crate) fn eof() -> ReadError {
    ReadError::new("unexpected end of data")
}

/// A cursor over a byte slice.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pub(crate) pos: usize,
    /// Ints, longs, shorts and chars are varints (chunk feature bit 0).
    pub(crate) compressed: bool,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8], pos: usize, compressed: bool) -> Self {
        Reader {
            buf,
            pos,
            compressed,
        }
    }

    /// Bytes left after the cursor.
    #[inline]
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    #[inline]
    pub(crate) fn u8(&mut self) -> Res<u8> {
        let b = *self.buf.get(self.pos).ok_or_else(eof)?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    pub(crate) fn bytes(&mut self, n: usize) -> Res<&'a [u8]> {
        if n > self.remaining() {
            return Err(eof());
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    #[inline]
    pub(crate) fn skip(&mut self, n: usize) -> Res<()> {
        if n > self.remaining() {
            return Err(eof());
        }
        self.pos += n;
        Ok(())
    }

    #[inline]
    fn fixed<const N: usize>(&mut self) -> Res<[u8; N]> {
        let s = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }

    /// JFR varint: seven bits a byte, least significant first; the ninth byte carries eight.
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Res<u64> {
        // One- and two-byte values (ids and line numbers below 16 Ki) are most of them.
        if let Some(&[b0, b1]) = self.buf.get(self.pos..self.pos + 2) {
            if b0 < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b0));
            }
            if b1 < 0x80 {
                self.pos += 2;
                return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
            }
        }
        self.varint_slow()
    }

    /// Skips one JFR varint.
    #[inline(always)]
    pub(crate) fn skip_varint(&mut self) -> Res<()> {
        if let Some(&b) = self.buf.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(());
            }
        }
        self.varint_slow().map(|_| ())
    }

    #[inline(never)]
    fn varint_slow(&mut self) -> Res<u64> {
        let buf = self.buf;
        let mut pos = self.pos;
        let mut v: u64 = 0;
        for i in 0..8 {
            let b = *buf.get(pos).ok_or_else(eof)?;
            pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.pos = pos;
                return Ok(v);
            }
        }
        let b = *buf.get(pos).ok_or_else(eof)?;
        self.pos = pos + 1;
        Ok(v | (u64::from(b) << 56))
    }

    /// A Java `int` (raw bits, zero-extended).
    #[inline]
    pub(crate) fn int(&mut self) -> Res<u32> {
        if self.compressed {
            Ok(self.varint()? as u32)
        } else {
            Ok(u32::from_be_bytes(self.fixed()?))
        }
    }

    /// A Java `long` (raw bits).
    #[inline]
    pub(crate) fn long(&mut self) -> Res<u64> {
        if self.compressed {
            self.varint()
        } else {
            Ok(u64::from_be_bytes(self.fixed()?))
        }
    }

    /// A Java `short` or `char` (raw bits).
    #[inline]
    pub(crate) fn short(&mut self) -> Res<u16> {
        if self.compressed {
            Ok(self.varint()? as u16)
        } else {
            Ok(u16::from_be_bytes(self.fixed()?))
        }
    }

    /// A count (array length, string length) that must fit in what is left, since each
    /// counted item takes at least one byte.
    #[inline]
    pub(crate) fn count(&mut self, what: &str) -> Res<usize> {
        let n = self.int()? as usize;
        if n > self.remaining() {
            return Err(ReadError::new(format!(
                "{what} count `{n}` exceeds the `{}` bytes left",
                self.remaining()
            )));
        }
        Ok(n)
    }

    /// Fixed big-endian u16/u32/u64 regardless of compression (chunk header).
    pub(crate) fn be_u16(&mut self) -> Res<u16> {
        Ok(u16::from_be_bytes(self.fixed()?))
    }
    pub(crate) fn be_u32(&mut self) -> Res<u32> {
        Ok(u32::from_be_bytes(self.fixed()?))
    }
    pub(crate) fn be_u64(&mut self) -> Res<u64> {
        Ok(u64::from_be_bytes(self.fixed()?))
    }
}

/// A string as it is encoded, not yet decoded (decoding allocates; most strings are skipped).
#[derive(Debug, Clone, Copy)]
pub(crate) enum JStr<'a> {
    Null,
    Empty,
    /// A reference into the `java.lang.String` constant pool.
    Ref(u64),
    Utf8(&'a [u8]),
    /// `n` chars, each a short (varint or two bytes), in `raw`.
    Chars {
        raw: &'a [u8],
        n: usize,
        compressed: bool,
    },
    Latin1(&'a [u8]),
}

impl<'a> Reader<'a> {
    /// Reads an encoded string.
    pub(crate) fn string(&mut self) -> Res<JStr<'a>> {
        match self.u8()? {
            0 => Ok(JStr::Null),
            1 => Ok(JStr::Empty),
            2 => Ok(JStr::Ref(self.long()?)),
            3 => {
                let n = self.count("string byte")?;
                Ok(JStr::Utf8(self.bytes(n)?))
            }
            4 => {
                let n = self.count("string char")?;
                let start = self.pos;
                for _ in 0..n {
                    self.short()?;
                }
                Ok(JStr::Chars {
                    raw: &self.buf[start..self.pos],
                    n,
                    compressed: self.compressed,
                })
            }
            5 => {
                let n = self.count("string byte")?;
                Ok(JStr::Latin1(self.bytes(n)?))
            }
            e => Err(ReadError::new(format!("unknown string encoding `{e}`"))),
        }
    }

    /// Skips an encoded string without decoding it.
    #[inline]
    pub(crate) fn skip_string(&mut self) -> Res<()> {
        match self.u8()? {
            0 | 1 => Ok(()),
            2 => self.long().map(|_| ()),
            3 | 5 => {
                let n = self.count("string byte")?;
                self.skip(n)
            }
            4 => {
                let n = self.count("string char")?;
                for _ in 0..n {
                    self.short()?;
                }
                Ok(())
            }
            e => Err(ReadError::new(format!("unknown string encoding `{e}`"))),
        }
    }
}

impl JStr<'_> {
    /// Appends the decoded text of a non-reference string to `out` (a `Ref` appends nothing).
    pub(crate) fn push_to(&self, out: &mut String) {
        match *self {
            JStr::Utf8(b) => match std::str::from_utf8(b) {
                Ok(s) => out.push_str(s),
                Err(_) => out.push_str(&String::from_utf8_lossy(b)),
            },
            JStr::Latin1(b) => out.extend(b.iter().map(|&c| c as char)),
            JStr::Null | JStr::Empty | JStr::Ref(_) => {}
            JStr::Chars { .. } => out.push_str(&self.decode(|_| None)),
        }
    }

    /// Decodes the string; `Ref` is resolved by `lookup` (unknown refs decode as empty).
    pub(crate) fn decode(&self, lookup: impl Fn(u64) -> Option<String>) -> String {
        match *self {
            JStr::Null | JStr::Empty => String::new(),
            JStr::Ref(id) => lookup(id).unwrap_or_default(),
            JStr::Utf8(b) => String::from_utf8_lossy(b).into_owned(),
            JStr::Latin1(b) => b.iter().map(|&c| c as char).collect(),
            JStr::Chars { raw, n, compressed } => {
                let mut r = Reader::new(raw, 0, compressed);
                let mut units = Vec::with_capacity(n);
                for _ in 0..n {
                    match r.short() {
                        Ok(u) => units.push(u),
                        Err(_) => break,
                    }
                }
                String::from_utf16_lossy(&units)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_decodes_nine_byte_values() {
        let mut r = Reader::new(
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            0,
            true,
        );
        assert_eq!(r.varint().unwrap(), u64::MAX);
        let mut r = Reader::new(&[0xac, 0x02], 0, true);
        assert_eq!(r.varint().unwrap(), 300);
        let mut r = Reader::new(&[0xac], 0, true);
        assert!(r.varint().is_err());
    }

    #[test]
    fn fixed_ints_when_uncompressed() {
        let mut r = Reader::new(&[0, 0, 1, 0, 0xff, 0xff], 0, false);
        assert_eq!(r.int().unwrap(), 256);
        assert_eq!(r.short().unwrap(), 0xffff);
    }

    #[test]
    fn count_is_bounded_by_input() {
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 0x0f], 0, true);
        assert!(r.count("array").is_err());
    }
}
