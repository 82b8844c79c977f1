//! The change stream use case: a subscription reads a user's events from the durable log
//! after a position, in order, and waits for the bus to say there is more. It reads ahead by
//! one page at most, and only when its client takes what it has, so a client that stops
//! reading holds a page, never a growing queue; a page is bounded by bytes as well as by
//! events, since one event can carry a mebibyte of code.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use prometheus::{Histogram, IntCounter, IntGauge};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{ServiceError, ServiceResult};
use crate::auth::{PersonalTokens, Principal};
use pieces_model::{Scope, StreamEvent};
use pieces_store::{ChangeFeed, ChangeLog, FeedMessage, ReadBound};

/// What a subscription reads from the log at once: up to 100 events, and no more once they
/// hold 256 KiB (a single larger event is read alone).
const PAGE: ReadBound = ReadBound {
    events: 100,
    bytes: 256 * 1024,
};
/// How often an idle subscription reads the log anyway, in case a wake-up was lost.
const RECHECK: Duration = Duration::from_secs(15);
/// Over how many milliseconds subscriptions woken by a resync spread their reads.
const RESYNC_SPREAD_MS: u64 = 1_000;
/// How often a stream opened with a personal token asks whether the token still stands: a
/// revoked token's streams end within this.
const CREDENTIAL_RECHECK: Duration = Duration::from_secs(5);

/// What a subscription yields.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem {
    Event(StreamEvent),
    /// Events between the client's position and `from` are no longer kept: list again, then
    /// follow (and resume) from `from`.
    Reset {
        from: i64,
    },
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
    wakers: Arc<Wakers>,
    open_per_user: Arc<Mutex<HashMap<String, usize>>>,
    max_per_user: usize,
}

/// One wake-up per subscription, by user. A woken subscription keeps the permit until it
/// next waits, so a change between its read and its wait is never missed.
#[derive(Default)]
struct Wakers {
    by_user: Mutex<HashMap<Arc<str>, Vec<Weak<Notify>>>>,
    /// Counts resyncs, so a woken subscription knows every other one was woken too.
    resyncs: AtomicU64,
}

impl Wakers {
    fn register(&self, user: &str) -> Arc<Notify> {
        let notify = Arc::new(Notify::new());
        if let Ok(mut by_user) = self.by_user.lock() {
            let list = by_user.entry(Arc::from(user)).or_default();
            list.retain(|w| w.strong_count() > 0);
            list.push(Arc::downgrade(&notify));
        }
        notify
    }

    /// Drops a subscription's wake-up, and its user's entry with the last one.
    fn unregister(&self, user: &str, notify: &Arc<Notify>) {
        if let Ok(mut by_user) = self.by_user.lock() {
            if let Some(list) = by_user.get_mut(user) {
                list.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), &**notify));
                if list.is_empty() {
                    by_user.remove(user);
                }
            }
        }
    }

    /// Users with a registered wake-up (for tests of the registry's size).
    #[cfg(test)]
    fn users(&self) -> usize {
        self.by_user.lock().map(|m| m.len()).unwrap_or(0)
    }

    fn wake(&self, user: &str) {
        if let Ok(mut by_user) = self.by_user.lock() {
            if let Some(list) = by_user.get_mut(user) {
                list.retain(|w| match w.upgrade() {
                    Some(notify) => {
                        notify.notify_one();
                        true
                    }
                    None => false,
                });
                if list.is_empty() {
                    by_user.remove(user);
                }
            }
        }
    }

    fn wake_all(&self) {
        self.resyncs.fetch_add(1, Ordering::SeqCst);
        if let Ok(by_user) = self.by_user.lock() {
            for notify in by_user.values().flatten().filter_map(Weak::upgrade) {
                notify.notify_one();
            }
        }
    }
}

impl StreamService {
    pub fn new(
        log: Arc<dyn ChangeLog>,
        personal: Arc<PersonalTokens>,
        max_per_user: usize,
    ) -> Self {
        Self {
            log,
            personal,
            wakers: Arc::default(),
            open_per_user: Arc::default(),
            max_per_user,
        }
    }

    /// Wakes the subscriptions of each user the bus names, until `stop`.
    pub async fn follow(self: Arc<Self>, feed: ChangeFeed, stop: CancellationToken) {
        feed.follow(stop, |message| match message {
            FeedMessage::Changed { user, .. } => self.wakers.wake(&user),
            FeedMessage::Resync => self.wakers.wake_all(),
        })
        .await;
    }

