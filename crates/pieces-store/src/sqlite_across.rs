//! Pages over several workspaces at once (`?workspace=all`) on SQLite.
//!
//! Each workspace's part is the query a page of that workspace alone runs, cut at the page's
//! end; SQLite merges the parts newest first (a compound SELECT with ORDER BY merges its
//! parts rather than sorting them all). So a page reads at most `offset + limit` rows per
//! workspace, through the same indexes as a page of one, whatever the workspaces hold.

use sqlx::sqlite::SqliteRow;
use sqlx::QueryBuilder;

use super::sqlite::SqliteStore;
use super::{text_search, StoreError};
use pieces_model::bounds::SEARCH_TOTAL_CAP;
use pieces_model::ListFilter;

impl SqliteStore {
    /// The page `filter` asks for over the workspaces `keys`, with `columns` (qualified by
    /// `snippets.`) read in each part and `outer` of the merged rows, and the sum of the
    /// workspaces' totals (a filtered one stops past the cap, as for one workspace).
    pub(super) async fn page_across<T>(
        &self,
        columns: &str,
        outer: &str,
        keys: &[String],
        filter: &ListFilter,
    ) -> Result<(Vec<T>, i64), StoreError>
    where
        T: for<'r> sqlx::FromRow<'r, SqliteRow> + Send + Unpin,
    {
        let mut searches = Vec::with_capacity(keys.len());
        for key in keys {
            searches.push(match &filter.query {
                Some(query) => match text_search::all_words(query, key) {
                    Some(fts) => Some(fts),
                    None => return Ok((Vec::new(), 0)),
                },
                None => None,
            });
        }
        let mut total = 0;
        for (key, fts) in keys.iter().zip(&searches) {
            total += self.count(key, filter, fts.as_deref()).await?;
        }
        if filter.is_filtered() {
            total = total.min(SEARCH_TOTAL_CAP + 1);
        }
        if total <= filter.offset && total <= SEARCH_TOTAL_CAP {
            return Ok((Vec::new(), total));
        }
        let depth = filter.offset + filter.limit;
        let mut q = QueryBuilder::new(format!("SELECT {outer} FROM ("));
        for (i, (key, fts)) in keys.iter().zip(&searches).enumerate() {
            if i > 0 {
                q.push(" UNION ALL ");
            }
            q.push(format!(
                "SELECT * FROM (SELECT snippets.seq AS merge_seq, {columns}"
            ));
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
            .push(")");
        let rows: Vec<T> = q.build_query_as().fetch_all(self.readers()).await?;
        Ok((rows, total))
    }
}
