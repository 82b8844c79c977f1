//! The shared store for several replicas: PostgreSQL, full-text search by its own tsvector
//! index, outbox rows claimed with `FOR UPDATE SKIP LOCKED` so each event has one deliverer.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, QueryBuilder, Transaction};

use super::group_commit::CreateBatcher;
use super::postgres_insert::{self, record};
use super::row::{bind_content, into_snippets, json_text, SnippetRow};
use super::{to_micros, SnippetStore, StoreError};
use crate::model::bounds::SEARCH_TOTAL_CAP;
use crate::model::{Change, EventPlan};
use crate::model::{JsonObject, ListFilter, Snippet, SnippetPatch};

/// JSON columns come back as text so both backends share one row type.
const COLUMNS: &str = "id, title, code, language, tags::text AS tags, metadata::text AS metadata, \
                       description, created_at, updated_at";

pub struct PostgresStore {
    pool: PgPool,
    /// Creates, committed in groups.
    creates: CreateBatcher,
}

impl PostgresStore {
    pub async fn connect(
        url: &str,
        max_connections: u32,
        timeout: Duration,
    ) -> Result<Self, StoreError> {
        let statement_timeout = format!("{}ms", timeout.as_millis().max(1000) * 2);
        let options = PgConnectOptions::from_str(url)?
            .application_name("pieces-connector")
            // Prepared statements are reused, and a generic plan for `search @@ $q` cannot know
            // how rare the words are: it walks every row of the user. Plan each execution.
            .options([
                ("statement_timeout", statement_timeout.as_str()),
                ("plan_cache_mode", "force_custom_plan"),
            ]);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .min_connections(1)
            .acquire_timeout(timeout)
            .connect_with(options)
            .await?;
        // sqlx takes an advisory lock around migrations, so replicas starting together are safe.
        sqlx::migrate!("./migrations/postgres").run(&pool).await?;
        Ok(Self {
            creates: CreateBatcher::spawn(pool.clone(), postgres_insert::MAX_BATCH),
            pool,
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

    /// How many of the user's snippets match `filter`. Unfiltered, the triggers' counter
    /// answers from one row: counting would walk every index entry of the user. A search stops
    /// counting past the cap, so it costs the same for any collection.
    async fn count(&self, user: &str, filter: &ListFilter) -> Result<i64, StoreError> {
        if filter.language.is_none() && filter.tag.is_none() && filter.query.is_none() {
            let total = sqlx::query_scalar(
                "SELECT COALESCE((SELECT n FROM snippet_counts WHERE user_id = $1), 0)",
            )
            .bind(user)
            .fetch_one(&self.pool)
            .await?;
            return Ok(total);
        }
        let mut count =
            QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1 FROM snippets WHERE user_id = ");
        count.push_bind(user);
        Self::push_filters(&mut count, filter);
        if filter.query.is_some() {
            count.push(" LIMIT ").push_bind(SEARCH_TOTAL_CAP + 1);
        }
        count.push(") AS matches");
        Ok(count.build_query_scalar().fetch_one(&self.pool).await?)
    }

    /// A page of a search with no more matches than the cap: the matches are read (through
    /// the full-text index) and sorted, so the cost is bounded by the cap.
    async fn sorted_page(
        &self,
        user: &str,
        filter: &ListFilter,
    ) -> Result<Vec<Snippet>, StoreError> {
        let mut page =
            QueryBuilder::new(format!("SELECT {COLUMNS} FROM snippets WHERE user_id = "));
        page.push_bind(user)
            .push(
                " AND id IN (SELECT id FROM (SELECT id, created_at FROM snippets WHERE user_id = ",
            )
            .push_bind(user);
        Self::push_filters(&mut page, filter);
        page.push(" LIMIT ")
            .push_bind(SEARCH_TOTAL_CAP + 1)
            .push(") AS matches");
        Self::push_newest_first(&mut page, filter);
        page.push(") ORDER BY created_at DESC, id DESC");
        self.fetch_page(page).await
    }

    /// A page of the user's snippets matching `filter`, walking their rows newest first.
    async fn walk_page(&self, user: &str, filter: &ListFilter) -> Result<Vec<Snippet>, StoreError> {
        let mut page =
            QueryBuilder::new(format!("SELECT {COLUMNS} FROM snippets WHERE user_id = "));
        page.push_bind(user);
        Self::push_filters(&mut page, filter);
        Self::push_newest_first(&mut page, filter);
        self.fetch_page(page).await
    }

    /// Newest first, and the page's bounds.
    fn push_newest_first(q: &mut QueryBuilder<'_, Postgres>, filter: &ListFilter) {
        q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
            .push_bind(filter.limit)
            .push(" OFFSET ")
            .push_bind(filter.offset);
    }

    async fn fetch_page(
        &self,
        mut page: QueryBuilder<'_, Postgres>,
    ) -> Result<Vec<Snippet>, StoreError> {
        let rows: Vec<SnippetRow> = page.build_query_as().fetch_all(&self.pool).await?;
        into_snippets(rows)
    }

    fn push_filters(q: &mut QueryBuilder<'_, Postgres>, filter: &ListFilter) {
        if let Some(language) = &filter.language {
            q.push(" AND language = ").push_bind(language.clone());
        }
        if let Some(tag) = &filter.tag {
            q.push(" AND tags ? ").push_bind(tag.clone());
        }
        if let Some(query) = &filter.query {
            q.push(" AND search @@ plainto_tsquery('simple', ")
                .push_bind(query.clone())
                .push(")");
        }
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

    async fn list_snippets(
        &self,
        user: &str,
        filter: &ListFilter,
    ) -> Result<(Vec<Snippet>, i64), StoreError> {
        let total = self.count(user, filter).await?;
        if total <= filter.offset && total <= SEARCH_TOTAL_CAP {
            return Ok((Vec::new(), total));
        }
        // Walking the user's rows newest first stops at the page, but passes every newer row
        // that does not match: unbounded when a user's recent snippets are about other things.
        // A search under the cap sorts its matches instead; only a capped search walks.
        let page = if filter.query.is_some() && total <= SEARCH_TOTAL_CAP {
            self.sorted_page(user, filter).await?
        } else {
            self.walk_page(user, filter).await?
        };
        Ok((page, total))
    }

    async fn search_relevant(
        &self,
        user: &str,
        query: &str,
        limit: i64,
    ) -> Result<Vec<Snippet>, StoreError> {
        // plainto_tsquery joins words with &; any word should count here, so swap in |.
        let sql = format!(
            "SELECT {COLUMNS} FROM snippets, \
             (SELECT replace(plainto_tsquery('simple', $2)::text, ' & ', ' | ')::tsquery AS q) AS t \
             WHERE user_id = $1 AND search @@ t.q \
             ORDER BY ts_rank(search, t.q) DESC, created_at DESC LIMIT $3"
        );
        let rows: Vec<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(query)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        into_snippets(rows)
    }

    async fn update_snippet(
        &self,
        user: &str,
        id: &str,
        patch: &SnippetPatch,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<Option<Snippet>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let Some(current) = Self::fetch_for_update(&mut tx, user, id).await? else {
            return Ok(None);
        };
        let s = patch.apply(current, now);
        bind_content(sqlx::query(
            "UPDATE snippets SET title = $1, code = $2, language = $3, tags = $4::jsonb, \
             metadata = $5::jsonb, description = $6, updated_at = $7 WHERE user_id = $8 AND id = $9",
        ), &s)
        .bind(to_micros(s.updated_at))
        .bind(user)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let change = Change::Updated {
            code_changed: patch.touches_code(),
        };
        record(&mut tx, [&plan.for_snippet(user, &s, change, now)]).await?;
        tx.commit().await?;
        Ok(Some(s))
    }

    async fn delete_snippet(
        &self,
        user: &str,
        id: &str,
        now: DateTime<Utc>,
        plan: &EventPlan,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let sql =
            format!("DELETE FROM snippets WHERE user_id = $1 AND id = $2 RETURNING {COLUMNS}");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let gone = row.into_snippet()?;
        record(
            &mut tx,
            [&plan.for_snippet(user, &gone, Change::Deleted, now)],
        )
        .await?;
        tx.commit().await?;
        Ok(true)
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
        let sql = format!(
            "UPDATE snippets SET metadata = metadata || $1::jsonb WHERE user_id = $2 AND id = $3 \
             RETURNING {COLUMNS}"
        );
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(json_text(analysis))
            .bind(user)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(row) = row else {
            return Ok(false);
        };
        let merged = row.into_snippet()?;
        record(&mut tx, [&plan.for_analysis(user, &merged, now)]).await?;
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
