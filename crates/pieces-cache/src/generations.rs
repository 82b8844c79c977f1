//! Invalidation counters for an in-process cache: a fill records the counter of its key
//! before it reads the source, and stores nothing if the key was invalidated since. Keys that
//! hash alike share a counter: an invalidation of one only makes its neighbours' fills retry
//! later, for a small fixed memory. Every warm read hashes its key here, so with foldhash
//! (seeded per process) rather than SipHash, which cost several times as much per key.

use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering};

use foldhash::fast::RandomState;

pub struct Generations {
    slots: Box<[AtomicU64]>,
    hasher: RandomState,
}

impl Generations {
    pub fn new(slots: usize) -> Self {
        Self {
            slots: (0..slots.max(1)).map(|_| AtomicU64::new(0)).collect(),
            hasher: RandomState::default(),
        }
    }

    fn slot(&self, key: &str) -> &AtomicU64 {
        &self.slots[self.hasher.hash_one(key) as usize % self.slots.len()]
    }

    /// The key's counter now.
    pub fn read(&self, key: &str) -> u64 {
        self.slot(key).load(Ordering::SeqCst)
    }

    /// Marks the key invalidated; call before dropping its entry.
    pub fn bump(&self, key: &str) {
        self.slot(key).fetch_add(1, Ordering::SeqCst);
    }

    /// Marks every key invalidated.
    pub fn bump_all(&self) {
        for slot in self.slots.iter() {
            slot.fetch_add(1, Ordering::SeqCst);
        }
    }
}
