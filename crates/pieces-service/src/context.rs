//! Workflow-context use cases. A context is the user's live "what am I working on": it is
//! stored durably with its expiry, in the same transaction as its stream event and the
//! gateway's notification, so "synced" means kept until its TTL whatever the cache evicts.
//! The cache (Redis under the platform's key, or in-process) holds a copy, filled from the
//! store as snippets are.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::Value;

use super::{CacheKeeper, OutboxSignal, ServiceError, ServiceResult};
use pieces_cache::{workflow_key, Cache, Lookup};
use pieces_model::{now, ContextInput, EventPlan, KeptContext, Limits, WorkflowContext};
use pieces_store::{ChangeFeed, ContextStore, OutboxQueue};

/// What a context service is built from.
pub struct ContextDeps {
    pub cache: Arc<dyn Cache>,
    /// Drops the cached copy after an update, also while the cache cannot be reached.
    pub keeper: Arc<CacheKeeper>,
    /// Where contexts are kept (read side; they are written through the outbox queue).
    pub store: Arc<dyn ContextStore>,
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
    /// says); returns once it is committed with its event and the gateway's notification.
    pub async fn set(&self, user: &str, body: ContextInput) -> ServiceResult<WorkflowContext> {
        let d = &self.deps;
        let at = now();
        let context = body.into_context(user, &d.limits, at)?;
        let mut recorded = d.plan.for_context(&context, at);
        recorded.context = Some(KeptContext {
            user: user.to_owned(),
            data: serde_json::to_string(&context).unwrap_or_default(),
            expires_at: at + chrono::Duration::from_std(d.ttl).unwrap_or(chrono::Duration::MAX),
        });
        d.outbox.enqueue(&recorded).await?;
        d.signal.recorded(recorded.outbox.len());
        d.feed.committed(user, None, at);
        // Cache-aside: the copy is dropped here and filled from the store by the next read.
        d.keeper.drop_key(&workflow_key(user)).await;
        Ok(context)
    }

    /// The user's current context as the API shows it, or NotFound once it has expired.
    pub async fn get(&self, user: &str) -> ServiceResult<Bytes> {
        let d = &self.deps;
        let key = workflow_key(user);
        let ticket = if d.keeper.bypasses(&key) {
            None
        } else {
            match d.cache.lookup(&key).await {
                Ok(Lookup::Hit(bytes)) => return Ok(bytes),
                Ok(Lookup::Miss(ticket)) => Some(ticket),
                Err(e) => {
                    tracing::debug!(error = %e, "cache read failed; reading the store");
                    None
                }
            }
        };
        let at = now();
        let (data, expires_at) = d
            .store
            .current_context(user, at)
            .await?
            .ok_or(ServiceError::NotFound("workflow context"))?;
        let bytes = Bytes::from(data);
        if let (Some(ticket), Ok(left)) = (ticket, (expires_at - at).to_std()) {
            if let Err(e) = d.cache.fill(&key, bytes.clone(), left, ticket).await {
                tracing::debug!(error = %e, "cache write failed");
            }
        }
        Ok(bytes)
    }

    /// The current context as JSON, for a question; none when absent or unreadable.
    pub async fn current(&self, user: &str) -> Option<Value> {
        let bytes = self.get(user).await.ok()?;
        serde_json::from_slice(&bytes).ok()
    }
}
