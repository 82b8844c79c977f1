//! Counts and times every request by route template, never by raw path.

use std::time::Instant;

use axum::http::{Method, StatusCode};

use crate::error::ErrorKind;
use pieces_metrics::Metrics;

/// What is known of a request before it is served.
pub struct Started {
    at: Instant,
    method: &'static str,
}

impl Started {
    pub fn now(method: &Method) -> Self {
        Self {
            at: Instant::now(),
            method: method_label(method),
        }
    }

    /// Records the answer under `endpoint`, the route template.
    pub fn finish(
        self,
        metrics: &Metrics,
        endpoint: &str,
        status: StatusCode,
        error: Option<&ErrorKind>,
    ) {
        metrics
            .requests
            .with_label_values(&[self.method, endpoint, status.as_str()])
            .inc();
        metrics
            .request_duration
            .with_label_values(&[self.method, endpoint])
            .observe(self.at.elapsed().as_secs_f64());
        if let Some(ErrorKind(kind)) = error {
            metrics.errors.with_label_values(&[kind]).inc();
        }
    }
}

/// Methods outside the usual set share one label, so a client cannot mint new series.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PATCH => "PATCH",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
