//! Selectors: `<profile type id>{label="value",...}` with `=`, `!=`, `=~`, `!~` (regexes are
//! anchored, as in Prometheus). The old Pyroscope form `app.suffix{...}` is accepted too and
//! means `service_name="app"` with the type its suffix names.

use flamestream_model::profile_type::type_for_suffix;
use flamestream_model::{ProfileType, SeriesKey};
use regex::Regex;

/// Why a selector was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("query `{query}` is invalid: {reason}")]
pub struct SelectorError {
    /// The query as sent.
    pub query: String,
    /// What is wrong.
    pub reason: String,
}

/// How a matcher compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchOp {
    /// `=`
    Eq,
    /// `!=`
    NotEq,
    /// `=~`
    Re,
    /// `!~`
    NotRe,
}

/// One `name op "value"` matcher.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Label name; `service_name` matches the app.
    pub name: String,
    /// Comparison.
    pub op: MatchOp,
    /// Value or regex source.
    pub value: String,
    regex: Option<Regex>,
}

impl Matcher {
    /// Builds a matcher, compiling regexes.
    ///
    /// # Errors
    /// A message when the regex does not compile.
    pub fn new(name: &str, op: MatchOp, value: &str) -> Result<Matcher, String> {
        let regex = match op {
            MatchOp::Re | MatchOp::NotRe => Some(
                Regex::new(&format!("^(?:{value})$"))
                    .map_err(|e| format!("regex `{value}` is invalid: {e}"))?,
            ),
            _ => None,
        };
        Ok(Matcher {
            name: name.to_string(),
            op,
            value: value.to_string(),
            regex,
        })
    }

    /// True when `actual` (empty when the label is absent) satisfies the matcher.
    pub fn matches(&self, actual: &str) -> bool {
        match self.op {
            MatchOp::Eq => actual == self.value,
            MatchOp::NotEq => actual != self.value,
            MatchOp::Re => self.regex.as_ref().is_some_and(|r| r.is_match(actual)),
            MatchOp::NotRe => !self.regex.as_ref().is_some_and(|r| r.is_match(actual)),
        }
    }
}

/// A parsed selector.
#[derive(Debug, Clone)]
pub struct Selector {
    /// The profile type asked for.
    pub profile_type: ProfileType,
    /// Label matchers (all must hold).
    pub matchers: Vec<Matcher>,
}

impl Selector {
    /// Parses `type{matchers}` or `app.suffix{matchers}`.
    ///
    /// # Errors
    /// [`SelectorError`] saying what is wrong.
    pub fn parse(query: &str) -> Result<Selector, SelectorError> {
        let err = |reason: String| SelectorError {
            query: query.to_string(),
            reason,
        };
        let query_t = query.trim();
        let (head, body) = match query_t.find('{') {
            Some(i) => {
                let body = query_t[i + 1..]
                    .strip_suffix('}')
                    .ok_or_else(|| err("missing closing `}`".into()))?;
                (&query_t[..i], body)
            }
            None => (query_t, ""),
        };
        let mut matchers = parse_matchers(body).map_err(err)?;
        let profile_type = if head.contains(':') {
            ProfileType::parse(head).map_err(|e| err(e.to_string()))?
        } else if head.is_empty() {
            return Err(err(
                "a profile type is required, e.g. `process_cpu:cpu:nanoseconds:cpu:nanoseconds{}`"
                    .into(),
            ));
        } else {
            let (app, suffix) = match head.rsplit_once('.') {
                Some((a, s)) if flamestream_model::profile_type::is_known_suffix(s) => (a, s),
                _ => (head, "cpu"),
            };
            matchers.push(Matcher::new("service_name", MatchOp::Eq, app).map_err(err)?);
            type_for_suffix(suffix, 100)
                .map_err(|e| err(e.to_string()))?
                .profile_type
        };
        Ok(Selector {
            profile_type,
            matchers,
        })
    }

