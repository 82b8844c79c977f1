//! The shared store for several replicas: PostgreSQL, full-text search by its own tsvector
//! index, outbox rows claimed with `FOR UPDATE SKIP LOCKED` so each event has one deliverer.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};

use super::embeddings::WRITE_LOCK as EMBEDDING_WRITE_LOCK;
use super::group_commit::CreateBatcher;
use super::history::{self, Keeping, Kept};
use super::postgres_insert::{self, record};
use super::postgres_pages::{push_filters, Pages};
use super::row::{
    bind_content, into_listed, into_snippets, json_text, SnippetRow, POSTGRES_COLUMNS as COLUMNS,
    POSTGRES_LISTED_COLUMNS as LISTED_COLUMNS,
};
use super::trash;
use super::{to_micros, Conditions, Removal, SnippetStore, StoreError, Written};
use pieces_metrics::Metrics;
use pieces_model::workspace::api_id;
use pieces_model::{Change, EventPlan};
use pieces_model::{Expected, JsonObject, ListFilter, Listed, Snippet, SnippetPatch};

pub struct PostgresStore {
    pool: PgPool,
    /// Creates, committed in groups.
    creates: CreateBatcher,
    pages: Pages,
    keeping: Keeping,
}

impl PostgresStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        timeout: Duration,
        keeping: Keeping,
        metrics: &Metrics,
    ) -> Result<Self, StoreError> {
        let statement_timeout = format!("{}ms", timeout.as_millis().max(1000) * 2);
        // Prepared statements keep PostgreSQL's own plan choice: after five executions a
        // statement whose generic plan costs no more than its custom ones is no longer planned
        // each time, which on the hot paths (a kept search's catch-up, rows by id, counters)
        // cost more than running them. A statement whose best plan depends on its values (how
        // rare a searched word, language or tag is) is sent unprepared instead, so it is always
        // planned for them: see `postgres_pages::sql::prepare_once`.
        let options = PgConnectOptions::from_str(url)?
            .application_name("pieces-connector")
            .options([("statement_timeout", statement_timeout.as_str())]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(timeout)
            .connect_with(options)
            .await?;
        // sqlx takes an advisory lock around migrations, so replicas starting together are safe.
        sqlx::migrate!("../../migrations/postgres")
            .run(&pool)
            .await?;
        Ok(Self {
            creates: CreateBatcher::spawn(pool.clone(), postgres_insert::MAX_BATCH),
            pages: Pages::new(pool.clone(), metrics),
            pool,
            keeping,
        })
    }

    /// The pool, which the outbox queue shares.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn fetch_for_update(
        tx: &mut Transaction<'_, Postgres>,
        user: &str,
        id: &str,
    ) -> Result<Option<Snippet>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM snippets WHERE user_id = $1 AND id = $2 FOR UPDATE");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(SnippetRow::into_snippet).transpose()
    }
}

#[async_trait]
impl SnippetStore for PostgresStore {
    async fn create_snippet(
        &self,
        user: &str,
        s: &Snippet,
        plan: &EventPlan,
    ) -> Result<(), StoreError> {
        self.creates.create(user, s, plan).await
    }

