//! The pieces of SQL every page query shares: the filters and the newest-first walk.

use sqlx::{PgExecutor, PgPool, Postgres, QueryBuilder};

use crate::row::{into_listed, SnippetRow, POSTGRES_LISTED_COLUMNS as COLUMNS};
use crate::StoreError;
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::{ListFilter, Listed};

/// Up to `limit` of the user's snippets matching `filter` after skipping `offset`, walking
/// their rows newest first (a tag without a query walks the tag's entries instead).
pub async fn walk(
    db: impl PgExecutor<'_>,
    user: &str,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<Listed>, StoreError> {
    let mut page = QueryBuilder::new(format!("SELECT {}", *COLUMNS));
    push_from(&mut page, user, filter);
    push_newest_first(&mut page, filter, limit, offset);
    let rows: Vec<SnippetRow> = page
        .build_query_as()
        .persistent(prepare_once(filter))
        .fetch_all(db)
        .await?;
    into_listed(rows)
}

/// The ids `walk` would answer.
pub async fn walk_ids(
    db: impl PgExecutor<'_>,
    user: &str,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<String>, StoreError> {
    let mut page = QueryBuilder::new("SELECT snippets.id");
    push_from(&mut page, user, filter);
    push_newest_first(&mut page, filter, limit, offset);
    let ids: Vec<(String,)> = page
        .build_query_as()
        .persistent(prepare_once(filter))
        .fetch_all(db)
        .await?;
    Ok(ids.into_iter().map(|(id,)| id).collect())
}

/// The (created_at, id) of what `walk` would answer: where a kept page starts from.
pub async fn walk_newest(
    db: impl PgExecutor<'_>,
    user: &str,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) -> Result<Vec<(i64, String)>, StoreError> {
    let mut page = QueryBuilder::new("SELECT snippets.created_at, snippets.id");
    push_from(&mut page, user, filter);
    push_newest_first(&mut page, filter, limit, offset);
    Ok(page
        .build_query_as()
        .persistent(prepare_once(filter))
        .fetch_all(db)
        .await?)
}

/// How many of the user's snippets a filter without a query covers, up to the cap and one
/// more: a count that grew with the collection would cost a big collection every time.
pub async fn count_capped(
    pool: &PgPool,
    user: &str,
    filter: &ListFilter,
) -> Result<i64, StoreError> {
    let mut count = QueryBuilder::new("SELECT COUNT(*) FROM (SELECT 1");
    push_from(&mut count, user, filter);
    count
        .push(" LIMIT ")
        .push_bind(SEARCH_TOTAL_CAP + 1)
        .push(") AS capped");
    Ok(count
        .build_query_scalar()
        .persistent(prepare_once(filter))
        .fetch_one(pool)
        .await?)
}

/// A page of the user's snippets, newest first, and the triggers' count of them, in one
/// statement (one round trip, one snapshot); the count is none when the page is empty, since
/// it comes with the page's rows.
pub async fn newest_with_total(
    pool: &PgPool,
    user: &str,
    filter: &ListFilter,
) -> Result<(Vec<Listed>, Option<i64>), StoreError> {
    #[derive(sqlx::FromRow)]
    struct Counted {
        #[sqlx(flatten)]
        row: SnippetRow,
        total: i64,
    }
    let sql = format!(
        "SELECT {}, COALESCE((SELECT n FROM snippet_counts WHERE user_id = $1), 0) AS total \
         FROM snippets WHERE user_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        *COLUMNS
    );
    let rows: Vec<Counted> = sqlx::query_as(&sql)
        .bind(user)
        .bind(filter.limit)
        .bind(filter.offset)
        .fetch_all(pool)
        .await?;
    let total = rows.first().map(|r| r.total);
    let page = into_listed(rows.into_iter().map(|r| r.row).collect())?;
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
) -> Result<Vec<Listed>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut page = QueryBuilder::new("");
    push_in_order(&mut page, user, filter, ids);
    let rows: Vec<SnippetRow> = page.build_query_as().fetch_all(db).await?;
    into_listed(rows)
}

/// The query of `in_order`. Prepared whatever its filters: it starts from the ids, so its
/// generic plan is as good for any words.
pub fn push_in_order(
    q: &mut QueryBuilder<'_, Postgres>,
    user: &str,
    filter: &ListFilter,
    ids: Vec<String>,
) {
    q.push(format!(
        "SELECT {} FROM snippets WHERE user_id = ",
        *COLUMNS
    ))
    .push_bind(user.to_owned())
    .push(" AND id = ANY(")
    .push_bind(ids)
    .push(")");
    push_filters(q, filter);
    q.push(" ORDER BY created_at DESC, id DESC");
}

/// ` FROM` the user's snippets matching `filter`: a tag without a query is walked from the
/// tag's own entries (newest first, as `push_newest_first` orders them), everything else from
/// the user's rows. Only the tag's entries are named `tagged`, so the snippets' columns stay
/// unqualified.
pub fn push_from(q: &mut QueryBuilder<'_, Postgres>, user: &str, filter: &ListFilter) {
    match (&filter.tag, &filter.query) {
        (Some(tag), None) => {
            q.push(
                " FROM (SELECT id AS tagged_id, created_at AS tagged_at FROM snippet_tags \
                 WHERE user_id = ",
            )
            .push_bind(user.to_owned())
            .push(" AND tag = ")
            .push_bind(tag.clone())
            .push(") AS tagged JOIN snippets ON snippets.id = tagged.tagged_id WHERE user_id = ")
            .push_bind(user.to_owned());
            if let Some(language) = &filter.language {
                q.push(" AND language = ").push_bind(language.clone());
            }
        }
        _ => {
            q.push(" FROM snippets WHERE user_id = ")
                .push_bind(user.to_owned());
            push_filters(q, filter);
        }
    }
}

/// Newest first, and the bounds.
pub fn push_newest_first(
    q: &mut QueryBuilder<'_, Postgres>,
    filter: &ListFilter,
    limit: i64,
    offset: i64,
) {
    let order = if filter.tag.is_some() && filter.query.is_none() {
        " ORDER BY tagged.tagged_at DESC, tagged.tagged_id DESC LIMIT "
    } else {
        " ORDER BY created_at DESC, id DESC LIMIT "
    };
    q.push(order)
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
        // A snippet of several files matches by `files_search` (migration 0017).
        q.push(" AND (search @@ plainto_tsquery('simple', ")
            .push_bind(query.clone())
            .push(") OR files_search @@ plainto_tsquery('simple', ")
            .push_bind(query.clone())
            .push("))");
    }
}
