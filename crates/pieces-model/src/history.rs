//! Version history: what each change replaced, kept as a reverse delta against the version
//! that replaced it, so a change of one line of a large snippet costs about that line. The
//! live row is the newest version; an older one is rebuilt by applying the deltas of every
//! version after it, newest first (at most `HISTORY_MAX_VERSIONS` of them).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use similar::{Algorithm, DiffOp, TextDiff};
use utoipa::ToSchema;

use super::files::{files_column, FileView};
use super::{JsonObject, Snippet, SnippetFile};

/// How long a diff may search for the smallest edit; past it the diff is still correct,
/// only larger. Keeps a write of two unrelated megabyte-sized codes from holding the store.
const DIFF_DEADLINE: Duration = Duration::from_millis(200);

/// One version, as the history lists it (and `pcn history` reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct VersionEntry {
    pub version: i64,
    /// When this version was made.
    pub at: DateTime<Utc>,
    /// Who made it; null for the service's own analysis, and where it is not known (a
    /// snippet's first version written before history was kept).
    pub actor: Option<String>,
    /// The fields this version changed: `title`, `code`, `language`, `tags`, `metadata`,
    /// `description`, `workspace` (a move); empty for a first version.
    pub changed: Vec<String>,
}

/// Answer of `GET /api/v1/snippets/{id}/versions`: newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionPage {
    pub versions: Vec<VersionEntry>,
    /// Versions kept in all.
    pub total: i64,
}

/// A field's value at both ends of a diff.
#[derive(Debug, Serialize, ToSchema)]
pub struct FieldChange {
    /// Any JSON value: text, a list of tags, the metadata object, or null.
    pub from: Value,
    pub to: Value,
}

/// Answer of `GET /api/v1/snippets/{id}/versions/{n}/diff`.
#[derive(Debug, Serialize, ToSchema)]
pub struct VersionDiff {
    pub from: i64,
    pub to: i64,
    /// Each field other than the code that differs, with both values.
    pub changes: BTreeMap<String, FieldChange>,
    /// The code's changes as a unified diff (empty when the code is the same).
    pub code_diff: String,
}

/// A stored history row: the change that made `version`, and what it replaced.
#[derive(Debug, Clone)]
pub struct HistoryRow {
    pub version: i64,
    pub at: DateTime<Utc>,
    pub actor: Option<String>,
    pub changed: Vec<String>,
    /// The reverse delta (`Delta`) that turns this version's content into the one before;
    /// None once that one is no longer kept.
    pub previous: Option<String>,
}

/// What a change keeps of the version it replaces.
#[derive(Debug, Clone)]
pub struct Replaced {
    /// The fields the change made differ.
    pub changed: Vec<String>,
    /// The reverse delta as JSON text.
    pub previous: String,
}

impl Replaced {
    /// What turning `older` into `newer` replaced (`moved`: the change also moved it to
    /// another workspace).
    pub fn between(older: &Snippet, newer: &Snippet, moved: bool) -> Self {
        let mut delta = Map::new();
        if older.title != newer.title {
            delta.insert("title".into(), Value::from(older.title.as_str()));
        }
        if older.language != newer.language {
            delta.insert("language".into(), Value::from(older.language.as_str()));
        }
        if older.tags != newer.tags {
            delta.insert("tags".into(), json!(older.tags));
        }
        if older.metadata != newer.metadata {
            delta.insert("metadata".into(), Value::Object(older.metadata.clone()));
        }
        if older.description != newer.description {
            delta.insert("description".into(), json!(older.description));
        }
        if older.code != newer.code {
            delta.insert("code".into(), code_delta(&newer.code, &older.code));
        }
        if files_column(&older.files) != files_column(&newer.files) {
            delta.insert("files".into(), files_delta(&newer.files, &older.files));
        }
        let mut changed: Vec<String> = delta.keys().cloned().collect();
        if moved {
            changed.push("workspace".into());
        }
        Self {
            changed,
            previous: Value::Object(delta).to_string(),
        }
    }
}

