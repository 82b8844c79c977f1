//! Settings: built-in defaults, then an optional TOML file (`CONFIG_FILE`), then environment
//! variables whose names the platform fixes. Keys in the TOML file are the variable names in
//! lower case (`api_port = 8200`).

mod ai;
mod file;
mod parse;
mod validate;

pub use ai::AiProviders;

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use secrecy::SecretString;
use serde::Deserialize;

use pieces_model::Limits;
use pieces_store::DatabaseUrl;

/// Every environment variable the service reads. The Kubernetes manifests are checked against
/// this list, so a variable is added here or nowhere.
pub const ENV_VARS: &[&str] = &[
    "CONFIG_FILE",
    "API_PORT",
    "METRICS_PORT",
    "HEALTH_PORT",
    "BIND_ADDRESS",
    "LOG_LEVEL",
    "LOG_FORMAT",
    "DATABASE_URL",
    "DATABASE_MAX_CONNECTIONS",
    "DATABASE_TIMEOUT_MS",
    "REDIS_URL",
    "REDIS_CRITICAL",
    "REDIS_TIMEOUT_MS",
    "JWT_SECRET_KEY",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "JWT_GROUPS_CLAIM",
    "API_KEY",
    "PIECES_API_KEY",
    "GATEWAY_URL",
    "COGNITIVE_SERVICES_URL",
    "DATA_PLATFORM_URL",
    "AI_PROVIDERS",
    "OPENAI_BASE_URL",
    "OPENAI_API_KEY",
    "OPENAI_MODEL",
    "AI_CACHE_TTL_SECS",
    "CORS_ALLOWED_ORIGINS",
    "REQUEST_TIMEOUT_SECS",
    "SHUTDOWN_TIMEOUT_SECS",
    "HEADER_READ_TIMEOUT_SECS",
    "IDLE_TIMEOUT_SECS",
    "MAX_CONNECTIONS",
    "MAX_BODY_BYTES",
    "IMPORT_MAX_BYTES",
    "SNIPPET_CACHE_TTL_SECS",
    "WORKFLOW_CONTEXT_TTL_SECS",
    "CACHE_MAX_BYTES",
    "UPSTREAM_CONNECT_TIMEOUT_MS",
    "UPSTREAM_TIMEOUT_SECS",
    "AI_ASSIST_RATE_PER_MINUTE",
    "CIRCUIT_BREAKER_THRESHOLD",
    "CIRCUIT_BREAKER_COOLDOWN_SECS",
    "OUTBOX_POLL_INTERVAL_MS",
    "OUTBOX_MAX_AGE_SECS",
    "ALLOW_SQLITE_IN_KUBERNETES",
    "MAX_TITLE_CHARS",
    "MAX_CODE_BYTES",
    "MAX_LANGUAGE_CHARS",
    "MAX_TAGS",
    "MAX_TAG_CHARS",
    "MAX_METADATA_BYTES",
    "EVENT_RETENTION_HOURS",
    "AUDIT_RETENTION_DAYS",
    "HISTORY_MAX_VERSIONS",
    "TRASH_RETENTION_DAYS",
    "BACKUP_DIR",
    "BACKUP_INTERVAL_MINUTES",
    "BACKUP_KEEP",
    "SHARE_RATE_PER_MINUTE",
    "STREAM_MAX_PER_USER",
    "CLIENT_WRITE_TIMEOUT_SECS",
    "TOKENS_MAX_PER_USER",
    "NEAR_CACHE_TTL_SECS",
    "NEAR_CACHE_MAX_BYTES",
    "EMBEDDINGS_URL",
    "EMBEDDINGS_MODEL",
    "EMBEDDINGS_API_KEY",
    "EMBEDDINGS_MODEL_DIR",
    "SEARCH_MIN_SIMILARITY",
    "AI_CONTEXT_MIN_SIMILARITY",
    "VECTOR_INDEX_MAX_BYTES",
];

/// Paths the probes use, on the health port and the API port alike.
pub const LIVE_PATH: &str = "/health/live";
pub const READY_PATH: &str = "/health/ready";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Text,
}

