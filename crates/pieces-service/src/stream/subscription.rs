//! One caller's stream: the logs it follows, merged oldest first.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::wakers::{Wake, Wakers};
use super::{OpenSlot, StreamItem, StreamMetrics};
use crate::auth::{PersonalTokens, Principal};
use crate::Access;
use pieces_model::{ChangeKind, StreamCursor, StreamEvent};
use pieces_store::{ChangeLog, ReadBound};

/// What a subscription reads from all its logs at once: up to 100 events, and no more once
/// they hold 256 KiB (a single larger event is read alone). Shared among its logs.
const PAGE: ReadBound = ReadBound {
    events: 100,
    bytes: 256 * 1024,
};
/// The least one log's page may be given when many share `PAGE`.
const LEAST_PAGE: ReadBound = ReadBound {
    events: 10,
    bytes: 16 * 1024,
};
/// How often an idle subscription reads its logs anyway, in case a wake-up was lost.
const RECHECK: Duration = Duration::from_secs(15);
/// Over how many milliseconds subscriptions woken by a resync spread their reads.
const RESYNC_SPREAD_MS: u64 = 1_000;
/// How often a stream opened with a personal token asks whether the token still stands: a
/// revoked token's streams end within this.
const CREDENTIAL_RECHECK: Duration = Duration::from_secs(5);
/// How long to wait before asking again when a role could not be read.
const ROLE_RETRY: Duration = Duration::from_secs(1);

/// One log a subscription follows.
pub(super) struct Followed {
    /// The last event taken from it (delivered, or skipped for the caller's scopes).
    after: i64,
    page: VecDeque<StreamEvent>,
    /// The log may hold events past the page: read it once the page is empty.
    due: bool,
    /// Started from now because the client's cursor did not name it: a membership event
    /// replayed from the personal log may still move its start back to where access began.
    pub provisional: bool,
    delivered: bool,
}

impl Followed {
    pub fn after(after: i64) -> Self {
        Self {
            after,
            page: VecDeque::new(),
            due: true,
            provisional: false,
            delivered: false,
        }
    }
}

/// What a membership event says, as far as a stream cares.
#[derive(Deserialize)]
struct Membership {
    workspace: String,
    user_id: Option<String>,
    #[serde(default)]
    since: i64,
}

pub struct Subscription {
    pub(super) user: String,
    pub(super) caller: Principal,
    pub(super) with_context: bool,
    /// Every log followed, by key: the caller's personal one (their user id) and each team
    /// workspace's.
    pub(super) logs: BTreeMap<String, Followed>,
    pub(super) reset: bool,
    pub(super) wake: Arc<Wake>,
    pub(super) wakers: Arc<Wakers>,
    /// The resyncs counted when this subscription last read its logs.
    pub(super) resyncs_seen: u64,
    pub(super) log: Arc<dyn ChangeLog>,
    pub(super) access: Arc<Access>,
    pub(super) credential: Credential,
    pub(super) metrics: StreamMetrics,
    pub(super) _slot: OpenSlot,
}

/// What the stream was opened with: it ends when that expires or is revoked.
pub(super) struct Credential {
    expires_at: Option<DateTime<Utc>>,
    token_id: Option<String>,
    personal: Arc<PersonalTokens>,
    checked: Instant,
    ended: bool,
}

impl Credential {
    pub fn new(caller: &Principal, personal: Arc<PersonalTokens>) -> Self {
        Self {
            expires_at: caller.expires_at,
            token_id: caller.token_id.clone(),
            personal,
            checked: Instant::now(),
            ended: false,
        }
    }

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

/// One log's share of `PAGE` when `logs` share it.
fn page_per_log(logs: usize) -> ReadBound {
    let logs = i64::try_from(logs.max(1)).unwrap_or(i64::MAX);
    ReadBound {
        events: (PAGE.events / logs).max(LEAST_PAGE.events),
        bytes: (PAGE.bytes / logs).max(LEAST_PAGE.bytes),
    }
}

impl Subscription {
    /// Whether the stream ended because its credential expired or was revoked.
    pub fn credential_ended(&self) -> bool {
        self.credential.ended
    }

    /// Where the stream stands in every log: the id of what it last gave out.
    fn cursor(&self) -> StreamCursor {
        let mut cursor = StreamCursor::default();
        for (key, followed) in &self.logs {
            if *key == self.user {
                cursor.personal = followed.after;
            } else {
                cursor.teams.insert(key.clone(), followed.after);
            }
        }
        cursor
    }

