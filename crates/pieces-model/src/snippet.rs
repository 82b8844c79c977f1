use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::bounds::{DESCRIPTION_MAX_CHARS, OFFSET_MAX, PAGE_MAX, SEARCH_MAX_CHARS};
use super::files::{check_files, SnippetFile};
use super::rules::{
    check_no_nul, check_no_nul_in_object, check_object, check_text, not_null, Checked,
    ValidationError,
};
use super::{JsonObject, Limits};

/// A stored code snippet.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Snippet {
    /// 1 at creation, one more at each change (an edit, a move, an analysis merged into its
    /// metadata). Its `ETag` is `"<version>"`. First, so a stored copy's version is read
    /// without parsing the rest (`version_of_json`).
    pub version: i64,
    /// Opaque id (a UUIDv7).
    pub id: String,
    /// The workspace it belongs to: `personal`, or a team workspace's id.
    pub workspace: String,
    pub title: String,
    pub code: String,
    pub language: String,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub metadata: JsonObject,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Every file, the first being `code` and `language`, when the snippet was given
    /// `files`; absent for a snippet of one unnamed file.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<SnippetFile>,
}

impl Snippet {
    /// Makes the first file say what `code` and `language` say (after either changed).
    pub fn sync_first_file(&mut self) {
        if let Some(first) = self.files.first_mut() {
            first.code.clone_from(&self.code);
            first.language.clone_from(&self.language);
        }
    }
}

/// Body of `POST /api/v1/snippets`: `code` and `language`, or `files` (1-20, the first
/// becoming `code` and `language`).
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct NewSnippet {
    pub title: String,
    #[serde(default, deserialize_with = "not_null")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub language: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub files: Option<Vec<SnippetFile>>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<JsonObject>,
    #[serde(default)]
    pub description: Option<String>,
    /// The workspace to store it in (default `personal`).
    #[serde(default)]
    pub workspace: Option<String>,
}

/// Body of `PATCH /api/v1/snippets/{id}`: only the fields present change, and at least one
/// must be. `description: null` clears the description; no other field may be null.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct SnippetPatch {
    #[serde(default, deserialize_with = "not_null")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub code: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub language: Option<String>,
    /// Replaces every file (the first becomes `code` and `language`); not sent with `code`
    /// or `language`.
    #[serde(default, deserialize_with = "not_null")]
    pub files: Option<Vec<SnippetFile>>,
    /// Makes a snippet of several files one unnamed file again, holding `code`: only the
    /// restore of a version that was one is ever made of it, never a request body.
    #[serde(skip)]
    pub one_file: bool,
    #[serde(default, deserialize_with = "not_null")]
    pub tags: Option<Vec<String>>,
    #[serde(default, deserialize_with = "not_null")]
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<JsonObject>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub description: Option<Option<String>>,
    /// Moves the snippet to this workspace (`personal` or a team workspace's id): the
    /// caller must be a writer where it is and where it goes.
    #[serde(default, deserialize_with = "not_null")]
    pub workspace: Option<String>,
}

/// Tells an explicit `null` (Some(None)) from an absent field (None).
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// Query of `GET /api/v1/snippets`.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// 1 to 100, default 10.
    pub limit: Option<i64>,
    /// Default 0.
    pub offset: Option<i64>,
    /// Only snippets in this language (exact match).
    pub language: Option<String>,
    /// Only snippets carrying this tag.
    pub tag: Option<String>,
    /// Search over title, description, code and tags. In `text` mode every word must match.
    pub q: Option<String>,
    /// How `q` ranks: `text` (every word must match, newest first), `semantic` (nearest in
    /// meaning) or `hybrid` (both, fused). Default `hybrid` when an embedding provider is
    /// configured, `text` otherwise.
    pub mode: Option<SearchMode>,
    /// `personal` (default), a team workspace's id, or `all` for every workspace the
    /// caller can read.
    pub workspace: Option<String>,
}

/// How a search ranks its matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchMode {
    Text,
    Semantic,
    Hybrid,
}

impl SearchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Semantic => "semantic",
            Self::Hybrid => "hybrid",
        }
    }
}

