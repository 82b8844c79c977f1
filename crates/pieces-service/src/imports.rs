//! Imports from other tools: a file (already spooled to disk by the front door) is checked
//! whole, then read entry by entry in a job whose progress any replica can answer. Each entry
//! is validated like a create and becomes one snippet, or nothing.
//!
//! Re-importing creates nothing new because an entry's snippet id is derived from the
//! workspace and the entry's source key (this service's own export keeps its ids): an id
//! already stored, or in the trash, is skipped. The id is the snippet's own primary key, so
//! this holds however the import was cut short, with no second table to keep in step.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use uuid::Uuid;

use super::auth::Principal;
use super::{Access, ServiceError, ServiceResult, SnippetService};
use pieces_import::{Entry, Format, ImportError, Item, Options};
use pieces_metrics::Metrics;
use pieces_model::import::{ImportJob, ImportParams, ImportProblem, ImportStatus};
use pieces_model::workspace::{api_id, Role, PERSONAL};
use pieces_model::{now, Limits, NewSnippet, Snippet, SnippetFile, ValidationError};
use pieces_store::{ImportJobs, SnippetStore, TrashStore};

/// Imports one replica runs at once: each holds its file on disk (up to IMPORT_MAX_BYTES)
/// and up to `HELD_KIB` of entries in memory; another is refused with 429 until one ends.
pub const IMPORTS_AT_ONCE: usize = 2;
/// A spooled file older than this was left by a process that stopped mid-import.
const STALE_FILE_AFTER: Duration = Duration::from_secs(24 * 3600);
/// The prefix of spooled import files in the temporary directory.
pub const SPOOL_PREFIX: &str = "pieces-import-";
/// Entries saved at once: enough for the store's group commit to fill its batches.
const AT_ONCE: usize = 64;
/// Bytes of entries read but not yet saved, in KiB: what one import holds in memory,
/// whatever the size of its file.
const HELD_KIB: u32 = 16 * 1024;
/// The job is written back at most this often while it runs.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);
/// A job still running whose progress was last written longer ago than this was cut short
/// (its replica stopped).
const STALLED_AFTER: chrono::TimeDelta = chrono::TimeDelta::seconds(30);

pub struct ImportService {
    pub snippets: Arc<SnippetService>,
    pub jobs: Arc<dyn ImportJobs>,
    pub store: Arc<dyn SnippetStore>,
    pub trash: Arc<dyn TrashStore>,
    pub limits: Limits,
    pub metrics: Arc<Metrics>,
    /// Places for running imports (`IMPORTS_AT_ONCE`).
    pub running: Arc<Semaphore>,
}

/// What became of one entry.
enum Outcome {
    Created,
    Skipped,
    Failed(ImportProblem),
    /// The store failed: the job stops.
    Broken(ServiceError),
}

impl ImportService {
    /// A place for one more import, taken before its file is received and held until its
    /// job ends; 429 while `IMPORTS_AT_ONCE` run.
    pub fn admit(&self) -> ServiceResult<OwnedSemaphorePermit> {
        self.running
            .clone()
            .try_acquire_owned()
            .map_err(|_| ServiceError::RateLimited {
                retry_after_secs: 10,
            })
    }

