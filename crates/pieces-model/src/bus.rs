//! The change bus: tells this process's subscribers and caches that a user's data changed.
//! It only wakes them: what changed is read from the durable change log, so a lost message
//! delays, never loses. On PostgreSQL each change's transaction also sends a NOTIFY, which
//! every replica's listener (in the store) turns into the same messages.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

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
}
