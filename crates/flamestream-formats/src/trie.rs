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

fn emit(b: &mut Builder, key: &[u8], value: u64) -> Result<(), DecodeError> {
    if value == 0 {
        return Ok(());
    }
    let text = String::from_utf8_lossy(key);
    b.add_names(text.split(';').filter(|f| !f.is_empty()), value)
}

/// Decodes a trie body.
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
    let mut key: Vec<u8> = Vec::new();
    // (key length before the node's fragment, children left to read)
    let mut levels: Vec<(usize, u64)> = Vec::new();
    while !r.is_empty() || !levels.is_empty() {
        if let Some(top) = levels.last_mut() {
            if top.1 == 0 {
                key.truncate(top.0);
                levels.pop();
                continue;
            }
            top.1 -= 1;
        }
        let at = r.position();
        let n = node(&mut r).map_err(|e| invalid(format!("{e} at byte `{at}`")))?;
        check_children(n.children, &r).map_err(|e| invalid(format!("{e} at byte `{at}`")))?;
        let prefix = key.len();
        key.extend_from_slice(n.name);
        emit(&mut b, &key, n.value)?;
        levels.push((prefix, n.children));
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

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_trie(&body, &ty(), 100, &Limits::default());
        }
    }
}
