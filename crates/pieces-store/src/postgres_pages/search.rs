//! Text searches on PostgreSQL, each page kept and brought up to date from the change log.
//!
//! Finding a page costs a pass over the matches (up to the cap) and, past the cap, a walk of
//! the user's rows newest first: milliseconds each. A page already found changes only with
//! the user's changes, and each user's change log numbers them in commit order. So a search
//! asked again reads only what was created since, in one statement, and merges the new
//! matches into the page. A deletion, or a change to searchable columns (which can make a
//! snippet stop or start matching), moves the user's removal mark (migration 0007), and the
//! page is then found afresh. All of it comes from the database, so a change through any
//! replica is seen.

use std::time::{Duration, Instant};

use moka::sync::Cache;
use prometheus::IntCounter;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, PgPool, Postgres, QueryBuilder, Row};

use super::sql::{
    in_order, prepare_once, push_filters, push_in_order, push_newest_first, walk, walk_newest,
};
use crate::row::{into_listed, SnippetRow};
use crate::{to_micros, StoreError};
use pieces_metrics::Metrics;
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::{ChangeKind, ListFilter, Listed};

/// Pages that go deeper than this are found afresh each time.
const DEEPEST_KEPT: i64 = 200;
/// Bytes that kept pages may take together, as `Kept::weight` estimates them.
const BYTES_KEPT: u64 = 2 << 20;
/// A page is found afresh at least this long after it was found, however often it was
/// brought up to date since, so a row written to the database by other means than the
/// service (which records no change) is seen within it.
const KEPT_FOR: Duration = Duration::from_secs(300);
/// Past this many changes since a page was found, finding it afresh costs less.
const CATCH_UP_MAX: i64 = 500;

/// A search as a kept page knows it: the user, every filter, and the page's bounds.
type SearchKey = (String, Option<String>, Option<String>, String, i64, i64);

/// A search's page as of one point in the user's change log.
#[derive(Clone)]
struct Kept {
    /// When the page was found afresh; bringing it up to date keeps this.
    found: Instant,
    /// The user's removal mark; none before the user's first snippet.
    mark: Option<i64>,
    /// The user's change-log position.
    position: i64,
    /// Matches, up to the cap and one more.
    total: i64,
    /// How many of the newest matches the page needs: its offset and its limit.
    depth: usize,
    /// The newest matches, down to the page's end: (created_at, id), newest first.
    newest: Vec<(i64, String)>,
}

/// What a pass over a search's matches read: their number, the user's removal mark and
/// change-log position, and the page's (created_at, id), newest first.
type Found = (i64, Option<i64>, Option<i64>, Vec<i64>, Vec<String>);

/// What a catch-up read of the user's state, all in one snapshot.
#[derive(sqlx::FromRow)]
struct Since {
    mark: Option<i64>,
    position: Option<i64>,
    /// The first change kept after the page's position, if any: a gap means some were pruned.
    first: Option<i64>,
    /// The matches created since, newest first.
    fresh_created_at: Vec<i64>,
    fresh_ids: Vec<String>,
}

pub struct Searches {
    pool: PgPool,
    kept: Cache<SearchKey, Kept>,
    /// Pages answered from a kept page, and pages found afresh.
    answered_kept: IntCounter,
    answered_found: IntCounter,
}

impl Searches {
    pub fn new(pool: PgPool, metrics: &Metrics) -> Self {
        Self {
            pool,
            answered_kept: metrics.search_pages.with_label_values(&["kept"]),
            answered_found: metrics.search_pages.with_label_values(&["found"]),
            kept: Cache::builder()
                .max_capacity(BYTES_KEPT)
                .weigher(Kept::weight)
                .time_to_live(KEPT_FOR)
                .build(),
        }
    }