    /// True when the series has this selector's type and satisfies every matcher.
    pub fn matches(&self, key: &SeriesKey) -> bool {
        key.profile_type == self.profile_type && matches_all(&self.matchers, key)
    }
}

/// True when `key` satisfies every matcher (`service_name` is the app; absent labels are "").
pub fn matches_all(matchers: &[Matcher], key: &SeriesKey) -> bool {
    matchers.iter().all(|m| {
        let actual = match m.name.as_str() {
            "service_name" => key.service_name.as_str(),
            "__name__" => key.profile_type.name.as_str(),
            name => key.labels.get(name).unwrap_or(""),
        };
        m.matches(actual)
    })
}

/// Parses `a="1", b!~"x.*"` (values double-quoted, `\"` and `\\` escapes; unquoted values are
/// accepted up to the next `,`).
///
/// # Errors
/// A message saying what is wrong.
pub fn parse_matchers(body: &str) -> Result<Vec<Matcher>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = body.chars().collect();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < chars.len() && (chars[*i].is_whitespace() || chars[*i] == ',') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        if i >= chars.len() {
            break;
        }
        let start = i;
        while i < chars.len()
            && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '.')
        {
            i += 1;
        }
        let name: String = chars[start..i].iter().collect();
        if name.is_empty() {
            return Err(format!(
                "expected a label name at `{}`",
                chars[start..].iter().collect::<String>()
            ));
        }
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let op = match (chars.get(i), chars.get(i + 1)) {
            (Some('='), Some('~')) => {
                i += 2;
                MatchOp::Re
            }
            (Some('!'), Some('=')) => {
                i += 2;
                MatchOp::NotEq
            }
            (Some('!'), Some('~')) => {
                i += 2;
                MatchOp::NotRe
            }
            (Some('='), _) => {
                i += 1;
                MatchOp::Eq
            }
            _ => return Err(format!("expected `=`, `!=`, `=~` or `!~` after `{name}`")),
        };
        while i < chars.len() && chars[i].is_whitespace() {
            i += 1;
        }
        let mut value = String::new();
        if chars.get(i) == Some(&'"') {
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(format!("unterminated value of `{name}`")),
                    Some('\\') => {
                        if let Some(c) = chars.get(i + 1) {
                            value.push(*c);
                        }
                        i += 2;
                    }
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < chars.len() && chars[i] != ',' {
                value.push(chars[i]);
                i += 1;
            }
            value = value.trim().to_string();
        }
        out.push(Matcher::new(&name, op, &value)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flamestream_model::LabelSet;

    fn key(app: &str, env: &str) -> SeriesKey {
        SeriesKey {
            tenant: "t".into(),
            service_name: app.into(),
            profile_type: ProfileType::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds")
                .unwrap(),
            labels: LabelSet::from_pairs([("env", env)]),
        }
    }

    #[test]
    fn all_four_operators() {
        let s = Selector::parse(
            r#"process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="demo", env!="prod", env=~"d.*", region!~"eu.*"}"#,
        )
        .unwrap();
        assert!(s.matches(&key("demo", "dev")));
        assert!(!s.matches(&key("demo", "prod")));
        assert!(!s.matches(&key("other", "dev")));
        assert!(!s.matches(&key("demo", "xdev")), "regexes are anchored");
    }

    #[test]
    fn old_pyroscope_app_form() {
        let s = Selector::parse(r#"demo.inuse_space{env="dev"}"#).unwrap();
        assert_eq!(s.profile_type.id(), "memory:inuse_space:bytes:space:bytes");
        assert!(s
            .matchers
            .iter()
            .any(|m| m.name == "service_name" && m.value == "demo"));
        let s = Selector::parse("demo{}").unwrap();
        assert_eq!(s.profile_type.name, "process_cpu");
    }

    #[test]
    fn errors_name_the_problem() {
        assert!(
            Selector::parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds{a=\"1\"")
                .unwrap_err()
                .reason
                .contains('}')
        );
        assert!(Selector::parse("x{a=~\"(\"}").is_err());
    }
}