/// A snippet as a page holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Listed {
    Whole(Snippet),
    /// Its code, metadata and description together are more than a page keeps in memory at
    /// once: they are left out (empty here) and the snippet is read on its own when its turn
    /// comes to be answered.
    Deferred(Snippet),
}

impl Listed {
    pub fn id(&self) -> &str {
        &self.snippet().id
    }

    /// The snippet, whole or without its large fields.
    pub fn snippet(&self) -> &Snippet {
        match self {
            Self::Whole(s) | Self::Deferred(s) => s,
        }
    }
}

/// One page of a listing, as the use case answers it: some rows may be deferred.
#[derive(Debug)]
pub struct ListedPage {
    pub rows: Vec<Listed>,
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    pub total_capped: bool,
    pub mode: Option<SearchMode>,
}

impl ListedPage {
    /// The page as the API shows it, when every row is whole; the page itself otherwise.
    pub fn into_whole(self) -> Result<SnippetPage, Self> {
        if self.rows.iter().any(|r| matches!(r, Listed::Deferred(_))) {
            return Err(self);
        }
        Ok(SnippetPage {
            snippets: self
                .rows
                .into_iter()
                .filter_map(|r| match r {
                    Listed::Whole(s) => Some(s),
                    Listed::Deferred(_) => None,
                })
                .collect(),
            total: self.total,
            limit: self.limit,
            offset: self.offset,
            total_capped: self.total_capped,
            mode: self.mode,
        })
    }
}

/// One page of a listing (read back by `pcn`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SnippetPage {
    pub snippets: Vec<Snippet>,
    /// Exact without filters; with `q`, `language` or `tag`, counting stops at 1,000 (see
    /// `total_capped`).
    pub total: i64,
    pub limit: i64,
    pub offset: i64,
    /// Present, and true, when a filtered listing or search found more than 1,000 matches:
    /// `total` is 1,000. (Ranked by meaning, a search ranks its best 100: past them `total`
    /// is 100 and this is true.)
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub total_capped: bool,
    /// How the search ranked (present with `q`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<SearchMode>,
}

impl NewSnippet {
    /// Validates and turns the body into the snippet to store in the workspace whose API
    /// id is `workspace`.
    pub fn into_snippet(
        self,
        limits: &Limits,
        now: DateTime<Utc>,
        workspace: &str,
    ) -> Checked<Snippet> {
        let tags = self.tags.unwrap_or_default();
        let metadata = self.metadata.unwrap_or_default();
        check_title(&self.title, limits)?;
        let (code, language, files) = code_and_files(self.code, self.language, self.files, limits)?;
        let tags = clean_tags(tags, limits)?;
        check_metadata(&metadata, limits)?;
        check_description(self.description.as_deref())?;
        Ok(Snippet {
            version: 1,
            id: Uuid::now_v7().to_string(),
            workspace: workspace.to_owned(),
            title: self.title,
            code,
            language,
            tags,
            metadata,
            description: self.description,
            created_at: now,
            updated_at: now,
            files,
        })
    }
}

impl SnippetPatch {
    /// Validates every field present; an empty patch is refused.
    pub fn validate(mut self, limits: &Limits) -> Checked<Self> {
        if self.title.is_none()
            && !self.one_file
            && self.code.is_none()
            && self.language.is_none()
            && self.files.is_none()
            && self.tags.is_none()
            && self.metadata.is_none()
            && self.description.is_none()
            && self.workspace.is_none()
        {
            return Err(ValidationError::new(
                "body",
                "the body names no field to update",
            ));
        }
        if let Some(title) = &self.title {
            check_title(title, limits)?;
        }
        if let Some(code) = &self.code {
            check_code(code, limits)?;
        }
        if let Some(language) = &mut self.language {
            check_text("language", language, limits.language_chars)?;
            *language = language.trim().to_owned();
        }
        if let Some(files) = self.files.take() {
            self.files = Some(patched_files(files, &self.code, &self.language, limits)?);
        }
        if let Some(tags) = self.tags.take() {
            self.tags = Some(clean_tags(tags, limits)?);
        }
        if let Some(metadata) = &self.metadata {
            check_metadata(metadata, limits)?;
        }
        if let Some(description) = &self.description {
            check_description(description.as_deref())?;
        }
        if let Some(workspace) = &self.workspace {
            // A move names where to: `personal` or a team workspace's id, never nothing.
            check_text("workspace", workspace, 64)?;
        }
        Ok(self)
    }

