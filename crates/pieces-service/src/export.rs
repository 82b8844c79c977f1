//! Exports: every snippet of the workspaces a caller names, streamed as it is read. Pages of
//! the store are read one at a time and the output goes through a small bounded channel, so
//! a client that reads slowly holds the reading back instead of memory filling up.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::io::{self, Write};
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;

use super::auth::Principal;
use super::history::OlderVersions;
use super::{ServiceError, ServiceResult, SnippetService};
use pieces_model::import::{ExportFormat, ExportParams, VersionLine};
use pieces_model::workspace::api_id;
use pieces_model::{Listed, Snippet};
use pieces_store::{HistoryStore, Rows, SnippetStore, SnippetWalk};

/// Snippets read from the store at once.
const PAGE: i64 = 100;
/// Output is sent in chunks of about this size.
const CHUNK: usize = 64 * 1024;
/// Chunks on their way to the client at once.
const CHUNKS_AHEAD: usize = 4;

pub struct ExportService {
    pub snippets: Arc<SnippetService>,
    pub walk: Arc<dyn SnippetWalk>,
    pub store: Arc<dyn SnippetStore>,
    pub history: Arc<dyn HistoryStore>,
}

/// An export on its way: the chunks of the file, then the end of the channel (or an error,
/// after which the file is incomplete and the connection is cut).
pub struct Export {
    pub format: ExportFormat,
    pub chunks: mpsc::Receiver<io::Result<Bytes>>,
}

type Chunks = mpsc::Sender<io::Result<Bytes>>;

impl ExportService {
    /// Checks the request and starts writing the export.
    pub async fn export(
        self: &Arc<Self>,
        caller: &Principal,
        params: ExportParams,
    ) -> ServiceResult<Export> {
        let format = params.format.unwrap_or(ExportFormat::Json);
        // Only JSON lines carry history; the other formats are of the current versions.
        let history = params.history.unwrap_or(false) && format == ExportFormat::Json;
        let keys = self
            .snippets
            .keys_to_list(caller, params.workspace.as_deref())
            .await?;
        let (chunks, receiver) = mpsc::channel(CHUNKS_AHEAD);
        let service = Arc::clone(self);
        tokio::spawn(async move {
            let written = match format {
                ExportFormat::Json => service.json_lines(&keys, history, &chunks).await,
                ExportFormat::Vscode => service.vscode(&keys, &chunks).await,
                ExportFormat::Markdown => service.markdown(keys, &chunks).await,
            };
            if let Err(e) = written {
                tracing::warn!(error = %e, "an export stopped before its end");
                let _ = chunks.send(Err(io::Error::other(e.to_string()))).await;
            }
        });
        Ok(Export {
            format,
            chunks: receiver,
        })
    }

    async fn json_lines(&self, keys: &[String], history: bool, out: &Chunks) -> ServiceResult<()> {
        let mut buffer = Vec::with_capacity(CHUNK);
        let mut snippets = Walk::new(keys);
        while let Some((key, snippet)) = snippets.next(self).await? {
            line(&mut buffer, &snippet);
            if history {
                self.version_lines(&key, &snippet, &mut buffer, out).await?;
            }
            if !flush_if_full(&mut buffer, out).await {
                return Ok(());
            }
        }
        flush(&mut buffer, out).await;
        Ok(())
    }

    async fn version_lines(
        &self,
        key: &str,
        snippet: &Snippet,
        buffer: &mut Vec<u8>,
        out: &Chunks,
    ) -> ServiceResult<()> {
        let Some(history) = self
            .history
            .history(key, &snippet.id, Rows::After(0))
            .await?
        else {
            return Ok(());
        };
        for older in OlderVersions::new(history) {
            let (older, made) = older?;
            line(
                buffer,
                &VersionLine {
                    kind: "version",
                    snippet_id: &snippet.id,
                    version: older.version,
                    at: made.at,
                    actor: made.actor.as_deref(),
                    changed: &made.changed,
                    snippet: &older,
                },
            );
            if !flush_if_full(buffer, out).await {
                break;
            }
        }
        Ok(())
    }

    /// One object whose members are the snippets' files, each named uniquely.
    async fn vscode(&self, keys: &[String], out: &Chunks) -> ServiceResult<()> {
        let mut buffer = b"{".to_vec();
        let mut names = UniqueNames::default();
        let mut first = true;
        let mut snippets = Walk::new(keys);
        while let Some((_, snippet)) = snippets.next(self).await? {
            for (name, member) in vscode_members(&snippet) {
                if !first {
                    buffer.push(b',');
                }
                first = false;
                buffer.extend_from_slice(b"\n  ");
                let name = names.unique(name);
                serde_json::to_writer(&mut buffer, &name).expect("a string serializes");
                buffer.extend_from_slice(b": ");
                serde_json::to_writer(&mut buffer, &member).expect("JSON serializes");
            }
            if !flush_if_full(&mut buffer, out).await {
                return Ok(());
            }
        }
        buffer.extend_from_slice(b"\n}\n");
        flush(&mut buffer, out).await;
        Ok(())
    }

