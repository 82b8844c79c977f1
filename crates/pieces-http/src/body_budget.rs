//! A bound, in bytes, on the request bodies held at once. Every body over 64 KiB takes its
//! length from a shared budget before it is read and gives it back once answered, so many
//! large bodies sent at once (by one client or many, slowly or not) wait for each other
//! instead of adding up past the pod's memory. Small bodies, nearly every request, pass
//! without asking.

use std::sync::Arc;

use axum::http::{header, HeaderMap, Method};
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

    /// The share of the budget a request needs: none for a small body or none at all (nearly
    /// every request, which then waits for nothing). Only the methods whose handlers read a
    /// body count: another's body is never read into memory.
    pub fn share_for(&self, method: &Method, headers: &HeaderMap) -> Option<u32> {
        if !matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            return None;
        }
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        let size = match declared {
            Some(length) => length.min(self.max_body),
            None if headers.contains_key(header::TRANSFER_ENCODING) => self.max_body,
            None => 0,
        };
        (size > SMALL).then(|| u32::try_from(size.min(self.budget)).unwrap_or(u32::MAX))
    }

    /// Takes `share` of the budget, held until dropped.
    pub async fn admit(&self, share: u32) -> Option<OwnedSemaphorePermit> {
        self.bytes.clone().acquire_many_owned(share).await.ok()
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
        let post = Method::POST;
        assert_eq!(budget.share_for(&post, &small), None);
        assert_eq!(budget.share_for(&post, &HeaderMap::new()), None);
        let four_mib = headers(&[(header::CONTENT_LENGTH, "4194304")]);
        assert_eq!(
            budget.share_for(&Method::GET, &four_mib),
            None,
            "a GET's body is not read"
        );
        let large = budget.share_for(&post, &four_mib).expect("a share");
        let mut held = Vec::new();
        for _ in 0..16 {
            held.push(budget.admit(large).await.expect("a share"));
        }
        assert_eq!(budget.available(), 0);
        let waiting =
            tokio::time::timeout(std::time::Duration::from_millis(50), budget.admit(large)).await;
        assert!(waiting.is_err(), "a 17th large body waits");
        held.pop();
        assert!(
            budget.admit(large).await.is_some(),
            "and goes once one is answered"
        );
        let chunked = headers(&[(header::TRANSFER_ENCODING, "chunked")]);
        drop(held);
        let share = budget.share_for(&post, &chunked).expect("a share");
        let held = budget.admit(share).await.expect("held");
        assert_eq!(
            budget.available(),
            BUDGET - (4 << 20),
            "an undeclared length counts as the largest"
        );
        drop(held);
    }
}