    /// A page of the user's snippets matching `filter` (which has a query), newest first,
    /// and their total, up to the cap and one more.
    pub async fn page(
        &self,
        user: &str,
        filter: &ListFilter,
    ) -> Result<(Vec<Listed>, i64), StoreError> {
        let depth = filter.offset + filter.limit;
        if depth > DEEPEST_KEPT {
            let (kept, page) = self
                .find(user, filter, filter.offset, filter.limit, Some(0))
                .await?;
            self.answered_found.inc();
            return Ok((page, kept.total));
        }
        let key = search_key(user, filter);
        if let Some(kept) = self.kept.get(&key).filter(Kept::is_fresh) {
            let (current, rows) = self.catch_up(user, filter, &kept).await?;
            if let Some(current) = current {
                // The rows read with the catch-up are the page's unless a match created since
                // moved it; then they are read again, by the page's ids.
                let page = if current.is_page(filter.offset, &rows) {
                    Some(rows)
                } else {
                    self.rows_of(user, filter, &current).await?
                };
                if let Some(page) = page {
                    self.answered_kept.inc();
                    let total = current.total;
                    self.kept.insert(key, current);
                    return Ok((page, total));
                }
            }
        }
        let (kept, page) = self
            .find(user, filter, 0, depth, Some(filter.offset))
            .await?;
        self.answered_found.inc();
        let total = kept.total;
        self.kept.insert(key, kept);
        Ok((page, total))
    }

    /// The ids of the search's page, newest first, and the total (up to the cap and one more),
    /// without reading a row: from the kept page brought up to date when there is one (the
    /// removal mark and the change log say whether it still holds), else found afresh.
    pub async fn ids(
        &self,
        user: &str,
        filter: &ListFilter,
    ) -> Result<(Vec<String>, i64), StoreError> {
        let depth = filter.offset + filter.limit;
        if depth > DEEPEST_KEPT {
            let (kept, _) = self
                .find(user, filter, filter.offset, filter.limit, None)
                .await?;
            self.answered_found.inc();
            return Ok((kept.page_ids(0), kept.total));
        }
        let key = search_key(user, filter);
        if let Some(kept) = self.kept.get(&key).filter(Kept::is_fresh) {
            if let Some(current) = self.advance(user, filter, &kept).await? {
                self.answered_kept.inc();
                let answer = (current.page_ids(filter.offset), current.total);
                self.kept.insert(key, current);
                return Ok(answer);
            }
        }
        let (kept, _) = self.find(user, filter, 0, depth, None).await?;
        self.answered_found.inc();
        let answer = (kept.page_ids(filter.offset), kept.total);
        self.kept.insert(key, kept);
        Ok(answer)
    }

    /// The rows of `kept`'s page (after its offset), or none if one of them was deleted or
    /// stopped matching since `kept` was brought up to date: the page is then found afresh.
    async fn rows_of(
        &self,
        user: &str,
        filter: &ListFilter,
        kept: &Kept,
    ) -> Result<Option<Vec<Listed>>, StoreError> {
        let rows = in_order(&self.pool, user, filter, kept.page_ids(filter.offset)).await?;
        Ok(kept.is_page(filter.offset, &rows).then_some(rows))
    }

