//! Writing to stdout without panicking on a closed pipe, and the few text shapes people read.

use std::fmt::Display;
use std::io::Write;

use chrono::{DateTime, Utc};
use pieces_model::Snippet;

use crate::error::{CliError, Result};

/// Writes `text` to stdout as it is.
pub fn write(text: impl AsRef<[u8]>) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_ref())
        .and_then(|()| stdout.flush())
        .map_err(CliError::Output)
}

/// Writes one line to stdout.
pub fn line(text: impl Display) -> Result<()> {
    write(format!("{text}\n"))
}

/// The API's JSON as received, ending with a newline.
pub fn json(body: &str) -> Result<()> {
    if body.ends_with('\n') {
        write(body)
    } else {
        line(body)
    }
}

/// A time as people read it, in UTC.
pub fn when(at: &DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// One snippet as a listing row: id, language, title and tags.
pub fn row(snippet: &Snippet) -> String {
    let tags: String = snippet.tags.iter().map(|t| format!(" #{t}")).collect();
    format!(
        "{}  {:<12} {}{}",
        snippet.id, snippet.language, snippet.title, tags
    )
}
