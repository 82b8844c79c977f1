//! Turning the text of a variable into its typed setting, and the config crate's errors into
//! one line that names the variable.

use std::fmt::Display;
use std::str::FromStr;

use secrecy::SecretString;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};

use super::ConfigError;

/// Kubernetes secrets often end in a newline, which no HTTP header may carry.
pub(super) fn trimmed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(SecretString::from))
}

/// A value parsed into its type as it is read, so no later code checks the string again.
pub(super) fn parsed<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    String::deserialize(d)?.parse().map_err(D::Error::custom)
}

/// Turns the config crate's error into one line naming the variable.
pub(super) fn describe(err: config::ConfigError) -> ConfigError {
    match err {
        config::ConfigError::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => ConfigError(format!(
            "{}: expected {expected}, got {unexpected}",
            key.to_uppercase()
        )),
        other => ConfigError(upper_key_in(&other.to_string())),
    }
}

/// Messages like "unknown variant `xml`, expected `json` or `text` for key `log_format`".
fn upper_key_in(msg: &str) -> String {
    match msg.rsplit_once("for key `") {
        Some((what, key)) => format!(
            "{}: {}",
            key.trim_end_matches('`').to_uppercase(),
            what.trim_end()
        ),
        None => msg.to_owned(),
    }
}