    /// Finds the search's `limit` newest matches after `offset` and, with `rows_after`, reads
    /// the rows of all but the first that many of them, in one snapshot: a pass over the
    /// matches, stopping past the cap, and past it a walk.
    async fn find(
        &self,
        user: &str,
        filter: &ListFilter,
        offset: i64,
        limit: i64,
        rows_after: Option<i64>,
    ) -> Result<(Kept, Vec<Listed>), StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await?;
        let mut q = QueryBuilder::<Postgres>::new(
            "WITH matches AS MATERIALIZED (SELECT id, created_at FROM snippets WHERE user_id = ",
        );
        q.push_bind(user);
        push_filters(&mut q, filter);
        q.push(" LIMIT ").push_bind(SEARCH_TOTAL_CAP + 1);
        q.push("), page AS (SELECT id, created_at FROM matches");
        push_newest_first(&mut q, filter, limit, offset);
        q.push(") SELECT (SELECT COUNT(*) FROM matches), ");
        push_mark_and_position(&mut q, user);
        q.push(
            ", ARRAY(SELECT created_at FROM page ORDER BY created_at DESC, id DESC), \
             ARRAY(SELECT id FROM page ORDER BY created_at DESC, id DESC)",
        );
        let (total, mark, position, created_at, ids): Found = q
            .build_query_as()
            .persistent(prepare_once(filter))
            .fetch_one(&mut *tx)
            .await?;
        let mut kept = Kept {
            found: Instant::now(),
            mark,
            position: position.unwrap_or(0),
            total,
            depth: limit as usize,
            newest: created_at.into_iter().zip(ids).collect(),
        };
        let rows = match rows_after {
            Some(skip) if total <= SEARCH_TOTAL_CAP => {
                in_order(&mut *tx, user, filter, kept.page_ids(skip)).await?
            }
            // Past the cap, the pass saw only some matches. Walking the user's rows newest
            // first stops at the page, where sorting every match would cost more.
            Some(skip) => {
                let mut rows = walk(&mut *tx, user, filter, limit, offset).await?;
                kept.newest = rows
                    .iter()
                    .map(|row| (to_micros(row.snippet().created_at), row.id().to_owned()))
                    .collect();
                rows.drain(..(skip as usize).min(rows.len()));
                rows
            }
            None if total <= SEARCH_TOTAL_CAP => Vec::new(),
            None => {
                kept.newest = walk_newest(&mut *tx, user, filter, limit, offset).await?;
                Vec::new()
            }
        };
        tx.commit().await?;
        Ok((kept, rows))
    }

    /// `kept` brought up to the user's latest change, or none if it must be found afresh:
    /// one statement, reading no row of the page (the removal mark says whether one of them
    /// went or stopped matching).
    async fn advance(
        &self,
        user: &str,
        filter: &ListFilter,
        kept: &Kept,
    ) -> Result<Option<Kept>, StoreError> {
        let mut q = QueryBuilder::<Postgres>::new("");
        push_since(&mut q, user, filter, kept, "since.*");
        let since: Since = q.build_query_as().fetch_one(&self.pool).await?;
        Ok(kept.advanced(since))
    }

    /// `kept` brought up to the user's latest change (none if it must be found afresh), and
    /// the rows of its page as it was kept that still match, newest first: one statement.
    async fn catch_up(
        &self,
        user: &str,
        filter: &ListFilter,
        kept: &Kept,
    ) -> Result<(Option<Kept>, Vec<Listed>), StoreError> {
        let mut q = QueryBuilder::<Postgres>::new("");
        push_since(&mut q, user, filter, kept, "since.*, page.*");
        q.push(" LEFT JOIN LATERAL (");
        push_in_order(&mut q, user, filter, kept.page_ids(filter.offset));
        q.push(") AS page ON true ORDER BY page.created_at DESC, page.id DESC");
        // Prepared whatever its filters: it starts from at most CATCH_UP_MAX changes of the
        // log and a page of ids, so its generic plan is as good for any words, and saves
        // planning each time.
        // Every row carries the user's state, and a row of the page that still matches if any
        // does (the state comes alone when none does): the state is read from the first.
        let read: Vec<PgRow> = q.build().fetch_all(&self.pool).await?;
        let Some(first) = read.first() else {
            return Err(StoreError::Corrupt("a catch-up read no row".into()));
        };
        let since = Since::from_row(first)?;
        let mut rows = Vec::with_capacity(read.len());
        for row in &read {
            if row.try_get::<Option<&str>, _>("id")?.is_some() {
                rows.push(SnippetRow::from_row(row)?);
            }
        }
        Ok((kept.advanced(since), into_listed(rows)?))
    }
}