    /// The next item, waiting for one; None once `stop` is cancelled or the credential the
    /// stream was opened with no longer stands. A store that cannot be read is retried: the
    /// stream stays open through an outage.
    pub async fn next(&mut self, stop: &CancellationToken) -> Option<StreamItem> {
        if std::mem::take(&mut self.reset) {
            return Some(StreamItem::Reset {
                from: self.cursor().to_id(),
            });
        }
        loop {
            if !self.credential.still_stands().await {
                return None;
            }
            for moved in self.wake.take_moved() {
                if let Some(followed) = self.logs.get_mut(&*moved) {
                    followed.due = true;
                }
            }
            if self.read_due_logs().await {
                return Some(StreamItem::Reset {
                    from: self.cursor().to_id(),
                });
            }
            if let Some(key) = self.oldest_in_hand() {
                if key != self.user {
                    match self.access.role(&self.caller, &key).await {
                        Ok(Some(_)) => {}
                        // No longer a member: nothing more of this workspace reaches them.
                        Ok(None) => {
                            self.unfollow(&key);
                            continue;
                        }
                        Err(e) => {
                            tracing::warn!(error = %e, "cannot read a stream's roles; will retry");
                            if self.pause(stop, ROLE_RETRY).await {
                                return None;
                            }
                            continue;
                        }
                    }
                }
                let Some(followed) = self.logs.get_mut(&key) else {
                    continue;
                };
                let Some(event) = followed.page.pop_front() else {
                    continue;
                };
                followed.after = event.id;
                if followed.page.is_empty() {
                    // The page may have stopped at its bound: there may be more.
                    followed.due = true;
                }
                if key == self.user {
                    self.follow_membership(&event);
                }
                if event.is_context() && !self.with_context {
                    continue;
                }
                if let Some(followed) = self.logs.get_mut(&key) {
                    followed.delivered = true;
                }
                self.metrics.events.inc();
                let lag = (Utc::now() - event.at).to_std().unwrap_or_default();
                self.metrics.lag.observe(lag.as_secs_f64());
                return Some(StreamItem::Event {
                    event,
                    id: self.cursor().to_id(),
                });
            }
            let timed_out = tokio::select! {
                () = stop.cancelled() => return None,
                () = self.wake.notify.notified() => false,
                () = tokio::time::sleep(self.credential.recheck_within()) => true,
            };
            // After a resync every subscription was woken at once: spread their reads over a
            // second rather than send them all to the store together.
            let resyncs = self.wakers.resyncs.load(Ordering::SeqCst);
            let resynced = std::mem::replace(&mut self.resyncs_seen, resyncs) != resyncs;
            if timed_out || resynced {
                for followed in self.logs.values_mut() {
                    followed.due = true;
                }
            }
            if resynced {
                let spread = Duration::from_millis(rand::random_range(0..RESYNC_SPREAD_MS));
                if self.pause(stop, spread).await {
                    return None;
                }
            }
        }
    }

    /// Reads a page of every log that is due and has none in hand, so the oldest event is
    /// chosen among all of them. True when a log lost events to pruning while this
    /// subscription lagged behind (the client must list again).
    async fn read_due_logs(&mut self) -> bool {
        let bound = page_per_log(self.logs.len());
        let mut pruned = false;
        for (key, followed) in self
            .logs
            .iter_mut()
            .filter(|(_, f)| f.due && f.page.is_empty())
        {
            match self.log.changes_after(key, followed.after, bound).await {
                // A log's numbers have no holes, so a first event past the next number means
                // the ones between were pruned.
                Ok(events) if events.first().is_some_and(|e| e.id > followed.after + 1) => {
                    if let Some(last) = events.last() {
                        followed.after = last.id;
                    }
                    pruned = true;
                }
                Ok(events) if !events.is_empty() => followed.page = events.into(),
                Ok(_) => followed.due = false,
                Err(e) => tracing::warn!(error = %e, "cannot read the change log; will retry"),
            }
        }
        pruned
    }

    /// The log whose next event in hand is the oldest.
    fn oldest_in_hand(&self) -> Option<String> {
        self.logs
            .iter()
            .filter_map(|(key, f)| f.page.front().map(|e| (e.at, key)))
            .min()
            .map(|(_, key)| key.clone())
    }

    /// Follows what an event of the personal log says about the caller's memberships: a
    /// workspace they joined is followed from right after their joining, one they left or
    /// that was deleted is no longer.
    fn follow_membership(&mut self, event: &StreamEvent) {
        let kind = event.kind.as_str();
        let joined = kind == ChangeKind::MemberAdded.as_str();
        let left = kind == ChangeKind::MemberRemoved.as_str()
            || kind == ChangeKind::WorkspaceDeleted.as_str();
        if !joined && !left {
            return;
        }
        let Ok(news) = serde_json::from_str::<Membership>(&event.data) else {
            return;
        };
        if news.user_id.as_deref().is_some_and(|u| u != self.user) || news.workspace == self.user {
            return;
        }
        if left {
            self.unfollow(&news.workspace);
            return;
        }
        // Another replica may still keep the roles from before the joining.
        self.access.forget(&news.workspace);
        // Right after the joining's own entry in the workspace's log.
        let start = news.since + 1;
        match self.logs.get_mut(&news.workspace) {
            Some(followed) if followed.provisional && !followed.delivered => {
                *followed = Followed::after(start);
            }
            Some(_) => {}
            None => {
                self.wakers.register(&news.workspace, &self.wake);
                self.logs
                    .insert(news.workspace.clone(), Followed::after(start));
            }
        }
    }

    fn unfollow(&mut self, key: &str) {
        if self.logs.remove(key).is_some() {
            self.wakers.unregister(key, &self.wake);
        }
    }

    /// Waits `pause`; true when `stop` came first.
    async fn pause(&self, stop: &CancellationToken, pause: Duration) -> bool {
        tokio::select! {
            () = stop.cancelled() => true,
            () = tokio::time::sleep(pause) => false,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.metrics.open.dec();
        for key in self.logs.keys() {
            self.wakers.unregister(key, &self.wake);
        }
    }
}