    /// Removes spooled files that a stopped process left in the temporary directory.
    pub fn forget_stale_files(dir: &std::path::Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let stale = entry
                .file_name()
                .to_string_lossy()
                .starts_with(SPOOL_PREFIX)
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|at| at.elapsed().is_ok_and(|age| age > STALE_FILE_AFTER));
            if stale && std::fs::remove_file(entry.path()).is_ok() {
                tracing::info!(file = %entry.path().display(), "a stale import file was removed");
            }
        }
    }

    /// Checks the whole file, then starts its job and answers it; the file is removed when
    /// the job ends (or now, if it is refused), and `place` is given back then too.
    pub async fn start(
        self: &Arc<Self>,
        caller: &Principal,
        params: ImportParams,
        file: tempfile::TempPath,
        place: OwnedSemaphorePermit,
    ) -> ServiceResult<ImportJob> {
        let format = params.format;
        let key = self
            .snippets
            .workspace_key(caller, params.workspace.as_deref(), Role::Writer)
            .await?;
        let options = Options {
            language: params.language.filter(|l| !l.trim().is_empty()),
        };
        let (file, total, options) = tokio::task::spawn_blocking(move || {
            let total = pieces_import::check(format, &file, &options);
            (file, total, options)
        })
        .await
        .map_err(|e| ServiceError::Internal(format!("the import file could not be read: {e}")))?;
        let total = total.map_err(refusal)?;
        let at = now();
        let job = ImportJob {
            id: Uuid::now_v7().to_string(),
            status: ImportStatus::Running,
            format: format.as_str().to_owned(),
            workspace: api_id(&key).to_owned(),
            dry_run: params.dry_run.unwrap_or(false),
            total,
            done: 0,
            created: 0,
            skipped: 0,
            failed: 0,
            errors: Vec::new(),
            created_at: at,
            updated_at: at,
        };
        self.jobs.save_job(&caller.user, &key, &job).await?;
        tracing::info!(job = %job.id, format = format.as_str(), total, "import started");
        let service = Arc::clone(self);
        let (caller, started) = (caller.clone(), job.clone());
        tokio::spawn(async move {
            service
                .run(caller, key, format, options, file, started)
                .await;
            drop(place);
        });
        Ok(job)
    }

    /// Job `id` as it is now; only its starter sees it.
    pub async fn job(&self, caller: &Principal, id: &str) -> ServiceResult<ImportJob> {
        let mut job = self
            .jobs
            .job(&caller.user, id)
            .await?
            .ok_or(ServiceError::NotFound("import"))?;
        // A token limited to some workspaces sees only their jobs, as for their snippets.
        let key = if job.workspace == PERSONAL {
            caller.user.as_str()
        } else {
            job.workspace.as_str()
        };
        if Access::may_name(caller, key).is_err() {
            return Err(ServiceError::NotFound("import"));
        }
        if job.status == ImportStatus::Running && now() - job.updated_at > STALLED_AFTER {
            job.status = ImportStatus::Interrupted;
        }
        Ok(job)
    }

    async fn run(
        &self,
        caller: Principal,
        key: String,
        format: Format,
        options: Options,
        file: tempfile::TempPath,
        mut job: ImportJob,
    ) {
        let (items, mut received) = mpsc::channel::<(Item, OwnedSemaphorePermit)>(AT_ONCE);
        let held = Arc::new(Semaphore::new(HELD_KIB as usize));
        let runtime = tokio::runtime::Handle::current();
        let reading = tokio::task::spawn_blocking(move || {
            pieces_import::read(format, &file, &options, |item| {
                let kib = u32::try_from(weight(&item) / 1024 + 1)
                    .unwrap_or(HELD_KIB)
                    .min(HELD_KIB);
                let place = runtime
                    .block_on(held.clone().acquire_many_owned(kib))
                    .map_err(|_| ())?;
                items.blocking_send((item, place)).map_err(|_| ())
            })
        });
        let entries = futures_util::stream::poll_fn(move |cx| received.poll_recv(cx));
        let dry_run = job.dry_run;
        let mut outcomes = entries
            .map(|(item, place)| {
                let (caller, key) = (&caller, key.as_str());
                async move {
                    let outcome = self.import(caller, key, item, dry_run).await;
                    drop(place);
                    outcome
                }
            })
            .buffer_unordered(AT_ONCE);
        let mut written = Instant::now();
        let mut broken = None;
        while let Some(outcome) = outcomes.next().await {
            job.done += 1;
            if !dry_run {
                let result = match &outcome {
                    Outcome::Created => Some("created"),
                    Outcome::Skipped => Some("skipped"),
                    Outcome::Failed(_) => Some("failed"),
                    Outcome::Broken(_) => None,
                };
                if let Some(result) = result {
                    self.metrics
                        .import_entries
                        .with_label_values(&[result])
                        .inc();
                }
            }
            match outcome {
                Outcome::Created => job.created += 1,
                Outcome::Skipped => job.skipped += 1,
                Outcome::Failed(problem) => job.refuse(problem),
                Outcome::Broken(e) => {
                    broken = Some(e);
                    break;
                }
            }
            if written.elapsed() >= PROGRESS_EVERY {
                written = Instant::now();
                job.updated_at = now();
                if let Err(e) = self.jobs.save_job(&caller.user, &key, &job).await {
                    tracing::warn!(job = %job.id, error = %e, "import progress not written");
                }
            }
        }
        // Dropping the entries stops the reader at its next one.
        drop(outcomes);
        let read = reading.await;
        job.status = match (&broken, read) {
            (None, Ok(Ok(_))) => ImportStatus::Done,
            (Some(e), _) => {
                tracing::error!(job = %job.id, error = %e, "import stopped");
                ImportStatus::Interrupted
            }
            (None, Ok(Err(e))) => {
                // The file was checked whole before: it changed, or the disk failed.
                tracing::error!(job = %job.id, error = %e, "import file unreadable");
                ImportStatus::Interrupted
            }
            (None, Err(e)) => {
                tracing::error!(job = %job.id, error = %e, "import reader failed");
                ImportStatus::Interrupted
            }
        };
        job.errors.sort_by_key(|p| p.entry);
        job.updated_at = now();
        if let Err(e) = self.jobs.save_job(&caller.user, &key, &job).await {
            tracing::error!(job = %job.id, error = %e, "import result not written");
        }
        tracing::info!(job = %job.id, created = job.created, skipped = job.skipped,
            failed = job.failed, status = job.status.as_str(), "import ended");
    }

    async fn import(&self, caller: &Principal, key: &str, item: Item, dry_run: bool) -> Outcome {
        let entry = match item {
            Item::Entry(entry) => entry,
            Item::Skipped { .. } => return Outcome::Skipped,
            Item::Failed {
                index,
                field,
                detail,
            } => {
                return Outcome::Failed(ImportProblem {
                    entry: index,
                    field: Some(field),
                    detail,
                })
            }
        };
        let index = entry.index;
        let source_key = entry.source_key.clone();
        let mut snippet = match self.snippet_of(key, entry) {
            Ok(snippet) => snippet,
            Err(e) => {
                return Outcome::Failed(ImportProblem {
                    entry: index,
                    field: Some(e.field.clone()),
                    detail: e.detail,
                })
            }
        };
        let mut place = match self.place_of(&snippet.id).await {
            Ok(place) => place,
            Err(e) => return Outcome::Broken(e),
        };
        // An exported id that another workspace holds (an export imported beside its
        // source) is given the entry's own derived id instead: the entry is this
        // workspace's, and whether an id exists elsewhere is never told.
        if place.as_deref().is_some_and(|found| found != key) {
            snippet.id = derived_id(key, &source_key);
            place = match self.place_of(&snippet.id).await {
                Ok(place) => place,
                Err(e) => return Outcome::Broken(e),
            };
        }
        match place {
            Some(_) => return Outcome::Skipped,
            None if dry_run => return Outcome::Created,
            None => {}
        }
        match self.snippets.store_new(caller, key, &snippet).await {
            Ok(()) => Outcome::Created,
            // Saved meanwhile by another import of the same file.
            Err(_) if matches!(self.place_of(&snippet.id).await, Ok(Some(_))) => Outcome::Skipped,
            Err(e) => Outcome::Broken(e),
        }
    }

    /// The workspace holding a snippet of this id, stored or in the trash.
    async fn place_of(&self, id: &str) -> ServiceResult<Option<String>> {
        match self.store.snippet_workspace(id).await? {
            Some(key) => Ok(Some(key)),
            None => Ok(self.trash.trash_workspace(id).await?),
        }
    }

    /// The snippet an entry becomes in workspace `key`, validated as a create.
    fn snippet_of(&self, key: &str, entry: Entry) -> Result<Snippet, ValidationError> {
        let id = match &entry.id {
            Some(id) => Uuid::parse_str(id)
                .map_err(|_| ValidationError::new("id", "id must be a UUID"))?
                .hyphenated()
                .to_string(),
            None => derived_id(key, &entry.source_key),
        };
        // One file without a name is a snippet of one unnamed file, as this service's own
        // export writes it; otherwise every file needs a name.
        let mut files = entry.files;
        let body = if files.len() == 1 && files[0].name.trim().is_empty() {
            let only = files.remove(0);
            NewSnippet {
                code: Some(only.code),
                language: Some(only.language),
                ..NewSnippet::default()
            }
        } else {
            let named = files.into_iter().enumerate().map(|(i, f)| SnippetFile {
                name: if f.name.trim().is_empty() {
                    format!("file{}", i + 1)
                } else {
                    f.name
                },
                language: f.language,
                code: f.code,
            });
            NewSnippet {
                files: Some(named.collect()),
                ..NewSnippet::default()
            }
        };
        let at = now();
        let mut snippet = NewSnippet {
            title: entry.title,
            tags: Some(entry.tags),
            metadata: Some(entry.metadata),
            description: entry.description,
            ..body
        }
        .into_snippet(&self.limits, at, api_id(key))?;
        snippet.id = id;
        snippet.created_at = entry.created_at.unwrap_or(at);
        snippet.updated_at = entry.updated_at.unwrap_or(snippet.created_at);
        snippet.version = entry.version.filter(|v| *v >= 1).unwrap_or(1);
        Ok(snippet)
    }
}

