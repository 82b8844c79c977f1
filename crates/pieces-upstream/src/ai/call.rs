//! One call to a provider whose answer is read as it arrives.

use std::sync::Arc;
use std::time::Instant;

use crate::{CircuitBreaker, HttpUpstream, UpstreamError};

/// One call, counted once under its final outcome, and told to the breaker. A call dropped
/// before its end (the client went away) is counted as cancelled and leaves the breaker be.
pub(super) struct Call {
    http: HttpUpstream,
    breaker: Arc<CircuitBreaker>,
    started: Instant,
    settled: bool,
}

impl Call {
    pub(super) fn new(http: HttpUpstream, breaker: Arc<CircuitBreaker>) -> Self {
        Self {
            http,
            breaker,
            started: Instant::now(),
            settled: false,
        }
    }

    /// Counts the call under its outcome: `None` when it succeeded.
    pub(super) fn settle(&mut self, failure: Option<&UpstreamError>) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let outcome = match failure {
            None => "ok",
            Some(e) => e.outcome(),
        };
        match failure {
            Some(UpstreamError::Status(_, code)) if *code < 500 => self.breaker.record_success(),
            Some(_) => self.breaker.record_failure(),
            None => self.breaker.record_success(),
        }
        self.http.record(outcome, self.started.elapsed());
    }

    /// Counts the call as failed with `error`, and hands the error on.
    pub(super) fn failed(&mut self, error: UpstreamError) -> UpstreamError {
        self.settle(Some(&error));
        error
    }
}

impl Drop for Call {
    fn drop(&mut self) {
        if !self.settled {
            self.settled = true;
            self.http.record("cancelled", self.started.elapsed());
        }
    }
}
