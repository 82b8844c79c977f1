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

use super::sqlite::SqliteStore;
use super::StoreError;
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::ListFilter;

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
        let depth = filter.offset + filter.limit;
        let mut q = QueryBuilder::new(format!(
            "SELECT {columns} FROM snippets WHERE snippets.seq IN (SELECT merge_seq FROM ("
        ));
        for (i, (key, fts)) in keys.iter().zip(&searches).enumerate() {
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
        let rows: Vec<T> = q.build_query_as().fetch_all(self.readers()).await?;
        Ok((rows, total))
    }
}
