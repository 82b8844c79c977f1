//! The audit log: written inside each change's transaction (`record_in_sqlite`, and on
//! PostgreSQL `audit_cte!` in the statement that records the change), read newest first with
//! filters and a cursor, pruned by age. Nothing updates a record.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, QueryBuilder, Sqlite, SqlitePool, Transaction};

use super::row::json_text;
use super::{from_micros, to_micros, StoreError};
use pieces_model::audit::{
    Actor, AuditAction, AuditFilter, AuditRecord, AuditTarget, NewAudit, Via,
};
use pieces_model::workspace;

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Records matching `filter`, newest first: those of its workspace, or without one,
    /// those whose actor is `filter.actor`.
    async fn audit_page(&self, filter: &AuditFilter) -> Result<Vec<AuditRecord>, StoreError>;

    /// Deletes up to `batch` records written before `before`; returns how many went.
    async fn prune_audit(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError>;
}

#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    actor_id: String,
    via: String,
    token_id: Option<String>,
    workspace_id: Option<String>,
    action: String,
    target_type: String,
    target_id: String,
    request_id: String,
    detail: Option<String>,
}

impl AuditRow {
    fn into_record(self) -> Result<AuditRecord, StoreError> {
        let corrupt =
            |what: &str| StoreError::Corrupt(format!("audit record {}: {what}", self.seq));
        Ok(AuditRecord {
            id: self.seq.to_string(),
            at: from_micros(self.at)?,
            actor: Actor {
                via: Via::parse(&self.via).ok_or_else(|| corrupt("unknown via"))?,
                user_id: self.actor_id,
                token_id: self.token_id,
            },
            workspace: self
                .workspace_id
                .as_deref()
                .map(|k| workspace::api_id(k).to_owned()),
            action: AuditAction::parse(&self.action).ok_or_else(|| corrupt("unknown action"))?,
            target: AuditTarget {
                kind: self.target_type,
                id: self.target_id,
            },
            request_id: self.request_id,
            detail: match self.detail {
                Some(text) => Some(serde_json::from_str(&text).map_err(|_| corrupt("detail"))?),
                None => None,
            },
        })
    }
}

const COLUMNS: &str = "seq, at, actor_id, via, token_id, workspace_id, action, target_type, \
                       target_id, request_id";

/// `SELECT … WHERE …` for `filter`, newest first, with the detail column as `detail` text.
fn select<DB: sqlx::Database>(filter: &AuditFilter, detail: &str) -> QueryBuilder<'static, DB>
where
    String: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    i64: for<'q> sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    let mut q = QueryBuilder::new(format!(
        "SELECT {COLUMNS}, {detail} AS detail FROM audit_log WHERE "
    ));
    match (&filter.workspace, &filter.actor) {
        (Some(ws), actor) => {
            q.push("workspace_id = ").push_bind(ws.clone());
            if let Some(actor) = actor {
                q.push(" AND actor_id = ").push_bind(actor.clone());
            }
        }
        (None, Some(actor)) => {
            q.push("actor_id = ").push_bind(actor.clone());
        }
        // Never every record: the service always names a workspace or an actor.
        (None, None) => {
            q.push("FALSE");
        }
    }
    if let Some(action) = filter.action {
        q.push(" AND action = ")
            .push_bind(action.as_str().to_owned());
    }
    if let Some(since) = filter.since {
        q.push(" AND at >= ").push_bind(to_micros(since));
    }
    if let Some(until) = filter.until {
        q.push(" AND at < ").push_bind(to_micros(until));
    }
    if let Some(before) = filter.before {
        q.push(" AND seq < ").push_bind(before);
    }
    q.push(" ORDER BY seq DESC LIMIT ").push_bind(filter.limit);
    q
}

const PRUNE: &str = "DELETE FROM audit_log WHERE seq IN \
                     (SELECT seq FROM audit_log WHERE at < $1 ORDER BY at LIMIT $2)";

