//! The change stream use case: one stream per caller, merging the logs of every workspace
//! they can read (their personal one, which also holds their context and the news of their
//! memberships, and each team workspace's). A subscription reads each log after its position,
//! in order, and waits for the bus to say a log moved. It reads ahead by one page per log at
//! most, and only when its client takes what it has, so a client that stops reading holds a
//! page, never a growing queue; a page is bounded by bytes as well as by events, since one
//! event can carry a mebibyte of code. The event ids it gives out are the position in every
//! log at once (`StreamCursor`), so a resume is exact across workspaces.

mod subscription;
mod wakers;

pub use subscription::Subscription;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use prometheus::{Histogram, IntCounter, IntGauge};
use tokio_util::sync::CancellationToken;

use super::{Access, ServiceError, ServiceResult};
use crate::auth::{PersonalTokens, Principal};
use pieces_model::{Scope, StreamCursor, StreamEvent};
use pieces_store::{ChangeFeed, ChangeLog, FeedMessage};
use subscription::{Credential, Followed};
use wakers::{Wake, Wakers};

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    /// An event, and the stream's position once it is taken (its id for the client).
    Event { event: StreamEvent, id: String },
    /// Events between the client's position and `from` are no longer kept: list again, then
    /// follow (and resume) from `from`.
    Reset { from: String },
}

/// The stream's metrics for one transport.
#[derive(Clone)]
pub struct StreamMetrics {
    pub open: IntGauge,
    pub events: IntCounter,
    pub lag: Histogram,
}

pub struct StreamService {
    log: Arc<dyn ChangeLog>,
    /// To ask whether the personal token a stream was opened with still stands.
    personal: Arc<PersonalTokens>,
    /// Which team workspaces a caller can read, now and at each event.
    access: Arc<Access>,
    wakers: Arc<Wakers>,
    open_per_user: Arc<Mutex<HashMap<String, usize>>>,
    max_per_user: usize,
}

impl StreamService {
    pub fn new(
        log: Arc<dyn ChangeLog>,
        personal: Arc<PersonalTokens>,
        access: Arc<Access>,
        max_per_user: usize,
    ) -> Self {
        Self {
            log,
            personal,
            access,
            wakers: Arc::default(),
            open_per_user: Arc::default(),
            max_per_user,
        }
    }

    /// Wakes the subscriptions following each log the bus names, until `stop`.
    pub async fn follow(self: Arc<Self>, feed: ChangeFeed, stop: CancellationToken) {
        feed.follow(stop, |message| match message {
            FeedMessage::Changed { user, .. } => self.wakers.wake(&user),
            FeedMessage::Resync => self.wakers.wake_all(),
        })
        .await;
    }

    /// Opens a subscription for `caller` after `since` (None: from now on) over every
    /// workspace they can read. It needs `snippets:read`; context events come only with
    /// `context:read`. A log the cursor does not name starts from now; one it names that the
    /// caller can no longer read is left out.
    pub async fn open(
        &self,
        caller: &Principal,
        since: Option<StreamCursor>,
        metrics: StreamMetrics,
    ) -> ServiceResult<Subscription> {
        let slot = self.take_slot(&caller.user)?;
        let mut logs = BTreeMap::new();
        let mut reset = false;
        let personal = since.as_ref().map(|c| c.personal);
        let (followed, moved) = self.start(&caller.user, personal).await?;
        reset |= moved;
        logs.insert(caller.user.clone(), followed);
        for (workspace, _) in self.access.readable(caller).await? {
            let named = since
                .as_ref()
                .and_then(|c| c.teams.get(&workspace.key).copied());
            let (mut followed, moved) = self.start(&workspace.key, named).await?;
            reset |= moved;
            // Not in the client's cursor: a membership event replayed from the personal log
            // may still say where it should start.
            followed.provisional = since.is_some() && named.is_none();
            logs.insert(workspace.key, followed);
        }
        metrics.open.inc();
        let wake = Arc::new(Wake::default());
        for key in logs.keys() {
            self.wakers.register(key, &wake);
        }
        Ok(Subscription {
            user: caller.user.clone(),
            caller: caller.clone(),
            with_context: caller.allows(Scope::ContextRead),
            logs,
            reset,
            wake,
            wakers: self.wakers.clone(),
            resyncs_seen: self
                .wakers
                .resyncs
                .load(std::sync::atomic::Ordering::SeqCst),
            log: self.log.clone(),
            access: self.access.clone(),
            credential: Credential::new(caller, self.personal.clone()),
            metrics,
            _slot: slot,
        })
    }

