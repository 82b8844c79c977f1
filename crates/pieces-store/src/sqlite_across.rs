//! Pages over several workspaces at once (`?workspace=all`) on SQLite.
//!
//! Each workspace's part is the query a page of that workspace alone runs, cut at the page's
//! end and reading only `seq` (which its index holds); SQLite merges the parts newest first
//! (a compound SELECT with ORDER BY merges its parts rather than sorting them all), and only
//! the page's rows are then read whole. So a page walks at most `offset + limit` index
//! entries per workspace, whatever the workspaces hold: the parts reading whole rows cost
//! five times as much.

use sqlx::sqlite::SqliteRow;
use sqlx::QueryBuilder;

use super::row::{into_listed, SnippetRow, LISTED_COLUMNS};
use super::sqlite::SqliteStore;
use super::StoreError;
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::{ListFilter, Listed};

impl SqliteStore {
    /// The page `filter` asks for over the workspaces `keys`, with `columns` (qualified by
    /// `snippets.`), and the sum of the workspaces' totals (a filtered one stops past the
    /// cap, as for one workspace).
    pub(super) async fn page_across<T>(
        &self,
        columns: &str,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<T>, i64), StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let mut searches = Vec::with_capacity(keys.len());
        for key in keys {
            let Some(fts) = Self::text_query(filter, key) else {
                return Ok((Vec::new(), 0));
            };
            searches.push(fts);
        }
        let total = if filter.is_filtered() {
            let mut total = 0;
            for (key, fts) in keys.iter().zip(&searches) {
                total += self.count(key, filter, fts.as_deref()).await?;
                if total > SEARCH_TOTAL_CAP {
                    break;
                }
            }
            total.min(SEARCH_TOTAL_CAP + 1)
        } else {
            // The counters' rows, in one statement: a statement per workspace cost more than
            // the page itself.
            sqlx::query_scalar(
                "SELECT COALESCE(SUM(n), 0) FROM snippet_counts \
                 WHERE user_id IN (SELECT value FROM json_each(?))",
            )
            .bind(serde_json::to_string(keys).unwrap_or_default())
            .fetch_one(self.readers())
            .await?
        };
        if total <= filter.offset && total <= SEARCH_TOTAL_CAP {
            return Ok((Vec::new(), total));
        }
        let rows = self.rows_across(columns, keys, filter, &searches).await?;
        Ok((rows, total))
    }

    /// An unfiltered page over the workspaces `keys` (see `MergedPages`), and their total.
    pub(super) async fn merged_page(
        &self,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<Listed>, i64), StoreError> {
        let asked: Vec<(i64, i64)> = sqlx::query_as(
            "SELECT COALESCE((SELECT last_seq FROM change_positions WHERE user_id = asked.value), 0), \
                    (SELECT COALESCE(SUM(n), 0) FROM snippet_counts \
                     WHERE user_id IN (SELECT value FROM json_each(?1))) \
             FROM json_each(?1) AS asked ORDER BY asked.key",
        )
        .bind(serde_json::to_string(keys).unwrap_or_default())
        .fetch_all(self.readers())
        .await?;
        let total = asked.first().map_or(0, |(_, total)| *total);
        if total <= filter.offset {
            return Ok((Vec::new(), total));
        }
        let positions: Vec<i64> = asked.into_iter().map(|(position, _)| position).collect();
        if let Some(rows) = self.merged.kept(keys, filter, &positions) {
            return Ok((rows, total));
        }
        let searches = vec![None; keys.len()];
        let rows: Vec<SnippetRow> = self
            .rows_across(&LISTED_COLUMNS, keys, filter, &searches)
            .await?;
        let rows = into_listed(rows)?;
        self.merged.keep(keys, filter, positions, &rows);
        Ok((rows, total))
    }

    /// The rows of the page over the workspaces `keys`, each with its text search (if any).
    async fn rows_across<T>(
        &self,
        columns: &str,
        keys: &[String],
        filter: &ListFilter,
        searches: &[Option<String>],
    ) -> Result<Vec<T>, StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let depth = filter.offset + filter.limit;
        let mut q = QueryBuilder::new(format!(
            "SELECT {columns} FROM snippets WHERE snippets.seq IN (SELECT merge_seq FROM ("
        ));
        for (i, (key, fts)) in keys.iter().zip(searches).enumerate() {
            if i > 0 {
                q.push(" UNION ALL ");
            }
            q.push("SELECT * FROM (SELECT snippets.seq AS merge_seq");
            Self::push_from(&mut q, key, filter, fts.as_deref());
            q.push(format!(
                " ORDER BY {} DESC LIMIT ",
                Self::newest_first(filter, fts.as_deref())
            ))
            .push_bind(depth)
            .push(")");
        }
        q.push(" ORDER BY merge_seq DESC LIMIT ")
            .push_bind(filter.limit)
            .push(" OFFSET ")
            .push_bind(filter.offset)
            .push(")) ORDER BY snippets.seq DESC");
        Ok(q.build_query_as().fetch_all(self.readers()).await?)
    }
}
