//! Where `pcn` finds the service and its token: `PCN_URL` / `PCN_TOKEN` first, then the file
//! `pcn login` wrote (`$XDG_CONFIG_HOME/pcn/config.toml`, or `~/.config/pcn/config.toml`),
//! which only its user can read.

use std::fs::DirBuilder;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{CliError, Result};

/// The service and the credential every request carries.
#[derive(Debug, Clone)]
pub struct Login {
    /// The service's base URL, without a trailing slash.
    pub url: String,
    pub token: String,
}

#[derive(Debug, Default, Deserialize)]
struct Stored {
    url: Option<String>,
    token: Option<String>,
}

/// The login file's path.
pub fn path() -> Result<PathBuf> {
    let base = match env("XDG_CONFIG_HOME").map(PathBuf::from) {
        // The XDG rules ignore a relative value.
        Some(dir) if dir.is_absolute() => dir,
        _ => env("HOME")
            .map(|home| Path::new(&home).join(".config"))
            .ok_or_else(|| CliError::Failed("neither XDG_CONFIG_HOME nor HOME is set".into()))?,
    };
    Ok(base.join("pcn").join("config.toml"))
}

/// The login to use: each of the environment's values over the file's.
pub fn load() -> Result<Login> {
    let stored = read_file(&path()?)?;
    let url = env("PCN_URL").or(stored.url);
    let token = env("PCN_TOKEN").or(stored.token);
    match (url, token) {
        (Some(url), Some(token)) => Ok(Login {
            url: normalize_url(&url)?,
            token,
        }),
        _ => Err(CliError::NotLoggedIn),
    }
}

/// Writes the login file: its directory made 0700, the file 0600 from its first byte (it is
/// written under another name, then renamed into place).
pub fn save(login: &Login) -> Result<PathBuf> {
    let path = path()?;
    let dir = path.parent().unwrap_or(Path::new("."));
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| CliError::io(format!("creating {}", dir.display()), e))?;
    // A directory that already existed keeps its mode unless told.
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .map_err(|e| CliError::io(format!("securing {}", dir.display()), e))?;
    let failed = |e| CliError::io(format!("writing {}", path.display()), e);
    // A temporary file is created 0600.
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(failed)?;
    file.write_all(render(login).as_bytes()).map_err(failed)?;
    file.as_file().sync_all().map_err(failed)?;
    file.persist(&path).map_err(|e| failed(e.error))?;
    Ok(path)
}

/// The file's text. A JSON string is a valid TOML basic string (the same escapes), so
/// serde_json quotes the values and no TOML writer is needed.
fn render(login: &Login) -> String {
    let quote = |s: &str| serde_json::Value::from(s).to_string();
    format!(
        "# pcn's login (`pcn login`): the service and a personal access token.\n\
         url = {}\ntoken = {}\n",
        quote(&login.url),
        quote(&login.token)
    )
}

fn read_file(path: &Path) -> Result<Stored> {
    match std::fs::read_to_string(path) {
        Ok(text) => toml::from_str(&text)
            .map_err(|e| CliError::Failed(format!("{} is not valid: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Stored::default()),
        Err(e) => Err(CliError::io(format!("reading {}", path.display()), e)),
    }
}

/// Checks a service URL and drops what a user may paste after the host: a trailing slash,
/// or the API's own prefix.
pub fn normalize_url(url: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let trimmed = trimmed.strip_suffix("/api/v1").unwrap_or(trimmed);
    let parsed = reqwest::Url::parse(trimmed)
        .map_err(|e| CliError::Usage(format!("`{trimmed}` is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(CliError::Usage(format!(
            "`{trimmed}` is not an http:// or https:// URL"
        )));
    }
    Ok(trimmed.to_owned())
}

/// An environment variable, with an empty value read as unset.
pub fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}