/// The service's whole configuration, validated.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct Settings {
    pub api_port: u16,
    pub metrics_port: u16,
    pub health_port: u16,
    pub bind_address: IpAddr,
    pub log_level: String,
    pub log_format: LogFormat,
    #[serde(deserialize_with = "parse::parsed")]
    pub database_url: DatabaseUrl,
    pub database_max_connections: u32,
    pub database_timeout_ms: u64,
    pub redis_url: Option<SecretString>,
    pub redis_critical: bool,
    pub redis_timeout_ms: u64,
    pub jwt_secret_key: Option<SecretString>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    /// The JWT claim listing the caller's platform groups; unset: groups are not read.
    pub jwt_groups_claim: Option<String>,
    #[serde(deserialize_with = "parse::trimmed")]
    pub api_key: Option<SecretString>,
    pub pieces_api_key: Option<SecretString>,
    pub gateway_url: Option<String>,
    pub cognitive_services_url: Option<String>,
    pub data_platform_url: Option<String>,
    /// The answering providers in the order asked; empty = the configured ones.
    #[serde(deserialize_with = "parse::parsed")]
    pub ai_providers: AiProviders,
    pub openai_base_url: Option<String>,
    #[serde(deserialize_with = "parse::trimmed")]
    pub openai_api_key: Option<SecretString>,
    pub openai_model: Option<String>,
    /// 0 = no answer cache.
    pub ai_cache_ttl_secs: u64,
    pub cors_allowed_origins: String,
    pub request_timeout_secs: u64,
    pub shutdown_timeout_secs: u64,
    pub header_read_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub max_connections: usize,
    pub max_body_bytes: usize,
    /// The largest file an import may send (it is spooled to disk, not held in memory).
    pub import_max_bytes: usize,
    pub snippet_cache_ttl_secs: u64,
    pub workflow_context_ttl_secs: u64,
    pub cache_max_bytes: u64,
    pub upstream_connect_timeout_ms: u64,
    pub upstream_timeout_secs: u64,
    pub ai_assist_rate_per_minute: u32,
    pub circuit_breaker_threshold: u32,
    pub circuit_breaker_cooldown_secs: u64,
    pub outbox_poll_interval_ms: u64,
    pub outbox_max_age_secs: u64,
    pub allow_sqlite_in_kubernetes: bool,
    pub max_title_chars: usize,
    pub max_code_bytes: usize,
    pub max_language_chars: usize,
    pub max_tags: usize,
    pub max_tag_chars: usize,
    pub max_metadata_bytes: usize,
    pub event_retention_hours: u64,
    /// How long audit records are kept.
    pub audit_retention_days: u64,
    /// Versions kept per snippet, the current one included; 0 keeps no history.
    pub history_max_versions: u32,
    /// How long a deleted snippet stays in the trash before it is erased.
    pub trash_retention_days: u64,
    /// Where scheduled backups of the embedded store go.
    pub backup_dir: Option<std::path::PathBuf>,
    /// Minutes between scheduled backups of the embedded store; 0 takes none.
    pub backup_interval_minutes: u64,
    /// Scheduled backups kept; older ones are deleted.
    pub backup_keep: usize,
    /// Share-link requests one client address may make per minute.
    pub share_rate_per_minute: u32,
    pub stream_max_per_user: usize,
    /// How long a response may wait for its client to take more bytes before the connection
    /// is closed (a client that stops reading holds what was written for it).
    pub client_write_timeout_secs: u64,
    /// Live personal tokens a user may hold at once.
    pub tokens_max_per_user: usize,
    pub near_cache_ttl_secs: u64,
    pub near_cache_max_bytes: u64,
    /// An OpenAI-compatible embeddings endpoint (`.../v1`, or its `/embeddings` route).
    pub embeddings_url: Option<String>,
    pub embeddings_model: Option<String>,
    #[serde(deserialize_with = "parse::trimmed")]
    pub embeddings_api_key: Option<SecretString>,
    /// A local sentence-transformers model: config.json, tokenizer.json, model.safetensors.
    pub embeddings_model_dir: Option<std::path::PathBuf>,
    /// Cosine similarity below which a snippet is no semantic match.
    pub search_min_similarity: f32,
    /// Cosine similarity to a question below which a snippet is not sent along with it.
    pub ai_context_min_similarity: f32,
    /// Bytes the in-process vector indexes may hold together.
    pub vector_index_max_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        let limits = Limits::default();
        Self {
            api_port: 8200,
            metrics_port: 9200,
            health_port: 9201,
            bind_address: IpAddr::from([0, 0, 0, 0]),
            log_level: "info".into(),
            log_format: LogFormat::Json,
            database_url: DatabaseUrl::default(),
            database_max_connections: 10,
            database_timeout_ms: 3_000,
            redis_url: None,
            redis_critical: true,
            redis_timeout_ms: 250,
            jwt_secret_key: None,
            jwt_issuer: None,
            jwt_audience: None,
            jwt_groups_claim: None,
            api_key: None,
            pieces_api_key: None,
            gateway_url: None,
            cognitive_services_url: None,
            data_platform_url: None,
            ai_providers: AiProviders::default(),
            openai_base_url: None,
            openai_api_key: None,
            openai_model: None,
            ai_cache_ttl_secs: 3600,
            cors_allowed_origins: "https://aiwfe.com,http://aiwfe.com,http://localhost:3000".into(),
            request_timeout_secs: 30,
            shutdown_timeout_secs: 20,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 2_048,
            max_body_bytes: 4 * 1024 * 1024,
            import_max_bytes: 64 * 1024 * 1024,
            snippet_cache_ttl_secs: 24 * 3600,
            workflow_context_ttl_secs: 3600,
            cache_max_bytes: 16 * 1024 * 1024,
            upstream_connect_timeout_ms: 2_000,
            upstream_timeout_secs: 20,
            ai_assist_rate_per_minute: 30,
            circuit_breaker_threshold: 5,
            circuit_breaker_cooldown_secs: 30,
            outbox_poll_interval_ms: 1_000,
            outbox_max_age_secs: 7 * 24 * 3600,
            allow_sqlite_in_kubernetes: false,
            max_title_chars: limits.title_chars,
            max_code_bytes: limits.code_bytes,
            max_language_chars: limits.language_chars,
            max_tags: limits.tags,
            max_tag_chars: limits.tag_chars,
            max_metadata_bytes: limits.object_bytes,
            event_retention_hours: 24,
            audit_retention_days: 365,
            history_max_versions: 100,
            trash_retention_days: 30,
            backup_dir: None,
            backup_interval_minutes: 0,
            backup_keep: 7,
            share_rate_per_minute: 60,
            stream_max_per_user: 16,
            client_write_timeout_secs: 30,
            tokens_max_per_user: 100,
            near_cache_ttl_secs: 10,
            near_cache_max_bytes: 16 * 1024 * 1024,
            embeddings_url: None,
            embeddings_model: None,
            embeddings_api_key: None,
            embeddings_model_dir: None,
            search_min_similarity: 0.2,
            ai_context_min_similarity: 0.35,
            vector_index_max_bytes: 256 * 1024 * 1024,
        }
    }
}

