//! Structured logs: JSON for machines, text for people, level from `LOG_LEVEL`.

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Level, Metadata};
use tracing_subscriber::filter::{FilterExt, LevelFilter};
use tracing_subscriber::layer::{Context, Filter, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{fmt, EnvFilter, Layer};

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
    let layer = match settings.log_format {
        LogFormat::Json => fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_target(false)
            .boxed(),
        LogFormat::Text => fmt::layer().with_target(false).boxed(),
    };
    let _ = tracing_subscriber::registry()
        .with(layer.with_filter(filter.and(ClientLeavingIsNoError)))
        .try_init();
}

/// The MCP transport (rmcp) cancels a request whose client hangs up and then logs, at ERROR,
/// that it could not send the response: a client leaving is not a server error, and any
/// token holder could fill the error log (and its alerts) with it. That one event is left
/// out; every other event of rmcp is logged as it comes.
struct ClientLeavingIsNoError;

const CLIENT_LEFT: &str = "failed to send pending response during drain";

impl<S> Filter<S> for ClientLeavingIsNoError {
    fn enabled(&self, _: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        true
    }

    // Combined with `LOG_LEVEL`'s filter by `and`, which keeps that filter's level and its
    // verdict on each call site: only rmcp's errors are looked at one by one.
    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if *metadata.level() == Level::ERROR && metadata.target().starts_with("rmcp") {
            Interest::sometimes()
        } else {
            Interest::always()
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        Some(LevelFilter::TRACE)
    }

    fn event_enabled(&self, event: &Event<'_>, _: &Context<'_, S>) -> bool {
        let metadata = event.metadata();
        if *metadata.level() != Level::ERROR || !metadata.target().starts_with("rmcp") {
            return true;
        }
        let mut message = MessageIs(CLIENT_LEFT, false);
        event.record(&mut message);
        !message.1
    }
}

/// Whether an event's message is the given text.
struct MessageIs(&'static str, bool);

impl Visit for MessageIs {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" && value == self.0 {
            self.1 = true;
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" && format!("{value:?}") == self.0 {
            self.1 = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::fmt::MakeWriter;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    #[test]
    fn a_client_leaving_an_mcp_request_is_not_logged_as_an_error() {
        let captured = Captured::default();
        let layer = fmt::layer()
            .with_writer(captured.clone())
            .with_filter(ClientLeavingIsNoError);
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::error!(target: "rmcp::service", error = "channel closed",
                "failed to send pending response during drain");
            tracing::error!(target: "rmcp::service", "response send task failed during drain");
            tracing::error!(target: "pieces_connector", "failed to send pending response during drain");
        });
        let logged = String::from_utf8(captured.0.lock().expect("lock").clone()).expect("text");
        assert_eq!(
            logged.matches("failed to send pending response").count(),
            1,
            "{logged}"
        );
        assert!(
            logged.contains("pieces_connector"),
            "only ours is kept: {logged}"
        );
        assert!(
            logged.contains("response send task failed"),
            "other rmcp errors stay: {logged}"
        );
    }
}
