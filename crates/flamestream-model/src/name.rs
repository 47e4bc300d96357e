//! The ingest `name` parameter: `app{key=value,key2=value2}`.

use crate::labels::{validate_label, LabelError};
use crate::{LabelSet, Limits};

/// Why a `name` was refused. Each variant says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// `name` is absent or empty.
    #[error("`name` is required: send `name=app{{key=value}}`")]
    Missing,
    /// The app part has a character outside `[A-Za-z0-9_.-/]`.
    #[error("app name `{0}` is invalid: use letters, digits, `_`, `.`, `-` and `/`")]
    InvalidApp(String),
    /// `{` without a closing `}`, or text after `}`.
    #[error("label block in `{0}` is malformed: expected `app{{key=value,...}}`")]
    Malformed(String),
    /// A `key=value` pair without `=`.
    #[error("label `{0}` has no `=`: expected `key=value`")]
    MissingEquals(String),
    /// A label failed validation.
    #[error(transparent)]
    Label(#[from] LabelError),
}

/// A parsed `name`: the app as sent (with any `.suffix`) and its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppName {
    /// The app part as sent, e.g. `myapp.cpu`.
    pub app: String,
    /// The labels between the braces.
    pub labels: LabelSet,
}

impl AppName {
    /// The part after the last `.` of the app, which names the profile type for tree formats.
    pub fn suffix(&self) -> Option<&str> {
        self.app.rsplit_once('.').map(|(_, s)| s)
    }

    /// The app without its suffix, when the suffix is a known profile-type suffix.
    pub fn service_name(&self) -> &str {
        match self.app.rsplit_once('.') {
            Some((base, suffix))
                if !base.is_empty() && crate::profile_type::is_known_suffix(suffix) =>
            {
                base
            }
            _ => &self.app,
        }
    }
}

/// Parses `app{k=v,...}`. Values may hold anything but `,` and `}`; they are trimmed and
/// surrounding double quotes are stripped (DeepFlow's docs write `region="cn"`).
///
/// # Errors
/// [`NameError`] saying what is wrong and how to fix it.
pub fn parse_name(raw: &str, limits: &Limits) -> Result<AppName, NameError> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Err(NameError::Missing);
    }
    let (app, rest) = match raw.find('{') {
        Some(i) => (&raw[..i], Some(&raw[i + 1..])),
        None => (raw, None),
    };
    let app = app.trim();
    if app.is_empty()
        || !app
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/'))
    {
        return Err(NameError::InvalidApp(app.to_string()));
    }
    let mut labels = LabelSet::new();
    if let Some(rest) = rest {
        let inner = rest
            .strip_suffix('}')
            .ok_or_else(|| NameError::Malformed(raw.to_string()))?;
        if inner.contains('}') {
            return Err(NameError::Malformed(raw.to_string()));
        }
        for pair in inner.split(',') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| NameError::MissingEquals(pair.to_string()))?;
            let k = k.trim();
            let mut v = v.trim();
            if v.len() >= 2 && v.starts_with('"') && v.ends_with('"') {
                v = &v[1..v.len() - 1];
            }
            validate_label(k, v, limits)?;
            labels.insert(k, v);
        }
        if labels.len() > limits.max_labels {
            return Err(LabelError::TooMany {
                actual: labels.len(),
                max: limits.max_labels,
            }
            .into());
        }
    }
    Ok(AppName {
        app: app.to_string(),
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<AppName, NameError> {
        parse_name(s, &Limits::default())
    }

    #[test]
    fn app_and_labels() {
        let n = parse("demo.cpu{env=dev, region=\"cn\" }").unwrap();
        assert_eq!(n.app, "demo.cpu");
        assert_eq!(n.suffix(), Some("cpu"));
        assert_eq!(n.service_name(), "demo");
        assert_eq!(n.labels.to_string(), r#"{env="dev",region="cn"}"#);
    }

    #[test]
    fn nodejs_dotted_keys_and_slashes_in_values() {
        let n = parse(
            "app{otel.scope.name=com.grafana.pyroscope/nodejs,process.runtime.version=20.20.2}",
        )
        .unwrap();
        assert_eq!(
            n.labels.get("otel.scope.name"),
            Some("com.grafana.pyroscope/nodejs")
        );
        assert_eq!(n.service_name(), "app");
    }

    /// Pyroscope's own parser (`segment.ParseKey`) fills a map, so the last `env=` wins there
    /// too: the same upload means the same series on both.
    #[test]
    fn a_repeated_key_keeps_its_last_value_as_pyroscope_does() {
        let n = parse("app{env=dev,region=eu,env=prod}").unwrap();
        assert_eq!(n.labels.to_string(), r#"{env="prod",region="eu"}"#);
    }

    #[test]
    fn unknown_suffix_stays_part_of_the_service_name() {
        assert_eq!(
            parse("com.example.shop").unwrap().service_name(),
            "com.example.shop"
        );
    }

    #[test]
    fn bad_names_say_why() {
        assert_eq!(parse(""), Err(NameError::Missing));
        assert!(matches!(parse("a b"), Err(NameError::InvalidApp(_))));
        assert!(matches!(parse("a{x=1"), Err(NameError::Malformed(_))));
        assert!(matches!(parse("a{x}"), Err(NameError::MissingEquals(_))));
        assert!(matches!(
            parse("a{__name__=x}"),
            Err(NameError::Label(LabelError::Reserved(_)))
        ));
    }
}
