//! The change bus: tells this process's subscribers and caches that a user's data changed.
//! It only wakes them: what changed is read from the durable change log, so a lost message
//! delays, never loses. On PostgreSQL each change's transaction also sends a NOTIFY, which
//! every replica's listener turns into the same messages.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The PostgreSQL channel the changes are announced on.
pub const CHANNEL: &str = "pieces_changes";

/// Messages kept for a slow listener before it is told it lagged.
const CAPACITY: usize = 4096;

#[derive(Debug, Clone)]
pub enum FeedMessage {
    /// A user's data changed; `subject` is the snippet, if the change was about one.
    Changed {
        user: Arc<str>,
        subject: Option<Arc<str>>,
        at: DateTime<Utc>,
    },
    /// Messages may have been lost (the bus was down, or a listener lagged): every cache
    /// drops what it holds and every subscriber reads the log again.
    Resync,
}

/// A change as announced by NOTIFY: short keys, the payload is capped at 8,000 bytes.
#[derive(Serialize, Deserialize)]
pub struct Announcement {
    pub u: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
    /// Commit time, in microseconds since the epoch.
    pub t: i64,
}

#[derive(Clone)]
pub struct ChangeFeed {
    sender: broadcast::Sender<FeedMessage>,
}

impl Default for ChangeFeed {
    fn default() -> Self {
        Self {
            sender: broadcast::channel(CAPACITY).0,
        }
    }
}

impl ChangeFeed {
    /// Announces a committed change to this process.
    pub fn committed(&self, user: &str, subject: Option<&str>, at: DateTime<Utc>) {
        let _ = self.sender.send(FeedMessage::Changed {
            user: Arc::from(user),
            subject: subject.map(Arc::from),
            at,
        });
    }

    pub fn resync(&self) {
        let _ = self.sender.send(FeedMessage::Resync);
    }

    pub fn subscribe(&self) -> broadcast::Receiver<FeedMessage> {
        self.sender.subscribe()
    }

    /// Hands every message to `handle` until `stop`. A listener that fell behind gets a
    /// `Resync`, since messages were dropped for it.
    pub async fn follow(&self, stop: CancellationToken, mut handle: impl FnMut(FeedMessage)) {
        let mut messages = self.subscribe();
        loop {
            let message = tokio::select! {
                () = stop.cancelled() => return,
                message = messages.recv() => message,
            };
            match message {
                Ok(message) => handle(message),
                Err(broadcast::error::RecvError::Lagged(_)) => handle(FeedMessage::Resync),
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    /// Turns the NOTIFYs of every replica's changes into messages, until `stop`. A lost
    /// connection is reconnected, and announced as a resync, since notifications sent
    /// meanwhile are gone.
    pub async fn listen(self, pool: PgPool, stop: CancellationToken) {
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
            self.resync();
            loop {
                let received = tokio::select! {
                    () = stop.cancelled() => return,
                    received = listener.try_recv() => received,
                };
                match received {
                    Ok(Some(notification)) => self.announce(notification.payload()),
                    Ok(None) => {
                        tracing::warn!("change listener lost its connection; reconnecting");
                        self.resync();
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "change listener failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    fn announce(&self, payload: &str) {
        match serde_json::from_str::<Announcement>(payload) {
            Ok(a) => {
                let at = DateTime::from_timestamp_micros(a.t).unwrap_or_else(Utc::now);
                self.committed(&a.u, a.s.as_deref(), at);
            }
            Err(_) => self.resync(),
        }
    }
}

/// Waits a moment before another try; true when `stop` came first.
async fn pause(stop: &CancellationToken) -> bool {
    tokio::select! {
        () = stop.cancelled() => true,
        () = tokio::time::sleep(Duration::from_secs(1)) => false,
    }
}