/// Why a stored delta could not be applied.
#[derive(Debug, thiserror::Error)]
#[error("a stored history delta is malformed: {0}")]
pub struct BadDelta(&'static str);

/// Turns `snippet` (some version's content) into the version before it, by the reverse
/// delta that version's row keeps.
pub fn apply_previous(snippet: &mut Snippet, previous: &str) -> Result<(), BadDelta> {
    let delta: Map<String, Value> =
        serde_json::from_str(previous).map_err(|_| BadDelta("not a JSON object"))?;
    let mut files = None;
    for (field, value) in delta {
        match field.as_str() {
            "title" => snippet.title = text(value)?,
            "language" => snippet.language = text(value)?,
            "tags" => {
                snippet.tags = serde_json::from_value(value).map_err(|_| BadDelta("tags"))?;
            }
            "metadata" => snippet.metadata = object(value)?,
            "description" => {
                snippet.description = match value {
                    Value::Null => None,
                    other => Some(text(other)?),
                }
            }
            "code" => snippet.code = apply_code(&snippet.code, &value)?,
            "files" => files = Some(value),
            _ => return Err(BadDelta("an unknown field")),
        }
    }
    // Last: the first file's code is the code as it was, which the loop may have rebuilt.
    match files {
        Some(Value::Null) => snippet.files.clear(),
        Some(Value::Array(each)) => snippet.files = apply_files(&snippet.files, &each)?,
        Some(_) => return Err(BadDelta("files")),
        None => {}
    }
    snippet.sync_first_file();
    Ok(())
}

/// The files delta that rebuilds `older`'s files from `newer`'s: null when `older` had none,
/// else one item per older file, paired with the newer file at its position: null when it
/// is the same, or its name and language where they differ and its code as a line delta (the
/// first file's code is `code`'s own delta). A change of one line of one file costs that line.
fn files_delta(newer: &[SnippetFile], older: &[SnippetFile]) -> Value {
    if older.is_empty() {
        return Value::Null;
    }
    let none = SnippetFile::default();
    older
        .iter()
        .enumerate()
        .map(|(i, was)| {
            let now = newer.get(i).unwrap_or(&none);
            let mut item = Map::new();
            if was.name != now.name || i >= newer.len() {
                item.insert("name".into(), json!(was.name));
            }
            if was.language != now.language || i >= newer.len() {
                item.insert("language".into(), json!(was.language));
            }
            if i > 0 && was.code != now.code {
                item.insert("code".into(), code_delta(&now.code, &was.code));
            }
            if item.is_empty() {
                Value::Null
            } else {
                Value::Object(item)
            }
        })
        .collect()
}

/// Rebuilds the older files from `newer` (the files of the version after) and their delta.
fn apply_files(newer: &[SnippetFile], each: &[Value]) -> Result<Vec<SnippetFile>, BadDelta> {
    let none = SnippetFile::default();
    each.iter()
        .enumerate()
        .map(|(i, item)| {
            let mut file = newer.get(i).unwrap_or(&none).clone();
            match item {
                Value::Null => {}
                Value::Object(item) => {
                    for (field, value) in item {
                        match field.as_str() {
                            "name" => file.name = text(value.clone())?,
                            "language" => file.language = text(value.clone())?,
                            "code" => file.code = apply_code(&file.code, value)?,
                            _ => return Err(BadDelta("a file's field")),
                        }
                    }
                }
                _ => return Err(BadDelta("a file")),
            }
            Ok(file)
        })
        .collect()
}

fn text(value: Value) -> Result<String, BadDelta> {
    match value {
        Value::String(s) => Ok(s),
        _ => Err(BadDelta("a text field")),
    }
}

fn object(value: Value) -> Result<JsonObject, BadDelta> {
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(BadDelta("metadata")),
    }
}

/// A text's lines, each with its line break: joined they give the text back exactly.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The code delta that rebuilds `older` from `newer`: a list whose items are either
/// `[first, count]`, lines copied from `newer`, or a string, text of `older`'s own.
fn code_delta(newer: &str, older: &str) -> Value {
    let base = lines(newer);
    let target = lines(older);
    let deadline = Instant::now() + DIFF_DEADLINE;
    let ops =
        similar::capture_diff_slices_deadline(Algorithm::Myers, &base, &target, Some(deadline));
    let mut items: Vec<Value> = Vec::new();
    let mut literal = String::new();
    let flush = |literal: &mut String, items: &mut Vec<Value>| {
        if !literal.is_empty() {
            items.push(Value::from(std::mem::take(literal)));
        }
    };
    for op in ops {
        match op {
            DiffOp::Equal { old_index, len, .. } => {
                flush(&mut literal, &mut items);
                items.push(json!([old_index, len]));
            }
            DiffOp::Delete { .. } => {}
            DiffOp::Insert {
                new_index, new_len, ..
            }
            | DiffOp::Replace {
                new_index, new_len, ..
            } => {
                for line in &target[new_index..new_index + new_len] {
                    literal.push_str(line);
                }
            }
        }
    }
    flush(&mut literal, &mut items);
    Value::Array(items)
}

