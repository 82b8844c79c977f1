//! `gist`: the GitHub Gists API's JSON, one gist (`GET /gists/{gist_id}`) or an array.

use std::path::Path;

use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::fields::{self, ImportMeta};
use crate::stream::{self, Each, OneOrMany, Ordered, Sink};
use crate::{Entry, File, ImportError, Item};

const EXPECTS: &str = "a `gist` import is one gist as `GET /gists/{gist_id}` answers it, or a \
    JSON array of them, each with `id` and `files`";

/// The most files a snippet holds (the service's limit for a create): a gist with more is
/// refused whole rather than cut.
const MAX_FILES: usize = 20;

/// The longest description taken as the title, in characters (the service's title limit).
const TITLE_MAX_CHARS: usize = 200;

#[derive(Deserialize)]
struct Gist {
    id: String,
    description: Option<String>,
    html_url: Option<String>,
    public: Option<bool>,
    owner: Option<Owner>,
    created_at: Option<String>,
    updated_at: Option<String>,
    /// More than 300 files: only the first 300 are listed.
    truncated: Option<bool>,
    files: Ordered<Option<GistFile>>,
}

#[derive(Deserialize)]
struct Owner {
    login: Option<String>,
}

#[derive(Deserialize)]
struct GistFile {
    filename: Option<String>,
    #[serde(rename = "type")]
    mime: Option<String>,
    language: Option<String>,
    raw_url: Option<String>,
    size: Option<u64>,
    /// Over a megabyte: `content` holds only the first one.
    truncated: Option<bool>,
    content: Option<String>,
    encoding: Option<String>,
}

pub(crate) fn read(path: &Path, sink: &mut Sink) -> Result<(), ImportError> {
    let reader = stream::open(path)?;
    let mut each = |gist: Gist| sink.emit(item(sink.next_index(), gist));
    let result = stream::drive(reader, OneOrMany(Each::new(EXPECTS, &mut each)));
    sink.finish(result, EXPECTS)
}

fn item(index: u64, mut gist: Gist) -> Item {
    match files(&mut gist) {
        Ok(files) => Item::Entry(entry(index, gist, files)),
        Err(detail) => Item::Failed {
            index,
            field: "files".to_owned(),
            detail,
        },
    }
}

/// The gist's files in order (their content moved out), or why they cannot all be stored.
fn files(gist: &mut Gist) -> Result<Vec<File>, String> {
    if gist.truncated == Some(true) {
        return Err(
            "the gist has more than 300 files and the API listed only the first 300 \
            (`truncated`): clone it with its `git_pull_url` instead"
                .to_owned(),
        );
    }
    if gist.files.0.len() > MAX_FILES {
        return Err(format!(
            "{} files: a snippet holds at most {MAX_FILES}",
            gist.files.0.len()
        ));
    }
    gist.files
        .0
        .iter_mut()
        .map(|(key, file)| one_file(key, file.as_mut()))
        .collect()
}

fn one_file(key: &str, file: Option<&mut GistFile>) -> Result<File, String> {
    let no_content = || {
        format!(
            "file `{key}` has no `content` (the shape of the gist list endpoints): export each \
             gist with `GET /gists/{{gist_id}}`, or fetch the file's `raw_url`"
        )
    };
    let file = file.ok_or_else(no_content)?;
    if file.truncated == Some(true) {
        let size = file
            .size
            .map(|s| format!(" ({s} bytes)"))
            .unwrap_or_default();
        return Err(format!(
            "file `{key}` is `truncated`{size}: the API returns only its first megabyte; fetch \
             the whole file from its `raw_url`"
        ));
    }
    let content = file.content.take().ok_or_else(no_content)?;
    let code = match file.encoding.as_deref() {
        Some("base64") => decode_base64(&content)
            .ok_or_else(|| format!("file `{key}` is base64 that does not decode to UTF-8 text"))?,
        _ => content,
    };
    Ok(File {
        name: file.filename.clone().unwrap_or_else(|| key.to_owned()),
        language: fields::language(file.language.as_deref(), &[]),
        code,
    })
}

fn decode_base64(content: &str) -> Option<String> {
    // The API wraps base64 content in lines.
    let compact: String = content.split_ascii_whitespace().collect();
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()?;
    String::from_utf8(bytes).ok()
}

fn entry(index: u64, gist: Gist, files: Vec<File>) -> Entry {
    let description = fields::non_blank(gist.description);
    let fits = description
        .as_ref()
        .is_some_and(|d| d.chars().count() <= TITLE_MAX_CHARS);
    let (title, description) = match description {
        Some(d) if fits => (d, None),
        other => (
            files.first().map(|f| f.name.clone()).unwrap_or_default(),
            other,
        ),
    };
    let file_meta: Vec<Value> = gist
        .files
        .0
        .iter()
        .filter_map(|(key, file)| {
            let file = file.as_ref()?;
            Some(json!({
                "filename": file.filename.as_deref().unwrap_or(key),
                "type": file.mime,
                "raw_url": file.raw_url,
            }))
        })
        .collect();
    let metadata = ImportMeta::new("gist")
        .with("id", gist.id.as_str())
        .with("html_url", gist.html_url)
        .with("public", gist.public)
        .with("owner", gist.owner.and_then(|o| o.login))
        .with("created_at", gist.created_at)
        .with("updated_at", gist.updated_at)
        .with("files", file_meta)
        .into_metadata();
    Entry {
        index,
        source_key: format!("gist:{}", gist.id),
        id: None,
        title,
        description,
        tags: Vec::new(),
        files,
        metadata,
        created_at: None,
        updated_at: None,
        version: None,
    }
}
