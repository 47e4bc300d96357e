//! A minimal protobuf wire reader (and LEB128 varints for trie/tree), used on the hot paths
//! where prost's owned messages would allocate per sample.

/// Why the wire bytes could not be read. Turned into `DecodeError::Invalid` by the callers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireError {
    /// The input ended inside a value.
    Truncated,
    /// A varint longer than 10 bytes.
    VarintTooLong,
    /// A field number 0 or past 2^29 − 1, or a wire type protobuf does not define (3, 4, 6, 7:
    /// groups are refused). Tags past `u32::MAX` are kept as `u32::MAX`, so that the error
    /// is 8 bytes and the reader's results travel in registers.
    BadTag(u32),
    /// A field with the wrong wire type for its declared type.
    WrongWireType { field: u32, wire_type: u8 },
}

// The reader's results fit in two registers.
const _: () = assert!(std::mem::size_of::<WireError>() <= 8);

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Truncated => f.write_str("input ends inside a value"),
            WireError::VarintTooLong => f.write_str("varint longer than 10 bytes"),
            WireError::BadTag(u32::MAX) => f.write_str("invalid field tag (≥ 2^32)"),
            WireError::BadTag(t) => write!(f, "invalid field tag `{t}`"),
            WireError::WrongWireType { field, wire_type } => {
                write!(f, "field `{field}` has wire type `{wire_type}`")
            }
        }
    }
}

/// Protobuf wire types we accept.
pub(crate) const WT_VARINT: u8 = 0;
pub(crate) const WT_I64: u8 = 1;
pub(crate) const WT_LEN: u8 = 2;
pub(crate) const WT_I32: u8 = 5;

/// A cursor over protobuf (or plain LEB128) bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    /// The next byte, not consumed. The fast paths of the decoders match it against the
    /// one-byte keys of the fields they expect (`advance` then reads on) and hand any other byte
    /// to [`Reader::key`], so that both ways accept and refuse the same inputs.
    #[inline(always)]
    pub(crate) fn peek(&self) -> Option<u8> {
        self.buf.get(self.pos).copied()
    }

    /// Consumes the byte [`Reader::peek`] returned.
    #[inline(always)]
    pub(crate) fn advance(&mut self) {
        debug_assert!(self.pos < self.buf.len());
        self.pos += 1;
    }

    /// Consumes the next byte when it is `key` (a one-byte field key); true when it did. The
    /// decoders read the fields in the order Go writes them with this before their general
    /// loop: a run of well-predicted tests instead of a jump per field.
    #[inline(always)]
    pub(crate) fn eat(&mut self, key: u8) -> bool {
        let hit = self.peek() == Some(key);
        if hit {
            self.pos += 1;
        }
        hit
    }

    /// Skips one varint without decoding it (the same errors as [`Reader::varint`]).
    #[inline(always)]
    pub(crate) fn skip_varint(&mut self) -> Result<(), WireError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        // One and two bytes (flags, ids, line numbers) first.
        match rest {
            [b, ..] if *b < 0x80 => {
                self.pos += 1;
                return Ok(());
            }
            [_, b, ..] if *b < 0x80 => {
                self.pos += 2;
                return Ok(());
            }
            _ => {}
        }
        if let Some(word) = rest.get(..8) {
            // Eight bytes at once: the first byte without its continuation bit ends the varint.
            let word = u64::from_le_bytes(word.try_into().unwrap_or([0xff; 8]));
            let ends = !word & 0x8080_8080_8080_8080;
            if ends != 0 {
                self.pos += ends.trailing_zeros() as usize / 8 + 1;
                return Ok(());
            }
        }
        match rest.iter().take(10).position(|&b| b < 0x80) {
            Some(i) => {
                self.pos += i + 1;
                Ok(())
            }
            None if rest.len() < 10 => Err(WireError::Truncated),
            None => Err(WireError::VarintTooLong),
        }
    }

    /// Reads one unsigned LEB128 varint (at most 10 bytes).
    #[inline(always)]
    pub(crate) fn varint(&mut self) -> Result<u64, WireError> {
        // Fast paths: one and two bytes (ids and small values).
        if let Some(&b0) = self.buf.get(self.pos) {
            if b0 < 0x80 {
                self.pos += 1;
                return Ok(u64::from(b0));
            }
            if let Some(&b1) = self.buf.get(self.pos + 1) {
                if b1 < 0x80 {
                    self.pos += 2;
                    return Ok(u64::from(b0 & 0x7f) | (u64::from(b1) << 7));
                }
            }
        }
        // The slow path gets the bytes and the position, not `self`: a reader whose address
        // reached a call could not stay in registers in the decoders' loops.
        let (value, pos) = varint_slow(self.buf, self.pos)?;
        self.pos = pos;
        Ok(value)
    }

    /// Reads `n` bytes.
    #[inline]
    pub(crate) fn bytes(&mut self, n: u64) -> Result<&'a [u8], WireError> {
        let n = usize::try_from(n).map_err(|_| WireError::Truncated)?;
        if n > self.remaining() {
            return Err(WireError::Truncated);
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    /// Reads a length-delimited payload.
    #[inline]
    pub(crate) fn len_delimited(&mut self) -> Result<&'a [u8], WireError> {
        let n = self.varint()?;
        self.bytes(n)
    }

    /// Reads a field key: `(field number, wire type)`.
    #[inline]
    pub(crate) fn key(&mut self) -> Result<(u32, u8), WireError> {
        let k = self.varint()?;
        let wt = (k & 7) as u8;
        let field = k >> 3;
        if field == 0
            || field > u64::from(u32::MAX >> 3)
            || !matches!(wt, WT_VARINT | WT_I64 | WT_LEN | WT_I32)
        {
            return Err(WireError::BadTag(u32::try_from(k).unwrap_or(u32::MAX)));
        }
        Ok((field as u32, wt))
    }

    /// Skips the value of a field of wire type `wt`.
    #[inline(always)]
    pub(crate) fn skip(&mut self, wt: u8) -> Result<(), WireError> {
        match wt {
            WT_VARINT => self.varint().map(|_| ()),
            WT_I64 => self.bytes(8).map(|_| ()),
            WT_LEN => self.len_delimited().map(|_| ()),
            WT_I32 => self.bytes(4).map(|_| ()),
            other => Err(WireError::BadTag(u32::from(other))),
        }
    }

    /// Reads a varint-typed scalar field value (`int64`, `uint64`, `bool`…).
    #[inline]
    pub(crate) fn scalar(&mut self, field: u32, wt: u8) -> Result<u64, WireError> {
        if wt != WT_VARINT {
            return Err(WireError::WrongWireType {
                field,
                wire_type: wt,
            });
        }
        self.varint()
    }

    /// Reads a length-delimited field value (strings, bytes, messages).
    #[inline]
    pub(crate) fn message(&mut self, field: u32, wt: u8) -> Result<&'a [u8], WireError> {
        if wt != WT_LEN {
            return Err(WireError::WrongWireType {
                field,
                wire_type: wt,
            });
        }
        self.len_delimited()
    }

    /// Reads a repeated varint field, packed (`wt == 2`) or not, calling `f` for each value.
    #[inline]
    pub(crate) fn repeated_varint(
        &mut self,
        field: u32,
        wt: u8,
        mut f: impl FnMut(u64) -> Result<(), WireError>,
    ) -> Result<(), WireError> {
        match wt {
            WT_VARINT => f(self.varint()?),
            WT_LEN => {
                let mut inner = Reader::new(self.len_delimited()?);
                while !inner.is_empty() {
                    f(inner.varint()?)?;
                }
                Ok(())
            }
            _ => Err(WireError::WrongWireType {
                field,
                wire_type: wt,
            }),
        }
    }
}

