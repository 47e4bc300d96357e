//! The `trie` body of the old Go agent: a radix trie over folded keys, varint-encoded in
//! pre-order (see `PROTOCOLS.md`). Each record: name length, name bytes (a fragment of the key,
//! split anywhere), value (count of the key ending here, 0 if none), child count, children.
//! Several root records may follow each other.
//!
//! Read with an explicit stack (no recursion); truncated input is an error, never a panic.

use crate::builder::Builder;
use crate::varint::{Reader, WireError};
use crate::DecodeError;
use flamestream_model::profile_type::SuffixType;
use flamestream_model::{Limits, Profile};

fn invalid(detail: String) -> DecodeError {
    DecodeError::Invalid {
        format: "trie",
        detail,
    }
}

pub(crate) struct Node<'a> {
    pub(crate) name: &'a [u8],
    pub(crate) value: u64,
    pub(crate) children: u64,
}

/// Reads one `name length, name, value, child count` record.
pub(crate) fn node<'a>(r: &mut Reader<'a>) -> Result<Node<'a>, WireError> {
    let name = r.len_delimited()?;
    let value = r.varint()?;
    let children = r.varint()?;
    Ok(Node {
        name,
        value,
        children,
    })
}

/// Checks a record's child count against the bytes left (each child takes at least 3).
pub(crate) fn check_children(children: u64, r: &Reader<'_>) -> Result<(), String> {
    if children > (r.remaining() / 3) as u64 {
        return Err(format!(
            "node claims `{children}` children but only `{}` bytes remain",
            r.remaining()
        ));
    }
    Ok(())
}

/// The first bytes of `bytes` that decide its name once converted and truncated to `max`
/// bytes: a UTF-8 character takes at most four bytes, so the lossy conversion of the first
/// `max + 4` bytes agrees with the whole one on more than `max` output bytes.
fn name_prefix(bytes: &[u8], max: usize) -> &[u8] {
    &bytes[..bytes.len().min(max.saturating_add(4))]
}

/// The folded key being read, split into frames incrementally so that each byte of the body
/// is scanned once, however many keys share a long prefix.
struct Key {
    bytes: Vec<u8>,
    /// Ids of the complete (`;`-terminated, non-empty) frames of `bytes`, at most
    /// `max_stack_depth` of them.
    ids: Vec<u32>,
    /// Where the last, unterminated frame starts in `bytes`.
    frame_start: usize,
    /// The id of the last frame when it was interned for `bytes[frame_start..][..len]`:
    /// `(frame_start, len, id)`.
    tail: Option<(usize, usize, u32)>,
    max_depth: usize,
    max_symbol: usize,
}

/// What to restore when a node's subtree is done.
#[derive(Clone, Copy)]
struct Mark {
    bytes: usize,
    ids: usize,
    frame_start: usize,
}

impl Key {
    fn mark(&self) -> Mark {
        Mark {
            bytes: self.bytes.len(),
            ids: self.ids.len(),
            frame_start: self.frame_start,
        }
    }

    fn restore(&mut self, m: Mark) {
        self.bytes.truncate(m.bytes);
        self.ids.truncate(m.ids);
        self.frame_start = m.frame_start;
        if let Some((start, len, _)) = self.tail {
            if start != m.frame_start || start + len > m.bytes {
                self.tail = None;
            }
        }
    }

    fn push(&mut self, b: &mut Builder, fragment: &[u8]) {
        let from = self.bytes.len();
        self.bytes.extend_from_slice(fragment);
        let mut at = from;
        while let Some(i) = self.bytes[at..].iter().position(|&c| c == b';') {
            let end = at + i;
            if end > self.frame_start && self.ids.len() < self.max_depth {
                let name = name_prefix(&self.bytes[self.frame_start..end], self.max_symbol);
                self.ids.push(b.frame(&String::from_utf8_lossy(name)));
            }
            self.frame_start = end + 1;
            self.tail = None;
            at = end + 1;
        }
    }