/// `select` from the user's state since `kept` as one row named `since` (`Since`'s columns):
/// the removal mark, the change-log position, the first change kept after the page's, and the
/// matches created since (at most `CATCH_UP_MAX` changes of the log read).
fn push_since(
    q: &mut QueryBuilder<'_, Postgres>,
    user: &str,
    filter: &ListFilter,
    kept: &Kept,
    select: &str,
) {
    q.push("WITH fresh AS (SELECT id, created_at FROM snippets WHERE user_id = ")
        .push_bind(user.to_owned())
        .push(" AND id IN (SELECT subject FROM changes WHERE user_id = ")
        .push_bind(user.to_owned())
        .push(" AND kind = ")
        .push_bind(ChangeKind::SnippetCreated.as_str())
        .push(" AND seq > ")
        .push_bind(kept.position)
        .push(" AND seq <= ")
        .push_bind(kept.position + CATCH_UP_MAX)
        .push(")");
    push_filters(q, filter);
    q.push(") SELECT ").push(select).push(" FROM (SELECT ");
    push_mark_and_position(q, user);
    q.push(", (SELECT min(seq) FROM changes WHERE user_id = ")
        .push_bind(user.to_owned())
        .push(" AND seq > ")
        .push_bind(kept.position)
        .push(
            ") AS first, \
             ARRAY(SELECT created_at FROM fresh ORDER BY created_at DESC, id DESC) \
             AS fresh_created_at, \
             ARRAY(SELECT id FROM fresh ORDER BY created_at DESC, id DESC) AS fresh_ids\
             ) AS since",
        );
}

/// A search as its kept page is known by.
fn search_key(user: &str, filter: &ListFilter) -> SearchKey {
    (
        user.to_owned(),
        filter.language.clone(),
        filter.tag.clone(),
        filter.query.clone().unwrap_or_default(),
        filter.offset,
        filter.limit,
    )
}

/// The user's removal mark and change-log position, as two columns named for `Since`.
fn push_mark_and_position(q: &mut QueryBuilder<'_, Postgres>, user: &str) {
    q.push("(SELECT removed FROM snippet_counts WHERE user_id = ")
        .push_bind(user.to_owned())
        .push(") AS mark, (SELECT last_seq FROM change_positions WHERE user_id = ")
        .push_bind(user.to_owned())
        .push(") AS position");
}

impl Kept {
    /// The ids of the page that starts at `offset`, newest first.
    fn page_ids(&self, offset: i64) -> Vec<String> {
        self.page(offset).iter().map(|(_, id)| id.clone()).collect()
    }

    /// Whether `rows` are exactly the page that starts at `offset`: none of them was deleted
    /// or stopped matching, and no match created since moved the page.
    fn is_page(&self, offset: i64, rows: &[Listed]) -> bool {
        rows.iter()
            .map(Listed::id)
            .eq(self.page(offset).iter().map(|(_, id)| id.as_str()))
    }

    /// The kept matches from `offset` on.
    fn page(&self, offset: i64) -> &[(i64, String)] {
        &self.newest[(offset as usize).min(self.newest.len())..]
    }

    /// Whether the page was found recently enough to be brought up to date, not found again.
    fn is_fresh(&self) -> bool {
        self.found.elapsed() < KEPT_FOR
    }

    /// About what a kept page takes in memory, its key and the cache's own entry included.
    fn weight(key: &SearchKey, kept: &Kept) -> u32 {
        // The cache's own share per entry: its entry and bookkeeping, the queue nodes of its
        // expiry, a hash-table slot, and the allocations behind the key's and the page's
        // strings and vectors, each rounded up by the allocator.
        const ENTRY: usize = 640;
        const ID: usize = std::mem::size_of::<(i64, String)>() + 36;
        let text = key.0.len() + key.3.len();
        let filters = key.1.as_ref().map_or(0, String::len) + key.2.as_ref().map_or(0, String::len);
        (ENTRY + text + filters + kept.newest.len() * ID) as u32
    }

