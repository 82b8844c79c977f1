//! The use cases, the one place that orchestrates a change: validation, store, cache, events
//! and the wake-up of the worker that delivers them. Every front door (REST, and the others
//! to come) calls these and only translates.

pub mod auth;
pub mod outbox;

mod access;
mod assist;
mod backups;
mod cache_keeper;
mod context;
mod embedding;
mod error;
mod export;
mod health;
mod history;
pub mod imports;
mod kept;
mod outbox_signal;
mod rate_limit;
mod search;
pub mod secrets;
mod shares;
mod snippets;
mod stream;
mod tokens;
mod trash;
mod workspaces;

pub use access::Access;
pub use assist::{AnswerCache, AnswerEvent, AnswerStream, AssistDeps, AssistService};
pub use backups::BackupSchedule;
pub use cache_keeper::CacheKeeper;
pub use context::{ContextDeps, ContextService};
pub use embedding::{EmbeddingDeps, EmbeddingFailure, EmbeddingService};
pub use error::{ServiceError, ServiceResult};
pub use export::{Export, ExportService};
pub use health::{HealthService, Readiness};
pub use history::{DiffParams, HistoryService, VersionParams};
pub use imports::ImportService;
pub use outbox_signal::OutboxSignal;
pub use search::{RelevanceFloor, SearchDeps, SearchPage, SearchService};
pub use shares::ShareService;
pub use snippets::{LargeListing, LargeRow, SnippetDeps, SnippetJson, SnippetService};
pub use stream::{StreamItem, StreamMetrics, StreamService, Subscription};
pub use tokens::{CreatedToken, TokenPage, TokenService};
pub use trash::{TrashParams, TrashService};
pub use workspaces::WorkspaceService;

use std::sync::Arc;

/// Every use case, cheap to share.
#[derive(Clone)]
pub struct Services {
    pub snippets: Arc<SnippetService>,
    pub context: Arc<ContextService>,
    pub assist: Arc<AssistService>,
    pub tokens: Arc<TokenService>,
    pub stream: Arc<StreamService>,
    pub workspaces: Arc<WorkspaceService>,
    pub shares: Arc<ShareService>,
    pub history: Arc<HistoryService>,
    pub trash: Arc<TrashService>,
    pub imports: Arc<ImportService>,
    pub exports: Arc<ExportService>,
}
