//! Pages of a user's snippets on PostgreSQL: listings, filtered listings and text searches.

mod search;
mod sql;

use sqlx::{PgPool, QueryBuilder};

use self::search::Searches;
use crate::metrics::Metrics;
use crate::model::{ListFilter, Snippet};
use crate::store::StoreError;

pub struct Pages {
    pool: PgPool,
    searches: Searches,
}

impl Pages {
    pub fn new(pool: PgPool, metrics: &Metrics) -> Self {
        Self {
            searches: Searches::new(pool.clone(), metrics),
            pool,
        }
    }

    /// A page of the user's snippets matching `filter`, newest first, and their total (for a
    /// search, up to the cap and one more).
    pub async fn list(
        &self,
        user: &str,
        filter: &ListFilter,
    ) -> Result<(Vec<Snippet>, i64), StoreError> {
        if let Some(query) = &filter.query {
            return self.searches.page(user, query, filter).await;
        }
        if sql::prepare_once(filter) {
            let (page, total) = sql::newest_with_total(&self.pool, user, filter).await?;
            if let Some(total) = total {
                return Ok((page, total));
            }
        }
        let total = self.count(user, filter).await?;
        if total <= filter.offset {
            return Ok((Vec::new(), total));
        }
        let page = sql::walk(&self.pool, user, filter, filter.limit, filter.offset).await?;
        Ok((page, total))
    }

    /// How many of the user's snippets a listing covers. Unfiltered, the triggers' counter
    /// answers from one row: counting would walk every index entry of the user.
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
        let mut count = QueryBuilder::new("SELECT COUNT(*) FROM snippets WHERE user_id = ");
        count.push_bind(user);
        sql::push_filters(&mut count, filter);
        let count = count
            .build_query_scalar()
            .persistent(sql::prepare_once(filter));
        Ok(count.fetch_one(&self.pool).await?)
    }
}
