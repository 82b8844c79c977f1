//! Version history rows (see `pieces_model::history`): written by the snippet stores inside
//! each change's transaction, read with the snippet in one snapshot.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    Database, Encode, Executor, IntoArguments, PgConnection, PgPool, Postgres, Sqlite,
    SqliteConnection, SqlitePool, Transaction, Type,
};

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
    let conn: &mut SqliteConnection = tx;
    keep::<Sqlite>(conn, keeping, change).await
}

/// The same on PostgreSQL.
pub(crate) async fn keep_in_postgres(
    conn: &mut PgConnection,
    keeping: Keeping,
    change: &Kept<'_>,
) -> Result<(), StoreError> {
    keep::<Postgres>(conn, keeping, change).await
}

async fn keep<DB>(
    conn: &mut DB::Connection,
    keeping: Keeping,
    change: &Kept<'_>,
) -> Result<(), StoreError>
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    for<'q> DB::Arguments<'q>: IntoArguments<'q, DB>,
    for<'q> &'q str: Encode<'q, DB> + Type<DB>,
    for<'q> Option<&'q str>: Encode<'q, DB> + Type<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Type<DB>,
    for<'q> Option<String>: Encode<'q, DB> + Type<DB>,
{
    if keeping.versions == 0 {
        return Ok(());
    }
    let id = change.newer.id.as_str();
    let (changed, previous) = change.row(keeping);
    sqlx::query::<DB>(change.sql())
        .bind(id)
        .bind(change.newer.version)
        .bind(to_micros(change.at))
        .bind(change.actor)
        .bind(changed)
        .bind(previous)
        .execute(&mut *conn)
        .await?;
    if let Some(oldest) = change.oldest_kept(keeping) {
        sqlx::query::<DB>(PRUNE)
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
fn history_sql(rows: Rows) -> String {
    let (previous, after) = match rows {
        Rows::Listed => ("NULL AS previous", ""),
        Rows::After(_) => ("previous", " AND version > $2"),
    };
    format!(
        "SELECT version, at, actor, changed, {previous} FROM snippet_history \
         WHERE snippet_id = $1{after} ORDER BY version DESC"
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

/// The same reads on both databases (`$n` parameters, which SQLite reads too); `$snapshot`
/// makes both reads of one transaction see the same state (SQLite's read transactions do).
macro_rules! history_on {
    ($pool:ty, $columns:expr, $snapshot:literal) => {
        #[async_trait]
        impl HistoryStore for $pool {
            async fn history(
                &self,
                key: &str,
                id: &str,
                rows: Rows,
            ) -> Result<Option<History>, StoreError> {
                let mut tx = self.begin().await?;
                if !$snapshot.is_empty() {
                    sqlx::query($snapshot).execute(&mut *tx).await?;
                }
                let sql = format!(
                    "SELECT {}, created_by FROM snippets WHERE user_id = $1 AND id = $2",
                    $columns
                );
                let current: Option<Current> = sqlx::query_as(&sql)
                    .bind(key)
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
                let Some(current) = current else {
                    return Ok(None);
                };
                let sql = history_sql(rows);
                let mut query = sqlx::query_as::<_, Row>(&sql).bind(id);
                if let Rows::After(version) = rows {
                    query = query.bind(version);
                }
                let found = query.fetch_all(&mut *tx).await?;
                tx.commit().await?;
                into_history(current, found)
            }
        }
    };
}

history_on!(SqlitePool, SNIPPET_COLUMNS, "");
history_on!(
    PgPool,
    POSTGRES_COLUMNS,
    "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
);
