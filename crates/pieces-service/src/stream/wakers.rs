//! One wake-up per subscription, registered under each log it follows. The bus names the
//! log that changed (a workspace's key); the subscriptions following it are told which, so
//! each reads only the logs that moved.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use tokio::sync::Notify;

/// A subscription's wake-up: the logs that moved since it last looked, and the signal. A
/// woken subscription keeps the permit until it next waits, so a change between its read and
/// its wait is never missed.
#[derive(Default)]
pub struct Wake {
    pub notify: Notify,
    moved: Mutex<HashSet<Arc<str>>>,
}

impl Wake {
    /// The logs that moved since the last call.
    pub fn take_moved(&self) -> HashSet<Arc<str>> {
        self.moved
            .lock()
            .map(|mut moved| std::mem::take(&mut *moved))
            .unwrap_or_default()
    }
}

#[derive(Default)]
pub struct Wakers {
    by_log: Mutex<HashMap<Arc<str>, Vec<Weak<Wake>>>>,
    /// Counts resyncs, so a woken subscription knows every other one was woken too.
    pub resyncs: AtomicU64,
}

impl Wakers {
    pub fn register(&self, log: &str, wake: &Arc<Wake>) {
        if let Ok(mut by_log) = self.by_log.lock() {
            let list = by_log.entry(Arc::from(log)).or_default();
            list.retain(|w| w.strong_count() > 0);
            list.push(Arc::downgrade(wake));
        }
    }

    /// Drops a subscription's wake-up from one log, and the log's entry with the last one.
    pub fn unregister(&self, log: &str, wake: &Arc<Wake>) {
        if let Ok(mut by_log) = self.by_log.lock() {
            if let Some(list) = by_log.get_mut(log) {
                list.retain(|w| w.strong_count() > 0 && !std::ptr::eq(w.as_ptr(), &**wake));
                if list.is_empty() {
                    by_log.remove(log);
                }
            }
        }
    }

    /// Logs with a registered wake-up (for tests of the registry's size).
    #[cfg(test)]
    pub fn logs(&self) -> usize {
        self.by_log.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn wake(&self, log: &Arc<str>) {
        if let Ok(mut by_log) = self.by_log.lock() {
            if let Some(list) = by_log.get_mut(log) {
                list.retain(|w| match w.upgrade() {
                    Some(wake) => {
                        if let Ok(mut moved) = wake.moved.lock() {
                            moved.insert(log.clone());
                        }
                        wake.notify.notify_one();
                        true
                    }
                    None => false,
                });
                if list.is_empty() {
                    by_log.remove(log);
                }
            }
        }
    }

    pub fn wake_all(&self) {
        self.resyncs.fetch_add(1, Ordering::SeqCst);
        if let Ok(by_log) = self.by_log.lock() {
            for (log, list) in by_log.iter() {
                for wake in list.iter().filter_map(Weak::upgrade) {
                    if let Ok(mut moved) = wake.moved.lock() {
                        moved.insert(log.clone());
                    }
                    wake.notify.notify_one();
                }
            }
        }
    }
}
