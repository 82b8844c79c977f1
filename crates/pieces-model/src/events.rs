//! The events a change causes: what is owed to other services, recorded durably with the
//! change itself and delivered at least once by the outbox worker.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use super::audit::{Actor, AuditAction, NewAudit};
use super::workspace::api_id;
use super::{ChangeRecord, Recorded, Snippet, WorkflowContext};

/// Where an event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `POST {DATA_PLATFORM_URL}/snippets`
    DataPlatform,
    /// `POST {GATEWAY_URL}/internal/context-update`
    Gateway,
    /// `POST {COGNITIVE_SERVICES_URL}/analyze`, merged into the snippet's metadata.
    Enrichment,
    /// The snippet's embedding, computed by the configured embedding provider.
    Embedding,
    /// A cache key that could not be dropped after a write (cache down): dropped once it is
    /// back, so a stale copy is never served.
    CacheInvalidation,
}

impl Target {
    /// Every target this release delivers.
    pub const ALL: [Self; 5] = [
        Self::DataPlatform,
        Self::Gateway,
        Self::Enrichment,
        Self::Embedding,
        Self::CacheInvalidation,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DataPlatform => "data_platform",
            Self::Gateway => "gateway",
            Self::Enrichment => "enrichment",
            Self::Embedding => "embedding",
            Self::CacheInvalidation => "cache_invalidation",
        }
    }

    /// The target a stored name stands for; None for a name this version does not know.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "data_platform" => Some(Self::DataPlatform),
            "gateway" => Some(Self::Gateway),
            "enrichment" => Some(Self::Enrichment),
            "embedding" => Some(Self::Embedding),
            "cache_invalidation" => Some(Self::CacheInvalidation),
            _ => None,
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
    /// Events with the same key reach their receiver one at a time, in the order they were
    /// recorded (a snippet's sync events: a retried `created` must not land after `deleted`).
    pub ordering_key: Option<String>,
}

/// An event claimed for delivery.
#[derive(Debug, Clone)]
pub struct PendingEvent {
    pub id: String,
    pub target: Target,
    /// The body to deliver; none when it is large (a sync carries the whole snippet) and
    /// read when its delivery starts, so a claimed batch holds only small ones.
    pub payload: Option<String>,
    /// The payload's size in bytes.
    pub size: usize,
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

impl Change {
    /// Whether the change may alter what is embedded (the embedder skips it when it did not).
    fn calls_for_embedding(self) -> bool {
        !matches!(self, Self::Deleted)
    }

    /// Whether the change calls for a new analysis of the code.
    fn calls_for_analysis(self) -> bool {
        matches!(self, Self::Created | Self::Updated { code_changed: true })
    }
}

/// Which events changes produce, decided by which upstreams are configured, and who makes
/// the change, whose audit record it writes.
#[derive(Debug, Clone, Default)]
pub struct EventPlan {
    pub sync: bool,
    pub enrich: bool,
    pub notify: bool,
    pub embed: bool,
    /// Who acts: a change with an actor writes its audit record (enrichment has none).
    pub actor: Option<Actor>,
}

impl EventPlan {
    /// The same plan for a change `actor` makes.
    pub fn acting(&self, actor: &Actor) -> Self {
        Self {
            actor: Some(actor.clone()),
            ..self.clone()
        }
    }

    /// How many events `for_snippet` records for `change`.
    pub fn snippet_event_count(&self, change: Change) -> usize {
        usize::from(self.sync)
            + usize::from(self.enrich && change.calls_for_analysis())
            + usize::from(self.embed && change.calls_for_embedding())
    }

    /// What a snippet change records in its transaction: the events other services are owed
    /// and the entry of the user's change stream.
    pub fn for_snippet(
        &self,
        user: &str,
        snippet: &Snippet,
        change: Change,
        now: DateTime<Utc>,
    ) -> Recorded {
        let audit = self.actor.as_ref().map(|actor| {
            let action = match change {
                Change::Created => AuditAction::SnippetCreated,
                Change::Updated { .. } => AuditAction::SnippetUpdated,
                Change::Deleted => AuditAction::SnippetDeleted,
            };
            NewAudit::new(actor, Some(user), action, ("snippet", &snippet.id), now)
        });
        Recorded {
            outbox: self.owed_for_snippet(user, snippet, change, now),
            changes: vec![ChangeRecord::snippet(user, snippet, change, now)],
            context: None,
            audit: audit.into_iter().collect(),
        }
    }