    /// True when the patch changes a field of the snippet itself, not only where it is.
    pub fn edits_content(&self) -> bool {
        self.title.is_some()
            || self.code.is_some()
            || self.language.is_some()
            || self.files.is_some()
            || self.one_file
            || self.tags.is_some()
            || self.metadata.is_some()
            || self.description.is_some()
    }

    /// True when the change calls for a new analysis of the code.
    pub fn touches_code(&self) -> bool {
        self.code.is_some() || self.language.is_some() || self.files.is_some() || self.one_file
    }

    /// Applies a validated patch.
    pub fn apply(&self, mut snippet: Snippet, now: DateTime<Utc>) -> Snippet {
        if let Some(v) = &self.title {
            snippet.title.clone_from(v);
        }
        if let Some(v) = &self.code {
            snippet.code.clone_from(v);
        }
        if let Some(v) = &self.language {
            snippet.language.clone_from(v);
        }
        if self.one_file {
            snippet.files.clear();
        }
        if let Some(files) = &self.files {
            snippet.files.clone_from(files);
            if let Some(first) = files.first() {
                snippet.code.clone_from(&first.code);
                snippet.language.clone_from(&first.language);
            }
        }
        snippet.sync_first_file();
        if let Some(v) = &self.tags {
            snippet.tags.clone_from(v);
        }
        if let Some(v) = &self.metadata {
            snippet.metadata.clone_from(v);
        }
        if let Some(v) = &self.description {
            snippet.description.clone_from(v);
        }
        snippet.updated_at = now;
        snippet.version += 1;
        snippet
    }
}

/// The version of a snippet serialized as the API shows it, read from the start of its JSON
/// (`version` is its first field) without parsing the rest, which may be a mebibyte of code.
pub fn version_of_json(json: &[u8]) -> Option<i64> {
    let rest = json.strip_prefix(b"{\"version\":")?;
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[..digits]).ok()?.parse().ok()
}

/// What `If-Match` asks of a write: the version the writer last saw, or any (`*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expected {
    Any,
    Version(i64),
}

impl Expected {
    /// Whether a snippet at `version` is what the writer expects.
    pub fn holds(self, version: i64) -> bool {
        match self {
            Self::Any => true,
            Self::Version(expected) => expected == version,
        }
    }
}

/// A validated listing request.
#[derive(Debug, Clone)]
pub struct ListFilter {
    pub limit: i64,
    pub offset: i64,
    pub language: Option<String>,
    pub tag: Option<String>,
    pub query: Option<String>,
    /// How `query` ranks; `Text` without a query.
    pub mode: SearchMode,
}

impl ListFilter {
    /// Whether anything narrows the listing (whose count then stops at the cap).
    pub fn is_filtered(&self) -> bool {
        self.query.is_some() || self.language.is_some() || self.tag.is_some()
    }
}

/// A page's `limit` (`default` when absent, at most `PAGE_MAX`) and `offset`, checked.
pub fn page_bounds(limit: Option<i64>, offset: Option<i64>, default: i64) -> Checked<(i64, i64)> {
    let limit = limit.unwrap_or(default);
    if !(1..=PAGE_MAX).contains(&limit) {
        return Err(ValidationError::new(
            "limit",
            format!("limit must be between 1 and {PAGE_MAX}"),
        ));
    }
    let offset = offset.unwrap_or(0);
    if !(0..=OFFSET_MAX).contains(&offset) {
        return Err(ValidationError::new(
            "offset",
            format!("offset must be between 0 and {OFFSET_MAX}"),
        ));
    }
    Ok((limit, offset))
}

