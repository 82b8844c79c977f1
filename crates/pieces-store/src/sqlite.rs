//! The embedded store: one SQLite file, WAL mode, a single writer connection (SQLite allows
//! one writer at a time anyway) and a small pool of readers.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{QueryBuilder, Sqlite, SqlitePool, Transaction};

use super::audit;
use super::backup::StoreLock;
use super::changes::record_in_sqlite;
use super::embeddings;
use super::group_commit::{BatchWriter, Create, CreateBatcher};
use super::history::{self, Keeping, Kept};
use super::merged_pages::MergedPages;
use super::row::{
    bind_content, into_listed, into_snippets, json_text, SnippetRow, LISTED_COLUMNS,
    SNIPPET_COLUMNS,
};
use super::trash;
use super::{
    text_search, to_micros, Conditions, Removal, SnippetStore, StoreError, TextRanking, Written,
};
use pieces_metrics::Metrics;
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::workspace::api_id;
use pieces_model::{Change, EventPlan, NewEvent, Recorded};
use pieces_model::{Expected, JsonObject, ListFilter, Listed, Snippet, SnippetPatch};

/// Reader connections. Each holds its own page cache and thread, and reads are CPU-bound, so
/// more readers than a small pod's cores only cost memory.
const READERS: u32 = 2;

/// Most creates in one transaction.
const MAX_BATCH: usize = 256;

/// The file used when `DATABASE_URL` is unset.
pub const DEFAULT_URL: &str = "sqlite://data/pieces.db";

pub struct SqliteStore {
    writer: SqlitePool,
    readers: SqlitePool,
    /// Creates, committed in groups on the writer.
    creates: CreateBatcher,
    keeping: Keeping,
    /// Unfiltered pages over several workspaces, kept while they do not change.
    pub(super) merged: MergedPages,
    /// Held while the store is open, so a restore cannot replace it underneath.
    _lock: Option<StoreLock>,
}