    /// Opens a subscription for `caller` after the event `since` (None: from now on). It
    /// needs `snippets:read`; context events come only with `context:read`.
    pub async fn open(
        &self,
        caller: &Principal,
        since: Option<i64>,
        metrics: StreamMetrics,
    ) -> ServiceResult<Subscription> {
        let slot = self.take_slot(&caller.user)?;
        let position = self.log.stream_position(&caller.user).await?;
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
        metrics.open.inc();
        Ok(Subscription {
            user: caller.user.clone(),
            with_context: caller.allows(Scope::ContextRead),
            after,
            reset,
            page: VecDeque::new(),
            wake: self.wakers.register(&caller.user),
            wakers: self.wakers.clone(),
            resyncs_seen: self.wakers.resyncs.load(Ordering::SeqCst),
            log: self.log.clone(),
            credential: Credential {
                expires_at: caller.expires_at,
                token_id: caller.token_id.clone(),
                personal: self.personal.clone(),
                checked: Instant::now(),
                ended: false,
            },
            metrics,
            _slot: slot,
        })
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

pub struct Subscription {
    user: String,
    with_context: bool,
    /// The last event delivered (or skipped for the caller's scopes).
    after: i64,
    reset: bool,
    page: VecDeque<StreamEvent>,
    wake: Arc<Notify>,
    wakers: Arc<Wakers>,
    /// The resyncs counted when this subscription last read the log.
    resyncs_seen: u64,
    log: Arc<dyn ChangeLog>,
    credential: Credential,
    metrics: StreamMetrics,
    _slot: OpenSlot,
}

/// What the stream was opened with: it ends when that expires or is revoked.
struct Credential {
    expires_at: Option<DateTime<Utc>>,
    token_id: Option<String>,
    personal: Arc<PersonalTokens>,
    checked: Instant,
    ended: bool,
}

impl Credential {
    async fn still_stands(&mut self) -> bool {
        if self.expires_at.is_some_and(|at| at <= Utc::now()) {
            self.ended = true;
        } else if let Some(id) = &self.token_id {
            if self.checked.elapsed() >= CREDENTIAL_RECHECK {
                self.checked = Instant::now();
                self.ended = !self.personal.still_live(id).await;
            }
        }
        !self.ended
    }

    /// How long to wait at most before looking again.
    fn recheck_within(&self) -> Duration {
        let until_expiry = self
            .expires_at
            .map(|at| (at - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(RECHECK);
        let personal = if self.token_id.is_some() {
            CREDENTIAL_RECHECK
        } else {
            RECHECK
        };
        RECHECK.min(until_expiry).min(personal)
    }
}

impl Subscription {
    /// Whether the stream ended because its credential expired or was revoked.
    pub fn credential_ended(&self) -> bool {
        self.credential.ended
    }

    /// The next item, waiting for one; None once `stop` is cancelled or the credential the
    /// stream was opened with no longer stands. A store that cannot be read is retried: the
    /// stream stays open through an outage.
    pub async fn next(&mut self, stop: &CancellationToken) -> Option<StreamItem> {
        if std::mem::take(&mut self.reset) {
            return Some(StreamItem::Reset { from: self.after });
        }
        loop {
            if !self.credential.still_stands().await {
                return None;
            }
            if let Some(event) = self.page.pop_front() {
                self.after = event.id;
                if event.is_context() && !self.with_context {
                    continue;
                }
                self.metrics.events.inc();
                let lag = (Utc::now() - event.at).to_std().unwrap_or_default();
                self.metrics.lag.observe(lag.as_secs_f64());
                return Some(StreamItem::Event(event));
            }
            match self.log.changes_after(&self.user, self.after, PAGE).await {
                // A user's numbers have no holes, so a first event past the next number means
                // the ones between were pruned while this subscription lagged behind.
                Ok(events) if events.first().is_some_and(|e| e.id > self.after + 1) => {
                    if let Some(last) = events.last() {
                        self.after = last.id;
                    }
                    return Some(StreamItem::Reset { from: self.after });
                }
                Ok(events) if !events.is_empty() => {
                    self.page = events.into();
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot read the change log; will retry"),
            }
            tokio::select! {
                () = stop.cancelled() => return None,
                () = self.wake.notified() => {}
                () = tokio::time::sleep(self.credential.recheck_within()) => {}
            }
            // After a resync every subscription was woken at once: spread their reads over a
            // second rather than send them all to the store together.
            let resyncs = self.wakers.resyncs.load(Ordering::SeqCst);
            if std::mem::replace(&mut self.resyncs_seen, resyncs) != resyncs {
                let spread = Duration::from_millis(rand::random_range(0..RESYNC_SPREAD_MS));
                tokio::select! {
                    () = stop.cancelled() => return None,
                    () = tokio::time::sleep(spread) => {}
                }
            }
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.metrics.open.dec();
        self.wakers.unregister(&self.user, &self.wake);
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
        StreamService::new(Arc::new(pool), personal, 4)
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
        assert_eq!(streams.wakers.users(), 1_000);
        drop(open);
        assert_eq!(
            streams.wakers.users(),
            1,
            "only user-0 still has a subscription"
        );
        drop(kept);
        assert_eq!(
            streams.wakers.users(),
            0,
            "no entry outlives its user's subscriptions"
        );
    }
}