    /// Adds the key's stack with `value`.
    fn emit(&mut self, b: &mut Builder, value: u64) -> Result<(), DecodeError> {
        let tail = &self.bytes[self.frame_start..];
        if tail.is_empty() || self.ids.len() >= self.max_depth {
            return b.add_ids(&self.ids, value);
        }
        let len = name_prefix(tail, self.max_symbol).len();
        let id = match self.tail {
            Some((start, l, id)) if start == self.frame_start && l == len => id,
            _ => {
                let id = b.frame(&String::from_utf8_lossy(&tail[..len]));
                self.tail = Some((self.frame_start, len, id));
                id
            }
        };
        self.ids.push(id);
        let res = b.add_ids(&self.ids, value);
        self.ids.pop();
        res
    }
}

/// Decodes a trie body.
///
/// Each key is the concatenation of the fragments from a root record down to a record; its
/// frames are split at `;` (empty frames left out) and its first `max_stack_depth` frames
/// kept. Work is linear in the body size: frames are interned once, when their `;` is read.
///
/// # Errors
/// [`DecodeError::Invalid`] (format `trie`) for truncated or inconsistent input,
/// [`DecodeError::Limit`] `max_samples` when more keys than allowed carry a value.
pub fn decode_trie(
    body: &[u8],
    ty: &SuffixType,
    sample_rate: u32,
    limits: &Limits,
) -> Result<Profile, DecodeError> {
    let mut b = Builder::new(ty, sample_rate, limits);
    let mut r = Reader::new(body);
    let mut key = Key {
        bytes: Vec::new(),
        ids: Vec::new(),
        frame_start: 0,
        tail: None,
        max_depth: limits.max_stack_depth,
        max_symbol: limits.max_symbol_bytes,
    };
    // (the key before the node's fragment, children left to read)
    let mut levels: Vec<(Mark, u64)> = Vec::new();
    while !r.is_empty() || !levels.is_empty() {
        if let Some(top) = levels.last_mut() {
            if top.1 == 0 {
                key.restore(top.0);
                levels.pop();
                continue;
            }
            top.1 -= 1;
        }
        let at = r.position();
        let n = node(&mut r).map_err(|e| invalid(format!("{e} at byte `{at}`")))?;
        check_children(n.children, &r).map_err(|e| invalid(format!("{e} at byte `{at}`")))?;
        let mark = key.mark();
        key.push(&mut b, n.name);
        if n.value != 0 {
            key.emit(&mut b, n.value)?;
        }
        levels.push((mark, n.children));
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flamestream_model::profile_type::type_for_suffix;
    use proptest::prelude::*;

    fn ty() -> SuffixType {
        type_for_suffix("alloc_objects", 100).unwrap()
    }

    fn stacks(p: &Profile) -> Vec<(String, i64)> {
        p.named_stacks(0)
            .into_iter()
            .map(|(f, v)| (f.join(";"), v))
            .collect()
    }

    #[test]
    fn protocols_example() {
        // keys `abc`=1, `abd`=2
        let body = b"\x00\x00\x01\x02ab\x00\x02\x01c\x01\x00\x01d\x02\x00";
        let p = decode_trie(body, &ty(), 100, &Limits::default()).unwrap();
        assert_eq!(stacks(&p), vec![("abc".into(), 1), ("abd".into(), 2)]);
    }

    #[test]
    fn fragments_split_anywhere_and_inner_nodes_carry_values() {
        // keys `a;b`=3 (inner), `a;bc`... fragments `a;` + `b` (value 3) + `;c` (value 4)
        let body = b"\x00\x00\x01\x02a;\x00\x01\x01b\x03\x01\x02;c\x04\x00";
        let p = decode_trie(body, &ty(), 100, &Limits::default()).unwrap();
        assert_eq!(stacks(&p), vec![("a;b".into(), 3), ("a;b;c".into(), 4)]);
    }

    #[test]
    fn cpu_values_are_scaled() {
        let body = b"\x00\x00\x01\x01a\x02\x00";
        let p = decode_trie(
            body,
            &type_for_suffix("cpu", 100).unwrap(),
            100,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(stacks(&p), vec![("a".into(), 20_000_000)]);
    }

    #[test]
    fn truncated_input_is_invalid() {
        let body = b"\x00\x00\x01\x02ab\x00\x02\x01c\x01\x00\x01d\x02\x00";
        for n in 1..body.len() {
            let r = decode_trie(&body[..n], &ty(), 100, &Limits::default());
            assert!(
                matches!(r, Err(DecodeError::Invalid { format: "trie", .. })),
                "{n}: {r:?}"
            );
        }
        assert!(decode_trie(
            b"\x00\x00\xff\xff\xff\xff\x0f",
            &ty(),
            100,
            &Limits::default()
        )
        .is_err());
    }

    #[test]
    fn deep_tries_do_not_recurse() {
        let depth = 200_000;
        let mut body = Vec::new();
        for _ in 0..depth {
            body.extend_from_slice(b"\x02a;\x00\x01");
        }
        body.extend_from_slice(b"\x01z\x01\x00");
        let p = decode_trie(&body, &ty(), 100, &Limits::default()).unwrap();
        let s = p.named_stacks(0);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].0.len(), Limits::default().max_stack_depth);
    }

    /// A long fragment shared by many keys was split and converted again for every key: a
    /// 1 MiB body took 10 s. Each byte is now scanned once.
    #[test]
    fn regression_long_shared_prefix_is_linear() {
        let mut body = vec![0x80, 0x80, 0x40]; // name length 1 MiB
        body.extend(std::iter::repeat_n(b'a', 1 << 20));
        body.extend_from_slice(&[0x00, 0x98, 0x75]); // value 0, 15000 children
        for _ in 0..15_000 {
            body.extend_from_slice(b"\x00\x01\x00");
        }
        let limits = Limits {
            max_symbol_bytes: 8,
            ..Limits::default()
        };
        // No timing assertion (test machines are shared and noisy): the quadratic version
        // took ~10 s here, the linear one milliseconds, so a regression shows as a slow test.
        let p = decode_trie(&body, &ty(), 100, &limits).unwrap();
        assert_eq!(stacks(&p), vec![("aaaaaaaa".into(), 15_000)]);
    }

    #[test]
    fn frames_split_across_fragments_and_levels_match_whole_keys() {
        // `ab;c` = 1 (fragments `a`, `b;`, `c`), `ab;d;e` = 2, `x\xff;y` = 3, `;;` = 4 (no frames)
        let body = b"\x00\x00\x03\x01a\x00\x01\x02b;\x00\x02\x01c\x01\x00\x03d;e\x02\x00\x04x\xff;y\x03\x00\x02;;\x04\x00";
        let p = decode_trie(body, &ty(), 100, &Limits::default()).unwrap();
        assert_eq!(
            stacks(&p),
            vec![
                ("".into(), 4),
                ("ab;c".into(), 1),
                ("ab;d;e".into(), 2),
                ("x\u{fffd};y".into(), 3)
            ]
        );
    }

    proptest! {
        /// The incremental split gives what splitting every whole key gives.
        #[test]
        fn matches_the_whole_key_split(frags in proptest::collection::vec((proptest::collection::vec(prop_oneof![Just(b';'), Just(b'a'), Just(b'b'), Just(0xffu8), Just(0xc3u8), Just(0xa9u8)], 0..6), 0u64..3, 0u64..3), 1..12), depth in 1usize..4, sym in 1usize..6) {
            // A chain: each record has one child while records remain.
            let mut body = Vec::new();
            let n = frags.len();
            for (i, (name, value, _)) in frags.iter().enumerate() {
                body.push(name.len() as u8);
                body.extend_from_slice(name);
                body.push(*value as u8);
                body.push(u8::from(i + 1 < n));
            }
            let limits = Limits { max_stack_depth: depth, max_symbol_bytes: sym, ..Limits::default() };
            let got = decode_trie(&body, &ty(), 100, &limits).map(|p| if p.series.is_empty() { vec![] } else { p.named_stacks(0) });
            let mut want: std::collections::BTreeMap<Vec<String>, i64> = Default::default();
            let mut key = Vec::new();
            for (name, value, _) in &frags {
                key.extend_from_slice(name);
                if *value != 0 {
                    let text = String::from_utf8_lossy(&key);
                    let frames: Vec<String> = text
                        .split(';')
                        .filter(|f| !f.is_empty())
                        .take(depth)
                        .map(|f| crate::truncate_symbol(f, sym).to_string())
                        .collect();
                    *want.entry(frames).or_default() += *value as i64;
                }
            }
            let want: Vec<(Vec<String>, i64)> = want.into_iter().collect();
            prop_assert_eq!(got.unwrap(), want);
        }

        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_trie(&body, &ty(), 100, &Limits::default());
        }
    }
}
