//! `multipart/form-data` bodies (RFC 7578), split without copying. Parts are found by the
//! `name` of their `Content-Disposition`; a part may lack a filename.

use crate::DecodeError;

/// One part of a multipart body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part<'a> {
    /// The `name` parameter of `Content-Disposition`.
    pub name: String,
    /// The `filename` parameter, when sent.
    pub filename: Option<String>,
    /// The part's own `Content-Type`, when sent.
    pub content_type: Option<String>,
    /// The part's bytes, as sent (possibly gzip).
    pub data: &'a [u8],
}

/// Most parts accepted in one body (the SDKs send two or three).
pub const MAX_PARTS: usize = 64;

fn err(detail: impl Into<String>) -> DecodeError {
    DecodeError::Multipart(detail.into())
}

/// True when `content_type` is `multipart/form-data` (any case).
pub fn is_multipart(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        ct.trim_start()
            .get(..19)
            .is_some_and(|p| p.eq_ignore_ascii_case("multipart/form-data"))
    })
}

/// The `boundary` parameter of a `multipart/form-data` content type, quoted or not.
///
/// # Errors
/// [`DecodeError::Multipart`] when the content type has no usable boundary.
pub fn boundary(content_type: &str) -> Result<&str, DecodeError> {
    for param in content_type.split(';').skip(1) {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case("boundary") {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v);
            if v.is_empty() || v.len() > 200 {
                return Err(err(format!("boundary `{v}` must be 1 to 200 characters")));
            }
            return Ok(v);
        }
    }
    Err(err(format!(
        "content type `{content_type}` has no `boundary` parameter"
    )))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, rest) = needle.split_first()?;
    let mut from = 0;
    while from + needle.len() <= haystack.len() {
        let i = haystack[from..=haystack.len() - needle.len()]
            .iter()
            .position(|&b| b == first)?
            + from;
        if &haystack[i + 1..i + needle.len()] == rest {
            return Some(i);
        }
        from = i + 1;
    }
    None
}

/// A parameter of a header value such as `form-data; name="profile"; filename="p.pprof"`.
fn header_param(value: &str, param: &str) -> Option<String> {
    // Walk the value honouring quotes, so `;` inside a quoted filename does not split.
    let mut params = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
            continue;
        }
        match c {
            '\\' if quoted => escaped = true,
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ';' if !quoted => params.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    params.push(cur);
    for p in params.iter().skip(1) {
        let Some((k, v)) = p.split_once('=') else {
            continue;
        };
        if k.trim().eq_ignore_ascii_case(param) {
            let v = v.trim();
            let v = v
                .strip_prefix('"')
                .and_then(|s| s.strip_suffix('"'))
                .unwrap_or(v);
            return Some(v.to_string());
        }
    }
    None
}

/// Splits a multipart body into its parts.
///
/// # Errors
/// [`DecodeError::Multipart`] naming what is wrong: no boundary, no opening or closing
/// delimiter, a part without `Content-Disposition` name, too many parts.
pub fn parse<'a>(body: &'a [u8], content_type: &str) -> Result<Vec<Part<'a>>, DecodeError> {
    let boundary = boundary(content_type)?;
    let delim = format!("--{boundary}");
    let delim = delim.as_bytes();
    // The first delimiter may follow a preamble.
    let start =
        find(body, delim).ok_or_else(|| err(format!("no delimiter `--{boundary}` in the body")))?;
    let mut pos = start + delim.len();
    let mut between = Vec::with_capacity(delim.len() + 2);
    between.extend_from_slice(b"\r\n");
    between.extend_from_slice(delim);
    let mut parts = Vec::new();
    loop {
        let rest = &body[pos..];
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        // Transport padding, then the line break that ends the delimiter line.
        let line_end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| err("body ends after a delimiter"))?;
        if !rest[..line_end]
            .iter()
            .all(|b| matches!(b, b' ' | b'\t' | b'\r'))
        {
            return Err(err("delimiter line has trailing characters"));
        }
        pos += line_end + 1;
        let rest = &body[pos..];
        // Headers end at an empty line.
        let (headers_len, sep_len) = match (find(rest, b"\r\n\r\n"), rest.starts_with(b"\r\n")) {
            (_, true) => (0, 2),
            (Some(i), false) => (i, 4),
            (None, false) => return Err(err("part headers do not end with an empty line")),
        };
        let headers = String::from_utf8_lossy(&rest[..headers_len]);
        pos += headers_len + sep_len;
        let rest = &body[pos..];
        let data_len = find(rest, &between)
            .ok_or_else(|| err(format!("no closing delimiter `--{boundary}--`")))?;
        let data = &rest[..data_len];
        pos += data_len + between.len();

        let mut name = None;
        let mut filename = None;
        let mut part_ct = None;
        for line in headers.split('\n') {
            let line = line.trim_end_matches('\r');
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let k = k.trim();
            if k.eq_ignore_ascii_case("content-disposition") {
                name = header_param(v, "name");
                filename = header_param(v, "filename");
            } else if k.eq_ignore_ascii_case("content-type") {
                part_ct = Some(v.trim().to_string());
            }
        }
        let name = name.ok_or_else(|| {
            err(format!(
                "part {} has no `Content-Disposition` name",
                parts.len() + 1
            ))
        })?;
        if parts.len() >= MAX_PARTS {
            return Err(err(format!("more than `{MAX_PARTS}` parts")));
        }
        parts.push(Part {
            name,
            filename,
            content_type: part_ct,
            data,
        });
    }
}

