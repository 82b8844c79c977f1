//! The pieces of SQL every page query shares: the filters and the newest-first walk.

use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder};

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
    let rows: Vec<SnippetRow> = page
        .build_query_as()
        .persistent(prepare_once(filter))
        .fetch_all(db)
        .await?;
    into_snippets(rows)
}

/// A page of the user's snippets, newest first, and the triggers' count of them, in one
/// statement (one round trip, one snapshot); the count is none when the page is empty, since
/// it comes with the page's rows.
pub async fn newest_with_total(
    pool: &PgPool,
    user: &str,
    filter: &ListFilter,
) -> Result<(Vec<Snippet>, Option<i64>), StoreError> {
    #[derive(sqlx::FromRow)]
    struct Counted {
        #[sqlx(flatten)]
        row: SnippetRow,
        total: i64,
    }
    let sql = format!(
        "SELECT {COLUMNS}, COALESCE((SELECT n FROM snippet_counts WHERE user_id = $1), 0) AS total \
         FROM snippets WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3"
    );
    let rows: Vec<Counted> = sqlx::query_as(&sql)
        .bind(user)
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(pool)
        .await?;
    let total = rows.first().map(|r| r.total);
    let page = into_snippets(rows.into_iter().map(|r| r.row).collect())?;
    Ok((page, total))
}

/// Whether a statement that `filter` narrows may be prepared once per connection (sqlx's
/// `persistent`). A prepared statement may get PostgreSQL's generic plan after five
/// executions, and a generic plan cannot know how rare a word, a language or a tag is: for a
/// rare word it walks every row of the user. A narrowed statement is therefore sent
/// unprepared, which costs a round trip and has it planned for its values every time.
pub fn prepare_once(filter: &ListFilter) -> bool {
    filter.language.is_none() && filter.tag.is_none() && filter.query.is_none()
}

/// Those of the snippets `ids` that still match `filter`, newest first. A caller that read
/// the ids in an earlier statement learns from a shorter answer that one of them changed or
/// went in between.
pub async fn in_order(
    db: impl PgExecutor<'_>,
    user: &str,
    filter: &ListFilter,
    ids: Vec<String>,
) -> Result<Vec<Snippet>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut page = QueryBuilder::new("");
    push_in_order(&mut page, user, filter, ids);
    let rows: Vec<SnippetRow> = page.build_query_as().fetch_all(db).await?;
    into_snippets(rows)
}

/// The query of `in_order`. Prepared whatever its filters: it starts from the ids, so its
/// generic plan is as good for any words.
pub fn push_in_order(
    q: &mut QueryBuilder<'_, Postgres>,
    user: &str,
    filter: &ListFilter,
    ids: Vec<String>,
) {
    q.push(format!("SELECT {COLUMNS} FROM snippets WHERE user_id = "))
        .push_bind(user.to_owned())
        .push(" AND id = ANY(")
        .push_bind(ids)
        .push(")");
    push_filters(q, filter);
    q.push(" ORDER BY created_at DESC, id DESC");
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
