//! The service's own Prometheus registry and every metric handle, created once, with every
//! series the service knows of exported from the start.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every label value the service produces, declared once. Each series is exported at 0 from
/// start-up: one that appears only at its first event is invisible to `rate()` and alerts
/// until then.
pub mod labels {
    /// `pieces_cache_requests_total{result}`
    pub const CACHE_RESULTS: &[&str] = &["hit", "miss", "error"];
    /// `service` of `pieces_upstream_requests_total`: the clients in `upstream`.
    pub const UPSTREAM_SERVICES: &[&str] = &["cognitive", "openai", "data_platform", "gateway"];
    /// `outcome` of `pieces_upstream_requests_total`: "ok", `UpstreamError::outcome()`, or
    /// "cancelled" (a streamed answer whose client went away).
    pub const UPSTREAM_OUTCOMES: &[&str] = &[
        "ok",
        "not_configured",
        "circuit_open",
        "timeout",
        "unreachable",
        "http_5xx",
        "http_4xx",
        "malformed",
        "interrupted",
        "cancelled",
    ];
    /// `result` of `pieces_answer_cache_requests_total`.
    pub const ANSWER_CACHE_RESULTS: &[&str] = &["hit", "miss", "error"];
    /// `pieces_sync_backlog{state}`
    pub const SYNC_STATES: &[&str] = &["pending", "dead", "unknown"];
    /// `target` of `pieces_sync_deliveries_total`: the outbox's targets.
    pub const SYNC_TARGETS: &[&str] = &[
        "data_platform",
        "gateway",
        "enrichment",
        "embedding",
        "cache_invalidation",
    ];
    /// `outcome` of `pieces_sync_deliveries_total`
    pub const SYNC_OUTCOMES: &[&str] = &["delivered", "failed", "dead"];
    /// `tool` of `pieces_mcp_tool_calls_total`: the MCP tools.
    pub const MCP_TOOLS: &[&str] = &[
        "search_snippets",
        "get_snippet",
        "save_snippet",
        "update_snippet",
        "delete_snippet",
        "get_workflow_context",
        "set_workflow_context",
        "ask",
    ];
    /// `outcome` of `pieces_mcp_tool_calls_total`: answered, failed (an `isError` result),
    /// or refused for a missing scope.
    pub const MCP_OUTCOMES: &[&str] = &["ok", "error", "forbidden"];
    /// `transport` of the change stream's metrics.
    pub const STREAM_TRANSPORTS: &[&str] = &["sse", "ws"];
    /// `result` of `pieces_near_cache_requests_total`.
    pub const NEAR_CACHE_RESULTS: &[&str] = &["hit", "miss"];
    /// `result` of `pieces_search_pages_total`: a kept page brought up to date, or a page
    /// found afresh.
    pub const SEARCH_PAGE_RESULTS: &[&str] = &["kept", "found"];
    /// `result` of `pieces_merged_pages_total`: a kept page still current, or a page read.
    pub const MERGED_PAGE_RESULTS: &[&str] = &["kept", "read"];
    /// `outcome` of `pieces_backups_total`.
    pub const BACKUP_OUTCOMES: &[&str] = &["ok", "failed"];
    /// `result` of `pieces_import_entries_total`.
    pub const IMPORT_RESULTS: &[&str] = &["created", "skipped", "failed"];
}

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
    /// Look-ups of the AI answer cache, by result.
    pub answer_cache_requests: IntCounterVec,
    /// Calls to other services by service and outcome.
    pub upstream_requests: IntCounterVec,
    pub upstream_duration: HistogramVec,
    /// Outbox events waiting for delivery, and those given up on, by state.
    pub sync_backlog: IntGaugeVec,
    /// Outbox delivery attempts by target and outcome.
    pub sync_deliveries: IntCounterVec,
    /// MCP tool calls by tool and outcome.
    pub mcp_tool_calls: IntCounterVec,
    /// Open change streams by transport.
    pub streams_open: IntGaugeVec,
    /// Change-stream events written to clients, by transport.
    pub stream_events: IntCounterVec,
    /// From a change's commit to its write to a client.
    pub stream_delivery_lag: HistogramVec,
    /// Look-ups of the in-process cache in front of Redis.
    pub near_cache_requests: IntCounterVec,
    /// From a change's commit to the drop of its copy from this replica's near cache.
    pub near_cache_invalidation_lag: Histogram,
    /// PostgreSQL text-search pages, by how each was found.
    pub search_pages: IntCounterVec,
    /// Bytes the vector indexes of this replica hold together, as `VECTOR_INDEX_MAX_BYTES`
    /// counts them.
    pub vector_index_bytes: IntGauge,
    /// Vector indexes dropped, by why: `size` (to stay within the bound; rebuilt on the
    /// next search) or `idle`.
    pub vector_index_evictions: IntCounterVec,
    /// Entries of deleted snippets removed from the vector indexes as the change bus told.
    pub vector_index_removals: IntCounter,
    /// PostgreSQL pages of `?workspace=all`: answered from a kept page, or read.
    pub merged_pages: IntCounterVec,
    /// When the embedded store's last scheduled backup was taken (Unix seconds; 0: none).
    pub last_backup: IntGauge,
    /// Scheduled backups of the embedded store, by outcome.
    pub backups: IntCounterVec,
    /// Entries of import files, by what became of them (a dry run counts none).
    pub import_entries: IntCounterVec,
    /// Credentials replaced in what was about to be sent to an AI provider, by kind (a rule
    /// of the secret detector: a bounded set).
    pub ai_redactions: IntCounterVec,
    /// Snippets not yet embedded by the configured model.
    pub embeddings_backlog: IntGauge,
    /// Snippets embedded (or found unchanged, or failed), by outcome.
    pub embeddings: IntCounterVec,
    /// Always 1; its label names the embedding model in use.
    pub embedding_model: IntGaugeVec,
    /// Always 1; its label tells which build runs.
    build_info: IntGaugeVec,
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
            answer_cache_requests: IntCounterVec::new(
                Opts::new(
                    "pieces_answer_cache_requests_total",
                    "Look-ups of the AI answer cache",
                ),
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
                .buckets(latency_buckets.clone()),
                &["service", "outcome"],
            )?,
            sync_backlog: IntGaugeVec::new(
                Opts::new(
                    "pieces_sync_backlog",
                    "Outbox events by state: pending (to deliver), dead (given up or unreadable, \
                     kept), unknown (for a target this release does not know, kept)",
                ),
                &["state"],
            )?,
            sync_deliveries: IntCounterVec::new(
                Opts::new("pieces_sync_deliveries_total", "Outbox delivery attempts"),
                &["target", "outcome"],
            )?,
            streams_open: IntGaugeVec::new(
                Opts::new("pieces_streams_open", "Open change streams"),
                &["transport"],
            )?,
            stream_events: IntCounterVec::new(
                Opts::new(
                    "pieces_stream_events_total",
                    "Change-stream events delivered",
                ),
                &["transport"],
            )?,
            stream_delivery_lag: HistogramVec::new(
                HistogramOpts::new(
                    "pieces_stream_delivery_lag_seconds",
                    "From a change's commit to its write to a subscriber",
                )
                .buckets(latency_buckets.clone()),
                &["transport"],
            )?,
            near_cache_requests: IntCounterVec::new(
                Opts::new(
                    "pieces_near_cache_requests_total",
                    "Look-ups of the in-process cache in front of Redis",
                ),
                &["result"],
            )?,
            near_cache_invalidation_lag: Histogram::with_opts(
                HistogramOpts::new(
                    "pieces_near_cache_invalidation_lag_seconds",
                    "From a change's commit to the drop of this replica's near-cache copy",
                )
                .buckets(latency_buckets),
            )?,
            search_pages: IntCounterVec::new(
                Opts::new(
                    "pieces_search_pages_total",
                    "PostgreSQL text-search pages: a kept page brought up to date, or found afresh",
                ),
                &["result"],
            )?,
            merged_pages: IntCounterVec::new(
                Opts::new(
                    "pieces_merged_pages_total",
                    "PostgreSQL pages over several workspaces: a kept page still current, or read",
                ),
                &["result"],
            )?,
            last_backup: IntGauge::new(
                "pieces_last_backup_timestamp_seconds",
                "When the embedded store's last scheduled backup was taken (0: none yet)",
            )?,
            backups: IntCounterVec::new(
                Opts::new(
                    "pieces_backups_total",
                    "Scheduled backups of the embedded store, by outcome",
                ),
                &["outcome"],
            )?,
            import_entries: IntCounterVec::new(
                Opts::new(
                    "pieces_import_entries_total",
                    "Entries of import files saved, skipped (already imported) or refused",
                ),
                &["result"],
            )?,
            ai_redactions: IntCounterVec::new(
                Opts::new(
                    "pieces_ai_redactions_total",
                    "Credentials replaced before a prompt went to an AI provider, by kind",
                ),
                &["kind"],
            )?,
            vector_index_bytes: IntGauge::new(
                "pieces_vector_index_bytes",
                "Bytes the vector indexes of this replica hold, as VECTOR_INDEX_MAX_BYTES counts",
            )?,
            vector_index_evictions: IntCounterVec::new(
                Opts::new(
                    "pieces_vector_index_evictions_total",
                    "Vector indexes dropped, to stay within VECTOR_INDEX_MAX_BYTES or idle",
                ),
                &["reason"],
            )?,
            vector_index_removals: IntCounter::new(
                "pieces_vector_index_removals_total",
                "Entries of deleted snippets removed from the vector indexes at once",
            )?,
            embeddings_backlog: IntGauge::new(
                "pieces_embeddings_backlog",
                "Snippets not yet embedded by the configured model",
            )?,
            embeddings: IntCounterVec::new(
                Opts::new("pieces_embeddings_total", "Snippets embedded, by outcome"),
                &["outcome"],
            )?,
            embedding_model: IntGaugeVec::new(
                Opts::new(
                    "pieces_embedding_model_info",
                    "The embedding model in use, by its id",
                ),
                &["model"],
            )?,
            mcp_tool_calls: IntCounterVec::new(
                Opts::new("pieces_mcp_tool_calls_total", "MCP tool calls"),
                &["tool", "outcome"],
            )?,
            build_info: IntGaugeVec::new(
                Opts::new("pieces_build_info", "The running build, by version"),
                &["version"],
            )?,
            registry,
        };
        let r = &metrics.registry;
        r.register(Box::new(metrics.requests.clone()))?;
        r.register(Box::new(metrics.request_duration.clone()))?;
        r.register(Box::new(metrics.active_connections.clone()))?;
        r.register(Box::new(metrics.errors.clone()))?;
        r.register(Box::new(metrics.cache_requests.clone()))?;
        r.register(Box::new(metrics.answer_cache_requests.clone()))?;
        r.register(Box::new(metrics.upstream_requests.clone()))?;
        r.register(Box::new(metrics.upstream_duration.clone()))?;
        r.register(Box::new(metrics.sync_backlog.clone()))?;
        r.register(Box::new(metrics.sync_deliveries.clone()))?;
        r.register(Box::new(metrics.mcp_tool_calls.clone()))?;
        r.register(Box::new(metrics.streams_open.clone()))?;
        r.register(Box::new(metrics.stream_events.clone()))?;
        r.register(Box::new(metrics.stream_delivery_lag.clone()))?;
        r.register(Box::new(metrics.near_cache_requests.clone()))?;
        r.register(Box::new(metrics.near_cache_invalidation_lag.clone()))?;
        r.register(Box::new(metrics.search_pages.clone()))?;
        r.register(Box::new(metrics.merged_pages.clone()))?;
        r.register(Box::new(metrics.last_backup.clone()))?;
        r.register(Box::new(metrics.backups.clone()))?;
        r.register(Box::new(metrics.import_entries.clone()))?;
        r.register(Box::new(metrics.ai_redactions.clone()))?;
        r.register(Box::new(metrics.vector_index_bytes.clone()))?;
        r.register(Box::new(metrics.vector_index_evictions.clone()))?;
        r.register(Box::new(metrics.vector_index_removals.clone()))?;
        r.register(Box::new(metrics.embeddings_backlog.clone()))?;
        r.register(Box::new(metrics.embeddings.clone()))?;
        r.register(Box::new(metrics.embedding_model.clone()))?;
        r.register(Box::new(metrics.build_info.clone()))?;
        #[cfg(target_os = "linux")]
        r.register(Box::new(
            prometheus::process_collector::ProcessCollector::for_self(),
        ))?;
        metrics.preset();
        Ok(metrics)
    }

    /// Creates every known series at 0, and sets the build's.
    fn preset(&self) {
        use labels::*;
        for result in CACHE_RESULTS {
            self.cache_requests.with_label_values(&[result]);
        }
        for result in ANSWER_CACHE_RESULTS {
            self.answer_cache_requests.with_label_values(&[result]);
        }
        for service in UPSTREAM_SERVICES {
            for outcome in UPSTREAM_OUTCOMES {
                self.upstream_requests
                    .with_label_values(&[service, outcome]);
            }
        }
        for state in SYNC_STATES {
            self.sync_backlog.with_label_values(&[state]);
        }
        for target in SYNC_TARGETS {
            for outcome in SYNC_OUTCOMES {
                self.sync_deliveries.with_label_values(&[target, outcome]);
            }
        }
        for transport in STREAM_TRANSPORTS {
            self.streams_open.with_label_values(&[transport]);
            self.stream_events.with_label_values(&[transport]);
            self.stream_delivery_lag.with_label_values(&[transport]);
        }
        for outcome in ["embedded", "unchanged", "failed"] {
            self.embeddings.with_label_values(&[outcome]);
        }
        for result in NEAR_CACHE_RESULTS {
            self.near_cache_requests.with_label_values(&[result]);
        }
        for result in SEARCH_PAGE_RESULTS {
            self.search_pages.with_label_values(&[result]);
        }
        for result in MERGED_PAGE_RESULTS {
            self.merged_pages.with_label_values(&[result]);
        }
        for outcome in BACKUP_OUTCOMES {
            self.backups.with_label_values(&[outcome]);
        }
        for reason in ["size", "idle"] {
            self.vector_index_evictions.with_label_values(&[reason]);
        }
        for result in IMPORT_RESULTS {
            self.import_entries.with_label_values(&[result]);
        }
        for tool in MCP_TOOLS {
            for outcome in MCP_OUTCOMES {
                self.mcp_tool_calls.with_label_values(&[tool, outcome]);
            }
        }
        self.build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
    }

    /// Creates `pieces_errors_total` at 0 for each error code. The codes belong to the HTTP
    /// layer, which calls this once at start-up; metrics do not depend on it.
    pub fn preset_error_types(&self, codes: &[&str]) {
        for code in codes {
            self.errors.with_label_values(&[code]);
        }
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

#[cfg(test)]
mod tests {
    use super::{labels, Metrics};
    use pieces_model::Target;

    fn rendered_lines(metrics: &Metrics) -> Vec<String> {
        metrics.render().lines().map(str::to_owned).collect()
    }

    #[test]
    fn every_known_series_is_exported_at_zero_before_its_first_event() {
        let lines = rendered_lines(&Metrics::new().expect("metrics"));
        let build_info = format!(
            r#"pieces_build_info{{version="{}"}} 1"#,
            env!("CARGO_PKG_VERSION")
        );
        for expected in [
            r#"pieces_cache_requests_total{result="hit"} 0"#,
            r#"pieces_cache_requests_total{result="error"} 0"#,
            r#"pieces_sync_backlog{state="pending"} 0"#,
            r#"pieces_sync_backlog{state="dead"} 0"#,
            r#"pieces_sync_backlog{state="unknown"} 0"#,
            r#"pieces_sync_deliveries_total{outcome="dead",target="cache_invalidation"} 0"#,
            r#"pieces_upstream_requests_total{outcome="ok",service="data_platform"} 0"#,
            r#"pieces_upstream_requests_total{outcome="http_5xx",service="cognitive"} 0"#,
            r#"pieces_upstream_requests_total{outcome="unreachable",service="openai"} 0"#,
            r#"pieces_upstream_requests_total{outcome="cancelled",service="openai"} 0"#,
            r#"pieces_answer_cache_requests_total{result="hit"} 0"#,
            &build_info,
        ] {
            assert!(
                lines.iter().any(|line| line == expected),
                "{expected} missing"
            );
        }
    }

    #[test]
    fn error_types_named_at_start_up_are_exported_at_zero() {
        let metrics = Metrics::new().expect("metrics");
        metrics.preset_error_types(&["not_found", "rate_limited"]);
        let lines = rendered_lines(&metrics);
        for code in ["not_found", "rate_limited"] {
            let expected = format!(r#"pieces_errors_total{{error_type="{code}"}} 0"#);
            assert!(lines.contains(&expected), "{expected} missing");
        }
    }

    #[test]
    fn the_sync_targets_exported_are_the_outboxs() {
        for name in labels::SYNC_TARGETS {
            let target = Target::parse(name).expect("an outbox target");
            assert_eq!(target.as_str(), *name);
        }
    }
}