    /// A zip written on a thread of its own (the zip writer is synchronous) from the
    /// snippets this task reads.
    async fn markdown(&self, keys: Vec<String>, out: &Chunks) -> ServiceResult<()> {
        let (files, mut to_zip) = mpsc::channel::<(String, String)>(CHUNKS_AHEAD);
        let sink = ChannelWriter {
            out: out.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let zipping = tokio::task::spawn_blocking(move || -> io::Result<()> {
            let mut zip = zip::ZipWriter::new_stream(sink);
            // Stored, not deflated: no compression crate to build, and Markdown is small.
            let options = zip::write::SimpleFileOptions::default()
                .compression_method(zip::CompressionMethod::Stored)
                .large_file(false);
            while let Some((path, text)) = to_zip.blocking_recv() {
                zip.start_file(path, options).map_err(io::Error::other)?;
                zip.write_all(text.as_bytes())?;
            }
            zip.finish().map_err(io::Error::other)?.into_inner().flush()
        });
        let mut paths = UniqueNames::default();
        let mut snippets = Walk::new(&keys);
        while let Some((key, snippet)) = snippets.next(self).await? {
            let path = paths.unique(format!(
                "{}/{}.md",
                folder_name(api_id(&key)),
                file_stem(&snippet.title)
            ));
            if files.send((path, markdown_of(&snippet))).await.is_err() {
                break;
            }
        }
        drop(files);
        zipping
            .await
            .map_err(|e| ServiceError::Malformed(format!("the export stopped: {e}")))?
            .map_err(|e| ServiceError::Malformed(format!("the export stopped: {e}")))
    }
}

/// Every snippet of some workspaces, whole, oldest first, a page of the store at a time.
struct Walk<'k> {
    keys: &'k [String],
    /// The workspace being read, and where its next page starts.
    at: usize,
    cursor: Option<String>,
    page: std::vec::IntoIter<Listed>,
    last_page: bool,
}

impl<'k> Walk<'k> {
    fn new(keys: &'k [String]) -> Self {
        Self {
            keys,
            at: 0,
            cursor: None,
            page: Vec::new().into_iter(),
            last_page: false,
        }
    }

    async fn next(&mut self, from: &ExportService) -> ServiceResult<Option<(String, Snippet)>> {
        loop {
            let Some(key) = self.keys.get(self.at) else {
                return Ok(None);
            };
            if let Some(listed) = self.page.next() {
                let snippet = match listed {
                    Listed::Whole(s) => s,
                    // Read on its own, so a page never holds more than one large row.
                    Listed::Deferred(s) => match from.store.get_snippet(key, &s.id).await? {
                        Some(whole) => whole,
                        None => continue,
                    },
                };
                return Ok(Some((key.clone(), snippet)));
            }
            if self.last_page {
                self.at += 1;
                self.cursor = None;
                self.last_page = false;
                continue;
            }
            let (page, next) = from
                .walk
                .walk_page(key, self.cursor.as_deref(), PAGE)
                .await?;
            self.page = page.into_iter();
            self.last_page = next.is_none();
            self.cursor = next;
        }
    }
}

/// Appends `value` as one JSON line.
fn line(buffer: &mut Vec<u8>, value: &impl serde::Serialize) {
    serde_json::to_writer(&mut *buffer, value).expect("JSON serializes");
    buffer.push(b'\n');
}

/// Sends the buffer once it holds a chunk; false when the client is gone.
async fn flush_if_full(buffer: &mut Vec<u8>, out: &Chunks) -> bool {
    buffer.len() < CHUNK || flush(buffer, out).await
}

async fn flush(buffer: &mut Vec<u8>, out: &Chunks) -> bool {
    if buffer.is_empty() {
        return true;
    }
    let chunk = Bytes::from(std::mem::replace(buffer, Vec::with_capacity(CHUNK)));
    out.send(Ok(chunk)).await.is_ok()
}

/// What the zip writer writes, sent on in chunks; a closed channel is a write error, which
/// stops the zip.
struct ChannelWriter {
    out: Chunks,
    buffer: Vec<u8>,
}

impl Write for ChannelWriter {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        if self.buffer.len() >= CHUNK {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.out
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the client went away"))
    }
}

/// Names made unique by a counter: `name`, `name (2)`, ... Only hashes are kept (eight
/// bytes per name, and the next counter to try per name given), so many snippets of one
/// title cost one step each, not a walk over the ones before.
#[derive(Default)]
struct UniqueNames {
    seen: HashSet<u64>,
    next: HashMap<u64, u32>,
    hasher: std::hash::RandomState,
}

