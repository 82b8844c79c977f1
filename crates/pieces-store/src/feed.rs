//! The change bus's PostgreSQL side: each change's transaction sends a NOTIFY (see
//! `changes`), and every replica's listener turns them into messages of its own bus
//! (`pieces_model::bus`).

use std::time::Duration;

use chrono::{DateTime, Utc};
use pieces_model::bus::ChangeFeed;
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// The PostgreSQL channel the changes are announced on.
pub const CHANNEL: &str = "pieces_changes";

/// A change as announced by NOTIFY: short keys, the payload is capped at 8,000 bytes.
#[derive(Serialize, Deserialize)]
pub struct Announcement {
    pub u: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
    /// Commit time, in microseconds since the epoch.
    pub t: i64,
}

/// Turns the NOTIFYs of every replica's changes into messages, until `stop`. A lost
/// connection is reconnected, and announced as a resync, since notifications sent
/// meanwhile are gone.
pub async fn listen(feed: ChangeFeed, pool: PgPool, stop: CancellationToken) {
    loop {
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(listener) => listener,
            Err(e) => {
                tracing::warn!(error = %e, "change listener cannot connect; retrying");
                if pause(&stop).await {
                    return;
                }
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "cannot LISTEN for changes; retrying");
            if pause(&stop).await {
                return;
            }
            continue;
        }
        // Whatever happened while not listening is unknown.
        feed.resync();
        loop {
            let received = tokio::select! {
                () = stop.cancelled() => return,
                received = listener.try_recv() => received,
            };
            match received {
                Ok(Some(notification)) => announce(&feed, notification.payload()),
                Ok(None) => {
                    tracing::warn!("change listener lost its connection; reconnecting");
                    feed.resync();
                }
                Err(e) => {
                    tracing::warn!(error = %e, "change listener failed; reconnecting");
                    break;
                }
            }
        }
    }
}

fn announce(feed: &ChangeFeed, payload: &str) {
    match serde_json::from_str::<Announcement>(payload) {
        Ok(a) => {
            let at = DateTime::from_timestamp_micros(a.t).unwrap_or_else(Utc::now);
            feed.committed(&a.u, a.s.as_deref(), at);
        }
        Err(_) => feed.resync(),
    }
}

/// Waits a moment before another try; true when `stop` came first.
async fn pause(stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(Duration::from_secs(1)) => false,
    }
}