    async fn get_snippet(&self, user: &str, id: &str) -> Result<Option<Snippet>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM snippets WHERE user_id = $1 AND id = $2");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(SnippetRow::into_snippet).transpose()
    }

    async fn find_snippet(&self, id: &str) -> Result<Option<(String, Snippet)>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM snippets WHERE id = $1");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(SnippetRow::into_owned).transpose()
    }

    async fn snippet_workspace(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM snippets WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn get_snippets(&self, user: &str, ids: &[String]) -> Result<Vec<Snippet>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!("SELECT {COLUMNS} FROM snippets WHERE id = ANY($1) AND user_id = $2");
        let rows: Vec<SnippetRow> = sqlx::query_as(&sql)
            .bind(ids)
            .bind(user)
            .fetch_all(&self.pool)
            .await?;
        into_snippets(rows)
    }

    async fn listed_by_ids(
        &self,
        keys: &[String],
        ids: &[String],
    ) -> Result<Vec<Listed>, StoreError> {
        if ids.is_empty() || keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {} FROM snippets WHERE id = ANY($1) AND user_id = ANY($2)",
            *LISTED_COLUMNS
        );
        let rows: Vec<SnippetRow> = sqlx::query_as(&sql)
            .bind(ids)
            .bind(keys)
            .fetch_all(&self.pool)
            .await?;
        into_listed(rows)
    }

    async fn list_snippets(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<Listed>, i64), StoreError> {
        self.pages.list(keys, filter).await
    }

    async fn matching_ids(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<String>, i64), StoreError> {
        self.pages.ids(keys, filter).await
    }

    async fn matching_among(
        &self,
        keys: &[String],
        filter: &ListFilter,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() || keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = QueryBuilder::new("SELECT id FROM snippets WHERE id = ANY(");
        q.push_bind(ids)
            .push(") AND user_id = ANY(")
            .push_bind(keys)
            .push(")");
        push_filters(&mut q, filter);
        // Driven by the ids, whatever the filter: its generic plan serves any words.
        let found: Vec<(String,)> = q.build_query_as().fetch_all(&self.pool).await?;
        Ok(found.into_iter().map(|(id,)| id).collect())
    }

    async fn relevant_ids(
        &self,
        user: &str,
        query: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        // plainto_tsquery joins words with &; any word should count here, so swap in |.
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM snippets, \
             (SELECT replace(plainto_tsquery('simple', $2)::text, ' & ', ' | ')::tsquery AS q) AS t \
             WHERE user_id = $1 AND (search @@ t.q OR files_search @@ t.q) \
             ORDER BY ts_rank(coalesce(files_search, search), t.q) DESC, created_at DESC \
             LIMIT $3",
        )
        // Planned for its words each time: see `postgres_pages::sql::prepare_once`.
        .persistent(false)
        .bind(user)
        .bind(query)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(ids.into_iter().map(|(id,)| id).collect())
    }

    async fn update_snippet(
        &self,
        user: &str,
        id: &str,
        patch: &SnippetPatch,
        change: Conditions<'_>,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<Written<Snippet>, StoreError> {
        let mut tx = self.pool.begin().await?;
        if change.move_to.is_some() {
            // Taken before the row's lock, as every embedding writer takes it: the embedding
            // is renumbered below, and seq order must stay commit order.
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(EMBEDDING_WRITE_LOCK)
                .execute(&mut *tx)
                .await?;
        }
        // The row stays locked to the commit: a second writer expecting the same version
        // waits here, then reads the version this one wrote.
        let Some(current) = Self::fetch_for_update(&mut tx, user, id).await? else {
            return Ok(Written::Missing);
        };
        if !change.expected.is_none_or(|e| e.holds(current.version)) {
            return Ok(Written::Stale(Box::new(current)));
        }
        let older = current.clone();
        let mut s = patch.apply(current, now);
        let kept = Kept {
            older: &older,
            newer: &s,
            at: now,
            actor: plan.actor.as_ref().map(|a| a.user_id.as_str()),
            moved: change.move_to.is_some(),
            from_trash: false,
        };
        history::keep_in_postgres(&mut tx, self.keeping, &kept).await?;
        let recorded = match change.move_to {
            Some(to) => {
                s.workspace = api_id(to).to_owned();
                plan.for_move(user, to, &s, now)
            }
            None => {
                let change = Change::Updated {
                    code_changed: patch.touches_code(),
                };
                plan.for_snippet(user, &s, change, now)
            }
        };
        // Recorded before the update, whose trigger locks the count: see `record`. A move's
        // triggers carry the counts, removal marks and tags over to the new workspace.
        record(&mut *tx, [&recorded]).await?;
        bind_content(
            sqlx::query(
                "UPDATE snippets SET title = $1, code = $2, language = $3, tags = $4::jsonb, \
             metadata = $5::jsonb, description = $6, files = $7, updated_at = $8, user_id = $9, \
             version = $10 WHERE user_id = $11 AND id = $12",
            ),
            &s,
        )
        .bind(to_micros(s.updated_at))
        .bind(change.move_to.unwrap_or(user))
        .bind(s.version)
        .bind(user)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if let Some(to) = change.move_to {
            // Renumbered, so the new workspace's search index catches up with it.
            sqlx::query(
                "UPDATE snippet_embeddings SET user_id = $1, \
                 seq = nextval('snippet_embedding_seq') WHERE snippet_id = $2",
            )
            .bind(to)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Written::Done(s))
    }

    async fn delete_snippet(
        &self,
        user: &str,
        id: &str,
        removal: Removal,
        expected: Option<Expected>,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<Written<()>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(gone) = Self::fetch_for_update(&mut tx, user, id).await? else {
            return Ok(Written::Missing);
        };
        if !expected.is_none_or(|e| e.holds(gone.version)) {
            return Ok(Written::Stale(Box::new(gone)));
        }
        let recorded =
            trash::set_aside_in_postgres(&mut tx, removal, user, &gone, now, plan).await?;
        // Recorded before the delete, whose trigger locks the user's count: see `record`.
        record(&mut *tx, [&recorded]).await?;
        sqlx::query("DELETE FROM snippets WHERE user_id = $1 AND id = $2")
            .bind(user)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(Written::Done(()))
    }

    async fn merge_metadata(
        &self,
        user: &str,
        id: &str,
        analysis: &JsonObject,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(older) = Self::fetch_for_update(&mut tx, user, id).await? else {
            return Ok(false);
        };
        // Merged here, as `jsonb ||` would (top-level keys replaced), so the history keeps
        // what the merge replaced.
        let mut merged = older.clone();
        merged.metadata.extend(analysis.clone());
        merged.version += 1;
        let kept = Kept {
            older: &older,
            newer: &merged,
            at: now,
            actor: None,
            moved: false,
            from_trash: false,
        };
        history::keep_in_postgres(&mut tx, self.keeping, &kept).await?;
        sqlx::query(
            "UPDATE snippets SET metadata = $1::jsonb, version = $2 \
             WHERE user_id = $3 AND id = $4",
        )
        .bind(json_text(&merged.metadata))
        .bind(merged.version)
        .bind(user)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        record(&mut *tx, [&plan.for_analysis(user, &merged, now)]).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }
}