impl ListParams {
    /// Checks the request; `semantic` tells whether an embedding provider is configured,
    /// which decides the default mode and whether the others may be asked for.
    pub fn validate(self, semantic: bool) -> Checked<ListFilter> {
        let (limit, offset) = page_bounds(self.limit, self.offset, 10)?;
        for (field, value) in [("language", &self.language), ("tag", &self.tag)] {
            if let Some(value) = value {
                check_no_nul(field, value)?;
            }
        }
        let non_empty = |s: Option<String>| s.filter(|s| !s.trim().is_empty());
        let query = non_empty(self.q);
        if let Some(q) = &query {
            check_text("q", q, SEARCH_MAX_CHARS)?;
        }
        let default = if semantic {
            SearchMode::Hybrid
        } else {
            SearchMode::Text
        };
        let mode = match self.mode.unwrap_or(default) {
            SearchMode::Text => SearchMode::Text,
            _ if !semantic => {
                return Err(ValidationError::new(
                    "mode",
                    "semantic and hybrid search need an embedding provider \
                     (EMBEDDINGS_MODEL_DIR or EMBEDDINGS_URL); use mode=text",
                ))
            }
            _ if query.is_none() => SearchMode::Text,
            asked => asked,
        };
        Ok(ListFilter {
            limit,
            offset,
            language: non_empty(self.language).map(|s| s.trim().to_owned()),
            tag: non_empty(self.tag).map(|s| s.trim().to_owned()),
            query,
            mode,
        })
    }
}

fn check_title(title: &str, limits: &Limits) -> Checked {
    check_text("title", title, limits.title_chars)
}

fn check_code(code: &str, limits: &Limits) -> Checked {
    if code.is_empty() || code.len() > limits.code_bytes {
        return Err(ValidationError::new(
            "code",
            format!("code must be 1 to {} bytes", limits.code_bytes),
        ));
    }
    check_no_nul("code", code)
}

/// A create's code, language and files: `code` and `language`, or `files` (whose first
/// file they become).
fn code_and_files(
    code: Option<String>,
    language: Option<String>,
    files: Option<Vec<SnippetFile>>,
    limits: &Limits,
) -> Checked<(String, String, Vec<SnippetFile>)> {
    let Some(files) = files else {
        let code = code.ok_or_else(|| missing("code"))?;
        let language = language.ok_or_else(|| missing("language"))?;
        check_code(&code, limits)?;
        check_text("language", &language, limits.language_chars)?;
        return Ok((code, language.trim().to_owned(), Vec::new()));
    };
    if code.is_some() || language.is_some() {
        return Err(ValidationError::new(
            "files",
            "send either files or code and language, not both",
        ));
    }
    let files = check_files(files, limits)?;
    let first = &files[0];
    Ok((first.code.clone(), first.language.clone(), files))
}

/// A patch's `files`: checked, and never sent with `code` or `language`.
fn patched_files(
    files: Vec<SnippetFile>,
    code: &Option<String>,
    language: &Option<String>,
    limits: &Limits,
) -> Checked<Vec<SnippetFile>> {
    if code.is_some() || language.is_some() {
        return Err(ValidationError::new(
            "files",
            "send either files or code and language, not both",
        ));
    }
    check_files(files, limits)
}

fn missing(field: &str) -> ValidationError {
    ValidationError::new(field, format!("{field}: field required (or send files)"))
}

fn check_metadata(metadata: &JsonObject, limits: &Limits) -> Checked {
    check_object("metadata", metadata, limits.object_bytes)?;
    check_no_nul_in_object("metadata", metadata)
}

fn check_description(description: Option<&str>) -> Checked {
    match description {
        Some(d) if d.chars().count() > DESCRIPTION_MAX_CHARS => Err(ValidationError::new(
            "description",
            format!("description must be at most {DESCRIPTION_MAX_CHARS} characters"),
        )),
        Some(d) => check_no_nul("description", d),
        None => Ok(()),
    }
}

/// Trims tags, drops repeats (keeping first-seen order) and enforces the limits.
fn clean_tags(tags: Vec<String>, limits: &Limits) -> Checked<Vec<String>> {
    // Counted as sent, before repeats are dropped: the published schema's maxItems says so.
    if tags.len() > limits.tags {
        return Err(ValidationError::new(
            "tags",
            format!("at most {} tags are allowed", limits.tags),
        ));
    }
    let mut clean: Vec<String> = Vec::with_capacity(tags.len());
    for tag in tags {
        check_text("tags", &tag, limits.tag_chars)?;
        let tag = tag.trim().to_owned();
        if !clean.contains(&tag) {
            clean.push(tag);
        }
    }
    if clean.len() > limits.tags {
        return Err(ValidationError::new(
            "tags",
            format!("at most {} tags are allowed", limits.tags),
        ));
    }
    Ok(clean)
}
