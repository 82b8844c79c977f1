//! Rules between and within settings that their types alone cannot keep.

use secrecy::ExposeSecret;
use url::Url;

use super::{ConfigError, Settings};
use pieces_model::bounds::MODEL_MAX_CHARS;
use pieces_model::Provider;

/// The most versions `HISTORY_MAX_VERSIONS` may keep.
const HISTORY_MAX_VERSIONS_CEILING: u32 = 10_000;
/// The longest `BACKUP_INTERVAL_MINUTES` (a week) and the most `BACKUP_KEEP`.
const BACKUP_INTERVAL_CEILING: u64 = 7 * 24 * 60;
const BACKUP_KEEP_CEILING: usize = 1_000;

impl Settings {
    /// Refuses a value no type can rule out, naming its variable.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let fail = |var: &str, why: &str| Err(ConfigError(format!("{var}: {why}")));
        if let Some(secret) = &self.jwt_secret_key {
            if secret.expose_secret().len() < 32 {
                return fail(
                    "JWT_SECRET_KEY",
                    "must be at least 32 bytes; generate one with `openssl rand -hex 32`",
                );
            }
        }
        // On PostgreSQL one pooled connection listens for other replicas' changes for good.
        if !self.database_url.is_embedded() && self.database_max_connections < 2 {
            return fail(
                "DATABASE_MAX_CONNECTIONS",
                "must be at least 2 on PostgreSQL: one connection listens for changes",
            );
        }
        if let Some(key) = &self.api_key {
            if http::HeaderValue::from_str(key.expose_secret()).is_err() {
                return fail(
                    "API_KEY",
                    "holds a control character, so it cannot be sent as the X-API-Key header",
                );
            }
        }
        for (var, value) in [
            ("GATEWAY_URL", &self.gateway_url),
            ("COGNITIVE_SERVICES_URL", &self.cognitive_services_url),
            ("DATA_PLATFORM_URL", &self.data_platform_url),
            ("OPENAI_BASE_URL", &self.openai_base_url),
            ("EMBEDDINGS_URL", &self.embeddings_url),
        ] {
            if let Some(value) = value {
                match Url::parse(value) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                    _ => return fail(var, "must be an http:// or https:// URL"),
                }
            }
        }
        self.validate_ai()?;
        self.validate_embeddings()?;
        self.validate_backups()?;
        if let Some(url) = &self.redis_url {
            let url = url.expose_secret();
            if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
                return fail("REDIS_URL", "must start with redis:// or rediss://");
            }
        }
        for (var, value) in [
            ("REQUEST_TIMEOUT_SECS", self.request_timeout_secs),
            ("UPSTREAM_TIMEOUT_SECS", self.upstream_timeout_secs),
            ("REDIS_TIMEOUT_MS", self.redis_timeout_ms),
            ("DATABASE_TIMEOUT_MS", self.database_timeout_ms),
            (
                "DATABASE_MAX_CONNECTIONS",
                self.database_max_connections.into(),
            ),
            (
                "AI_ASSIST_RATE_PER_MINUTE",
                self.ai_assist_rate_per_minute.into(),
            ),
            ("OUTBOX_POLL_INTERVAL_MS", self.outbox_poll_interval_ms),
            ("MAX_BODY_BYTES", self.max_body_bytes as u64),
            ("IMPORT_MAX_BYTES", self.import_max_bytes as u64),
            ("HEADER_READ_TIMEOUT_SECS", self.header_read_timeout_secs),
            ("IDLE_TIMEOUT_SECS", self.idle_timeout_secs),
            ("MAX_CONNECTIONS", self.max_connections as u64),
            ("EVENT_RETENTION_HOURS", self.event_retention_hours),
            ("AUDIT_RETENTION_DAYS", self.audit_retention_days),
            ("TRASH_RETENTION_DAYS", self.trash_retention_days),
            ("SHARE_RATE_PER_MINUTE", self.share_rate_per_minute.into()),
            ("STREAM_MAX_PER_USER", self.stream_max_per_user as u64),
            ("CLIENT_WRITE_TIMEOUT_SECS", self.client_write_timeout_secs),
            ("TOKENS_MAX_PER_USER", self.tokens_max_per_user as u64),
            ("NEAR_CACHE_TTL_SECS", self.near_cache_ttl_secs),
        ] {
            if value == 0 {
                return fail(var, "must be greater than 0");
            }
        }
        if self
            .log_level
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return fail(
                "LOG_LEVEL",
                "is not a valid level or filter (e.g. info, debug)",
            );
        }
        for origin in self.cors_origins() {
            if origin.parse::<http::HeaderValue>().is_err() || !origin.contains("://") {
                return fail("CORS_ALLOWED_ORIGINS", "holds an origin that is not a URL");
            }
        }
        Ok(())
    }

    /// Scheduled backups: of the embedded store only, with a directory and sane bounds.
    fn validate_backups(&self) -> Result<(), ConfigError> {
        let fail = |var: &str, why: &str| Err(ConfigError(format!("{var}: {why}")));
        if !(1..=BACKUP_KEEP_CEILING).contains(&self.backup_keep) {
            return fail("BACKUP_KEEP", "must be between 1 and 1000");
        }
        if self.backup_interval_minutes > BACKUP_INTERVAL_CEILING {
            return fail(
                "BACKUP_INTERVAL_MINUTES",
                "must be at most 10080 (a week); 0 takes no scheduled backups",
            );
        }
        if self.backup_interval_minutes == 0 {
            return Ok(());
        }
        if self.backup_dir.is_none() {
            return fail("BACKUP_DIR", "is required with BACKUP_INTERVAL_MINUTES");
        }
        if !self.database_url.is_embedded() {
            return fail(
                "BACKUP_INTERVAL_MINUTES",
                "backs up the embedded store only; back up PostgreSQL with its own tools \
                 (pg_dump, or the platform's operator)",
            );
        }
        Ok(())
    }

    /// At most one embedding provider, and what it needs.
    fn validate_embeddings(&self) -> Result<(), ConfigError> {
        let fail = |var: &str, why: &str| Err(ConfigError(format!("{var}: {why}")));
        let remote = self.embeddings_url.is_some();
        if remote && self.embeddings_model_dir.is_some() {
            return fail(
                "EMBEDDINGS_URL",
                "and EMBEDDINGS_MODEL_DIR are both set; set one embedding provider",
            );
        }
        if remote
            && self
                .embeddings_model
                .as_deref()
                .is_none_or(|m| m.trim().is_empty())
        {
            return fail("EMBEDDINGS_MODEL", "is required with EMBEDDINGS_URL");
        }
        if !remote {
            for (var, set) in [
                ("EMBEDDINGS_MODEL", self.embeddings_model.is_some()),
                ("EMBEDDINGS_API_KEY", self.embeddings_api_key.is_some()),
            ] {
                if set {
                    return fail(var, "is set, but EMBEDDINGS_URL is unset");
                }
            }
        }
        if !(-1.0..=1.0).contains(&self.search_min_similarity) {
            return fail("SEARCH_MIN_SIMILARITY", "must be between -1 and 1");
        }
        if !(-1.0..=1.0).contains(&self.ai_context_min_similarity) {
            return fail("AI_CONTEXT_MIN_SIMILARITY", "must be between -1 and 1");
        }
        // Rebuilding the oldest version applies every later delta: the bound keeps that, and
        // what one snippet's history may hold, finite.
        if self.history_max_versions > HISTORY_MAX_VERSIONS_CEILING {
            return fail(
                "HISTORY_MAX_VERSIONS",
                "must be at most 10000 (0 keeps no history)",
            );
        }
        Ok(())
    }

    /// The answering providers: each one named is configured, and an OpenAI-compatible one
    /// knows which model to ask.
    fn validate_ai(&self) -> Result<(), ConfigError> {
        let fail = |var: &str, why: String| Err(ConfigError(format!("{var}: {why}")));
        for provider in &self.ai_providers.0 {
            if self.provider_url(*provider).is_none() {
                let needed = match provider {
                    Provider::Cognitive => "COGNITIVE_SERVICES_URL",
                    Provider::Openai => "OPENAI_BASE_URL",
                };
                return fail(
                    "AI_PROVIDERS",
                    format!("names {provider}, but {needed} is unset"),
                );
            }
        }
        if self.openai_base_url.is_none() {
            for (var, set) in [
                ("OPENAI_API_KEY", self.openai_api_key.is_some()),
                ("OPENAI_MODEL", self.openai_model.is_some()),
            ] {
                if set {
                    return fail(var, "is set, but OPENAI_BASE_URL is unset".into());
                }
            }
            return Ok(());
        }
        match self.openai_model.as_deref().map(str::trim) {
            None | Some("") => {
                return fail(
                    "OPENAI_MODEL",
                    "is required with OPENAI_BASE_URL: the model asked when a request names none"
                        .into(),
                )
            }
            Some(model) if model.chars().count() > MODEL_MAX_CHARS => {
                return fail(
                    "OPENAI_MODEL",
                    format!("must be at most {MODEL_MAX_CHARS} characters"),
                )
            }
            Some(_) => {}
        }
        if let Some(key) = &self.openai_api_key {
            let bearer = format!("Bearer {}", key.expose_secret());
            if http::HeaderValue::from_str(&bearer).is_err() {
                return fail(
                    "OPENAI_API_KEY",
                    "holds a control character, so it cannot be sent as a header".into(),
                );
            }
        }
        Ok(())
    }
}
