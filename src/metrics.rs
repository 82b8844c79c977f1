//! The service's own Prometheus registry and every metric handle, created once.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
    TextEncoder,
};

pub struct Metrics {
    registry: Registry,
    /// Requests by method, route template and status.
    pub requests: IntCounterVec,
    /// Request latency by method and route template.
    pub request_duration: HistogramVec,
    /// Open client connections on the API listener.
    pub active_connections: IntGauge,
    /// Error answers by stable error code.
    pub errors: IntCounterVec,
    /// Cache look-ups by result (hit, miss, error).
    pub cache_requests: IntCounterVec,
    /// Calls to other services by service and outcome.
    pub upstream_requests: IntCounterVec,
    pub upstream_duration: HistogramVec,
    /// Outbox events waiting for delivery, and those given up on, by state.
    pub sync_backlog: IntGaugeVec,
    /// Outbox delivery attempts by target and outcome.
    pub sync_deliveries: IntCounterVec,
}

impl Metrics {
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new();
        let latency_buckets = vec![
            0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
        ];
        let metrics = Self {
            requests: IntCounterVec::new(
                Opts::new("pieces_requests_total", "HTTP requests served"),
                &["method", "endpoint", "status"],
            )?,
            request_duration: HistogramVec::new(
                HistogramOpts::new("pieces_request_duration_seconds", "HTTP request latency")
                    .buckets(latency_buckets.clone()),
                &["method", "endpoint"],
            )?,
            active_connections: IntGauge::new(
                "pieces_active_connections",
                "Open client connections on the API listener",
            )?,
            errors: IntCounterVec::new(
                Opts::new("pieces_errors_total", "Error answers by error code"),
                &["error_type"],
            )?,
            cache_requests: IntCounterVec::new(
                Opts::new("pieces_cache_requests_total", "Cache look-ups"),
                &["result"],
            )?,
            upstream_requests: IntCounterVec::new(
                Opts::new("pieces_upstream_requests_total", "Calls to other services"),
                &["service", "outcome"],
            )?,
            upstream_duration: HistogramVec::new(
                HistogramOpts::new(
                    "pieces_upstream_request_duration_seconds",
                    "Latency of calls to other services",
                )
                .buckets(latency_buckets),
                &["service", "outcome"],
            )?,
            sync_backlog: IntGaugeVec::new(
                Opts::new(
                    "pieces_sync_backlog",
                    "Outbox events by state: pending (to deliver) or dead (given up, kept)",
                ),
                &["state"],
            )?,
            sync_deliveries: IntCounterVec::new(
                Opts::new("pieces_sync_deliveries_total", "Outbox delivery attempts"),
                &["target", "outcome"],
            )?,
            registry,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.requests.clone()))?;
        r.register(Box::new(metrics.request_duration.clone()))?;
        r.register(Box::new(metrics.active_connections.clone()))?;
        r.register(Box::new(metrics.errors.clone()))?;
        r.register(Box::new(metrics.cache_requests.clone()))?;
        r.register(Box::new(metrics.upstream_requests.clone()))?;
        r.register(Box::new(metrics.upstream_duration.clone()))?;
        r.register(Box::new(metrics.sync_backlog.clone()))?;
        r.register(Box::new(metrics.sync_deliveries.clone()))?;
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        Ok(metrics)
    }

    /// The text exposition of every metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        let families = self.registry.gather();
        if let Err(e) = TextEncoder::new().encode(&families, &mut out) {
            tracing::error!(error = %e, "cannot encode metrics");
        }
        String::from_utf8(out).unwrap_or_default()
    }

    pub fn cache(&self, result: &str) {
        self.cache_requests.with_label_values(&[result]).inc();
    }
}
