//! A small map for what a warm read looks up on every request and what changes rarely (a
//! workspace's roles, a team snippet's workspace): one read lock and one hash look-up. A
//! general-purpose cache's bookkeeping on each read (recording the access for its eviction
//! policy) cost a warm read a sixth of its rate here. Bounded by bytes: past its budget it
//! starts over empty, which only costs the reads that fill it again. An entry lives at most
//! `ttl`. Keys are hashed with foldhash, seeded per process: SipHash's look-ups were a fifth
//! of what a team member's warm read adds to one's own.

use std::collections::HashMap;
use std::sync::RwLock;
use std::time::{Duration, Instant};

use foldhash::fast::RandomState;

/// When an entry was kept, and the clock's reading at the look-up that found it.
#[derive(Clone, Copy)]
pub struct Ages {
    pub kept_at: Instant,
    pub now: Instant,
}

struct Entry<V> {
    value: V,
    at: Instant,
    bytes: usize,
}

struct Map<V> {
    entries: HashMap<String, Entry<V>, RandomState>,
    bytes: usize,
}

pub struct Kept<V> {
    map: RwLock<Map<V>>,
    budget: usize,
    ttl: Duration,
}

impl<V: Clone> Kept<V> {
    pub fn new(budget: usize, ttl: Duration) -> Self {
        Self {
            map: RwLock::new(Map {
                entries: HashMap::default(),
                bytes: 0,
            }),
            budget,
            ttl,
        }
    }

    pub fn get(&self, key: &str) -> Option<V> {
        self.read(key, V::clone)
    }

    /// What `f` makes of the value kept under `key`, read in place: no clone, so a value
    /// behind an `Arc` that every request reads does not have its count moved (one cache
    /// line bounced between the cores on each read).
    pub fn read<R>(&self, key: &str, f: impl FnOnce(&V) -> R) -> Option<R> {
        self.read_timed(key, |value, _| f(value))
    }

    /// As `read`, with the instant the entry was kept and the clock's reading that found it
    /// live, for a value that holds something with an age of its own: one clock reading
    /// serves both.
    pub fn read_timed<R>(&self, key: &str, f: impl FnOnce(&V, Ages) -> R) -> Option<R> {
        let map = self.map.read().ok()?;
        let entry = map.entries.get(key)?;
        let now = Instant::now();
        (now.saturating_duration_since(entry.at) < self.ttl).then(|| {
            f(
                &entry.value,
                Ages {
                    kept_at: entry.at,
                    now,
                },
            )
        })
    }

    /// Keeps `value` under `key`, counted as `bytes` (its key's included).
    pub fn insert(&self, key: String, value: V, bytes: usize) {
        let Ok(mut map) = self.map.write() else {
            return;
        };
        if map.bytes + bytes > self.budget {
            map.entries.clear();
            map.bytes = 0;
        }
        map.bytes += bytes;
        let entry = Entry {
            value,
            at: Instant::now(),
            bytes,
        };
        if let Some(old) = map.entries.insert(key, entry) {
            map.bytes -= old.bytes;
        }
    }

    pub fn remove(&self, key: &str) {
        if let Ok(mut map) = self.map.write() {
            if let Some(old) = map.entries.remove(key) {
                map.bytes -= old.bytes;
            }
        }
    }

    pub fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            map.entries.clear();
            map.bytes = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_keeps_within_its_bytes_and_forgets_what_outlives_its_time() {
        let kept = Kept::new(100, Duration::from_secs(60));
        kept.insert("a".into(), 1, 60);
        kept.insert("a".into(), 2, 60);
        assert_eq!(kept.get("a"), Some(2), "a replaced entry counts once");
        assert_eq!(kept.read("a", |v| v * 10), Some(20), "read in place");
        assert_eq!(kept.read("z", |v| v * 10), None);
        kept.insert("b".into(), 3, 60);
        assert_eq!(
            (kept.get("a"), kept.get("b")),
            (None, Some(3)),
            "over budget: anew"
        );
        kept.remove("b");
        assert_eq!(kept.get("b"), None);
        let brief = Kept::new(100, Duration::ZERO);
        brief.insert("a".into(), 1, 1);
        assert_eq!(brief.get("a"), None);
    }
}
