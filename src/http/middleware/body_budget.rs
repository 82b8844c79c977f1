//! A bound, in bytes, on the request bodies held at once. Every body over 64 KiB takes its
//! length from a shared budget before it is read and gives it back once answered, so many
//! large bodies sent at once (by one client or many, slowly or not) wait for each other
//! instead of adding up past the pod's memory. Small bodies, nearly every request, pass
//! without asking.

use std::sync::Arc;

use axum::http::{header, HeaderMap};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A body this small is not counted.
const SMALL: usize = 64 * 1024;
/// Bytes of large bodies held at once, at least.
const BUDGET: usize = 64 * 1024 * 1024;

pub struct BodyBudget {
    bytes: Arc<Semaphore>,
    /// The largest body a request may send (`MAX_BODY_BYTES`): what one without a declared
    /// length may bring.
    max_body: usize,
    budget: usize,
}

impl BodyBudget {
    pub fn new(max_body: usize) -> Self {
        let budget = BUDGET.max(max_body);
        Self {
            bytes: Arc::new(Semaphore::new(budget)),
            max_body,
            budget,
        }
    }

    /// The share of the budget a request with `headers` needs, held until dropped; none for
    /// a small body or none at all.
    pub async fn admit(&self, headers: &HeaderMap) -> Option<OwnedSemaphorePermit> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let size = match declared {
            Some(length) => length.min(self.max_body),
            None if headers.contains_key(header::TRANSFER_ENCODING) => self.max_body,
            None => 0,
        };
        if size <= SMALL {
            return None;
        }
        let size = u32::try_from(size.min(self.budget)).unwrap_or(u32::MAX);
        self.bytes.clone().acquire_many_owned(size).await.ok()
    }

    /// Bytes not taken (for tests).
    #[cfg(test)]
    fn available(&self) -> usize {
        self.bytes.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(header::HeaderName, &str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (k.clone(), v.parse().expect("a value")))
            .collect()
    }

    #[tokio::test]
    async fn large_bodies_share_the_budget_and_small_ones_pass() {
        let budget = BodyBudget::new(4 << 20);
        let small = headers(&[(header::CONTENT_LENGTH, "1000")]);
        assert!(budget.admit(&small).await.is_none());
        let large = headers(&[(header::CONTENT_LENGTH, "4194304")]);
        let mut held = Vec::new();
        for _ in 0..16 {
            held.push(budget.admit(&large).await.expect("a share"));
        }
        assert_eq!(budget.available(), 0);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), budget.admit(&large)).await;
        assert!(waiting.is_err(), "a 17th large body waits");
        held.pop();
        assert!(
            budget.admit(&large).await.is_some(),
            "and goes once one is answered"
        );
        let chunked = headers(&[(header::TRANSFER_ENCODING, "chunked")]);
        drop(held);
        let share = budget.admit(&chunked).await.expect("a share");
        assert_eq!(
            budget.available(),
            BUDGET - (4 << 20),
            "an undeclared length counts as the largest"
        );
        drop(share);
    }
}
