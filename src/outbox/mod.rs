//! Events owed to other services, recorded durably with the change that caused them and
//! delivered at least once by a background worker.

mod worker;

pub use worker::{OutboxWorker, WorkerConfig};

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::model::{Snippet, WorkflowContext};
use crate::store::StoreError;

/// Where an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `POST {DATA_PLATFORM_URL}/snippets`
    DataPlatform,
    /// `POST {GATEWAY_URL}/internal/context-update`
    Gateway,
    /// `POST {COGNITIVE_SERVICES_URL}/analyze`, merged into the snippet's metadata.
    Enrichment,
    /// A cache key that could not be dropped after a write (cache down): dropped once it is
    /// back, so a stale copy is never served.
    CacheInvalidation,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataPlatform => "data_platform",
            Self::Gateway => "gateway",
            Self::Enrichment => "enrichment",
            Self::CacheInvalidation => "cache_invalidation",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        match s {
            "data_platform" => Ok(Self::DataPlatform),
            "gateway" => Ok(Self::Gateway),
            "enrichment" => Ok(Self::Enrichment),
            "cache_invalidation" => Ok(Self::CacheInvalidation),
            other => Err(StoreError::Corrupt(format!(
                "unknown outbox target {other:?}"
            ))),
        }
    }
}

/// An event to record. Its id is also the `Idempotency-Key` its receiver sees.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub id: String,
    pub target: Target,
    pub payload: Value,
    pub request_id: String,
    pub created_at: DateTime<Utc>,
}

/// An event claimed for delivery.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: String,
    pub target: Target,
    pub payload: String,
    pub request_id: String,
    /// Tries so far, this one included.
    pub attempts: i32,
    pub created_at: DateTime<Utc>,
}

/// What a snippet change did, as the data platform names it.
#[derive(Debug, Clone, Copy)]
pub enum Change {
    Created,
    Updated { code_changed: bool },
    Deleted,
}

/// Which events changes produce, decided by which upstreams are configured.
#[derive(Debug, Clone, Copy, Default)]
pub struct EventPlan {
    pub sync: bool,
    pub enrich: bool,
    pub notify: bool,
}

impl EventPlan {
    /// Whether snippet changes record any event (so the worker is worth waking).
    pub fn snippet_events(&self) -> bool {
        self.sync || self.enrich
    }

    /// Events for a snippet change, to be stored in the same transaction.
    pub fn for_snippet(
        &self,
        user: &str,
        snippet: &Snippet,
        change: Change,
        now: DateTime<Utc>,
    ) -> Vec<NewEvent> {
        let mut events = Vec::with_capacity(2);
        if self.sync {
            let event = match change {
                Change::Created => "created",
                Change::Updated { .. } => "updated",
                Change::Deleted => "deleted",
            };
            let payload = json!({
                "user_id": user,
                "snippet": snippet,
                "timestamp": now,
                "event": event,
            });
            events.push(new_event(Target::DataPlatform, payload, now));
        }
        let analyse = matches!(
            change,
            Change::Created | Change::Updated { code_changed: true }
        );
        if self.enrich && analyse {
            let payload = json!({ "user_id": user, "snippet_id": snippet.id });
            events.push(new_event(Target::Enrichment, payload, now));
        }
        events
    }

    /// The gateway notification for a context update.
    pub fn for_context(&self, context: &WorkflowContext, now: DateTime<Utc>) -> Vec<NewEvent> {
        if !self.notify {
            return Vec::new();
        }
        let payload = serde_json::to_value(context).unwrap_or(Value::Null);
        vec![new_event(Target::Gateway, payload, now)]
    }
}

/// Drops `key` from the cache once the cache answers again.
pub fn cache_invalidation(key: &str, now: DateTime<Utc>) -> NewEvent {
    new_event(Target::CacheInvalidation, json!({ "key": key }), now)
}

fn new_event(target: Target, payload: Value, now: DateTime<Utc>) -> NewEvent {
    NewEvent {
        id: Uuid::now_v7().to_string(),
        target,
        payload,
        request_id: crate::request_id::current(),
        created_at: now,
    }
}
