//! Label sets: sorted, unique keys, with a canonical text form used as a storage key.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Why a label was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelError {
    /// The key has a character outside `[A-Za-z0-9_.]` or is empty.
    #[error("label name `{0}` is invalid: use letters, digits, `_` and `.`")]
    InvalidName(String),
    /// Keys starting with `__` are reserved for flamestream.
    #[error("label name `{0}` is reserved: names starting with `__` are set by the server")]
    Reserved(String),
    /// The name is longer than the limit.
    #[error("`max_label_name_bytes` exceeded by label `{name}`: {actual} > {max}")]
    NameTooLong {
        name: String,
        actual: usize,
        max: usize,
    },
    /// The value is longer than the limit.
    #[error("`max_label_value_bytes` exceeded by label `{name}`: {actual} > {max}")]
    ValueTooLong {
        name: String,
        actual: usize,
        max: usize,
    },
    /// Too many labels on one series.
    #[error("`max_labels` exceeded: {actual} > {max}")]
    TooMany { actual: usize, max: usize },
}

/// A set of `name=value` pairs, kept sorted by name with unique names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LabelSet(Vec<(String, String)>);

impl LabelSet {
    /// An empty set.
    pub fn new() -> Self {
        LabelSet(Vec::new())
    }

    /// Builds a set from pairs; a later pair with the same name wins.
    pub fn from_pairs<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let mut set = LabelSet::new();
        for (k, v) in pairs {
            set.insert(k, v);
        }
        set
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.0.binary_search_by(|(k, _)| k.as_str().cmp(&name)) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (name, value)),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0[i].1.as_str())
    }

    /// Removes `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        self.0
            .binary_search_by(|(k, _)| k.as_str().cmp(name))
            .ok()
            .map(|i| self.0.remove(i).1)
    }

    /// Adds every pair of `other`, its values winning.
    pub fn extend(&mut self, other: &LabelSet) {
        for (k, v) in other.iter() {
            self.insert(k, v);
        }
    }

    /// Pairs in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Number of labels.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when no label is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// A stable 64-bit id of the canonical form, used as a storage key.
    pub fn fingerprint(&self) -> u64 {
        xxhash_rust::xxh3::xxh3_64(self.to_string().as_bytes())
    }

    /// Parses the canonical form produced by `Display` (`{a="1",b="2"}`).
    pub fn parse_canonical(text: &str) -> Option<LabelSet> {
        let inner = text.strip_prefix('{')?.strip_suffix('}')?;
        let mut set = LabelSet::new();
        let bytes = inner.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let eq = inner[i..].find('=')? + i;
            let name = &inner[i..eq];
            if bytes.get(eq + 1) != Some(&b'"') {
                return None;
            }
            let mut j = eq + 2;
            let mut value = String::new();
            loop {
                match *bytes.get(j)? {
                    b'\\' => {
                        let c = *bytes.get(j + 1)?;
                        value.push(match c {
                            b'n' => '\n',
                            other => other as char,
                        });
                        j += 2;
                    }
                    b'"' => break,
                    _ => {
                        let ch = inner[j..].chars().next()?;
                        value.push(ch);
                        j += ch.len_utf8();
                    }
                }
            }
            set.insert(name, value);
            i = j + 1;
            if bytes.get(i) == Some(&b',') {
                i += 1;
            }
        }
        Some(set)
    }

    /// Checks names, lengths and count against the limits; reserved `__` names are refused.
    ///
    /// # Errors
    /// The first [`LabelError`] found.
    pub fn validate(&self, limits: &crate::Limits) -> Result<(), LabelError> {
        if self.len() > limits.max_labels {
            return Err(LabelError::TooMany {
                actual: self.len(),
                max: limits.max_labels,
            });
        }
        for (k, v) in self.iter() {
            validate_label(k, v, limits)?;
        }
        Ok(())
    }
}

/// Checks one label against the grammar and the limits.
///
/// # Errors
/// [`LabelError`] naming the label.
pub fn validate_label(name: &str, value: &str, limits: &crate::Limits) -> Result<(), LabelError> {
    if name.is_empty()
        || !name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        return Err(LabelError::InvalidName(name.to_string()));
    }
    if name.starts_with("__") {
        return Err(LabelError::Reserved(name.to_string()));
    }
    if name.len() > limits.max_label_name_bytes {
        return Err(LabelError::NameTooLong {
            name: name.to_string(),
            actual: name.len(),
            max: limits.max_label_name_bytes,
        });
    }
    if value.len() > limits.max_label_value_bytes {
        return Err(LabelError::ValueTooLong {
            name: name.to_string(),
            actual: value.len(),
            max: limits.max_label_value_bytes,
        });
    }
    Ok(())
}

impl fmt::Display for LabelSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("{")?;
        for (i, (k, v)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{k}=\"")?;
            for c in v.chars() {
                match c {
                    '"' => f.write_str("\\\"")?,
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    c => write!(f, "{c}")?,
                }
            }
            f.write_str("\"")?;
        }
        f.write_str("}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn insert_keeps_names_sorted_and_unique() {
        let set = LabelSet::from_pairs([("b", "2"), ("a", "1"), ("b", "3")]);
        assert_eq!(set.to_string(), r#"{a="1",b="3"}"#);
    }

    #[test]
    fn reserved_and_invalid_names_are_refused() {
        let limits = crate::Limits::default();
        assert!(matches!(
            validate_label("__name__", "x", &limits),
            Err(LabelError::Reserved(_))
        ));
        assert!(matches!(
            validate_label("a-b", "x", &limits),
            Err(LabelError::InvalidName(_))
        ));
        assert!(validate_label("otel.scope.name", "x", &limits).is_ok());
    }

    proptest! {
        #[test]
        fn canonical_form_round_trips(pairs in proptest::collection::vec(("[a-z_.]{1,8}", ".{0,12}"), 0..6)) {
            let set = LabelSet::from_pairs(pairs);
            let text = set.to_string();
            prop_assert_eq!(LabelSet::parse_canonical(&text), Some(set));
        }
    }
}