/// A varint of three bytes or more (or a truncated or too long one) at `pos`: its value and
/// the position after it.
#[cold]
#[inline(never)]
fn varint_slow(buf: &[u8], mut pos: usize) -> Result<(u64, usize), WireError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let b = *buf.get(pos).ok_or(WireError::Truncated)?;
        pos += 1;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Ok((value, pos));
        }
    }
    Err(WireError::VarintTooLong)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut r = Reader::new(&[
            0x01, 0xac, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        assert_eq!(r.varint(), Ok(1));
        assert_eq!(r.varint(), Ok(300));
        assert_eq!(r.varint(), Ok(u64::MAX));
        assert!(r.is_empty());
        assert_eq!(Reader::new(&[0x80]).varint(), Err(WireError::Truncated));
        assert_eq!(
            Reader::new(&[0x80; 11]).varint(),
            Err(WireError::VarintTooLong)
        );
    }

    #[test]
    fn skip_varint_fails_like_varint() {
        for bytes in [
            &[0x01][..],
            &[0xac, 0x02, 0x07],
            &[0x80],
            &[],
            &[0xff; 9],
            &[0xff; 10],
            &[0xff; 11],
            &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
            &[0x80, 0x80, 0x80, 0x01, 0, 0, 0, 0, 0],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01],
            &[0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01, 0x05],
            &[0xac, 0x02],
        ] {
            let (mut a, mut b) = (Reader::new(bytes), Reader::new(bytes));
            let read = a.varint().map(|_| ());
            assert_eq!(read, b.skip_varint(), "{bytes:?}");
            // (After an error the position does not matter: decoding stops.)
            if read.is_ok() {
                assert_eq!(a.position(), b.position(), "{bytes:?}");
            }
        }
    }

    /// LEB128 the plain way, byte by byte: what `varint` must agree with.
    fn reference_varint(bytes: &[u8]) -> Result<(u64, usize), WireError> {
        let mut value = 0u64;
        for i in 0..10 {
            let b = *bytes.get(i).ok_or(WireError::Truncated)?;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok((value, i + 1));
            }
        }
        Err(WireError::VarintTooLong)
    }

    proptest::proptest! {
        #[test]
        fn varint_agrees_with_plain_leb128(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![0x80u8..=0xff, 0u8..0x80], 0..14),
            at in 0usize..4,
        ) {
            let at = at.min(bytes.len());
            let mut r = Reader::new(&bytes);
            r.pos = at;
            let read = r.varint().map(|v| (v, r.position() - at));
            proptest::prop_assert_eq!(read, reference_varint(&bytes[at..]));
        }

        #[test]
        fn skip_varint_agrees_with_varint(bytes in proptest::collection::vec(
            proptest::prop_oneof![0x80u8..=0xff, 0u8..0x80], 0..14)) {
            let (mut a, mut b) = (Reader::new(&bytes), Reader::new(&bytes));
            let read = a.varint().map(|_| ());
            proptest::prop_assert_eq!(read, b.skip_varint());
            if read.is_ok() {
                proptest::prop_assert_eq!(a.position(), b.position());
            }
        }
    }

    #[test]
    fn keys() {
        assert_eq!(Reader::new(&[0x0a]).key(), Ok((1, WT_LEN)));
        assert_eq!(Reader::new(&[0x00]).key(), Err(WireError::BadTag(0)));
        assert_eq!(Reader::new(&[0x0b]).key(), Err(WireError::BadTag(0x0b)));
        assert_eq!(
            Reader::new(&[0x0a, 0x05, 1]).len_delimited(),
            Err(WireError::Truncated)
        );
    }
}