    /// This page after the changes `since` read, if they only added snippets and none of them
    /// were pruned from the log.
    fn advanced(&self, since: Since) -> Option<Self> {
        let position = since.position.unwrap_or(0);
        if since.mark != self.mark || position < self.position {
            return None;
        }
        if position == self.position {
            return Some(self.clone());
        }
        if position - self.position > CATCH_UP_MAX || since.first != Some(self.position + 1) {
            return None;
        }
        let added = since.fresh_ids.len() as i64;
        let mut newest: Vec<(i64, String)> = since
            .fresh_created_at
            .into_iter()
            .zip(since.fresh_ids)
            .collect();
        newest.extend(self.newest.iter().cloned());
        newest.sort_unstable_by(|a, b| b.cmp(a));
        newest.dedup();
        newest.truncate(self.depth);
        Some(Self {
            found: self.found,
            mark: since.mark,
            position,
            total: (self.total + added).min(SEARCH_TOTAL_CAP + 1),
            depth: self.depth,
            newest,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(mark: Option<i64>, position: i64, total: i64, newest: &[(i64, &str)]) -> Kept {
        Kept {
            found: Instant::now(),
            mark,
            position,
            total,
            depth: 3,
            newest: newest
                .iter()
                .map(|(at, id)| (*at, id.to_string()))
                .collect(),
        }
    }

    fn since(mark: Option<i64>, position: i64, first: Option<i64>, fresh: &[(i64, &str)]) -> Since {
        Since {
            mark,
            position: Some(position),
            first,
            fresh_created_at: fresh.iter().map(|(at, _)| *at).collect(),
            fresh_ids: fresh.iter().map(|(_, id)| id.to_string()).collect(),
        }
    }

    #[test]
    fn creates_since_are_merged_newest_first_down_to_the_page_depth() {
        let page = kept(Some(7), 10, 3, &[(30, "c"), (20, "b"), (10, "a")]);
        let now = page
            .advanced(since(Some(7), 14, Some(11), &[(40, "d"), (25, "x")]))
            .expect("only creates since");
        assert_eq!(now.position, 14);
        assert_eq!(now.total, 5);
        let ids: Vec<&str> = now.newest.iter().map(|(_, id)| id.as_str()).collect();
        assert_eq!(ids, ["d", "c", "x"]);
    }

    #[test]
    fn a_total_past_the_cap_stays_one_past_it() {
        let page = kept(Some(7), 10, SEARCH_TOTAL_CAP + 1, &[(30, "c")]);
        let now = page
            .advanced(since(Some(7), 11, Some(11), &[(40, "d")]))
            .unwrap();
        assert_eq!(now.total, SEARCH_TOTAL_CAP + 1);
    }

    #[test]
    fn nothing_since_keeps_the_page() {
        let page = kept(Some(7), 10, 1, &[(30, "c")]);
        let now = page.advanced(since(Some(7), 10, None, &[])).unwrap();
        assert_eq!((now.position, now.total, now.newest), (10, 1, page.newest));
    }

    #[test]
    fn bringing_a_page_up_to_date_keeps_the_time_it_was_found() {
        let mut page = kept(Some(7), 10, 1, &[(30, "c")]);
        page.found = Instant::now() - KEPT_FOR;
        let now = page
            .advanced(since(Some(7), 11, Some(11), &[(40, "d")]))
            .unwrap();
        assert_eq!(now.found, page.found);
        assert!(
            !now.is_fresh(),
            "a page asked often is still found afresh once it is KEPT_FOR old"
        );
        let same = page.advanced(since(Some(7), 10, None, &[])).unwrap();
        assert!(!same.is_fresh());
        assert!(kept(Some(7), 10, 1, &[]).is_fresh());
    }

    #[test]
    fn a_page_is_found_afresh_after_a_removal_a_gap_or_too_many_changes() {
        let page = kept(Some(7), 10, 1, &[(30, "c")]);
        assert!(
            page.advanced(since(Some(8), 11, Some(11), &[])).is_none(),
            "the removal mark moved"
        );
        assert!(
            page.advanced(since(None, 11, Some(11), &[])).is_none(),
            "the counter row is gone"
        );
        assert!(
            page.advanced(since(Some(7), 12, Some(12), &[])).is_none(),
            "change 11 was pruned: what it did is unknown"
        );
        assert!(
            page.advanced(since(Some(7), 9, None, &[])).is_none(),
            "the log went back"
        );
        assert!(
            page.advanced(since(Some(7), 10 + CATCH_UP_MAX + 1, Some(11), &[]))
                .is_none(),
            "more changes than one catch-up reads"
        );
    }
}