/// The id of the snippet an entry becomes in a workspace: the same entry, the same id.
fn derived_id(key: &str, source_key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"pieces-import\0")
        .chain_update(key.as_bytes())
        .chain_update(b"\0")
        .chain_update(source_key.as_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes).hyphenated().to_string()
}

/// About how many bytes an entry holds while it waits to be saved.
fn weight(item: &Item) -> usize {
    match item {
        Item::Entry(e) => {
            e.title.len()
                + e.description.as_ref().map_or(0, String::len)
                + e.files
                    .iter()
                    .map(|f| f.name.len() + f.code.len())
                    .sum::<usize>()
                + serde_json::to_string(&e.metadata).map_or(0, |m| m.len())
        }
        Item::Skipped { detail, .. } | Item::Failed { detail, .. } => detail.len(),
    }
}

/// A file refused before anything is saved: unreadable (400) or of the wrong shape (422).
fn refusal(e: ImportError) -> ServiceError {
    match e {
        ImportError::Syntax(detail) => ServiceError::Malformed(detail),
        ImportError::Shape(detail) => ValidationError::new("body", detail).into(),
        // The disk under the spooled file failed, not the client's file.
        other => ServiceError::Internal(format!("the import file could not be read: {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_gets_the_same_id_in_the_same_workspace_only() {
        let a = derived_id("alice", "gist:1");
        assert_eq!(a, derived_id("alice", "gist:1"));
        assert_ne!(a, derived_id("ws_team", "gist:1"));
        assert_ne!(a, derived_id("alice", "gist:2"));
        assert!(Uuid::parse_str(&a).is_ok());
    }
}