impl SqliteStore {
    pub async fn connect(
        url: &str,
        timeout: Duration,
        keeping: Keeping,
        metrics: &Metrics,
    ) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit survives power loss, not just a killed process.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(timeout)
            .foreign_keys(true);
        if let Some(dir) = Path::new(options.get_filename()).parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let file = Path::new(options.get_filename());
        let lock = if file.as_os_str() == ":memory:" {
            None
        } else {
            Some(StoreLock::shared(file).map_err(|e| StoreError::Unavailable(e.to_string()))?)
        };
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(timeout)
            .connect_with(options.clone())
            .await?;
        sqlx::migrate!("../../migrations/sqlite")
            .run(&writer)
            .await?;
        let readers = SqlitePoolOptions::new()
            .max_connections(READERS)
            .acquire_timeout(timeout)
            .connect_with(options.read_only(true))
            .await?;
        let creates = CreateBatcher::spawn(writer.clone(), MAX_BATCH);
        Ok(Self {
            writer,
            readers,
            creates,
            keeping,
            merged: MergedPages::new(metrics),
            _lock: lock,
        })
    }

    /// The reader connections, which the change log is read on.
    pub fn readers(&self) -> &SqlitePool {
        &self.readers
    }

    /// The writer connection, which the outbox queue shares.
    pub fn writer(&self) -> &SqlitePool {
        &self.writer
    }

    /// The rows among `ids` of the workspaces `keys`, with `columns`.
    async fn by_ids(
        &self,
        columns: &str,
        keys: &[String],
        ids: &[String],
    ) -> Result<Vec<SnippetRow>, StoreError> {
        if ids.is_empty() || keys.is_empty() {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {columns} FROM snippets \
             WHERE snippets.id IN (SELECT value FROM json_each(?)) \
             AND +snippets.user_id IN (SELECT value FROM json_each(?))"
        );
        Ok(sqlx::query_as(&sql)
            .bind(serde_json::to_string(ids).unwrap_or_default())
            .bind(serde_json::to_string(keys).unwrap_or_default())
            .fetch_all(&self.readers)
            .await?)
    }

    async fn fetch_in(
        tx: &mut Transaction<'_, Sqlite>,
        user: &str,
        id: &str,
    ) -> Result<Option<Snippet>, StoreError> {
        let sql = format!("SELECT {SNIPPET_COLUMNS} FROM snippets WHERE user_id = ? AND id = ?");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?;
        row.map(SnippetRow::into_snippet).transpose()
    }

    /// `{head} FROM` the user's snippets matching `filter`, ready for ORDER BY or LIMIT: from
    /// the FTS index for a query (it yields matches newest first), from the tag table for a
    /// tag without one, from the rows' own indexes otherwise.
    pub(super) fn select<'a>(
        head: &str,
        user: &'a str,
        filter: &'a ListFilter,
        fts: Option<&'a str>,
    ) -> QueryBuilder<'a, Sqlite> {
        let mut q = QueryBuilder::new(head);
        Self::push_from(&mut q, user, filter, fts);
        q
    }

    /// ` FROM` the user's snippets matching `filter`, as `select` words it.
    pub(super) fn push_from<'a>(
        q: &mut QueryBuilder<'a, Sqlite>,
        user: &'a str,
        filter: &'a ListFilter,
        fts: Option<&'a str>,
    ) {
        q.push(" FROM ");
        if let Some(fts) = fts {
            q.push("snippets_fts CROSS JOIN snippets ON snippets.seq = snippets_fts.rowid ")
                .push("WHERE snippets_fts MATCH ")
                .push_bind(fts)
                .push(" AND snippets.user_id = ")
                .push_bind(user);
            if let Some(tag) = &filter.tag {
                q.push(" AND EXISTS (SELECT 1 FROM snippet_tags t WHERE t.user_id = ")
                    .push_bind(user)
                    .push(" AND t.tag = ")
                    .push_bind(tag)
                    .push(" AND t.seq = snippets.seq)");
            }
        } else if let Some(tag) = &filter.tag {
            q.push("snippet_tags CROSS JOIN snippets ON snippets.seq = snippet_tags.seq ")
                .push("WHERE snippet_tags.user_id = ")
                .push_bind(user)
                .push(" AND snippet_tags.tag = ")
                .push_bind(tag)
                .push(" AND snippets.user_id = ")
                .push_bind(user);
        } else {
            q.push("snippets WHERE snippets.user_id = ").push_bind(user);
        }
        if let Some(language) = &filter.language {
            q.push(" AND snippets.language = ").push_bind(language);
        }
    }

    /// The FTS query of the filter's words in the user's rows (none without a query); None
    /// when the query holds no word, so nothing can match.
    pub(super) fn text_query(filter: &ListFilter, user: &str) -> Option<Option<String>> {
        match &filter.query {
            Some(query) => text_search::all_words(query, user).map(Some),
            None => Some(None),
        }
    }

    /// The column `select` walks newest first, so a page needs no sort.
    pub(super) fn newest_first(filter: &ListFilter, fts: Option<&str>) -> &'static str {
        match (fts, &filter.tag) {
            (Some(_), _) => "snippets_fts.rowid",
            (None, Some(_)) => "snippet_tags.seq",
            (None, None) => "snippets.seq",
        }
    }

    /// How many of the user's snippets `filter` covers: exact from the counter without a
    /// filter, up to `SEARCH_TOTAL_CAP + 1` with one.
    pub(super) async fn count(
        &self,
        user: &str,
        filter: &ListFilter,
        fts: Option<&str>,
    ) -> Result<i64, StoreError> {
        if fts.is_none() && filter.language.is_none() && filter.tag.is_none() {
            return Ok(sqlx::query_scalar(
                "SELECT COALESCE((SELECT n FROM snippet_counts WHERE user_id = ?), 0)",
            )
            .bind(user)
            .fetch_one(&self.readers)
            .await?);
        }
        // The owner token confines the match to the user: the index alone can count.
        if let (Some(fts), None, None) = (fts, &filter.language, &filter.tag) {
            return Ok(sqlx::query_scalar(
                "SELECT COUNT(*) FROM (SELECT 1 FROM snippets_fts WHERE snippets_fts MATCH ? \
                 LIMIT ?)",
            )
            .bind(fts)
            .bind(SEARCH_TOTAL_CAP + 1)
            .fetch_one(&self.readers)
            .await?);
        }
        let mut count = Self::select("SELECT COUNT(*) FROM (SELECT 1", user, filter, fts);
        count
            .push(" LIMIT ")
            .push_bind(SEARCH_TOTAL_CAP + 1)
            .push(")");
        Ok(count.build_query_scalar().fetch_one(&self.readers).await?)
    }

    /// `columns` of the page `filter` asks for over the workspaces `keys`, and the total;
    /// none when the page is past the end.
    async fn page<T>(
        &self,
        columns: &str,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<T>, i64), StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow> + Send + Unpin,
    {
        let user = match keys {
            [] => return Ok((Vec::new(), 0)),
            [user] => user.as_str(),
            _ => return self.page_across(columns, keys, filter).await,
        };
        let head = format!("SELECT {columns}");
        let Some(fts) = Self::text_query(filter, user) else {
            return Ok((Vec::new(), 0));
        };
        let total = self.count(user, filter, fts.as_deref()).await?;
        if total <= filter.offset && total <= SEARCH_TOTAL_CAP {
            return Ok((Vec::new(), total));
        }
        let mut page = Self::select(&head, user, filter, fts.as_deref());
        page.push(format!(
            " ORDER BY {} DESC LIMIT ",
            Self::newest_first(filter, fts.as_deref())
        ))
        .push_bind(filter.limit)
        .push(" OFFSET ")
        .push_bind(filter.offset);
        let rows: Vec<T> = page.build_query_as().fetch_all(&self.readers).await?;
        Ok((rows, total))
    }
}

