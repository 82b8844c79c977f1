//! Every snippet of a workspace, a page at a time, oldest first, by a cursor that a
//! concurrent change cannot shift: what an export reads, at any size, in pages that never
//! hold more than `INLINE_ROW_BYTES` of text per row (larger rows are deferred).

use async_trait::async_trait;
use sqlx::{PgPool, SqlitePool};

use super::row::{SnippetRow, LISTED_COLUMNS, POSTGRES_LISTED_COLUMNS};
use super::StoreError;
use pieces_model::Listed;

#[async_trait]
pub trait SnippetWalk: Send + Sync {
    /// Up to `limit` snippets of workspace `key` after `cursor` (from the start without
    /// one), and the cursor of the next page (None at the end).
    async fn walk_page(
        &self,
        key: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Listed>, Option<String>), StoreError>;
}

#[derive(sqlx::FromRow)]
struct Walked {
    #[sqlx(flatten)]
    row: SnippetRow,
    /// SQLite's insertion order, or PostgreSQL's `created_at`.
    position: i64,
}

/// The rows as a page holds them, and the cursor after the last when the page is full.
fn page_of(
    rows: Vec<Walked>,
    limit: i64,
    cursor_after: impl Fn(&Walked) -> String,
) -> Result<(Vec<Listed>, Option<String>), StoreError> {
    let next = rows
        .last()
        .filter(|_| rows.len() as i64 == limit)
        .map(cursor_after);
    let listed = rows
        .into_iter()
        .map(|r| r.row.into_listed())
        .collect::<Result<_, _>>()?;
    Ok((listed, next))
}

fn bad_cursor() -> StoreError {
    StoreError::Corrupt("an export cursor that this store did not write".into())
}

/// SQLite walks by `seq`, which every index of a workspace's rows carries.
#[async_trait]
impl SnippetWalk for SqlitePool {
    async fn walk_page(
        &self,
        key: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Listed>, Option<String>), StoreError> {
        let after: i64 = cursor.map_or(Ok(0), |c| c.parse().map_err(|_| bad_cursor()))?;
        let sql = format!(
            "SELECT {}, snippets.seq AS position FROM snippets \
             WHERE snippets.user_id = ? AND snippets.seq > ? ORDER BY snippets.seq LIMIT ?",
            *LISTED_COLUMNS
        );
        let rows: Vec<Walked> = sqlx::query_as(&sql)
            .bind(key)
            .bind(after)
            .bind(limit)
            .fetch_all(self)
            .await?;
        page_of(rows, limit, |last| last.position.to_string())
    }
}

/// PostgreSQL walks by (`created_at`, `id`), the order of a workspace's own index.
#[async_trait]
impl SnippetWalk for PgPool {
    async fn walk_page(
        &self,
        key: &str,
        cursor: Option<&str>,
        limit: i64,
    ) -> Result<(Vec<Listed>, Option<String>), StoreError> {
        let (at, id) = match cursor {
            None => (i64::MIN, String::new()),
            Some(c) => {
                let (at, id) = c.split_once(':').ok_or_else(bad_cursor)?;
                (at.parse().map_err(|_| bad_cursor())?, id.to_owned())
            }
        };
        let sql = format!(
            "SELECT {}, created_at AS position FROM snippets \
             WHERE user_id = $1 AND (created_at, id) > ($2, $3) \
             ORDER BY created_at, id LIMIT $4",
            *POSTGRES_LISTED_COLUMNS
        );
        let rows: Vec<Walked> = sqlx::query_as(&sql)
            .bind(key)
            .bind(at)
            .bind(id)
            .bind(limit)
            .fetch_all(self)
            .await?;
        page_of(rows, limit, |last| {
            format!("{}:{}", last.position, last.row.id())
        })
    }
}
