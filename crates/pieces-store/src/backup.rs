//! Backups of the embedded store, and putting one back.
//!
//! A backup is SQLite's `VACUUM INTO`: one read transaction copies the database as of its
//! start into a new, compact file, while the service goes on writing (WAL mode lets a reader
//! and the writer run at once), so every change committed before the copy began is in it and
//! none is half in it. The copy is written beside its final name, checked with
//! `PRAGMA integrity_check`, synced, and only then renamed into place: a backup file that
//! exists is a whole one.
//!
//! Putting one back must not happen under a running service, which would go on with its own
//! idea of the file. Every process that opens the store holds a shared lock on a file beside
//! it (`<store>.lock`, see `StoreLock`); a restore takes it exclusively, or refuses.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Instant;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode};
use sqlx::{ConnectOptions, Connection};

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error("{0}")]
    Io(String),
    #[error("the database refused: {0}")]
    Database(String),
    #[error("{0} is not a whole copy of this service's store: {1}")]
    NotAStore(String, String),
    #[error(
        "a service is using {0}: stop it first (a restore under a running service would be \
         overwritten or lost)"
    )]
    InUse(String),
}

impl From<sqlx::Error> for BackupError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

fn io(what: &str, path: &Path, e: std::io::Error) -> BackupError {
    BackupError::Io(format!("cannot {what} {}: {e}", path.display()))
}

/// What a backup or a restore did.
#[derive(Debug, Clone)]
pub struct Copied {
    pub path: PathBuf,
    pub bytes: u64,
    pub snippets: i64,
    pub seconds: f64,
}

/// The store's file, from its `sqlite:` URL.
pub fn store_path(url: &str) -> Result<PathBuf, BackupError> {
    let options = SqliteConnectOptions::from_str(url)?;
    Ok(options.get_filename().to_path_buf())
}

/// A shared lock on the store's lock file, held by every process that has the store open.
pub struct StoreLock {
    _file: File,
}

impl StoreLock {
    fn file(store: &Path) -> Result<(File, PathBuf), BackupError> {
        let mut name = store.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| io("open", &path, e))?;
        Ok((file, path))
    }

    /// Held for as long as the store is open; many processes may hold it at once.
    pub fn shared(store: &Path) -> Result<Self, BackupError> {
        let (file, path) = Self::file(store)?;
        file.lock_shared().map_err(|e| io("lock", &path, e))?;
        Ok(Self { _file: file })
    }

    /// Held by a restore: none may have the store open meanwhile.
    fn exclusive(store: &Path) -> Result<Self, BackupError> {
        let (file, path) = Self::file(store)?;
        match file.try_lock() {
            Ok(()) => Ok(Self { _file: file }),
            Err(TryLockError::WouldBlock) => Err(BackupError::InUse(store.display().to_string())),
            Err(TryLockError::Error(e)) => Err(io("lock", &path, e)),
        }
    }
}

/// Copies the store at `url` into `to` (which must not exist), consistent as of one moment,
/// while the service may be writing.
pub async fn backup(url: &str, to: &Path) -> Result<Copied, BackupError> {
    let started = Instant::now();
    if to.exists() {
        return Err(BackupError::Io(format!("{} exists already", to.display())));
    }
    let partial = with_suffix(to, ".partial");
    let _ = std::fs::remove_file(&partial);
    // The store as it is: no migration, no change; a busy writer is waited for, not failed.
    let mut source = SqliteConnectOptions::from_str(url)?
        .busy_timeout(std::time::Duration::from_secs(30))
        .disable_statement_logging()
        .connect()
        .await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(partial.to_string_lossy().into_owned())
        .execute(&mut source)
        .await;
    source.close().await?;
    if let Err(e) = copied {
        let _ = std::fs::remove_file(&partial);
        return Err(e.into());
    }
    let snippets = match check(&partial).await {
        Ok(snippets) => snippets,
        Err(e) => {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
    };
    let bytes = settle(&partial, to).await?;
    Ok(Copied {
        path: to.to_path_buf(),
        bytes,
        snippets,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Puts the backup `from` in place of the store at `url`, which no process may have open.
/// The store it replaces is kept beside it, renamed `<store>.before-restore-<time>`.
pub async fn restore(url: &str, from: &Path) -> Result<Copied, BackupError> {
    let started = Instant::now();
    let store = store_path(url)?;
    let _lock = StoreLock::exclusive(&store)?;
    let snippets = check(from).await?;
    let incoming = with_suffix(&store, ".restoring");
    let _ = std::fs::remove_file(&incoming);
    let (source, target) = (from.to_path_buf(), incoming.clone());
    blocking(move || {
        std::fs::copy(&source, &target).map_err(|e| io("copy", &source, e))?;
        Ok(())
    })
    .await?;
    if store.exists() {
        // Its last changes may still be in its write-ahead log: fold them in, so the file
        // kept aside is whole on its own.
        let mut current = SqliteConnectOptions::from_str(url)?
            .journal_mode(SqliteJournalMode::Wal)
            .disable_statement_logging()
            .connect()
            .await?;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut current)
            .await?;
        current.close().await?;
        let aside = with_suffix(
            &store,
            &format!(
                ".before-restore-{}",
                chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
            ),
        );
        std::fs::rename(&store, &aside).map_err(|e| io("move aside", &store, e))?;
        for log in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(with_suffix(&store, log));
        }
    }
    let bytes = settle(&incoming, &store).await?;
    Ok(Copied {
        path: store,
        bytes,
        snippets,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Checks that `path` is a whole SQLite database holding this service's store; its number
/// of snippets.
async fn check(path: &Path) -> Result<i64, BackupError> {
    let named = path.display().to_string();
    if !path.is_file() {
        return Err(BackupError::NotAStore(named, "no such file".into()));
    }
    let not_a_store = |why: String| BackupError::NotAStore(named.clone(), why);
    let mut db = SqliteConnectOptions::new()
        .filename(path)
        .read_only(true)
        .disable_statement_logging()
        .connect()
        .await
        .map_err(|e| not_a_store(e.to_string()))?;
    let verdict: Result<(String, i64), sqlx::Error> = async {
        let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
            .fetch_one(&mut db)
            .await?;
        let snippets: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM snippets")
            .fetch_one(&mut db)
            .await?;
        Ok((integrity, snippets))
    }
    .await;
    db.close().await.ok();
    match verdict {
        Ok((integrity, snippets)) if integrity == "ok" => Ok(snippets),
        Ok((integrity, _)) => Err(not_a_store(format!("integrity check: {integrity}"))),
        Err(e) => Err(not_a_store(e.to_string())),
    }
}

/// Syncs `from` to disk, renames it to `to` and syncs the directory, so the new name and the
/// whole content survive a crash together; its size.
async fn settle(from: &Path, to: &Path) -> Result<u64, BackupError> {
    let (from, to) = (from.to_path_buf(), to.to_path_buf());
    blocking(move || {
        let file = File::open(&from).map_err(|e| io("open", &from, e))?;
        file.sync_all().map_err(|e| io("sync", &from, e))?;
        let bytes = file.metadata().map_err(|e| io("read", &from, e))?.len();
        std::fs::rename(&from, &to).map_err(|e| io("rename", &from, e))?;
        if let Some(dir) = to.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io("sync", dir, e))?;
        }
        Ok(bytes)
    })
    .await
}

async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BackupError> + Send + 'static,
) -> Result<T, BackupError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BackupError::Io(format!("the copy did not finish: {e}")))?
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}
