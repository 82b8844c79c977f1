//! Share links: a writer makes a read-only link to one snippet for people without an
//! account, unless its code holds a credential (then only if they insist). The link shows the
//! snippet as it is now, until it expires or is revoked; only a hash of its key is kept, so
//! the store cannot give a link away.

use std::sync::Arc;

use base64::Engine;
use chrono::Duration as Hours;
use rand::RngCore;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::auth::Principal;
use super::rate_limit::PerUserLimit;
use super::{secrets, Access, ServiceError, ServiceResult};
use pieces_model::audit::{AuditAction, NewAudit};
use pieces_model::files::other_files_text;
use pieces_model::share::{NewShare, Share, SharedSnippet, StoredShare};
use pieces_model::workspace::Role;
use pieces_model::{now, Recorded};
use pieces_store::{ShareStore, SnippetStore};

/// Random bytes in a link's key: 256 bits.
const KEY_BYTES: usize = 32;
/// Links listed per snippet, newest first.
const LISTED: i64 = 100;

pub struct ShareService {
    store: Arc<dyn ShareStore>,
    snippets: Arc<dyn SnippetStore>,
    access: Arc<Access>,
    /// Share routes per client address.
    limit: PerUserLimit,
}

fn hash(key: &str) -> String {
    Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `key` could be one this service made: base64url of `KEY_BYTES` bytes.
fn well_formed(key: &str) -> bool {
    key.len() == 43
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl ShareService {
    pub fn new(
        store: Arc<dyn ShareStore>,
        snippets: Arc<dyn SnippetStore>,
        access: Arc<Access>,
        per_minute: u32,
    ) -> Self {
        Self {
            store,
            snippets,
            access,
            limit: PerUserLimit::per_minute(per_minute),
        }
    }

    /// Takes one request from the allowance of the client at `address`.
    pub fn admit(&self, address: &str) -> ServiceResult<()> {
        self.limit
            .check(address)
            .map_err(|retry_after_secs| ServiceError::RateLimited { retry_after_secs })
    }

    /// Forgets idle client addresses; called periodically.
    pub fn forget_idle(&self) {
        self.limit.forget_idle();
    }

    /// Makes a link to snippet `id` (writer). Refused with 422 `contains_secrets` when the
    /// snippet looks like it holds a credential, unless `allow_secrets`.
    pub async fn create(
        &self,
        caller: &Principal,
        id: &str,
        body: NewShare,
    ) -> ServiceResult<Share> {
        let hours = body.hours()?;
        let key_of_workspace = self.writable(caller, id).await?;
        let snippet = self
            .snippets
            .get_snippet(&key_of_workspace, id)
            .await?
            .ok_or(ServiceError::NotFound("snippet"))?;
        if !body.allow_secrets {
            // The other files come after the title and description: a line number past the
            // code's is then "elsewhere in the snippet".
            let text = format!(
                "{}\n{}\n{}{}",
                snippet.code,
                snippet.title,
                snippet.description.as_deref().unwrap_or_default(),
                other_files_text(&snippet.files),
            );
            if let Some(found) = secrets::find(&text).into_iter().next() {
                let place = if found.line <= snippet.code.lines().count().max(1) {
                    format!("line {} of the code", found.line)
                } else {
                    "the title, the description or another file".to_owned()
                };
                return Err(ServiceError::Refused {
                    code: "contains_secrets",
                    detail: format!(
                        "the snippet looks like it holds a credential ({} on {place}); \
                         remove it, or share anyway with \"allow_secrets\": true",
                        found.kind
                    ),
                });
            }
        }
        let mut bytes = [0u8; KEY_BYTES];
        rand::rng().fill_bytes(&mut bytes);
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let at = now();
        let share = StoredShare {
            id: uuid::Uuid::now_v7().to_string(),
            snippet_id: id.to_owned(),
            workspace: key_of_workspace.clone(),
            created_by: caller.user.clone(),
            created_at: at,
            expires_at: at + Hours::hours(i64::from(hours)),
            revoked_at: None,
            view_count: 0,
        };
        let recorded = Recorded {
            audit: vec![NewAudit::new(
                &caller.actor(),
                Some(&key_of_workspace),
                AuditAction::ShareCreated,
                ("share", &share.id),
                at,
            )
            .with_detail(json!({ "snippet": id, "allow_secrets": body.allow_secrets }))],
            ..Recorded::default()
        };
        self.store
            .insert_share(&share, &hash(&key), &recorded)
            .await?;
        tracing::info!(share = %share.id, snippet = %id, "share link made");
        let mut shown = Share::from(share);
        shown.url = Some(format!("/s/{key}"));
        Ok(shown)
    }

    /// The links of snippet `id`, newest first (writer); never a key.
    pub async fn list(&self, caller: &Principal, id: &str) -> ServiceResult<Vec<Share>> {
        self.writable(caller, id).await?;
        let shares = self.store.shares_of(id, LISTED).await?;
        Ok(shares.into_iter().map(Share::from).collect())
    }

    /// Revokes a link (writer where its snippet is): dead at once, on every replica, since
    /// no replica keeps links. Revoking a revoked link again changes nothing and is no error
    /// (a retried DELETE gets the same answer), and writes no second record.
    pub async fn revoke(&self, caller: &Principal, share_id: &str) -> ServiceResult<()> {
        let share = self
            .store
            .share_by_id(share_id)
            .await?
            .ok_or(ServiceError::NotFound("share link"))?;
        self.access
            .require(caller, &share.workspace, Role::Writer, "share link")
            .await?;
        let at = now();
        let recorded = Recorded {
            audit: vec![NewAudit::new(
                &caller.actor(),
                Some(&share.workspace),
                AuditAction::ShareRevoked,
                ("share", &share.id),
                at,
            )
            .with_detail(json!({ "snippet": share.snippet_id }))],
            ..Recorded::default()
        };
        if self.store.revoke_share(share_id, at, &recorded).await? {
            tracing::info!(share = %share_id, "share link revoked");
        }
        Ok(())
    }

    /// What link `key` shows: the snippet as it is now. 404 for a key never made (or whose
    /// snippet is gone), 410 for an expired or revoked one.
    pub async fn open(&self, key: &str) -> ServiceResult<SharedSnippet> {
        if !well_formed(key) {
            return Err(ServiceError::NotFound("share link"));
        }
        let share = self
            .store
            .share_by_hash(&hash(key))
            .await?
            .ok_or(ServiceError::NotFound("share link"))?;
        if share.revoked_at.is_some() {
            return Err(ServiceError::Gone("this share link was revoked".into()));
        }
        if share.expires_at <= now() {
            return Err(ServiceError::Gone("this share link has expired".into()));
        }
        let snippet = self
            .snippets
            .get_snippet(&share.workspace, &share.snippet_id)
            .await?
            .ok_or(ServiceError::NotFound("share link"))?;
        if let Err(e) = self.store.count_view(&share.id).await {
            tracing::warn!(error = %e, "a share link's view was not counted");
        }
        Ok(SharedSnippet {
            title: snippet.title,
            description: snippet.description,
            language: snippet.language,
            code: snippet.code,
            tags: snippet.tags,
            updated_at: snippet.updated_at,
            files: snippet.files,
        })
    }

    /// The workspace key of snippet `id`, once the caller may write there.
    async fn writable(&self, caller: &Principal, id: &str) -> ServiceResult<String> {
        let found = self.snippets.snippet_workspace(id).await?;
        self.access
            .require_found(caller, found, Role::Writer, "snippet")
            .await
    }
}
