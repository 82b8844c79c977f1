//! `json`: this service's own export, JSON lines with one snippet per line. Lines of another
//! `kind` (version history) are not entries and are passed over.

use std::io::BufRead;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::stream::{self, Sink};
use crate::{Entry, File, ImportError, Item};

const EXPECTS: &str = "a `json` import is this service's export: one snippet object per line \
    with `id`, `title`, `code`, `language`, `tags`, `metadata`, `description`, `created_at`, \
    `updated_at` and optionally `files`";

/// A snippet line as the export writes it; `workspace` is the service's to set.
#[derive(Deserialize)]
struct SnippetLine {
    id: String,
    title: String,
    code: String,
    language: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    metadata: Map<String, Value>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(default)]
    files: Option<Vec<File>>,
    #[serde(default)]
    version: Option<i64>,
}

pub(crate) fn read(path: &Path, sink: &mut Sink) -> Result<(), ImportError> {
    let mut reader = stream::open(path)?;
    let mut line = Vec::new();
    let mut number = 0u64;
    loop {
        line.clear();
        stream::next_entry();
        let read = reader.read_until(b'\n', &mut line).map_err(|e| {
            if stream::too_large(&e) {
                ImportError::Shape(format!(
                    "line {} is more than {} MiB; a snippet holds at most 4 MiB of code",
                    number + 1,
                    stream::ENTRY_MAX_BYTES >> 20
                ))
            } else {
                ImportError::Io(e)
            }
        })?;
        if read == 0 {
            return Ok(());
        }
        number += 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let Some(snippet) = parse_line(&line, number)? else {
            continue;
        };
        let index = sink.next_index();
        sink.emit(Item::Entry(entry(index, snippet)))
            .map_err(|_| ImportError::Stopped)?;
    }
}

/// The snippet on one line, or `None` for a line of another kind.
fn parse_line(line: &[u8], number: u64) -> Result<Option<SnippetLine>, ImportError> {
    let value: Value = serde_json::from_slice(line)
        .map_err(|e| ImportError::Syntax(format!("line {number}: {e}")))?;
    let Value::Object(object) = value else {
        return Err(ImportError::Shape(format!(
            "line {number}: {EXPECTS}, not a {}",
            kind_of(&value)
        )));
    };
    match object.get("kind") {
        None => {}
        Some(Value::String(kind)) if kind == "snippet" => {}
        Some(_) => return Ok(None),
    }
    SnippetLine::deserialize(Value::Object(object))
        .map(Some)
        .map_err(|e| ImportError::Shape(format!("line {number}: {EXPECTS}: {e}")))
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Kept field for field (languages too), so that an export imported again is the same
/// snippet.
fn entry(index: u64, line: SnippetLine) -> Entry {
    let files = line.files.unwrap_or_else(|| {
        vec![File {
            name: String::new(),
            language: line.language,
            code: line.code,
        }]
    });
    Entry {
        index,
        source_key: format!("json:{}", line.id),
        id: Some(line.id),
        title: line.title,
        description: line.description,
        tags: line.tags,
        files,
        metadata: line.metadata,
        created_at: line.created_at,
        updated_at: line.updated_at,
        version: line.version,
    }
}
