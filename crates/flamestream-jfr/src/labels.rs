//! pyroscope-java's `LabelsSnapshot` protobuf, decoded by hand:
//! `LabelsSnapshot{map<int64,Context> contexts=1; map<int64,string> strings=2}`,
//! `Context{map<int64,int64> labels=1}`.

use rustc_hash::FxHashMap;

/// The decoded snapshot: context id → (label key string id, value string id) pairs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LabelsSnapshot {
    /// Context id → its labels as string ids, in wire order.
    pub contexts: FxHashMap<i64, Vec<(i64, i64)>>,
    /// String id → text.
    pub strings: FxHashMap<i64, String>,
}

struct Pb<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Pb<'a> {
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for i in 0..10 {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or("labels snapshot: unexpected end of data")?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err("labels snapshot: varint longer than 10 bytes".into())
    }

    fn bytes(&mut self) -> Result<&'a [u8], String> {
        let n = self.varint()?;
        let left = self.buf.len() - self.pos;
        if n > left as u64 {
            return Err(format!(
                "labels snapshot: field length `{n}` exceeds the `{left}` bytes left"
            ));
        }
        let s = &self.buf[self.pos..self.pos + n as usize];
        self.pos += n as usize;
        Ok(s)
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        match wire {
            0 => self.varint().map(|_| ()),
            1 => self.advance(8),
            2 => self.bytes().map(|_| ()),
            5 => self.advance(4),
            w => Err(format!("labels snapshot: unsupported wire type `{w}`")),
        }
    }

    fn advance(&mut self, n: usize) -> Result<(), String> {
        if self.buf.len() - self.pos < n {
            return Err("labels snapshot: unexpected end of data".into());
        }
        self.pos += n;
        Ok(())
    }

    /// Iterates `(field, wire, reader)` until the end.
    fn fields(
        &mut self,
        mut f: impl FnMut(u64, u64, &mut Pb<'a>) -> Result<bool, String>,
    ) -> Result<(), String> {
        while self.pos < self.buf.len() {
            let key = self.varint()?;
            let (field, wire) = (key >> 3, key & 7);
            if !f(field, wire, self)? {
                self.skip(wire)?;
            }
        }
        Ok(())
    }
}

/// A map entry `{key=1 (int64), value=2}`; `value` reads field 2 when its wire type is 2 or 0.
fn map_entry(data: &[u8]) -> Result<(i64, Option<&[u8]>, i64), String> {
    let mut p = Pb { buf: data, pos: 0 };
    let (mut key, mut bytes, mut num) = (0i64, None, 0i64);
    p.fields(|field, wire, p| match (field, wire) {
        (1, 0) => {
            key = p.varint()? as i64;
            Ok(true)
        }
        (2, 2) => {
            bytes = Some(p.bytes()?);
            Ok(true)
        }
        (2, 0) => {
            num = p.varint()? as i64;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok((key, bytes, num))
}

/// Decodes a `LabelsSnapshot`.
///
/// # Errors
/// A lowercase message naming what does not parse.
pub fn parse_labels_snapshot(data: &[u8]) -> Result<LabelsSnapshot, String> {
    let mut out = LabelsSnapshot::default();
    let mut p = Pb { buf: data, pos: 0 };
    p.fields(|field, wire, p| match (field, wire) {
        (1, 2) => {
            let (id, ctx, _) = map_entry(p.bytes()?)?;
            let mut labels = Vec::new();
            if let Some(ctx) = ctx {
                let mut c = Pb { buf: ctx, pos: 0 };
                c.fields(|f, w, c| {
                    if (f, w) == (1, 2) {
                        let (k, _, v) = map_entry(c.bytes()?)?;
                        labels.push((k, v));
                        Ok(true)
                    } else {
                        Ok(false)
                    }
                })?;
            }
            out.contexts.insert(id, labels);
            Ok(true)
        }
        (2, 2) => {
            let (id, s, _) = map_entry(p.bytes()?)?;
            out.strings.insert(
                id,
                String::from_utf8_lossy(s.unwrap_or_default()).into_owned(),
            );
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_contexts_and_strings() {
        // contexts {7: {labels {1: 2}}}, strings {1: "k", 2: "v"}
        let ctx_labels = [0x08, 0x01, 0x10, 0x02];
        let mut ctx = vec![0x0a, ctx_labels.len() as u8];
        ctx.extend_from_slice(&ctx_labels);
        let mut entry = vec![0x08, 0x07, 0x12, ctx.len() as u8];
        entry.extend_from_slice(&ctx);
        let mut msg = vec![0x0a, entry.len() as u8];
        msg.extend_from_slice(&entry);
        msg.extend_from_slice(&[0x12, 0x05, 0x08, 0x01, 0x12, 0x01, b'k']);
        msg.extend_from_slice(&[0x12, 0x05, 0x08, 0x02, 0x12, 0x01, b'v']);
        let s = parse_labels_snapshot(&msg).unwrap();
        assert_eq!(s.contexts[&7], vec![(1, 2)]);
        assert_eq!(s.strings[&1], "k");
        assert_eq!(s.strings[&2], "v");
        assert!(parse_labels_snapshot(&[0x0a, 0x7f]).is_err());
    }
}
