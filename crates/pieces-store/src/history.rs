//! Version history rows (see `pieces_model::history`): written by the snippet stores inside
//! each change's transaction, read with the snippet in one snapshot.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Sqlite, SqliteConnection, SqlitePool, Transaction};

use super::row::{SnippetRow, POSTGRES_COLUMNS, SNIPPET_COLUMNS};
use super::{from_micros, to_micros, StoreError};
use pieces_model::history::{HistoryRow, Replaced};
use pieces_model::Snippet;

/// A snippet as it is now and the rows of its history, read in one snapshot.
#[derive(Debug)]
pub struct History {
    pub current: Snippet,
    /// Who created it; None where not known (written before history was kept).
    pub created_by: Option<String>,
    /// Newest first.
    pub rows: Vec<HistoryRow>,
}

/// Which rows a history read brings.
#[derive(Debug, Clone, Copy)]
pub enum Rows {
    /// Every row, without its delta: to list the versions.
    Listed,
    /// The rows of the versions after this one, with their deltas: to rebuild it.
    After(i64),
}

#[async_trait]
pub trait HistoryStore: Send + Sync {
    /// Snippet `id` of workspace `key` and its history; None when it holds no such snippet.
    async fn history(&self, key: &str, id: &str, rows: Rows)
        -> Result<Option<History>, StoreError>;
}

/// How many versions of each snippet the stores keep (`HISTORY_MAX_VERSIONS`; 0 keeps no
/// history at all).
#[derive(Debug, Clone, Copy)]
pub struct Keeping {
    pub versions: i64,
}

/// The head and tail of `Kept::sql`, around the table the replaced version is read from. The
/// casts type the parameters alike on both databases; `WHERE true` tells SQLite's parser the
/// upsert clause is not a join's.
macro_rules! keep_rows {
    () => {
        "INSERT INTO snippet_history (snippet_id, version, at, actor, changed, previous) \
         SELECT id, version, updated_at, CASE WHEN version = 1 THEN created_by END, '[]', NULL \
         FROM "
    };
}
macro_rules! keep_tail {
    () => {
        " WHERE id = $1 \
         UNION ALL SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS BIGINT), \
         CAST($4 AS TEXT), CAST($5 AS TEXT), CAST($6 AS TEXT) WHERE true \
         ON CONFLICT DO NOTHING"
    };
}

/// One change to keep the history of.
pub struct Kept<'a> {
    pub older: &'a Snippet,
    pub newer: &'a Snippet,
    pub at: DateTime<Utc>,
    /// The user who made it; None for the service's own analysis.
    pub actor: Option<&'a str>,
    pub moved: bool,
    /// The change brings the snippet back from the trash, where its row is read.
    pub from_trash: bool,
}

impl Kept<'_> {
    /// The row of the new version: what it changed and, when the version before stays, the
    /// delta that rebuilds it.
    fn row(&self, keeping: Keeping) -> (String, Option<String>) {
        let replaced = Replaced::between(self.older, self.newer, self.moved);
        let changed = serde_json::to_string(&replaced.changed).unwrap_or_else(|_| "[]".into());
        (changed, (keeping.versions > 1).then_some(replaced.previous))
    }

    /// The versions the new one pushes out: those below this one. The oldest that stays
    /// keeps its delta, which nothing applies: a version is read only if it has a row.
    fn oldest_kept(&self, keeping: Keeping) -> Option<i64> {
        (self.newer.version > keeping.versions).then(|| self.newer.version - keeping.versions + 1)
    }

    /// The statement that writes the new version's row and, when the replaced version has
    /// none yet, its row too: a first version (its time and author from the snippet's
    /// `created_at` and `created_by`), or one made before history was kept (from
    /// `updated_at`, its author not known). One statement, so keeping the history costs an
    /// edit one more round trip, not two. Run before the change updates the row.
    fn sql(&self) -> &'static str {
        if self.from_trash {
            concat!(keep_rows!(), "snippets_trash", keep_tail!())
        } else {
            concat!(keep_rows!(), "snippets", keep_tail!())
        }
    }
}

const PRUNE: &str = "DELETE FROM snippet_history WHERE snippet_id = $1 AND version < $2";

