//! Pages over several workspaces at once (`?workspace=all`) on PostgreSQL.
//!
//! Each workspace's part is the query a page of that workspace alone runs, cut at the page's
//! end and reading only `(created_at, id)` (which its index holds); the parts are merged
//! newest first, and only the page's rows are then read whole. So a page walks at most
//! `offset + limit` index entries per workspace, whatever the workspaces hold.

use sqlx::postgres::PgRow;
use sqlx::{PgPool, QueryBuilder};

use super::sql::{count_capped, prepare_once, push_from, push_newest_first};
use crate::StoreError;
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::ListFilter;

/// The page `filter` asks for over the workspaces `keys`, with `columns` of its rows, and
/// the sum of the workspaces' totals (`total`).
pub async fn page<T>(
    pool: &PgPool,
    columns: &str,
    keys: &[String],
    filter: &ListFilter,
) -> Result<(Vec<T>, i64), StoreError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let total = total(pool, keys, filter).await?;
    if total <= filter.offset && total <= SEARCH_TOTAL_CAP {
        return Ok((Vec::new(), total));
    }
    Ok((rows(pool, columns, keys, filter).await?, total))
}

/// The page `filter` asks for over the workspaces `keys`, with `columns` of its rows.
pub async fn rows<T>(
    pool: &PgPool,
    columns: &str,
    keys: &[String],
    filter: &ListFilter,
) -> Result<Vec<T>, StoreError>
where
    T: for<'r> sqlx::FromRow<'r, PgRow> + Send + Unpin,
{
    let depth = filter.offset + filter.limit;
    let mut q = QueryBuilder::new(format!(
        "SELECT {columns} FROM snippets WHERE id IN (SELECT id FROM ("
    ));
    for (i, key) in keys.iter().enumerate() {
        if i > 0 {
            q.push(" UNION ALL ");
        }
        q.push("(SELECT snippets.created_at AS created_at, snippets.id AS id");
        push_from(&mut q, key, filter);
        push_newest_first(&mut q, filter, depth, 0);
        q.push(")");
    }
    q.push(") AS parts ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(filter.limit)
        .push(" OFFSET ")
        .push_bind(filter.offset)
        .push(") ORDER BY created_at DESC, id DESC");
    Ok(q.build_query_as()
        .persistent(prepare_once(filter))
        .fetch_all(pool)
        .await?)
}

/// The sum of the workspaces' totals: exact from their counters without a filter, each
/// stopping past the cap with one (and the sum too).
async fn total(pool: &PgPool, keys: &[String], filter: &ListFilter) -> Result<i64, StoreError> {
    if !filter.is_filtered() {
        return Ok(sqlx::query_scalar(
            "SELECT COALESCE(SUM(n), 0)::int8 FROM snippet_counts WHERE user_id = ANY($1)",
        )
        .bind(keys)
        .fetch_one(pool)
        .await?);
    }
    let mut total = 0;
    for key in keys {
        total += count_capped(pool, key, filter).await?;
        if total > SEARCH_TOTAL_CAP {
            return Ok(SEARCH_TOTAL_CAP + 1);
        }
    }
    Ok(total)
}
