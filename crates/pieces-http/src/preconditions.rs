//! A snippet's `ETag` is its version, quoted (`"7"`). `If-None-Match` on a read answers 304
//! when the client holds that version; `If-Match` on a write changes the snippet only while
//! it is at that version (`*`: while it exists), else 412 with the snippet as it is now.

use axum::extract::FromRequestParts;
use axum::http::header::{IF_MATCH, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::HeaderValue;

use crate::error::ApiError;
use pieces_model::Expected;

/// The `ETag` of a snippet at `version`. Every warm read sends one: its digits are written
/// into a stack buffer, with none of `format!`'s machinery.
pub fn etag(version: i64) -> HeaderValue {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(version).as_bytes();
    // An i64 has at most 20 characters; two quotes around them.
    let mut quoted = [b'"'; 22];
    quoted[1..=digits.len()].copy_from_slice(digits);
    // Digits in quotes are always a valid header value.
    HeaderValue::from_bytes(&quoted[..digits.len() + 2])
        .unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// The version an `If-Match` header names, if the request has one.
pub struct IfMatch(pub Option<Expected>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let Some(value) = non_empty_text(parts.headers.get(IF_MATCH), "If-Match")? else {
            return Ok(Self(None));
        };
        let tags = entity_tags(value, "If-Match")?;
        if tags.contains(&Tag::Any) {
            return Ok(Self(Some(Expected::Any)));
        }
        match tags.as_slice() {
            // If-Match compares strongly: a weak tag never matches.
            [Tag::Version {
                version,
                weak: false,
            }] => Ok(Self(Some(Expected::Version(*version)))),
            [Tag::Version { .. }] | [Tag::Other] => Ok(Self(Some(Expected::Version(-1)))),
            _ => Err(ApiError::BadRequest(
                "If-Match names one version (\"7\") or *".into(),
            )),
        }
    }
}

/// A read's `If-None-Match` header, taken alone: a read needs no copy of every header.
pub struct IfNoneMatch(Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(parts.headers.get(IF_NONE_MATCH).cloned()))
    }
}

impl IfNoneMatch {
    /// Whether the header says the client already holds `version` (weak comparison, as
    /// RFC 9110 asks of it).
    pub fn holds(&self, version: i64) -> Result<bool, ApiError> {
        let Some(value) = non_empty_text(self.0.as_ref(), "If-None-Match")? else {
            return Ok(false);
        };
        Ok(entity_tags(value, "If-None-Match")?
            .iter()
            .any(|t| match t {
                Tag::Any => true,
                Tag::Version { version: v, .. } => *v == version,
                Tag::Other => false,
            }))
    }
}

#[derive(Debug, PartialEq)]
enum Tag {
    Any,
    Version {
        version: i64,
        weak: bool,
    },
    /// A well-formed tag that no snippet version is.
    Other,
}

/// The header's text; None when it is absent or empty (an empty list of tags asks nothing,
/// as many servers read it, and as the API description says).
fn non_empty_text<'a>(
    value: Option<&'a HeaderValue>,
    shown: &str,
) -> Result<Option<&'a str>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let text = value
        .to_str()
        .map_err(|_| ApiError::BadRequest(format!("{shown} is not text")))?;
    Ok(Some(text).filter(|t| !t.trim().is_empty()))
}

/// The entity tags of a header: `*`, or a comma-separated list of `"x"` and `W/"x"`.
fn entity_tags(value: &str, shown: &str) -> Result<Vec<Tag>, ApiError> {
    let malformed = || {
        ApiError::BadRequest(format!(
            "{shown} must be * or quoted entity tags such as \"7\""
        ))
    };
    if value.trim() == "*" {
        return Ok(vec![Tag::Any]);
    }
    value
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|tag| {
            let (weak, quoted) = match tag.strip_prefix("W/") {
                Some(rest) => (true, rest),
                None => (false, tag),
            };
            let inner = quoted
                .strip_prefix('"')
                .and_then(|t| t.strip_suffix('"'))
                .filter(|t| !t.contains('"'))
                .ok_or_else(malformed)?;
            Ok(match inner.parse::<i64>() {
                Ok(version) if version > 0 && !inner.starts_with('+') => {
                    Tag::Version { version, weak }
                }
                _ => Tag::Other,
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .and_then(|tags| {
            if tags.is_empty() {
                Err(malformed())
            } else {
                Ok(tags)
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_read_as_rfc_9110_writes_them() {
        assert_eq!(entity_tags("*", "h").unwrap(), [Tag::Any]);
        assert_eq!(
            entity_tags("\"3\", W/\"4\" ,\"x\"", "h").unwrap(),
            [
                Tag::Version {
                    version: 3,
                    weak: false
                },
                Tag::Version {
                    version: 4,
                    weak: true
                },
                Tag::Other
            ]
        );
        for bad in ["3", "\"3", " , ", "W/3", "\"a\"b\""] {
            assert!(entity_tags(bad, "h").is_err(), "{bad}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let held = |text: &'static str| IfNoneMatch(Some(HeaderValue::from_static(text)));
        assert!(held("W/\"5\"").holds(5).unwrap());
        assert!(!held("W/\"5\"").holds(6).unwrap());
        assert!(held("\"4\", \"5\"").holds(5).unwrap());
        assert!(held("*").holds(9).unwrap());
        assert!(!IfNoneMatch(None).holds(5).unwrap());
        assert!(!held(" ").holds(5).unwrap(), "an empty header asks nothing");
        assert!(held("5").holds(5).is_err(), "an unquoted tag is refused");
    }

    #[test]
    fn an_etag_is_the_version_in_quotes() {
        assert_eq!(etag(1), HeaderValue::from_static("\"1\""));
        assert_eq!(
            etag(i64::MAX),
            HeaderValue::from_static("\"9223372036854775807\"")
        );
    }
}