fn apply_code(newer: &str, delta: &Value) -> Result<String, BadDelta> {
    let base = lines(newer);
    let items = delta.as_array().ok_or(BadDelta("code is not a list"))?;
    let mut older = String::new();
    for item in items {
        match item {
            Value::String(own) => older.push_str(own),
            Value::Array(range) => {
                let number = |i: usize| {
                    range
                        .get(i)
                        .and_then(Value::as_u64)
                        .and_then(|n| usize::try_from(n).ok())
                        .ok_or(BadDelta("a line range"))
                };
                let (first, count) = (number(0)?, number(1)?);
                let copied = first
                    .checked_add(count)
                    .and_then(|end| base.get(first..end))
                    .ok_or(BadDelta("a line range past the code's end"))?;
                copied.iter().for_each(|line| older.push_str(line));
            }
            _ => return Err(BadDelta("a code item")),
        }
    }
    Ok(older)
}

/// The differences between two versions of a snippet: every field but the code with both
/// values, and the code as a unified diff.
pub fn diff(from: &Snippet, to: &Snippet) -> VersionDiff {
    let mut changes = BTreeMap::new();
    let mut field = |name: &str, from: Value, to: Value| {
        if from != to {
            changes.insert(name.into(), FieldChange { from, to });
        }
    };
    field("title", json!(from.title), json!(to.title));
    field("language", json!(from.language), json!(to.language));
    field("tags", json!(from.tags), json!(to.tags));
    field("metadata", json!(from.metadata), json!(to.metadata));
    field(
        "description",
        json!(from.description),
        json!(to.description),
    );
    field("files", file_names(&from.files), file_names(&to.files));
    let (a, b) = (from.version, to.version);
    let code_diff = if from.files.is_empty() && to.files.is_empty() {
        unified(
            &from.code,
            &to.code,
            &format!("version {a}"),
            &format!("version {b}"),
        )
    } else {
        files_diff(&from.file_views(), &to.file_views(), a, b)
    };
    VersionDiff {
        from: from.version,
        to: to.version,
        changes,
        code_diff,
    }
}

/// The names and languages of a snippet's files (their code is in the unified diff).
fn file_names(files: &[SnippetFile]) -> Value {
    if files.is_empty() {
        return Value::Null;
    }
    files
        .iter()
        .map(|f| json!({"name": f.name, "language": f.language}))
        .collect()
}

fn unified(from: &str, to: &str, from_header: &str, to_header: &str) -> String {
    if from == to {
        return String::new();
    }
    TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(DIFF_DEADLINE)
        .diff_lines(from, to)
        .unified_diff()
        .context_radius(3)
        .header(from_header, to_header)
        .to_string()
}

