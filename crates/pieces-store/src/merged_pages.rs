//! Pages of `?workspace=all` without a filter, kept and answered again while none of their
//! workspaces changed, on either store.
//!
//! Merging the newest rows of twenty workspaces walks twenty index ranges: several times what
//! one workspace's page costs. Yet such a page changes only with a change in one of its
//! workspaces, and each change takes the next number of its workspace's change log
//! (`change_positions`) in the change's own transaction, whichever replica made it. So a kept
//! page is answered again when one statement, a primary-key look-up per workspace, finds every
//! position where it was when the page was read; any change makes the page read afresh. The
//! positions are read before the page, so a change committed between the two is at worst read
//! twice, never missed.

use std::sync::Arc;
use std::time::Duration;

use moka::sync::Cache;
use prometheus::IntCounter;

use pieces_metrics::Metrics;
use pieces_model::{ListFilter, Listed};

/// Pages that go deeper than this are read afresh each time.
const DEEPEST_KEPT: i64 = 200;
/// Bytes that kept pages may take together, as `weight` estimates them.
const BYTES_KEPT: u64 = 4 << 20;
/// A page larger than this is not kept: one would push out many.
const LARGEST_KEPT: usize = 256 << 10;
/// A page is read afresh at least this often, so a row written to the database by other
/// means than the service (which moves no position) is seen within it.
const KEPT_FOR: Duration = Duration::from_secs(300);

/// The workspaces' stored keys, in the order they were asked for, and the page's bounds.
type PageKey = (Vec<String>, i64, i64);

struct KeptPage {
    /// Each workspace's change-log position when the page was read (0 before its first).
    positions: Vec<i64>,
    rows: Vec<Listed>,
    bytes: usize,
}

pub struct MergedPages {
    kept: Cache<PageKey, Arc<KeptPage>>,
    answered_kept: IntCounter,
    answered_read: IntCounter,
}

impl MergedPages {
    pub fn new(metrics: &Metrics) -> Self {
        Self {
            kept: Cache::builder()
                .max_capacity(BYTES_KEPT)
                .weigher(weight)
                .time_to_live(KEPT_FOR)
                .build(),
            answered_kept: metrics.merged_pages.with_label_values(&["kept"]),
            answered_read: metrics.merged_pages.with_label_values(&["read"]),
        }
    }

    /// Whether a page over several workspaces with this filter is one that is kept.
    pub fn keeps(filter: &ListFilter) -> bool {
        !filter.is_filtered() && filter.offset + filter.limit <= DEEPEST_KEPT
    }

    /// The rows of the page kept for `keys` and `filter`, if every workspace is still at the
    /// position it was at when the page was read.
    pub fn kept(
        &self,
        keys: &[String],
        filter: &ListFilter,
        positions: &[i64],
    ) -> Option<Vec<Listed>> {
        let key = (keys.to_vec(), filter.offset, filter.limit);
        let kept = self.kept.get(&key).filter(|k| k.positions == positions)?;
        self.answered_kept.inc();
        Some(kept.rows.clone())
    }

    /// Keeps `rows`, the page read for `keys` and `filter` after the workspaces' positions
    /// were read as `positions`.
    pub fn keep(&self, keys: &[String], filter: &ListFilter, positions: Vec<i64>, rows: &[Listed]) {
        self.answered_read.inc();
        let bytes: usize = rows.iter().map(listed_bytes).sum();
        if bytes > LARGEST_KEPT {
            return;
        }
        let page = KeptPage {
            positions,
            rows: rows.to_vec(),
            bytes,
        };
        let key = (keys.to_vec(), filter.offset, filter.limit);
        self.kept.insert(key, Arc::new(page));
    }
}

fn weight(key: &PageKey, page: &Arc<KeptPage>) -> u32 {
    let keys: usize = key.0.iter().map(|k| k.len() + 24).sum();
    let positions = page.positions.len() * 8;
    u32::try_from(keys + positions + page.bytes + 64).unwrap_or(u32::MAX)
}

/// Bytes a listed row holds, about.
fn listed_bytes(row: &Listed) -> usize {
    let s = row.snippet();
    let tags: usize = s.tags.iter().map(|t| t.len() + 24).sum();
    let metadata = serde_json::to_string(&s.metadata).map_or(0, |m| m.len());
    s.id.len()
        + s.workspace.len()
        + s.title.len()
        + s.code.len()
        + s.language.len()
        + s.description.as_ref().map_or(0, String::len)
        + tags
        + metadata
        + 256
}