/// The same queries on both databases; `$detail` reads the detail column as text.
macro_rules! audit_log_on {
    ($pool:ty, $db:ty, $detail:literal) => {
        #[async_trait]
        impl AuditLog for $pool {
            async fn audit_page(
                &self,
                filter: &AuditFilter,
            ) -> Result<Vec<AuditRecord>, StoreError> {
                let rows: Vec<AuditRow> = select::<$db>(filter, $detail)
                    .build_query_as()
                    .fetch_all(self)
                    .await?;
                rows.into_iter().map(AuditRow::into_record).collect()
            }

            async fn prune_audit(
                &self,
                before: DateTime<Utc>,
                batch: i64,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query(PRUNE)
                    .bind(to_micros(before))
                    .bind(batch)
                    .execute(self)
                    .await?;
                Ok(done.rows_affected())
            }
        }
    };
}

audit_log_on!(SqlitePool, Sqlite, "detail");
audit_log_on!(PgPool, sqlx::Postgres, "detail::text");

/// Writes audit records inside the caller's SQLite transaction, all in one statement: each
/// statement is a round trip to SQLite's worker thread, and one more per durable create
/// cost the embedded store a quarter of its creates a second. The records travel as one JSON
/// array (as on PostgreSQL), so the statement's text, and its prepared form, never change.
pub async fn record_in_sqlite<'a>(
    tx: &mut Transaction<'_, Sqlite>,
    records: impl IntoIterator<Item = &'a NewAudit>,
) -> Result<(), StoreError> {
    let mut records = records.into_iter().peekable();
    if records.peek().is_none() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO audit_log (at, actor_id, via, token_id, workspace_id, action, \
         target_type, target_id, request_id, detail) \
         SELECT value ->> 'at', value ->> 'actor_id', value ->> 'via', value ->> 'token_id', \
         value ->> 'workspace_id', value ->> 'action', value ->> 'target_type', \
         value ->> 'target_id', value ->> 'request_id', \
         CASE WHEN json_type(value, '$.detail') = 'null' THEN NULL ELSE value -> 'detail' END \
         FROM json_each(?) ORDER BY key",
    )
    .bind(json_rows(records))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// A record as both databases read it from a JSON array (PostgreSQL's `jsonb_to_recordset`
/// in `audit_cte!`, SQLite's `json_each`).
#[derive(Serialize)]
struct JsonAudit<'a> {
    at: i64,
    actor_id: &'a str,
    via: &'static str,
    token_id: Option<&'a str>,
    workspace_id: Option<&'a str>,
    action: &'static str,
    target_type: &'a str,
    target_id: &'a str,
    request_id: &'a str,
    detail: Option<&'a serde_json::Value>,
}

/// The audit records of a statement, as the one JSON parameter it takes.
pub fn json_rows<'a>(records: impl IntoIterator<Item = &'a NewAudit>) -> String {
    let rows: Vec<JsonAudit<'_>> = records
        .into_iter()
        .map(|r| JsonAudit {
            at: to_micros(r.at),
            actor_id: &r.actor.user_id,
            via: r.actor.via.as_str(),
            token_id: r.actor.token_id.as_deref(),
            workspace_id: r.workspace.as_deref(),
            action: r.action.as_str(),
            target_type: &r.target.kind,
            target_id: &r.target.id,
            request_id: &r.request_id,
            detail: r.detail.as_ref(),
        })
        .collect();
    json_text(&rows)
}

/// Inserts the audit records of a statement, given as one JSON array parameter (`$param`,
/// bound from `postgres_parameter`), in their order.
macro_rules! audit_cte {
    ($param:literal) => {
        concat!(
            "audited AS (
    INSERT INTO audit_log (at, actor_id, via, token_id, workspace_id, action, target_type,
                           target_id, request_id, detail)
    SELECT at, actor_id, via, token_id, workspace_id, action, target_type, target_id,
           request_id, detail
    FROM jsonb_to_recordset(",
            $param,
            "::jsonb) AS a(at int8, actor_id text, via text, token_id text, workspace_id text,
                          action text, target_type text, target_id text, request_id text,
                          detail jsonb)
)"
        )
    };
}
pub(super) use audit_cte;

