//! The core's data: snippets, workflow context, questions and answers, the rules they keep,
//! and the events a change causes. Nothing here knows of HTTP, storage or configuration.

mod assist;
pub mod audit;
mod changes;
mod cursor;
mod events;
pub mod files;
pub mod history;
pub mod import;
mod rules;
mod snippet;
mod token;
mod workflow;

pub mod bus;
pub mod related;
pub mod request_id;
pub mod share;
pub mod trash;
pub mod workspace;

pub use assist::{
    AssistAnswer, AssistRequest, Provider, Question, DEFAULT_MODEL, QUESTION_MAX_WORKSPACES,
};
pub use changes::{ChangeKind, ChangeRecord, KeptContext, Recorded, StreamEvent};
pub use cursor::{StreamCursor, CURSOR_MAX_BYTES, CURSOR_PATTERN};
pub use events::{cache_invalidation, Change, EventPlan, NewEvent, PendingEvent, Target};
pub use files::SnippetFile;
pub use rules::{is_blank, Checked, ValidationError};
pub use snippet::{
    page_bounds, version_of_json, Expected, ListFilter, ListParams, Listed, ListedPage, NewSnippet,
    SearchMode, Snippet, SnippetPage, SnippetPatch,
};
pub use token::{
    NewToken, Scope, Scopes, StoredToken, TokenInfo, TokenPaging, TokenRequest, TOKEN_DEFAULT_DAYS,
    TOKEN_MAX_DAYS, TOKEN_MAX_WORKSPACES, TOKEN_NAME_MAX_CHARS, TOKEN_PAGE_MAX,
};
pub use workflow::{ContextInput, WorkflowContext};

use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value};

/// Size limits on what users send. The defaults are the contract's; configuration may
/// change them.
#[derive(Debug, Clone)]
pub struct Limits {
    pub title_chars: usize,
    pub code_bytes: usize,
    pub language_chars: usize,
    pub tags: usize,
    pub tag_chars: usize,
    /// Largest serialized size of any free-form object (metadata, context data).
    pub object_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            title_chars: 200,
            code_bytes: 1024 * 1024,
            language_chars: 50,
            tags: 32,
            tag_chars: 50,
            object_bytes: 64 * 1024,
        }
    }
}

/// Bounds that configuration does not change.
pub mod bounds {
    /// A snippet's description.
    pub const DESCRIPTION_MAX_CHARS: usize = 10_000;
    /// A full-text query (`q`).
    pub const SEARCH_MAX_CHARS: usize = 500;
    /// A page of a listing.
    pub const PAGE_MAX: i64 = 100;
    /// How far into a listing a page may start.
    pub const OFFSET_MAX: i64 = 10_000_000;
    /// A search counts its matches up to this many, so it costs the same for any size of
    /// collection; past it the total says "this many or more".
    pub const SEARCH_TOTAL_CAP: i64 = 1_000;
    /// A question to the AI.
    pub const QUESTION_MAX_CHARS: usize = 8_000;
    /// A model name.
    pub const MODEL_MAX_CHARS: usize = 100;
    /// Tokens an answer may use.
    pub const MAX_TOKENS_LIMIT: u32 = 8_192;
    /// A workflow context's session id.
    pub const SESSION_ID_MAX_CHARS: usize = 128;
    /// A workflow context's type.
    pub const CONTEXT_TYPE_MAX_CHARS: usize = 64;
    /// Digits of one log's position in an event id (any such number fits an `i64`).
    pub const EVENT_ID_MAX_DIGITS: usize = 18;
}

/// The current time at the precision both stores keep (microseconds), so what a create
/// answers equals what a later read returns.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A JSON object, as users send and read it.
pub type JsonObject = Map<String, Value>;