/// Keeps what a change replaced, inside its transaction, before the change updates the row.
pub(crate) async fn keep_in_sqlite(
    tx: &mut Transaction<'_, Sqlite>,
    keeping: Keeping,
    change: &Kept<'_>,
) -> Result<(), StoreError> {
    if keeping.versions == 0 {
        return Ok(());
    }
    let conn: &mut SqliteConnection = tx;
    let id = change.newer.id.as_str();
    let (changed, previous) = change.row(keeping);
    sqlx::query(change.sql())
        .bind(id)
        .bind(change.newer.version)
        .bind(to_micros(change.at))
        .bind(change.actor)
        .bind(changed)
        .bind(previous)
        .execute(&mut *conn)
        .await?;
    if let Some(oldest) = change.oldest_kept(keeping) {
        sqlx::query(PRUNE)
            .bind(id)
            .bind(oldest)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

/// The same on PostgreSQL.
pub(crate) async fn keep_in_postgres(
    conn: &mut PgConnection,
    keeping: Keeping,
    change: &Kept<'_>,
) -> Result<(), StoreError> {
    if keeping.versions == 0 {
        return Ok(());
    }
    let id = change.newer.id.as_str();
    let (changed, previous) = change.row(keeping);
    sqlx::query(change.sql())
        .bind(id)
        .bind(change.newer.version)
        .bind(to_micros(change.at))
        .bind(change.actor)
        .bind(changed)
        .bind(previous)
        .execute(&mut *conn)
        .await?;
    if let Some(oldest) = change.oldest_kept(keeping) {
        sqlx::query(PRUNE)
            .bind(id)
            .bind(oldest)
            .execute(&mut *conn)
            .await?;
    }
    Ok(())
}

#[derive(sqlx::FromRow)]
struct Row {
    version: i64,
    at: i64,
    actor: Option<String>,
    changed: String,
    previous: Option<String>,
}

impl Row {
    fn into_history_row(self) -> Result<HistoryRow, StoreError> {
        let changed: Vec<String> = serde_json::from_str(&self.changed).map_err(|_| {
            StoreError::Corrupt(format!("history of version {}: changed", self.version))
        })?;
        Ok(HistoryRow {
            version: self.version,
            at: from_micros(self.at)?,
            actor: self.actor,
            changed,
            previous: self.previous,
        })
    }
}

/// The history query's columns: the delta only when it is wanted.
fn history_sql(rows: Rows, placeholder: impl Fn(usize) -> String) -> String {
    let (previous, after) = match rows {
        Rows::Listed => ("NULL AS previous", String::new()),
        Rows::After(_) => ("previous", format!(" AND version > {}", placeholder(2))),
    };
    format!(
        "SELECT version, at, actor, changed, {previous} FROM snippet_history \
         WHERE snippet_id = {}{after} ORDER BY version DESC",
        placeholder(1)
    )
}

fn into_history(current: Current, rows: Vec<Row>) -> Result<Option<History>, StoreError> {
    Ok(Some(History {
        current: current.row.into_snippet()?,
        created_by: current.created_by,
        rows: rows
            .into_iter()
            .map(Row::into_history_row)
            .collect::<Result<_, _>>()?,
    }))
}

#[derive(sqlx::FromRow)]
struct Current {
    #[sqlx(flatten)]
    row: SnippetRow,
    created_by: Option<String>,
}

#[async_trait]
impl HistoryStore for SqlitePool {
    async fn history(
        &self,
        key: &str,
        id: &str,
        rows: Rows,
    ) -> Result<Option<History>, StoreError> {
        // One read transaction: the snippet and its rows from the same snapshot.
        let mut tx = self.begin().await?;
        let sql = format!(
            "SELECT {SNIPPET_COLUMNS}, created_by FROM snippets WHERE user_id = ? AND id = ?"
        );
        let current: Option<Current> = sqlx::query_as(&sql)
            .bind(key)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(current) = current else {
            return Ok(None);
        };
        let sql = history_sql(rows, |_| "?".into());
        let mut query = sqlx::query_as::<_, Row>(&sql).bind(id);
        if let Rows::After(version) = rows {
            query = query.bind(version);
        }
        let found = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        into_history(current, found)
    }
}

#[async_trait]
impl HistoryStore for PgPool {
    async fn history(
        &self,
        key: &str,
        id: &str,
        rows: Rows,
    ) -> Result<Option<History>, StoreError> {
        let mut tx = self.begin().await?;
        // Both reads see the same snapshot.
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "SELECT {POSTGRES_COLUMNS}, created_by FROM snippets WHERE user_id = $1 AND id = $2"
        );
        let current: Option<Current> = sqlx::query_as(&sql)
            .bind(key)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(current) = current else {
            return Ok(None);
        };
        let sql = history_sql(rows, |n| format!("${n}"));
        let mut query = sqlx::query_as::<_, Row>(&sql).bind(id);
        if let Rows::After(version) = rows {
            query = query.bind(version);
        }
        let found = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        into_history(current, found)
    }
}
