//! How the use cases tell the outbox worker that events were recorded: a wake-up, and the
//! backlog gauge raised by as many, so the gauge follows the queue without counting it.

use prometheus::IntGauge;
use tokio::sync::Notify;

pub struct OutboxSignal {
    wake: Notify,
    pending: IntGauge,
}

impl OutboxSignal {
    /// `pending` is the backlog gauge of events still to deliver.
    pub fn new(pending: IntGauge) -> Self {
        Self {
            wake: Notify::new(),
            pending,
        }
    }

    /// `count` events were committed: wake the worker.
    pub fn recorded(&self, count: usize) {
        if count > 0 {
            self.pending.add(i64::try_from(count).unwrap_or(i64::MAX));
            self.wake.notify_one();
        }
    }

    /// One event left the queue (delivered, or given up on). Another replica may have
    /// recorded it, so the gauge stops at zero until the next count sets it right.
    pub fn settled(&self) {
        if self.pending.get() > 0 {
            self.pending.dec();
        }
    }

    /// The queue was counted: `pending` events are waiting.
    pub fn counted(&self, pending: i64) {
        self.pending.set(pending);
    }

    /// Resolves when events are recorded.
    pub async fn woken(&self) {
        self.wake.notified().await;
    }
}