impl UniqueNames {
    fn unique(&mut self, name: String) -> String {
        let base = self.hasher.hash_one(&name);
        let mut n = self.next.get(&base).copied().unwrap_or(1);
        loop {
            let candidate = match n {
                1 => name.clone(),
                _ => match name.strip_suffix(".md") {
                    Some(stem) => format!("{stem} ({n}).md"),
                    None => format!("{name} ({n})"),
                },
            };
            n += 1;
            if self.seen.insert(self.hasher.hash_one(&candidate)) {
                self.next.insert(base, n);
                return candidate;
            }
        }
    }
}

/// A snippet's files as VS Code snippets: named by the title (and the file's name when it
/// has several), the body as lines, the language as the scope.
fn vscode_members(snippet: &Snippet) -> Vec<(String, Value)> {
    let prefix = snippet
        .metadata
        .get("import")
        .and_then(|i| i.get("prefix"))
        .cloned()
        .unwrap_or_else(|| json!(prefix_of(&snippet.title)));
    let member = |language: &str, code: &str| {
        let mut m = Map::new();
        m.insert("prefix".into(), prefix.clone());
        m.insert(
            "body".into(),
            json!(code.split('\n').collect::<Vec<&str>>()),
        );
        if let Some(d) = snippet.description.as_deref().filter(|d| !d.is_empty()) {
            m.insert("description".into(), json!(d));
        }
        m.insert("scope".into(), json!(language));
        Value::Object(m)
    };
    snippet
        .file_views()
        .into_iter()
        .map(|f| {
            let name = if f.name.is_empty() {
                snippet.title.clone()
            } else {
                format!("{} ({})", snippet.title, f.name)
            };
            (name, member(f.language, f.code))
        })
        .collect()
}

/// A completion prefix from a title: its words, lower-cased, joined by `-`.
fn prefix_of(title: &str) -> String {
    let words: Vec<String> = title
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(4)
        .map(str::to_lowercase)
        .collect();
    if words.is_empty() {
        "snippet".into()
    } else {
        words.join("-")
    }
}

/// A snippet as a Markdown file: its fields as front matter, then each file's code fenced.
fn markdown_of(snippet: &Snippet) -> String {
    let mut text = String::from("---\n");
    let field = |text: &mut String, name: &str, value: Value| {
        text.push_str(&format!("{name}: {value}\n"));
    };
    field(&mut text, "id", json!(snippet.id));
    field(&mut text, "title", json!(snippet.title));
    field(&mut text, "language", json!(snippet.language));
    field(&mut text, "tags", json!(snippet.tags));
    field(&mut text, "created_at", json!(snippet.created_at));
    field(&mut text, "updated_at", json!(snippet.updated_at));
    field(&mut text, "version", json!(snippet.version));
    text.push_str("---\n\n# ");
    text.push_str(&snippet.title);
    text.push('\n');
    if let Some(d) = snippet.description.as_deref().filter(|d| !d.is_empty()) {
        text.push('\n');
        text.push_str(d);
        text.push('\n');
    }
    let fence = |code: &str| "`".repeat(longest_backtick_run(code).max(2) + 1);
    let mut block = |name: &str, language: &str, code: &str| {
        if !name.is_empty() {
            text.push_str(&format!("\n## {name}\n"));
        }
        let fence = fence(code);
        text.push_str(&format!("\n{fence}{language}\n{code}"));
        if !code.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&fence);
        text.push('\n');
    };
    for f in snippet.file_views() {
        block(f.name, f.language, f.code);
    }
    text
}

/// A fence longer than any run of backticks in the code keeps the code whole.
fn longest_backtick_run(code: &str) -> usize {
    code.split(|c| c != '`').map(str::len).max().unwrap_or(0)
}

/// A file name from a title: letters, digits, `-` and `_` kept, the rest `-`, at most 80.
fn file_stem(title: &str) -> String {
    let stem: String = title
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(80)
        .collect();
    let stem = stem.trim_matches('-');
    if stem.is_empty() {
        "snippet".into()
    } else {
        stem.to_owned()
    }
}

fn folder_name(workspace: &str) -> String {
    file_stem(workspace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_made_unique_and_code_keeps_its_fences() {
        let mut names = UniqueNames::default();
        assert_eq!(names.unique("a/x.md".into()), "a/x.md");
        assert_eq!(names.unique("a/x.md".into()), "a/x (2).md");
        assert_eq!(names.unique("Retry".into()), "Retry");
        assert_eq!(names.unique("Retry".into()), "Retry (2)");
        let snippet = Snippet {
            title: "Fences".into(),
            code: "```\nnested\n```".into(),
            language: "markdown".into(),
            ..Snippet::default()
        };
        let text = markdown_of(&snippet);
        assert!(
            text.contains("\n````markdown\n```\nnested\n```\n````\n"),
            "{text}"
        );
        assert_eq!(file_stem("Retry: with backoff!"), "Retry--with-backoff");
        assert_eq!(prefix_of("Retry: with backoff!"), "retry-with-backoff");
    }
}
