//! Reads an import file into entries, one at a time: this service's own export and the
//! files of GitHub Gists, VS Code, ByteStash, massCode and Pieces
//! (`tests/fixtures/import/README.md` has each format's sources and mapping).
//!
//! Files are read with `serde_json`'s streaming deserializer and each entry is handed over
//! as soon as it is read, so memory holds one entry, never the file. Limits of a create
//! (title length, empty code, ...) are the service's to apply: entries that break them are
//! still yielded, and only what cannot become an entry at all is reported as `Failed` here.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

mod bytestash;
mod fields;
mod gist;
mod json;
mod jsonc;
mod masscode;
mod pieces;
mod stream;
mod vscode;

#[cfg(test)]
mod tests;

/// The formats `POST /api/v1/imports?format=<f>` accepts: the API's own list, so the two
/// cannot disagree.
pub use pieces_model::import::ImportFormat as Format;

/// What the request tells about the file beyond its format.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The language of a VS Code language snippet file (`go.json`), whose snippets carry
    /// none: the request body has no file name to take it from.
    pub language: Option<String>,
}

/// One file of a snippet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    pub name: String,
    pub language: String,
    pub code: String,
}

/// A snippet as read from the source, not yet checked against the limits of a create.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// 0-based position in the source, in file order.
    pub index: u64,
    /// Remembered per imported snippet so that importing the same file again creates nothing.
    pub source_key: String,
    /// `json` format only: the exported snippet's id, kept on import.
    pub id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub tags: Vec<String>,
    /// In source order; may be empty or hold empty code, which the service refuses like a
    /// create would, naming the field.
    pub files: Vec<File>,
    /// `{"import": {...}}` with what the source carries that a snippet has no field for;
    /// the `json` format's own metadata unchanged.
    pub metadata: Map<String, Value>,
    /// `json` format only.
    pub created_at: Option<DateTime<Utc>>,
    /// `json` format only.
    pub updated_at: Option<DateTime<Utc>>,
    /// `json` format only: the version the export was at, kept so the round trip gives back
    /// every field.
    pub version: Option<i64>,
}

/// What the reader hands over for each entry of the source.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Entry(Entry),
    /// Not meant to be imported (in massCode's trash, a Pieces asset the user never saved).
    Skipped {
        index: u64,
        source_key: Option<String>,
        detail: String,
    },
    /// Cannot become a snippet whatever the limits (a truncated gist file, an image, ...).
    Failed {
        index: u64,
        field: String,
        detail: String,
    },
}

impl Item {
    pub fn index(&self) -> u64 {
        match self {
            Item::Entry(entry) => entry.index,
            Item::Skipped { index, .. } | Item::Failed { index, .. } => *index,
        }
    }
}

/// Why a file as a whole cannot be imported.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// Not JSON, or cut off: the service answers 400.
    #[error("not valid JSON: {0}")]
    Syntax(String),
    /// JSON of the wrong shape for the format: the service answers 422 with this detail.
    #[error("{0}")]
    Shape(String),
    #[error("reading the import file: {0}")]
    Io(#[from] std::io::Error),
    /// The callback asked to stop.
    #[error("the import was stopped")]
    Stopped,
}

/// First pass: checks the syntax and shape of the whole file without keeping entries, and
/// returns the number of entries.
pub fn check(format: Format, path: &Path, options: &Options) -> Result<u64, ImportError> {
    read(format, path, options, |_| Ok(()))
}

/// Second pass: calls `each` once per entry, in file order, and returns how many there were.
/// `each` returning `Err(())` stops reading with [`ImportError::Stopped`].
pub fn read(
    format: Format,
    path: &Path,
    options: &Options,
    mut each: impl FnMut(Item) -> Result<(), ()>,
) -> Result<u64, ImportError> {
    let mut sink = stream::Sink::new(&mut each);
    match format {
        Format::Json => json::read(path, &mut sink)?,
        Format::Gist => gist::read(path, &mut sink)?,
        Format::Vscode => vscode::read(path, options, &mut sink)?,
        Format::Bytestash => bytestash::read(path, &mut sink)?,
        Format::Masscode => masscode::read(path, &mut sink)?,
        Format::Pieces => pieces::read(path, &mut sink)?,
    }
    Ok(sink.count())
}