    /// What moving a snippet from workspace `from` to `to` records: to everyone who follows
    /// `from` it is deleted (its event names where it went), to everyone who follows `to` it
    /// is created; the data platform hears the same; each workspace's audit log says where
    /// it went or came from.
    pub fn for_move(&self, from: &str, to: &str, moved: &Snippet, now: DateTime<Utc>) -> Recorded {
        let mut left = ChangeRecord::snippet(from, moved, Change::Deleted, now);
        left.data = json!({ "id": moved.id, "version": moved.version, "moved_to": api_id(to) });
        let audit = self.actor.as_ref().map(|actor| {
            let record = |key: &str, detail: Value| {
                NewAudit::new(
                    actor,
                    Some(key),
                    AuditAction::SnippetMoved,
                    ("snippet", &moved.id),
                    now,
                )
                .with_detail(detail)
            };
            [
                record(from, json!({ "to": api_id(to) })),
                record(to, json!({ "from": api_id(from) })),
            ]
        });
        let mut outbox = self.owed_for_snippet(from, moved, Change::Deleted, now);
        // The analysis stays with the snippet; the embedding moves with it (an embedding
        // event finds it current and stops there, or makes one still owed).
        outbox.extend(
            self.owed_for_snippet(to, moved, Change::Created, now)
                .into_iter()
                .filter(|event| event.target != Target::Enrichment),
        );
        Recorded {
            outbox,
            changes: vec![left, ChangeRecord::snippet(to, moved, Change::Created, now)],
            context: None,
            audit: audit.into_iter().flatten().collect(),
        }
    }

    /// What bringing a snippet back from the trash records: a creation to everyone who
    /// follows its workspace and to the data platform, audited as a restore.
    pub fn for_restore(&self, user: &str, snippet: &Snippet, now: DateTime<Utc>) -> Recorded {
        let mut recorded = self.for_snippet(user, snippet, Change::Created, now);
        for record in &mut recorded.audit {
            record.action = AuditAction::SnippetRestored;
        }
        recorded
    }

    /// What erasing a live snippet at once records: its deletion, whose sync event carries
    /// its id and version only, audited as an erasure.
    pub fn for_erasure(&self, user: &str, snippet: &Snippet, now: DateTime<Utc>) -> Recorded {
        let mut recorded = self.for_snippet(user, snippet, Change::Deleted, now);
        for event in &mut recorded.outbox {
            if event.target == Target::DataPlatform {
                event.payload["snippet"] = json!({"id": snippet.id, "version": snippet.version});
            }
        }
        for record in &mut recorded.audit {
            record.action = AuditAction::SnippetErased;
        }
        recorded
    }

    /// What erasing a snippet from the trash records: its audit record alone (it was
    /// deleted, for followers and the platform, when it went to the trash).
    pub fn for_trash_erasure(&self, user: &str, id: &str, now: DateTime<Utc>) -> Recorded {
        let audit = self.actor.as_ref().map(|actor| {
            NewAudit::new(
                actor,
                Some(user),
                AuditAction::SnippetErased,
                ("snippet", id),
                now,
            )
        });
        Recorded {
            outbox: Vec::new(),
            changes: Vec::new(),
            context: None,
            audit: audit.into_iter().collect(),
        }
    }

    /// What enrichment records: the snippet changed (its metadata), which the stream and
    /// every replica's cache must hear of; nothing is owed to other services.
    pub fn for_analysis(&self, user: &str, snippet: &Snippet, now: DateTime<Utc>) -> Recorded {
        let change = Change::Updated {
            code_changed: false,
        };
        Recorded {
            outbox: Vec::new(),
            changes: vec![ChangeRecord::snippet(user, snippet, change, now)],
            context: None,
            audit: Vec::new(),
        }
    }

    fn owed_for_snippet(
        &self,
        user: &str,
        snippet: &Snippet,
        change: Change,
        now: DateTime<Utc>,
    ) -> Vec<NewEvent> {
        let mut events = Vec::with_capacity(3);
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
            // By the snippet alone: a move's `deleted` and `created` arrive in that order.
            let order = format!("{}:{}", Target::DataPlatform.as_str(), snippet.id);
            events.push(new_event(Target::DataPlatform, payload, now).in_order_of(order));
        }
        // These read the snippet as it is when they run: their order does not matter.
        if self.enrich && change.calls_for_analysis() {
            let payload = json!({ "user_id": user, "snippet_id": snippet.id });
            events.push(new_event(Target::Enrichment, payload, now));
        }
        if self.embed && change.calls_for_embedding() {
            let payload = json!({ "user_id": user, "snippet_id": snippet.id });
            events.push(new_event(Target::Embedding, payload, now));
        }
        events
    }

    /// What a context update records: the gateway's notification and the stream's entry.
    pub fn for_context(&self, context: &WorkflowContext, now: DateTime<Utc>) -> Recorded {
        let mut outbox = Vec::new();
        if self.notify {
            let payload = serde_json::to_value(context).unwrap_or(Value::Null);
            let order = format!("{}:{}", Target::Gateway.as_str(), context.user_id);
            outbox.push(new_event(Target::Gateway, payload, now).in_order_of(order));
        }
        Recorded {
            outbox,
            changes: vec![ChangeRecord::context(context, now)],
            context: None,
            audit: Vec::new(),
        }
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
        ordering_key: None,
    }
}

impl NewEvent {
    fn in_order_of(mut self, key: String) -> Self {
        self.ordering_key = Some(key);
        self
    }
}
