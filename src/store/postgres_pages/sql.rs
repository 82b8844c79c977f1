//! The pieces of SQL every page query shares: the filters and the newest-first walk.

use sqlx::{PgExecutor, Postgres, QueryBuilder};

use crate::model::{ListFilter, Snippet};
use crate::store::row::{into_snippets, SnippetRow, POSTGRES_COLUMNS as COLUMNS};
use crate::store::StoreError;

/// Up to `limit` of the user's snippets matching `filter` after skipping `offset`, walking
/// their rows newest first.
pub async fn walk(
    db: impl PgExecutor<'_>,
    user: &str,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Snippet>, StoreError> {
    let mut page = QueryBuilder::new(format!("SELECT {COLUMNS} FROM snippets WHERE user_id = "));
    page.push_bind(user);
    push_filters(&mut page, filter);
    push_newest_first(&mut page, limit, offset);
    let rows: Vec<SnippetRow> = page.build_query_as().fetch_all(db).await?;
    into_snippets(rows)
}

/// Those of the snippets `ids` that still match `filter`, newest first. A caller that read
/// the ids in an earlier statement learns from a shorter answer that one of them changed or
/// went in between.
pub async fn in_order(
    db: impl PgExecutor<'_>,
    user: &str,
    filter: &ListFilter,
    ids: &[String],
) -> Result<Vec<Snippet>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut page = QueryBuilder::new(format!("SELECT {COLUMNS} FROM snippets WHERE user_id = "));
    page.push_bind(user)
        .push(" AND id = ANY(")
        .push_bind(ids.to_vec())
        .push(")");
    push_filters(&mut page, filter);
    page.push(" ORDER BY created_at DESC, id DESC");
    let rows: Vec<SnippetRow> = page.build_query_as().fetch_all(db).await?;
    into_snippets(rows)
}

/// Newest first, and the bounds.
pub fn push_newest_first(q: &mut QueryBuilder<'_, Postgres>, limit: i64, offset: i64) {
    q.push(" ORDER BY created_at DESC, id DESC LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
}

/// `AND` each condition of `filter`, for a query on `snippets` already narrowed to a user.
pub fn push_filters(q: &mut QueryBuilder<'_, Postgres>, filter: &ListFilter) {
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