/// One unified diff per file that differs, paired by position (names may repeat): a file
/// only one version has is diffed against nothing.
fn files_diff(from: &[FileView<'_>], to: &[FileView<'_>], a: i64, b: i64) -> String {
    let none = FileView::default();
    (0..from.len().max(to.len()))
        .map(|i| {
            let (f, t) = (from.get(i).unwrap_or(&none), to.get(i).unwrap_or(&none));
            unified(
                f.code,
                t.code,
                &format!("{} (version {a})", f.name),
                &format!("{} (version {b})", t.name),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snippet(code: &str) -> Snippet {
        Snippet {
            version: 2,
            id: "s".into(),
            title: "Retry".into(),
            code: code.into(),
            language: "rust".into(),
            tags: vec!["a".into()],
            description: Some("old".into()),
            ..Snippet::default()
        }
    }

    fn rebuilt(newer: &Snippet, replaced: &Replaced) -> Snippet {
        let mut back = newer.clone();
        apply_previous(&mut back, &replaced.previous).expect("applies");
        back
    }

    #[test]
    fn one_changed_line_of_a_large_code_costs_about_that_line() {
        let code: String = (0..3000)
            .map(|i| format!("let line_{i} = {i};\n"))
            .collect();
        assert!(code.len() > 60_000);
        let older = snippet(&code);
        let mut newer = older.clone();
        newer.code = code.replace("let line_1500 = 1500;", "let line_1500 = 15;");
        let replaced = Replaced::between(&older, &newer, false);
        assert_eq!(replaced.changed, ["code"]);
        assert!(
            replaced.previous.len() < 100,
            "{} bytes: {}",
            replaced.previous.len(),
            replaced.previous
        );
        assert_eq!(rebuilt(&newer, &replaced), older);
    }

    #[test]
    fn every_field_comes_back_as_it_was() {
        let older = snippet("a\nb\nc");
        let mut newer = older.clone();
        newer.title = "Backoff".into();
        newer.language = "python".into();
        newer.tags = vec![];
        newer.metadata.insert("k".into(), json!(1));
        newer.description = None;
        newer.code = "b\nc\nd\n".into();
        let replaced = Replaced::between(&older, &newer, true);
        assert_eq!(
            replaced.changed,
            [
                "code",
                "description",
                "language",
                "metadata",
                "tags",
                "title",
                "workspace"
            ]
        );
        assert_eq!(rebuilt(&newer, &replaced), older);
        // A description that was absent comes back absent, and text without a final line
        // break keeps it missing.
        let back = rebuilt(&older, &Replaced::between(&newer, &older, false));
        assert_eq!(back, newer);
    }

    #[test]
    fn one_changed_line_of_one_file_costs_about_that_line() {
        let big: String = (0..3000)
            .map(|i| format!("let line_{i} = {i};\n"))
            .collect();
        let file = |name: &str, code: &str| SnippetFile {
            name: name.into(),
            language: "rust".into(),
            code: code.into(),
        };
        let mut older = snippet(&big);
        older.files = vec![file("a.rs", &big), file("b.rs", &big), file("c.rs", &big)];
        let mut newer = older.clone();
        newer.files[1].code = big.replace("let line_7 = 7;", "let line_7 = 8;");
        let replaced = Replaced::between(&older, &newer, false);
        assert_eq!(replaced.changed, ["files"]);
        assert!(replaced.previous.len() < 120, "{}", replaced.previous);
        assert_eq!(rebuilt(&newer, &replaced), older);
    }

    #[test]
    fn files_come_back_as_they_were_with_the_first_code_kept_once() {
        let file = |name: &str, code: &str| SnippetFile {
            name: name.into(),
            language: "rust".into(),
            code: code.into(),
        };
        let mut older = snippet("fn a() {}\n");
        older.files = vec![file("a.rs", "fn a() {}\n"), file("b.rs", "fn b() {}\n")];
        let mut newer = older.clone();
        newer.code = "fn a2() {}\n".into();
        newer.files = vec![file("a.rs", "fn a2() {}\n"), file("c.rs", "fn c() {}\n")];
        let replaced = Replaced::between(&older, &newer, false);
        assert_eq!(replaced.changed, ["code", "files"]);
        let kept: Value = serde_json::from_str(&replaced.previous).unwrap();
        let files = kept["files"].to_string();
        assert!(
            !files.contains("fn a()"),
            "the first code is kept once: {files}"
        );
        assert_eq!(rebuilt(&newer, &replaced), older);
        // Back to one unnamed file, and from it.
        let mut plain = newer.clone();
        plain.files.clear();
        assert_eq!(
            rebuilt(&plain, &Replaced::between(&newer, &plain, false)),
            newer
        );
        assert_eq!(
            rebuilt(&newer, &Replaced::between(&plain, &newer, false)),
            plain
        );
        let d = diff(&older, &newer);
        assert!(
            d.code_diff.contains("--- b.rs (version 2)"),
            "{}",
            d.code_diff
        );
        assert!(
            d.code_diff.contains("+++ c.rs (version 2)"),
            "{}",
            d.code_diff
        );
        assert!(d.changes.contains_key("files"));
    }

    #[test]
    fn an_unchanged_snippet_keeps_an_empty_delta() {
        let same = snippet("x\n");
        let replaced = Replaced::between(&same, &same, false);
        assert!(replaced.changed.is_empty());
        assert_eq!(replaced.previous, "{}");
    }

    #[test]
    fn a_malformed_delta_is_an_error_not_a_panic() {
        let mut s = snippet("one\n");
        for bad in [
            "[]",
            r#"{"code": [[0, 5]]}"#,
            r#"{"code": [[18446744073709551615, 2]]}"#,
            r#"{"code": [7]}"#,
            r#"{"title": 1}"#,
            r#"{"owner": "x"}"#,
        ] {
            assert!(apply_previous(&mut s, bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_diff_names_changed_fields_and_gives_the_code_as_a_unified_diff() {
        let from = snippet("a\nb\n");
        let mut to = from.clone();
        to.version = 3;
        to.code = "a\nc\n".into();
        to.title = "New".into();
        let d = diff(&from, &to);
        assert_eq!(d.changes["title"].from, "Retry");
        assert_eq!(d.changes["title"].to, "New");
        assert!(!d.changes.contains_key("code"));
        assert!(d.code_diff.starts_with("--- version 2\n+++ version 3\n"));
        assert!(d.code_diff.contains("-b\n+c\n"), "{}", d.code_diff);
    }
}