/// The first part named `name`.
pub fn find_part<'p, 'a>(parts: &'p [Part<'a>], name: &str) -> Option<&'p Part<'a>> {
    parts.iter().find(|p| p.name == name)
}

#[cfg(test)]
pub(crate) fn build(boundary: &str, parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
    let mut out = Vec::new();
    for (name, filename, data) in parts {
        out.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        match filename {
            Some(f) => out.extend_from_slice(
                format!("Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes(),
            ),
            None => out.extend_from_slice(format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes()),
        }
        out.extend_from_slice(data);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_quoted_or_not() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").unwrap(),
            "abc"
        );
        assert_eq!(
            boundary("multipart/form-data; charset=x; boundary=\"a b\"").unwrap(),
            "a b"
        );
        assert!(boundary("multipart/form-data").is_err());
        assert!(is_multipart(Some("Multipart/Form-Data; boundary=x")));
        assert!(!is_multipart(Some("application/octet-stream")));
    }

    #[test]
    fn parts_by_name_with_and_without_filename() {
        let body = build(
            "XyZ",
            &[
                ("profile", Some("profile.pprof"), b"\x0a\x02ab\r\n--Xy"),
                ("sample_type_config", None, b"{}"),
            ],
        );
        let parts = parse(&body, "multipart/form-data; boundary=XyZ").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "profile");
        assert_eq!(parts[0].filename.as_deref(), Some("profile.pprof"));
        assert_eq!(parts[0].data, b"\x0a\x02ab\r\n--Xy");
        assert_eq!(parts[1].filename, None);
        assert_eq!(find_part(&parts, "sample_type_config").unwrap().data, b"{}");
    }

    #[test]
    fn preamble_and_empty_body_part() {
        let mut body = b"preamble\r\n".to_vec();
        body.extend(build("b", &[("jfr", None, b"")]));
        let parts = parse(&body, "multipart/form-data; boundary=b").unwrap();
        assert_eq!(parts[0].data, b"");
    }

    #[test]
    fn broken_bodies_say_why() {
        let ct = "multipart/form-data; boundary=b";
        assert!(
            matches!(parse(b"nothing", ct), Err(DecodeError::Multipart(m)) if m.contains("no delimiter"))
        );
        let body = b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nabc";
        assert!(matches!(parse(body, ct), Err(DecodeError::Multipart(m)) if m.contains("closing")));
        let body = b"--b\r\nContent-Type: x\r\n\r\nabc\r\n--b--";
        assert!(matches!(parse(body, ct), Err(DecodeError::Multipart(m)) if m.contains("name")));
        assert!(parse(b"--b", ct).is_err());
    }

    #[test]
    fn quoted_semicolons_in_filenames() {
        assert_eq!(
            header_param(" form-data; filename=\"a;b\"; name=\"profile\"", "name").as_deref(),
            Some("profile")
        );
    }
}
