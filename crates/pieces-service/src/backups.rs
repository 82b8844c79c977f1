//! Scheduled backups of the embedded store (`BACKUP_DIR`, `BACKUP_INTERVAL_MINUTES`,
//! `BACKUP_KEEP`): a consistent copy every interval, named by its time, the oldest beyond the
//! number kept deleted. The schedule follows the newest backup already in the directory, so a
//! restarted service neither backs up at once nor skips one that is due.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use tokio_util::sync::CancellationToken;

use pieces_metrics::Metrics;
use pieces_store::backup;

const PREFIX: &str = "pieces-";
const SUFFIX: &str = ".db";
const STAMP: &str = "%Y%m%dT%H%M%SZ";
/// After a failed backup, the next try comes this much later (or at the interval, if sooner).
const RETRY_AFTER: Duration = Duration::from_secs(300);

pub struct BackupSchedule {
    /// The store's `sqlite:` URL.
    pub url: String,
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: usize,
}

impl BackupSchedule {
    /// Backs up whenever one is due, until `stop`.
    pub async fn run(self, metrics: Arc<Metrics>, stop: CancellationToken) {
        if let Err(e) = std::fs::create_dir_all(&self.dir) {
            tracing::error!(dir = %self.dir.display(), error = %e, "cannot create the backup directory; no backups will be taken");
            return;
        }
        let mut last = self.newest();
        if let Some(at) = last {
            metrics.last_backup.set(at.timestamp());
        }
        loop {
            let due = last.map_or(Duration::ZERO, |at| {
                (at + self.every - Utc::now()).to_std().unwrap_or_default()
            });
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(due) => {}
            }
            let now = Utc::now();
            let path = self
                .dir
                .join(format!("{PREFIX}{}{SUFFIX}", now.format(STAMP)));
            match backup::backup(&self.url, &path).await {
                Ok(copied) => {
                    metrics.backups.with_label_values(&["ok"]).inc();
                    metrics.last_backup.set(now.timestamp());
                    tracing::info!(
                        path = %copied.path.display(),
                        bytes = copied.bytes,
                        snippets = copied.snippets,
                        seconds = copied.seconds,
                        "backup taken"
                    );
                    last = Some(now);
                    self.prune();
                }
                Err(e) => {
                    metrics.backups.with_label_values(&["failed"]).inc();
                    tracing::error!(path = %path.display(), error = %e, "backup failed; will retry");
                    let retry =
                        chrono::Duration::from_std(RETRY_AFTER.min(self.every)).unwrap_or_default();
                    last = Some(
                        now - chrono::Duration::from_std(self.every).unwrap_or_default() + retry,
                    );
                }
            }
        }
    }

    /// The backups in the directory, newest first, by the time in their names.
    fn backups(&self) -> Vec<(DateTime<Utc>, PathBuf)> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut found: Vec<_> = entries
            .filter_map(Result::ok)
            .filter_map(|entry| Some((taken_at(&entry.path())?, entry.path())))
            .collect();
        found.sort_by_key(|b| std::cmp::Reverse(b.0));
        found
    }

    fn newest(&self) -> Option<DateTime<Utc>> {
        self.backups().first().map(|(at, _)| *at)
    }

    /// Deletes the backups beyond the newest `keep`.
    fn prune(&self) {
        for (_, path) in self.backups().into_iter().skip(self.keep) {
            match std::fs::remove_file(&path) {
                Ok(()) => tracing::info!(path = %path.display(), "old backup deleted"),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot delete an old backup")
                }
            }
        }
    }
}

/// When the backup at `path` was taken, from its name; none for any other file.
fn taken_at(path: &Path) -> Option<DateTime<Utc>> {
    let name = path.file_name()?.to_str()?;
    let stamp = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    NaiveDateTime::parse_from_str(stamp, STAMP)
        .ok()
        .map(|at| at.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_files_named_like_a_backup_have_a_time() {
        let at = taken_at(Path::new("/b/pieces-20261207T210000Z.db")).expect("a backup");
        assert_eq!(at.to_rfc3339(), "2026-12-07T21:00:00+00:00");
        for other in [
            "/b/pieces-20261207T210000Z.db.partial",
            "/b/pieces.db",
            "/b/notes-20261207T210000Z.db",
            "/b/pieces-yesterday.db",
        ] {
            assert_eq!(taken_at(Path::new(other)), None, "{other}");
        }
    }
}
