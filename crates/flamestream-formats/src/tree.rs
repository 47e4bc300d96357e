//! The `tree` body: varint-encoded frames in pre-order (see `PROTOCOLS.md`). Each record: name
//! length, name (one whole frame), self value, child count, children. A node with self > 0
//! yields the stack of names from below the root to it (the root's own name is not a frame).
//! Several root records may follow each other.
//!
//! Read with an explicit stack (no recursion); truncated input is an error, never a panic.

use crate::builder::Builder;
use crate::trie::{check_children, node};
use crate::varint::Reader;
use crate::DecodeError;
use flamestream_model::profile_type::SuffixType;
use flamestream_model::{Limits, Profile};

fn invalid(detail: String) -> DecodeError {
    DecodeError::Invalid {
        format: "tree",
        detail,
    }
}

/// Decodes a tree body.
///
/// # Errors
/// [`DecodeError::Invalid`] (format `tree`) for truncated or inconsistent input,
/// [`DecodeError::Limit`] `max_samples` when more nodes than allowed carry a value.
pub fn decode_tree(
    body: &[u8],
    ty: &SuffixType,
    sample_rate: u32,
    limits: &Limits,
) -> Result<Profile, DecodeError> {
    let mut b = Builder::new(ty, sample_rate, limits);
    let mut r = Reader::new(body);
    // Children left to read at each open level; `path` holds one frame less than `levels`.
    let mut levels: Vec<u64> = Vec::new();
    let mut path: Vec<u32> = Vec::new();
    while !r.is_empty() || !levels.is_empty() {
        let is_root = match levels.last_mut() {
            Some(0) => {
                levels.pop();
                path.truncate(levels.len().saturating_sub(1));
                continue;
            }
            Some(left) => {
                *left -= 1;
                false
            }
            None => true,
        };
        let at = r.position();
        let n = node(&mut r).map_err(|e| invalid(format!("{e} at byte `{at}`")))?;
        check_children(n.children, &r).map_err(|e| invalid(format!("{e} at byte `{at}`")))?;
        if !is_root {
            let id = b.frame(&String::from_utf8_lossy(n.name));
            path.push(id);
        }
        if n.value > 0 {
            b.add_ids(&path, n.value)?;
        }
        levels.push(n.children);
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flamestream_model::profile_type::type_for_suffix;
    use proptest::prelude::*;

    fn ty() -> SuffixType {
        type_for_suffix("inuse_space", 100).unwrap()
    }

    fn stacks(p: &Profile) -> Vec<(String, i64)> {
        p.named_stacks(0)
            .into_iter()
            .map(|(f, v)| (f.join(";"), v))
            .collect()
    }

    #[test]
    fn protocols_example() {
        // `a;b`=1, `a;c`=2
        let body = b"\x00\x00\x01\x01a\x00\x02\x01b\x01\x00\x01c\x02\x00";
        let p = decode_tree(body, &ty(), 100, &Limits::default()).unwrap();
        assert_eq!(stacks(&p), vec![("a;b".into(), 1), ("a;c".into(), 2)]);
        assert_eq!(
            p.series[0].aggregation,
            flamestream_model::Aggregation::Average
        );
    }

    #[test]
    fn siblings_after_a_deep_branch_get_the_right_path() {
        // root → a(1) → b → c(2); root → d(3)
        let body = b"\x00\x00\x02\x01a\x01\x01\x01b\x00\x01\x01c\x02\x00\x01d\x03\x00";
        let p = decode_tree(body, &ty(), 100, &Limits::default()).unwrap();
        assert_eq!(
            stacks(&p),
            vec![("a".into(), 1), ("a;b;c".into(), 2), ("d".into(), 3)]
        );
    }

    #[test]
    fn truncated_input_is_invalid() {
        let body = b"\x00\x00\x01\x01a\x00\x02\x01b\x01\x00\x01c\x02\x00";
        for n in 1..body.len() {
            let r = decode_tree(&body[..n], &ty(), 100, &Limits::default());
            assert!(
                matches!(r, Err(DecodeError::Invalid { format: "tree", .. })),
                "{n}: {r:?}"
            );
        }
    }

    #[test]
    fn deep_trees_do_not_recurse_and_are_truncated() {
        let depth = 100_000;
        let mut body = b"\x00\x00\x01".to_vec();
        for _ in 0..depth {
            body.extend_from_slice(b"\x01a\x00\x01");
        }
        body.extend_from_slice(b"\x01z\x01\x00");
        let limits = Limits {
            max_stack_depth: 10,
            ..Limits::default()
        };
        let p = decode_tree(&body, &ty(), 100, &limits).unwrap();
        let s = p.named_stacks(0);
        assert_eq!(s, vec![(vec!["a".to_string(); 10], 1)]);
    }

    #[test]
    fn max_samples_applies() {
        let body = b"\x00\x00\x01\x01a\x00\x02\x01b\x01\x00\x01c\x02\x00";
        let limits = Limits {
            max_samples: 1,
            ..Limits::default()
        };
        let err = decode_tree(body, &ty(), 100, &limits).unwrap_err();
        assert!(
            matches!(err, DecodeError::Limit(l) if l.limit == "max_samples" && l.actual == 2 && l.max == 1)
        );
    }

    proptest! {
        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_tree(&body, &ty(), 100, &Limits::default());
        }
    }
}
