//! The optional TOML file named by `CONFIG_FILE`. Its keys are the variable names in lower
//! case (`api_port = 8200`).

use config::{File, FileFormat, Source};

use super::{ConfigError, ENV_VARS};

/// Reads the file, refusing any key that is not a setting: a misspelt key would otherwise
/// leave its setting at the default without a word.
pub(super) fn read(path: &str) -> Result<File<config::FileSourceString, FileFormat>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ConfigError(format!("CONFIG_FILE: cannot read {path}: {e}")))?;
    let file = File::from_str(&text, FileFormat::Toml);
    let keys = file
        .collect()
        .map_err(|e| ConfigError(format!("CONFIG_FILE: {}", one_line(&e.to_string()))))?;
    let mut unknown: Vec<&str> = keys
        .keys()
        .map(String::as_str)
        .filter(|key| !is_setting(key))
        .collect();
    unknown.sort_unstable();
    if !unknown.is_empty() {
        let s = if unknown.len() == 1 { "" } else { "s" };
        let names = unknown.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>();
        return Err(ConfigError(format!(
            "CONFIG_FILE: unknown key{s} {}",
            names.join(", ")
        )));
    }
    Ok(file)
}

/// A variable's name in lower case; `CONFIG_FILE` itself cannot name another file.
fn is_setting(key: &str) -> bool {
    ENV_VARS
        .iter()
        .any(|var| *var != "CONFIG_FILE" && var.to_ascii_lowercase() == key)
}

/// TOML parse errors quote the offending line over several lines.
fn one_line(message: &str) -> String {
    message.split_whitespace().collect::<Vec<_>>().join(" ")
}
