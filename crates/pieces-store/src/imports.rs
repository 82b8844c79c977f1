//! Import jobs, kept where every replica reads them. The queries are the same on both
//! databases.

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use sqlx::{PgPool, SqlitePool};

use super::{from_micros, to_micros, StoreError};
use pieces_model::import::{ImportJob, ImportStatus};

/// Finished jobs are kept this long after their last change.
const KEPT_FOR_DAYS: i64 = 7;

#[async_trait]
pub trait ImportJobs: Send + Sync {
    /// Writes the job of `user` into workspace `key` as it is now (the first write creates
    /// it, and forgets old jobs).
    async fn save_job(&self, user: &str, key: &str, job: &ImportJob) -> Result<(), StoreError>;

    /// Job `id`, if `user` started it.
    async fn job(&self, user: &str, id: &str) -> Result<Option<ImportJob>, StoreError>;
}

const UPSERT: &str = "INSERT INTO import_jobs (id, user_id, workspace_id, format, dry_run, \
    status, total, done, created, skipped, failed, errors, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) \
    ON CONFLICT (id) DO UPDATE SET status = excluded.status, total = excluded.total, \
    done = excluded.done, created = excluded.created, skipped = excluded.skipped, \
    failed = excluded.failed, errors = excluded.errors, updated_at = excluded.updated_at";

const FORGET: &str = "DELETE FROM import_jobs WHERE updated_at < $1";

const SELECT: &str = "SELECT id, workspace_id, format, dry_run, status, total, done, created, \
    skipped, failed, errors, created_at, updated_at FROM import_jobs \
    WHERE user_id = $1 AND id = $2";

#[derive(sqlx::FromRow)]
struct JobRow {
    id: String,
    workspace_id: String,
    format: String,
    dry_run: bool,
    status: String,
    total: i64,
    done: i64,
    created: i64,
    skipped: i64,
    failed: i64,
    errors: String,
    created_at: i64,
    updated_at: i64,
}

impl JobRow {
    fn into_job(self) -> Result<ImportJob, StoreError> {
        let corrupt = |what: &str| StoreError::Corrupt(format!("import job {}: {what}", self.id));
        let count = |n: i64| u64::try_from(n).map_err(|_| corrupt("a negative count"));
        Ok(ImportJob {
            status: ImportStatus::parse(&self.status).ok_or_else(|| corrupt("status"))?,
            total: count(self.total)?,
            done: count(self.done)?,
            created: count(self.created)?,
            skipped: count(self.skipped)?,
            failed: count(self.failed)?,
            errors: serde_json::from_str(&self.errors).map_err(|_| corrupt("errors"))?,
            created_at: from_micros(self.created_at)?,
            updated_at: from_micros(self.updated_at)?,
            workspace: pieces_model::workspace::api_id(&self.workspace_id).to_owned(),
            format: self.format,
            dry_run: self.dry_run,
            id: self.id,
        })
    }
}

fn forget_before(now: DateTime<Utc>) -> i64 {
    to_micros(now - Duration::days(KEPT_FOR_DAYS))
}

macro_rules! import_jobs_on {
    ($store:ty, $writer:ident, $reader:ident) => {
        #[async_trait]
        impl ImportJobs for $store {
            async fn save_job(
                &self,
                user: &str,
                key: &str,
                job: &ImportJob,
            ) -> Result<(), StoreError> {
                let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                let errors = serde_json::to_string(&job.errors).expect("errors serialize");
                let first = job.done == 0 && job.status == ImportStatus::Running;
                if first {
                    sqlx::query(FORGET)
                        .bind(forget_before(job.updated_at))
                        .execute(&self.$writer)
                        .await?;
                }
                sqlx::query(UPSERT)
                    .bind(&job.id)
                    .bind(user)
                    .bind(key)
                    .bind(&job.format)
                    .bind(job.dry_run)
                    .bind(job.status.as_str())
                    .bind(n(job.total))
                    .bind(n(job.done))
                    .bind(n(job.created))
                    .bind(n(job.skipped))
                    .bind(n(job.failed))
                    .bind(errors)
                    .bind(to_micros(job.created_at))
                    .bind(to_micros(job.updated_at))
                    .execute(&self.$writer)
                    .await?;
                Ok(())
            }

            async fn job(&self, user: &str, id: &str) -> Result<Option<ImportJob>, StoreError> {
                let row: Option<JobRow> = sqlx::query_as(SELECT)
                    .bind(user)
                    .bind(id)
                    .fetch_optional(&self.$reader)
                    .await?;
                row.map(JobRow::into_job).transpose()
            }
        }
    };
}

pub struct SqliteImports {
    pub readers: SqlitePool,
    pub writer: SqlitePool,
}

pub struct PostgresImports {
    pub pool: PgPool,
}

import_jobs_on!(SqliteImports, writer, readers);
import_jobs_on!(PostgresImports, pool, pool);