    /// Where to start following `log`: after `since` when that is still kept, else from now
    /// (and true: the client must list again).
    async fn start(&self, log: &str, since: Option<i64>) -> ServiceResult<(Followed, bool)> {
        let position = self.log.stream_position(log).await?;
        let (after, reset) = match since {
            None => (position.last, false),
            // Only what is still kept can be replayed; before that, or past the end (a
            // position from another store), the client must list again.
            Some(since) => {
                let kept_from = position.oldest.unwrap_or(position.last.saturating_add(1));
                if since.saturating_add(1) < kept_from || since > position.last {
                    (position.last, true)
                } else {
                    (since, false)
                }
            }
        };
        Ok((Followed::after(after), reset))
    }

    fn take_slot(&self, user: &str) -> ServiceResult<OpenSlot> {
        let mut open = self
            .open_per_user
            .lock()
            .map_err(|_| ServiceError::NotConfigured("the stream registry is unavailable"))?;
        let count = open.entry(user.to_owned()).or_default();
        if *count >= self.max_per_user {
            return Err(ServiceError::TooManyStreams(self.max_per_user));
        }
        *count += 1;
        Ok(OpenSlot {
            user: user.to_owned(),
            registry: self.open_per_user.clone(),
        })
    }
}

/// Counts an open stream against its user's limit while it lives.
struct OpenSlot {
    user: String,
    registry: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.registry.lock() {
            if let Some(count) = open.get_mut(&self.user) {
                *count = count.saturating_sub(1);
                if *count == 0 {
                    open.remove(&self.user);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pieces_model::Scopes;
    use prometheus::{HistogramOpts, Opts};

    async fn service() -> StreamService {
        let pool = sqlx::SqlitePool::connect("sqlite::memory:")
            .await
            .expect("an in-memory database");
        sqlx::migrate!("../../migrations/sqlite")
            .run(&pool)
            .await
            .expect("migrated");
        let personal = Arc::new(PersonalTokens::new(Arc::new(pool.clone())));
        let workspaces: Arc<dyn pieces_store::WorkspaceStore> =
            Arc::new(pieces_store::SqliteWorkspaces {
                readers: pool.clone(),
                writer: pool.clone(),
            });
        let access = Arc::new(Access::new(workspaces));
        StreamService::new(Arc::new(pool), personal, access, 4)
    }

    fn metrics() -> StreamMetrics {
        StreamMetrics {
            open: IntGauge::with_opts(Opts::new("open", "open")).expect("gauge"),
            events: IntCounter::with_opts(Opts::new("events", "events")).expect("counter"),
            lag: Histogram::with_opts(HistogramOpts::new("lag", "lag")).expect("histogram"),
        }
    }

    fn caller(user: &str) -> Principal {
        Principal {
            user: user.to_owned(),
            scopes: Scopes::all(),
            token_id: None,
            expires_at: None,
            via: pieces_model::audit::Via::Jwt,
            workspaces: None,
            groups: Arc::from(Vec::new()),
        }
    }

    #[tokio::test]
    async fn a_users_wake_up_entry_goes_with_their_last_subscription() {
        let streams = service().await;
        let mut open = Vec::new();
        for n in 0..1_000 {
            let user = format!("user-{n}");
            let subscription = streams.open(&caller(&user), None, metrics()).await;
            open.push(subscription.expect("opened"));
        }
        let kept = streams.open(&caller("user-0"), None, metrics()).await;
        assert_eq!(streams.wakers.logs(), 1_000);
        drop(open);
        assert_eq!(
            streams.wakers.logs(),
            1,
            "only user-0 still has a subscription"
        );
        drop(kept);
        assert_eq!(
            streams.wakers.logs(),
            0,
            "no entry outlives its user's subscriptions"
        );
    }
}
