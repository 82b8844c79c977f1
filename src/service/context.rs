//! Workflow-context use cases. The context lives only in the cache, with its TTL: it is the
//! user's live "what am I working on", not data to keep. The gateway hears of each update
//! through the outbox.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::{OutboxSignal, ServiceError, ServiceResult};
use crate::cache::{workflow_key, Cache};
use crate::model::{now, ContextInput, EventPlan, Limits, WorkflowContext};
use crate::store::{ChangeFeed, OutboxQueue};

/// What a context service is built from.
pub struct ContextDeps {
    pub cache: Arc<dyn Cache>,
    pub outbox: Arc<dyn OutboxQueue>,
    pub plan: EventPlan,
    pub limits: Limits,
    /// How long a context stays current.
    pub ttl: Duration,
    /// Tells the outbox worker of recorded events.
    pub signal: Arc<OutboxSignal>,
    /// Tells this process's subscribers of the change.
    pub feed: ChangeFeed,
}

pub struct ContextService {
    deps: ContextDeps,
}

impl ContextService {
    pub fn new(deps: ContextDeps) -> Self {
        Self { deps }
    }

    /// Makes `body` the user's current context (the user is the caller, whatever the body
    /// says) and records the gateway's notification.
    pub async fn set(&self, user: &str, body: ContextInput) -> ServiceResult<WorkflowContext> {
        let d = &self.deps;
        let at = now();
        let context = body.into_context(user, &d.limits, at)?;
        let bytes = Bytes::from(serde_json::to_vec(&context).unwrap_or_default());
        d.cache
            .set(&workflow_key(user), bytes, d.ttl)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot store workflow context");
                ServiceError::CacheUnavailable(e)
            })?;
        let recorded = d.plan.for_context(&context, at);
        d.outbox.enqueue(&recorded).await?;
        d.signal.recorded(recorded.outbox.len());
        d.feed.committed(user, None, at);
        Ok(context)
    }

    /// The user's current context as the API shows it, or NotFound once it has expired.
    pub async fn get(&self, user: &str) -> ServiceResult<Bytes> {
        let bytes = self
            .deps
            .cache
            .get(&workflow_key(user))
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "cannot read workflow context");
                ServiceError::CacheUnavailable(e)
            })?;
        bytes.ok_or(ServiceError::NotFound("workflow context"))
    }

    /// The current context as JSON, for a question; none when absent or unreadable.
    pub async fn current(&self, user: &str) -> Option<Value> {
        let bytes = self.deps.cache.get(&workflow_key(user)).await.ok()??;
        serde_json::from_slice(&bytes).ok()
    }
}
