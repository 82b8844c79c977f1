//! Pages of a user's snippets on PostgreSQL: listings, filtered listings and text searches.

mod across;
mod search;
mod sql;

pub use sql::push_filters;

use sqlx::PgPool;

use self::search::Searches;
use crate::merged_pages::MergedPages;
use crate::row::{into_listed, SnippetRow, POSTGRES_LISTED_COLUMNS};
use crate::StoreError;
use pieces_metrics::Metrics;
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::{ListFilter, Listed};

pub struct Pages {
    pool: PgPool,
    searches: Searches,
    merged: MergedPages,
}

impl Pages {
    pub fn new(pool: PgPool, metrics: &Metrics) -> Self {
        Self {
            searches: Searches::new(pool.clone(), metrics),
            merged: MergedPages::new(metrics),
            pool,
        }
    }

    /// A page of the snippets of the workspaces `keys` matching `filter`, newest first, and
    /// their total (for a filter, up to the cap and one more).
    pub async fn list(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<Listed>, i64), StoreError> {
        let user = match keys {
            [] => return Ok((Vec::new(), 0)),
            [user] => user.as_str(),
            _ if MergedPages::keeps(filter) => return self.merged_page(keys, filter).await,
            _ => {
                let columns = POSTGRES_LISTED_COLUMNS.as_str();
                let (rows, total): (Vec<SnippetRow>, i64) =
                    across::page(&self.pool, columns, keys, filter).await?;
                return Ok((into_listed(rows)?, total));
            }
        };
        if filter.query.is_some() {
            return self.searches.page(user, filter).await;
        }
        if sql::prepare_once(filter) {
            let (page, total) = sql::newest_with_total(&self.pool, user, filter).await?;
            if let Some(total) = total {
                return Ok((page, total));
            }
        }
        let total = self.count(user, filter).await?;
        if total <= filter.offset && total <= SEARCH_TOTAL_CAP {
            return Ok((Vec::new(), total));
        }
        let page = sql::walk(&self.pool, user, filter, filter.limit, filter.offset).await?;
        Ok((page, total))
    }

    /// An unfiltered page over the workspaces `keys` (see `MergedPages`), and their total.
    async fn merged_page(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<Listed>, i64), StoreError> {
        let (positions, total): (Vec<i64>, i64) = sqlx::query_as(
            "SELECT ARRAY(SELECT COALESCE((SELECT last_seq FROM change_positions \
                                           WHERE user_id = asked.key), 0) \
                          FROM unnest($1::text[]) WITH ORDINALITY AS asked(key, i) ORDER BY i), \
                    COALESCE((SELECT SUM(n) FROM snippet_counts WHERE user_id = ANY($1)), 0)::int8",
        )
        .bind(keys)
        .fetch_one(&self.pool)
        .await?;
        if total <= filter.offset {
            return Ok((Vec::new(), total));
        }
        if let Some(rows) = self.merged.kept(keys, filter, &positions) {
            return Ok((rows, total));
        }
        let columns = POSTGRES_LISTED_COLUMNS.as_str();
        let rows = into_listed(across::rows(&self.pool, columns, keys, filter).await?)?;
        self.merged.keep(keys, filter, positions, &rows);
        Ok((rows, total))
    }

    /// The ids of the page `list` would answer, and the same total.
    pub async fn ids(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<String>, i64), StoreError> {
        let user = match keys {
            [] => return Ok((Vec::new(), 0)),
            [user] => user.as_str(),
            _ => {
                let (ids, total): (Vec<(String,)>, i64) =
                    across::page(&self.pool, "id", keys, filter).await?;
                return Ok((ids.into_iter().map(|(id,)| id).collect(), total));
            }
        };
        if filter.query.is_some() {
            return self.searches.ids(user, filter).await;
        }
        let total = self.count(user, filter).await?;
        if total <= filter.offset && total <= SEARCH_TOTAL_CAP {
            return Ok((Vec::new(), total));
        }
        let ids = sql::walk_ids(&self.pool, user, filter, filter.limit, filter.offset).await?;
        Ok((ids, total))
    }

    /// How many of the user's snippets a listing without a query covers. Unfiltered, the
    /// triggers' counter answers from one row: counting would walk every index entry of the
    /// user. Filtered, the count stops past the cap.
    async fn count(&self, user: &str, filter: &ListFilter) -> Result<i64, StoreError> {
        if filter.language.is_none() && filter.tag.is_none() {
            let total = sqlx::query_scalar(
                "SELECT COALESCE((SELECT n FROM snippet_counts WHERE user_id = $1), 0)",
            )
            .bind(user)
            .fetch_one(&self.pool)
            .await?;
            return Ok(total);
        }
        sql::count_capped(&self.pool, user, filter).await
    }
}
