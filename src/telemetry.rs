//! Structured logs: JSON for machines, text for people, level from `LOG_LEVEL`.

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, Settings};

/// Installs the global subscriber; a second call (as in tests) is a no-op.
pub fn init(settings: &Settings) {
    // PostgreSQL notices (e.g. the ROLLBACK of a request cancelled by its client) are noise at
    // WARN; they show when LOG_LEVEL names sqlx explicitly.
    let mut directives = settings.log_level.clone();
    if !directives.contains("sqlx") {
        directives.push_str(",sqlx::postgres::notice=error");
    }
    let filter = EnvFilter::try_new(&directives).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    let _ = match settings.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
