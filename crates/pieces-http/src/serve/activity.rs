//! What a connection is waiting for, since when, and so how long it may still wait.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use super::ConnectionLimits;

/// Low bit of `Activity::waiting`: the wait is for the rest of a request head.
const HEAD: u64 = 1;

/// `Activity::write_blocked` when no write is waiting for the client.
const NOT_BLOCKED: u64 = u64::MAX;

pub(super) struct Activity {
    opened: Instant,
    /// Since when (milliseconds after `opened`) a write has waited for the client to take
    /// bytes; `NOT_BLOCKED` while writes go through.
    write_blocked: AtomicU64,
    /// Requests whose head has arrived and whose response body is not yet done with.
    in_flight: AtomicUsize,
    /// When nothing is in flight: since when the connection has waited, in milliseconds after
    /// `opened` shifted left one bit, tagged `HEAD` while a request head is under way.
    waiting: AtomicU64,
}

impl Activity {
    /// A new connection owes its first request head from now.
    pub(super) fn new() -> Arc<Self> {
        Arc::new(Self {
            opened: Instant::now(),
            write_blocked: AtomicU64::new(NOT_BLOCKED),
            in_flight: AtomicUsize::new(0),
            waiting: AtomicU64::new(HEAD),
        })
    }

    /// Bytes came in: on an idle HTTP/1 connection they start the next request head.
    pub(super) fn bytes_arrived(&self) {
        let idle = self.waiting.load(Ordering::Relaxed) & HEAD == 0;
        if idle && self.in_flight.load(Ordering::Acquire) == 0 {
            self.wait_from_now(HEAD);
        }
    }

    /// A write could not go through: the client's socket is full.
    pub(super) fn write_blocked(&self) {
        let millis = self.opened.elapsed().as_millis() as u64;
        let _ = self.write_blocked.compare_exchange(
            NOT_BLOCKED,
            millis,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }

    /// A write went through.
    pub(super) fn write_went_through(&self) {
        self.write_blocked.store(NOT_BLOCKED, Ordering::Relaxed);
    }

    /// Resolves once a write has waited `limit` for the client to take bytes: a client that
    /// stopped reading would otherwise hold what was written for it (and its request) for
    /// as long as it keeps the connection open.
    pub(super) async fn write_stalled(&self, limit: Duration) {
        loop {
            let blocked = self.write_blocked.load(Ordering::Relaxed);
            let wait = if blocked == NOT_BLOCKED {
                limit
            } else {
                let since = self.opened + Duration::from_millis(blocked);
                match (since + limit).checked_duration_since(Instant::now()) {
                    None => return,
                    Some(left) => left,
                }
            };
            // A write that blocks after this look is seen at the next, at most `limit` later.
            tokio::time::sleep(wait.max(Duration::from_millis(10))).await;
        }
    }

    /// A request head has been read; the request counts as in flight until the returned mark
    /// is dropped.
    pub(super) fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        InFlight(self.clone())
    }

    /// Resolves once the connection has waited too long for a request head, or idled too long.
    pub(super) async fn overdue(&self, limits: &ConnectionLimits) {
        loop {
            let now = Instant::now();
            // A head starting on an idle connection moves the deadline earlier without waking
            // this loop, so it looks again at least once per header timeout: such a head is cut
            // one to two timeouts after it starts. The first head's deadline and the idle one
            // are kept exactly.
            let look_again = now + limits.header_read_timeout;
            match self.deadline(limits) {
                Some(at) if at <= now => return,
                Some(at) => tokio::time::sleep_until(at.min(look_again).into()).await,
                None => tokio::time::sleep_until(look_again.into()).await,
            }
        }
    }

    /// None while a request is in flight: the request timeout bounds those.
    fn deadline(&self, limits: &ConnectionLimits) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let waiting = self.waiting.load(Ordering::Relaxed);
        let since = self.opened + Duration::from_millis(waiting >> 1);
        let allowed = if waiting & HEAD == HEAD {
            limits.header_read_timeout
        } else {
            limits.idle_timeout
        };
        Some(since + allowed)
    }

    fn wait_from_now(&self, tag: u64) {
        let millis = self.opened.elapsed().as_millis() as u64;
        self.waiting.store(millis << 1 | tag, Ordering::Relaxed);
    }
}

/// Marks its request finished when dropped, which is when the response body is done with or
/// the request is abandoned.
pub(super) struct InFlight(Arc<Activity>);

impl Drop for InFlight {
    fn drop(&mut self) {
        // The idle wait is stamped before the count drops, so a deadline computed in between
        // never uses the stamp of an older wait.
        self.0.wait_from_now(0);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

pin_project! {
    /// A response body that keeps its request in flight until hyper is done with it.
    pub(super) struct TrackedBody<B> {
        #[pin]
        inner: B,
        in_flight: InFlight,
    }
}

impl<B> TrackedBody<B> {
    pub(super) fn new(inner: B, in_flight: InFlight) -> Self {
        Self { inner, in_flight }
    }
}

impl<B: Body> Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        self.project().inner.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