#[cfg(test)]
mod tests {
    use super::*;

    fn actor(user_id: &str, via: Via, token_id: Option<&str>) -> Actor {
        Actor {
            user_id: user_id.into(),
            via,
            token_id: token_id.map(Into::into),
        }
    }

    /// Every record of one workspace, or of one actor.
    fn all_of(workspace: Option<&str>, actor: Option<&str>) -> AuditFilter {
        AuditFilter {
            workspace: workspace.map(Into::into),
            action: None,
            actor: actor.map(Into::into),
            since: None,
            until: None,
            before: None,
            limit: 100,
        }
    }

    #[tokio::test]
    async fn records_past_their_retention_are_pruned_in_batches_and_the_rest_kept() {
        let pool = crate::memory_store().await;
        let now = Utc::now();
        let actor = actor("alice", Via::Jwt, None);
        let days_ago = |d: i64| now - chrono::Duration::days(d);
        let mut tx = pool.begin().await.expect("a transaction");
        let records: Vec<NewAudit> = [400, 399, 380, 366, 10, 0]
            .into_iter()
            .map(|d| {
                let target = ("snippet", "s-1");
                NewAudit::new(
                    &actor,
                    Some("alice"),
                    AuditAction::SnippetCreated,
                    target,
                    days_ago(d),
                )
            })
            .collect();
        record_in_sqlite(&mut tx, &records).await.expect("recorded");
        tx.commit().await.expect("committed");

        let cutoff = days_ago(365);
        assert_eq!(pool.prune_audit(cutoff, 3).await.expect("pruned"), 3);
        assert_eq!(pool.prune_audit(cutoff, 3).await.expect("pruned"), 1);
        assert_eq!(pool.prune_audit(cutoff, 3).await.expect("pruned"), 0);
        let kept = pool
            .audit_page(&all_of(Some("alice"), None))
            .await
            .expect("a page");
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|r| r.at >= cutoff));
    }

    #[tokio::test]
    async fn records_written_in_one_statement_keep_their_order_and_every_field() {
        let pool = crate::memory_store().await;
        let at = Utc::now();
        let by_token = actor("bob", Via::Token, Some("t-1"));
        let records = vec![
            NewAudit::new(
                &by_token,
                Some("ws_1"),
                AuditAction::SnippetMoved,
                ("snippet", "s-1"),
                at,
            )
            .with_detail(serde_json::json!({"to": "ws_2", "note": "a \"quoted\" 'text'"})),
            NewAudit::new(
                &by_token,
                None,
                AuditAction::SnippetCreated,
                ("snippet", "s-2"),
                at,
            ),
            NewAudit::new(
                &by_token,
                Some("ws_1"),
                AuditAction::SnippetDeleted,
                ("snippet", "s-3"),
                at,
            )
            .with_detail(serde_json::Value::Null),
        ];
        let mut tx = pool.begin().await.expect("a transaction");
        record_in_sqlite(&mut tx, &records).await.expect("recorded");
        record_in_sqlite(&mut tx, &Vec::new())
            .await
            .expect("nothing to record");
        tx.commit().await.expect("committed");
        // Newest first: the last written has the highest number.
        let page = pool
            .audit_page(&all_of(None, Some("bob")))
            .await
            .expect("a page");
        let targets: Vec<&str> = page.iter().map(|r| r.target.id.as_str()).collect();
        assert_eq!(targets, ["s-3", "s-2", "s-1"]);
        let moved = &page[2];
        assert_eq!(moved.actor.token_id.as_deref(), Some("t-1"));
        assert_eq!(moved.action, AuditAction::SnippetMoved);
        assert_eq!(moved.at.timestamp_micros(), at.timestamp_micros());
        assert_eq!(
            moved.detail,
            Some(serde_json::json!({"to": "ws_2", "note": "a \"quoted\" 'text'"}))
        );
        assert_eq!(page[1].workspace, None);
        assert_eq!(page[1].detail, None);
        assert_eq!(page[0].detail, None, "a null detail is no detail");
    }
}