/// A configuration problem, phrased for the operator in one line.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(pub String);

impl Settings {
    /// Loads from the process environment.
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_vars(std::env::vars().collect())
    }

    /// Loads from the given variables (tests pass their own instead of mutating the process).
    pub fn from_vars(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        // Only our own names, and an empty value counts as unset, as in a shell `export X=`.
        let mut ours: HashMap<String, String> = vars
            .into_iter()
            .filter(|(k, v)| ENV_VARS.contains(&k.as_str()) && !v.trim().is_empty())
            .collect();
        let mut builder = config::Config::builder();
        if let Some(path) = ours.remove("CONFIG_FILE") {
            builder = builder.add_source(file::read(&path)?);
        }
        let env = config::Environment::default().source(Some(ours));
        let settings: Settings = builder
            .add_source(env)
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(parse::describe)?;
        settings.validate()?;
        Ok(settings)
    }

    /// CORS origins, split from the comma-separated setting.
    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_allowed_origins
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }

    pub fn limits(&self) -> Limits {
        Limits {
            title_chars: self.max_title_chars,
            code_bytes: self.max_code_bytes,
            language_chars: self.max_language_chars,
            tags: self.max_tags,
            tag_chars: self.max_tag_chars,
            object_bytes: self.max_metadata_bytes,
        }
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout_secs)
    }

    pub fn shutdown_timeout(&self) -> Duration {
        Duration::from_secs(self.shutdown_timeout_secs)
    }

    pub fn header_read_timeout(&self) -> Duration {
        Duration::from_secs(self.header_read_timeout_secs)
    }

    pub fn event_retention(&self) -> Duration {
        Duration::from_secs(self.event_retention_hours * 3600)
    }

    pub fn trash_retention(&self) -> Duration {
        Duration::from_secs(self.trash_retention_days.saturating_mul(86_400))
    }

    pub fn audit_retention(&self) -> Duration {
        Duration::from_secs(self.audit_retention_days.saturating_mul(86_400))
    }

    pub fn client_write_timeout(&self) -> Duration {
        Duration::from_secs(self.client_write_timeout_secs)
    }

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
}

#[cfg(test)]
mod tests;
