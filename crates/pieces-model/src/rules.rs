//! The rules user input must keep, and the error that names the field breaking one.

use serde::Deserialize;
use serde_json::Value;

use super::JsonObject;

/// A field that breaks a rule: which one, and a sentence saying why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{detail}")]
pub struct ValidationError {
    pub field: String,
    pub detail: String,
}

impl ValidationError {
    pub fn new(field: &str, detail: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            detail: detail.into(),
        }
    }
}

pub type Checked<T = ()> = Result<T, ValidationError>;

/// A field that, when present, must hold a value: `null` is refused rather than read as
/// "leave it as it is".
pub(crate) fn not_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Whether `value` holds nothing but white space (Unicode's White_Space, as `str::trim`
/// reads it; the published schema's pattern lists the same characters).
pub fn is_blank(value: &str) -> bool {
    value.trim().is_empty()
}

/// Checks that `value` holds between 1 and `max` characters and is not only blank.
pub fn check_text(field: &str, value: &str, max: usize) -> Checked {
    let chars = value.chars().count();
    if is_blank(value) || chars > max {
        return Err(ValidationError::new(
            field,
            format!("{field} must be 1 to {max} characters and not blank"),
        ));
    }
    check_no_nul(field, value)
}

/// PostgreSQL's text and JSONB cannot hold a NUL character, so neither store takes one: the
/// same body is accepted, or refused, whichever store runs.
pub fn check_no_nul(field: &str, value: &str) -> Checked {
    if value.contains('\0') {
        return Err(ValidationError::new(
            field,
            format!("{field} must not contain NUL characters (\\u0000)"),
        ));
    }
    Ok(())
}

/// `check_no_nul` for every key and string inside a JSON object.
pub fn check_no_nul_in_object(field: &str, object: &JsonObject) -> Checked {
    fn walk(field: &str, value: &Value) -> Checked {
        match value {
            Value::String(s) => check_no_nul(field, s),
            Value::Array(items) => items.iter().try_for_each(|v| walk(field, v)),
            Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                check_no_nul(field, k)?;
                walk(field, v)
            }),
            _ => Ok(()),
        }
    }
    object.iter().try_for_each(|(k, v)| {
        check_no_nul(field, k)?;
        walk(field, v)
    })
}

/// Checks that an object serializes to at most `max` bytes.
pub fn check_object(field: &str, value: &JsonObject, max: usize) -> Checked {
    let size = serde_json::to_vec(value)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > max {
        return Err(ValidationError::new(
            field,
            format!("{field} must be a JSON object of at most {max} bytes (got {size})"),
        ));
    }
    Ok(())
}

/// A whole number, also when a client's JSON writes it as `1000.0`.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= f64::from(u32::MAX))
            .map(|f| f as u64)
    });
    match whole.and_then(|n| u32::try_from(n).ok()) {
        Some(n) => Ok(Some(n)),
        None => Err(serde::de::Error::custom(format!(
            "expected a whole number, got {number}"
        ))),
    }
}
