//! How the use cases tell the outbox worker that events were recorded: a wake-up, and the
//! backlog gauge raised by as many, so the gauge follows the queue without counting it.

use std::sync::atomic::{AtomicI64, Ordering};

use prometheus::IntGauge;
use tokio::sync::Notify;

pub struct OutboxSignal {
    wake: Notify,
    /// The count the gauge shows, kept here so that the floor at zero holds under
    /// concurrent deliveries (a gauge cannot compare and set).
    count: AtomicI64,
    pending: IntGauge,
}

impl OutboxSignal {
    /// `pending` is the backlog gauge of events still to deliver.
    pub fn new(pending: IntGauge) -> Self {
        Self {
            wake: Notify::new(),
            count: AtomicI64::new(pending.get()),
            pending,
        }
    }

    /// `count` events were committed: wake the worker.
    pub fn recorded(&self, count: usize) {
        if count > 0 {
            let added = i64::try_from(count).unwrap_or(i64::MAX);
            let now = self
                .count
                .fetch_add(added, Ordering::SeqCst)
                .saturating_add(added);
            self.pending.set(now);
            self.wake.notify_one();
        }
    }

    /// One event left the queue (delivered, or given up on). Another replica may have
    /// recorded it, so the gauge stops at zero until the next count sets it right.
    pub fn settled(&self) {
        let floor_at_zero = |n: i64| Some((n - 1).max(0));
        let before = self
            .count
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, floor_at_zero)
            .unwrap_or(0);
        self.pending.set((before - 1).max(0));
    }

    /// The queue was counted: `pending` events are waiting.
    pub fn counted(&self, pending: i64) {
        self.count.store(pending, Ordering::SeqCst);
        self.pending.set(pending);
    }

    /// Wakes the worker without counting anything new (events already recorded became due).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// Resolves when events are recorded.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}