#[async_trait]
impl BatchWriter<Create> for SqlitePool {
    async fn write_batch(&self, creates: &[Create]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for c in creates {
            insert_created(&mut tx, c).await?;
        }
        let audit: Vec<_> = creates.iter().flat_map(|c| &c.recorded.audit).collect();
        audit::record_in_sqlite(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

#[async_trait]
impl BatchWriter<Recorded> for SqlitePool {
    async fn write_batch(&self, recorded: &[Recorded]) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for r in recorded {
            record_but_audit(&mut tx, r).await?;
        }
        let audit: Vec<_> = recorded.iter().flat_map(|r| &r.audit).collect();
        audit::record_in_sqlite(&mut tx, audit).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Inserts a new snippet and its events inside the caller's transaction.
async fn insert_created(tx: &mut Transaction<'_, Sqlite>, c: &Create) -> Result<(), StoreError> {
    let s = &c.snippet;
    bind_content(
        sqlx::query(
            "INSERT INTO snippets (id, user_id, title, code, language, tags, metadata, \
             description, files, created_at, updated_at, created_by, version) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&s.id)
        .bind(&c.user),
        s,
    )
    .bind(to_micros(s.created_at))
    .bind(to_micros(s.updated_at))
    .bind(c.created_by.as_deref())
    .bind(s.version)
    .execute(&mut **tx)
    .await?;
    // Its audit record is written with the rest of the batch's.
    record_but_audit(tx, &c.recorded).await
}

/// Records what a change owes, its stream events and the context it makes current inside
/// the caller's transaction.
pub(super) async fn record(
    tx: &mut Transaction<'_, Sqlite>,
    recorded: &Recorded,
) -> Result<(), StoreError> {
    record_but_audit(tx, recorded).await?;
    audit::record_in_sqlite(tx, &recorded.audit).await
}

/// What `record` writes but the audit records, which a batch writes in one statement.
async fn record_but_audit(
    tx: &mut Transaction<'_, Sqlite>,
    recorded: &Recorded,
) -> Result<(), StoreError> {
    insert_events(tx, &recorded.outbox).await?;
    if let Some(context) = &recorded.context {
        sqlx::query(
            "INSERT INTO workflow_contexts (user_id, data, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (user_id) DO UPDATE SET data = excluded.data, \
             expires_at = excluded.expires_at",
        )
        .bind(&context.user)
        .bind(&context.data)
        .bind(to_micros(context.expires_at))
        .execute(&mut **tx)
        .await?;
    }
    record_in_sqlite(tx, &recorded.changes).await
}

/// Records events inside the caller's transaction.
async fn insert_events(
    tx: &mut Transaction<'_, Sqlite>,
    events: &[NewEvent],
) -> Result<(), StoreError> {
    for event in events {
        sqlx::query(
            "INSERT INTO outbox (id, target, payload, request_id, next_attempt_at, created_at, \
             ordering_key) VALUES (?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&event.id)
        .bind(event.target.as_str())
        .bind(json_text(&event.payload))
        .bind(&event.request_id)
        .bind(to_micros(event.created_at))
        .bind(to_micros(event.created_at))
        .bind(event.ordering_key.as_deref())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

#[async_trait]
impl SnippetStore for SqliteStore {
    async fn create_snippet(
        &self,
        user: &str,
        s: &Snippet,
        plan: &EventPlan,
    ) -> Result<(), StoreError> {
        self.creates.create(user, s, plan).await
    }

    async fn get_snippet(&self, user: &str, id: &str) -> Result<Option<Snippet>, StoreError> {
        let sql = format!("SELECT {SNIPPET_COLUMNS} FROM snippets WHERE user_id = ? AND id = ?");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(user)
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.map(SnippetRow::into_snippet).transpose()
    }

    async fn find_snippet(&self, id: &str) -> Result<Option<(String, Snippet)>, StoreError> {
        let sql = format!("SELECT {SNIPPET_COLUMNS} FROM snippets WHERE id = ?");
        let row: Option<SnippetRow> = sqlx::query_as(&sql)
            .bind(id)
            .fetch_optional(&self.readers)
            .await?;
        row.map(SnippetRow::into_owned).transpose()
    }

    async fn snippet_workspace(&self, id: &str) -> Result<Option<String>, StoreError> {
        Ok(
            sqlx::query_scalar("SELECT user_id FROM snippets WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.readers)
                .await?,
        )
    }

    async fn get_snippets(&self, user: &str, ids: &[String]) -> Result<Vec<Snippet>, StoreError> {
        let keys = [user.to_owned()];
        into_snippets(self.by_ids(SNIPPET_COLUMNS, &keys, ids).await?)
    }

    async fn listed_by_ids(
        &self,
        keys: &[String],
        ids: &[String],
    ) -> Result<Vec<Listed>, StoreError> {
        into_listed(self.by_ids(&LISTED_COLUMNS, keys, ids).await?)
    }

    async fn list_snippets(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<Listed>, i64), StoreError> {
        if keys.len() > 1 && MergedPages::keeps(filter) {
            return self.merged_page(keys, filter).await;
        }
        let (rows, total) = self
            .page::<SnippetRow>(&LISTED_COLUMNS, keys, filter)
            .await?;
        Ok((into_listed(rows)?, total))
    }

    async fn matching_ids(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<String>, i64), StoreError> {
        let (ids, total) = self
            .page::<(String,)>("snippets.id AS id", keys, filter)
            .await?;
        Ok((ids.into_iter().map(|(id,)| id).collect(), total))
    }

    async fn text_ranking(
        &self,
        keys: &[String],
        filter: &ListFilter,
        window: i64,
    ) -> Result<TextRanking, StoreError> {
        let [user] = keys else {
            return TextRanking::window_only(self, keys, filter, window).await;
        };
        let Some(fts) = Self::text_query(filter, user) else {
            return Ok(TextRanking::default());
        };
        // The text index counts the matches (up to the cap and one more) without a row. Under
        // the cap every match's id is read in one pass newest first, so which of the nearest
        // also match needs no query (README, "Hybrid search"); past it, only the window is.
        // The ids come as one JSON array: each row of an answer is a message between the
        // database's thread and the caller's.
        let counted = self.count(user, filter, fts.as_deref()).await?;
        let read = if counted > SEARCH_TOTAL_CAP {
            window
        } else {
            counted
        };
        let newest = Self::newest_first(filter, fts.as_deref());
        let mut all = Self::select(
            &format!("SELECT json_group_array(id ORDER BY o DESC) FROM (SELECT snippets.id AS id, {newest} AS o"),
            user,
            filter,
            fts.as_deref(),
        );
        all.push(format!(" ORDER BY {newest} DESC LIMIT "))
            .push_bind(read.max(0))
            .push(")");
        let ids: String = all.build_query_scalar().fetch_one(&self.readers).await?;
        let mut ids: Vec<String> = serde_json::from_str(&ids)
            .map_err(|e| StoreError::Corrupt(format!("matches as JSON: {e}")))?;
        let past = ids.split_off((window.max(0) as usize).min(ids.len()));
        Ok(TextRanking {
            window: ids,
            counted,
            past: (counted <= SEARCH_TOTAL_CAP).then_some(past),
        })
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
        // Driven by the ids (a few hundred at most), each checked against the filter.
        let mut q = QueryBuilder::new(
            "SELECT snippets.id FROM snippets WHERE snippets.id IN (SELECT value FROM json_each(",
        );
        q.push_bind(serde_json::to_string(ids).unwrap_or_default())
            .push(")) AND +snippets.user_id IN (SELECT value FROM json_each(")
            .push_bind(serde_json::to_string(keys).unwrap_or_default())
            .push("))");
        if let Some(language) = &filter.language {
            q.push(" AND snippets.language = ").push_bind(language);
        }
        if let Some(tag) = &filter.tag {
            q.push(" AND EXISTS (SELECT 1 FROM snippet_tags t WHERE t.user_id = snippets.user_id")
                .push(" AND t.tag = ")
                .push_bind(tag)
                .push(" AND t.seq = snippets.seq)");
        }
        if let Some(query) = &filter.query {
            // The row is already one of the workspaces': the words alone are matched.
            let Some(fts) = text_search::all_words_of_anyone(query) else {
                return Ok(Vec::new());
            };
            q.push(" AND EXISTS (SELECT 1 FROM snippets_fts WHERE snippets_fts MATCH ")
                .push_bind(fts)
                .push(" AND snippets_fts.rowid = snippets.seq)");
        }
        let found: Vec<(String,)> = q.build_query_as().fetch_all(&self.readers).await?;
        Ok(found.into_iter().map(|(id,)| id).collect())
    }

    async fn relevant_ids(
        &self,
        user: &str,
        query: &str,
        limit: i64,
    ) -> Result<Vec<String>, StoreError> {
        let Some(fts) = text_search::any_word(query, user) else {
            return Ok(Vec::new());
        };
        let ids: Vec<(String,)> = sqlx::query_as(
            "SELECT id FROM snippets JOIN \
             (SELECT rowid, bm25(snippets_fts) AS rank FROM snippets_fts WHERE snippets_fts MATCH ?) m \
             ON m.rowid = snippets.seq WHERE user_id = ? ORDER BY m.rank, seq DESC LIMIT ?",
        )
        .bind(fts)
        .bind(user)
        .bind(limit)
        .fetch_all(&self.readers)
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
        // The single writer connection runs one transaction at a time: the version read here
        // is the one the update replaces.
        let mut tx = self.writer.begin().await?;
        let Some(current) = Self::fetch_in(&mut tx, user, id).await? else {
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
        history::keep_in_sqlite(&mut tx, self.keeping, &kept).await?;
        let owner = change.move_to.unwrap_or(user);
        // Triggers move the text index's owner token, the tags and both counts with the row.
        bind_content(
            sqlx::query(
                "UPDATE snippets SET title = ?, code = ?, language = ?, tags = ?, metadata = ?, \
                 description = ?, files = ?, updated_at = ?, user_id = ?, version = ? \
                 WHERE user_id = ? AND id = ?",
            ),
            &s,
        )
        .bind(to_micros(s.updated_at))
        .bind(owner)
        .bind(s.version)
        .bind(user)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let recorded = match change.move_to {
            Some(to) => {
                s.workspace = api_id(to).to_owned();
                // Renumbered, so the new workspace's search index catches up with it.
                let seq = embeddings::take_seqs(&mut tx, 1).await? + 1;
                sqlx::query(
                    "UPDATE snippet_embeddings SET user_id = ?, seq = ? WHERE snippet_id = ?",
                )
                .bind(to)
                .bind(seq)
                .bind(id)
                .execute(&mut *tx)
                .await?;
                plan.for_move(user, to, &s, now)
            }
            None => {
                let change = Change::Updated {
                    code_changed: patch.touches_code(),
                };
                plan.for_snippet(user, &s, change, now)
            }
        };
        record(&mut tx, &recorded).await?;
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
        let mut tx = self.writer.begin().await?;
        let Some(gone) = Self::fetch_in(&mut tx, user, id).await? else {
            return Ok(Written::Missing);
        };
        if !expected.is_none_or(|e| e.holds(gone.version)) {
            return Ok(Written::Stale(Box::new(gone)));
        }
        let recorded = trash::set_aside_in_sqlite(&mut tx, removal, user, &gone, now, plan).await?;
        sqlx::query("DELETE FROM snippets WHERE user_id = ? AND id = ?")
            .bind(user)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, &recorded).await?;
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
        let mut tx = self.writer.begin().await?;
        let Some(older) = Self::fetch_in(&mut tx, user, id).await? else {
            return Ok(false);
        };
        let mut s = older.clone();
        s.metadata.extend(analysis.clone());
        s.version += 1;
        let kept = Kept {
            older: &older,
            newer: &s,
            at: now,
            actor: None,
            moved: false,
            from_trash: false,
        };
        history::keep_in_sqlite(&mut tx, self.keeping, &kept).await?;
        sqlx::query("UPDATE snippets SET metadata = ?, version = ? WHERE user_id = ? AND id = ?")
            .bind(json_text(&s.metadata))
            .bind(s.version)
            .bind(user)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        record(&mut tx, &plan.for_analysis(user, &s, now)).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.readers).await?;
        Ok(())
    }

    fn backend(&self) -> &'static str {
        "sqlite"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pieces_model::SearchMode;

    /// The plan SQLite chooses for `head`'s listing with `filter`.
    async fn plan(store: &SqliteStore, filter: &ListFilter) -> String {
        let fts = filter
            .query
            .as_deref()
            .and_then(|q| text_search::all_words(q, "alice"));
        let order = SqliteStore::newest_first(filter, fts.as_deref());
        let mut q = SqliteStore::select(
            "EXPLAIN QUERY PLAN SELECT snippets.id",
            "alice",
            filter,
            fts.as_deref(),
        );
        q.push(format!(" ORDER BY {order} DESC LIMIT 10"));
        let rows: Vec<(i64, i64, i64, String)> = q
            .build_query_as()
            .fetch_all(&store.readers)
            .await
            .expect("a plan");
        rows.into_iter().map(|r| r.3).collect::<Vec<_>>().join("; ")
    }

    #[tokio::test]
    async fn a_tag_listing_walks_the_tags_index_newest_first_without_a_sort() {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}/pieces.db", dir.path().display());
        let metrics = Metrics::new().expect("metrics");
        let store = SqliteStore::connect(
            &url,
            Duration::from_secs(3),
            Keeping { versions: 100 },
            &metrics,
        )
        .await
        .expect("store");
        let filter = |tag: Option<&str>, language: Option<&str>| ListFilter {
            limit: 10,
            offset: 0,
            language: language.map(str::to_owned),
            tag: tag.map(str::to_owned),
            query: None,
            mode: SearchMode::Text,
        };
        for (tag, language) in [(Some("rust"), None), (Some("rust"), Some("go"))] {
            let plan = plan(&store, &filter(tag, language)).await;
            assert!(
                plan.contains("SEARCH snippet_tags USING PRIMARY KEY"),
                "{plan}"
            );
            assert!(!plan.contains("SCAN snippets"), "{plan}");
            assert!(!plan.contains("TEMP B-TREE"), "sorted: {plan}");
            assert!(!plan.contains("json_each"), "{plan}");
        }
        let plan = plan(&store, &filter(None, Some("go"))).await;
        assert!(plan.contains("snippets_by_user_language"), "{plan}");
        assert!(!plan.contains("TEMP B-TREE"), "sorted: {plan}");
    }
}
