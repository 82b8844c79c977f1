//! Settings: built-in defaults, then an optional TOML file (`CONFIG_FILE`), then environment
//! variables whose names the platform fixes. Keys in the TOML file are the variable names in
//! lower case (`api_port = 8200`).

mod file;

use std::collections::HashMap;
use std::fmt::Display;
use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use url::Url;

use crate::model::Limits;
use crate::store::DatabaseUrl;

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
    "API_KEY",
    "PIECES_API_KEY",
    "GATEWAY_URL",
    "COGNITIVE_SERVICES_URL",
    "DATA_PLATFORM_URL",
    "CORS_ALLOWED_ORIGINS",
    "REQUEST_TIMEOUT_SECS",
    "SHUTDOWN_TIMEOUT_SECS",
    "HEADER_READ_TIMEOUT_SECS",
    "IDLE_TIMEOUT_SECS",
    "MAX_CONNECTIONS",
    "MAX_BODY_BYTES",
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
    #[serde(deserialize_with = "parsed")]
    pub database_url: DatabaseUrl,
    pub database_max_connections: u32,
    pub database_timeout_ms: u64,
    pub redis_url: Option<SecretString>,
    pub redis_critical: bool,
    pub redis_timeout_ms: u64,
    pub jwt_secret_key: Option<SecretString>,
    pub jwt_issuer: Option<String>,
    pub jwt_audience: Option<String>,
    #[serde(deserialize_with = "trimmed")]
    pub api_key: Option<SecretString>,
    pub pieces_api_key: Option<SecretString>,
    pub gateway_url: Option<String>,
    pub cognitive_services_url: Option<String>,
    pub data_platform_url: Option<String>,
    pub cors_allowed_origins: String,
    pub request_timeout_secs: u64,
    pub shutdown_timeout_secs: u64,
    pub header_read_timeout_secs: u64,
    pub idle_timeout_secs: u64,
    pub max_connections: usize,
    pub max_body_bytes: usize,
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
            api_key: None,
            pieces_api_key: None,
            gateway_url: None,
            cognitive_services_url: None,
            data_platform_url: None,
            cors_allowed_origins: "https://aiwfe.com,http://aiwfe.com,http://localhost:3000".into(),
            request_timeout_secs: 30,
            shutdown_timeout_secs: 20,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 60,
            max_connections: 2_048,
            max_body_bytes: 4 * 1024 * 1024,
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
            .map_err(describe)?;
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let fail = |var: &str, why: &str| Err(ConfigError(format!("{var}: {why}")));
        if let Some(secret) = &self.jwt_secret_key {
            if secret.expose_secret().len() < 32 {
                return fail(
                    "JWT_SECRET_KEY",
                    "must be at least 32 bytes; generate one with `openssl rand -hex 32`",
                );
            }
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
        ] {
            if let Some(value) = value {
                match Url::parse(value) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") => {}
                    _ => return fail(var, "must be an http:// or https:// URL"),
                }
            }
        }
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
            ("HEADER_READ_TIMEOUT_SECS", self.header_read_timeout_secs),
            ("IDLE_TIMEOUT_SECS", self.idle_timeout_secs),
            ("MAX_CONNECTIONS", self.max_connections as u64),
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

    pub fn idle_timeout(&self) -> Duration {
        Duration::from_secs(self.idle_timeout_secs)
    }

    pub fn redis_timeout(&self) -> Duration {
        Duration::from_millis(self.redis_timeout_ms)
    }
}

/// Kubernetes secrets often end in a newline, which no HTTP header may carry.
fn trimmed<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(SecretString::from))
}

/// A value parsed into its type as it is read, so no later code checks the string again.
fn parsed<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    String::deserialize(d)?.parse().map_err(D::Error::custom)
}

/// Turns the config crate's error into one line naming the variable.
fn describe(err: config::ConfigError) -> ConfigError {
    match err {
        config::ConfigError::Type {
            key: Some(key),
            unexpected,
            expected,
            ..
        } => ConfigError(format!(
            "{}: expected {expected}, got {unexpected}",
            key.to_uppercase()
        )),
        other => ConfigError(upper_key_in(&other.to_string())),
    }
}

/// Messages like "unknown variant `xml`, expected `json` or `text` for key `log_format`".
fn upper_key_in(msg: &str) -> String {
    match msg.rsplit_once("for key `") {
        Some((what, key)) => format!("{}: {what}", key.trim_end_matches('`').to_uppercase()),
        None => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::{Settings, ENV_VARS};
    use crate::model::Limits;
    use crate::store::DatabaseUrl;

    fn load(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let vars = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<HashMap<_, _>>();
        Settings::from_vars(vars).map_err(|e| e.to_string())
    }

    #[test]
    fn settings_default_to_the_limits_the_model_defaults_to() {
        let (from_settings, own) = (Settings::default().limits(), Limits::default());
        assert_eq!(format!("{from_settings:?}"), format!("{own:?}"));
    }

    /// Configuration sits above the domain: the model's defaults are its own, and settings
    /// start from them, so the model never needs to reach up for them.
    #[test]
    fn the_model_does_not_depend_on_configuration() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/model");
        for entry in std::fs::read_dir(&dir).expect("src/model") {
            let path = entry.expect("directory entry").path();
            let source = std::fs::read_to_string(&path).expect("readable source");
            assert!(
                !source.contains("crate::config"),
                "{} uses crate::config",
                path.display()
            );
        }
    }

    #[test]
    fn database_url_is_parsed_once_into_the_store_it_names() {
        let url = |value: &str| load(&[("DATABASE_URL", value)]).map(|s| s.database_url);
        let unset = load(&[]).expect("defaults").database_url;
        assert!(matches!(&unset, DatabaseUrl::Sqlite(file) if file == "sqlite://data/pieces.db"));
        assert!(unset.is_embedded());
        let file = url("sqlite://other/pieces.db").expect("a SQLite file");
        assert!(matches!(&file, DatabaseUrl::Sqlite(f) if f == "sqlite://other/pieces.db"));
        for server in ["postgres://app@db/pieces", "postgresql://app@db/pieces"] {
            let parsed = url(server).expect("a PostgreSQL URL");
            assert!(matches!(parsed, DatabaseUrl::Postgres(_)), "{server}");
            assert!(!parsed.is_embedded(), "{server}");
        }
        for refused in ["mysql://db/pieces", "postgresfoo://db/pieces", "pieces.db"] {
            let error = url(refused).expect_err(refused);
            assert!(
                error.starts_with("configuration error: DATABASE_URL: "),
                "{error}"
            );
            assert_eq!(error.lines().count(), 1, "{error}");
        }
    }

    #[test]
    fn no_secret_is_printed_by_debug() {
        let settings = load(&[
            ("JWT_SECRET_KEY", "jwt-secret-that-is-long-enough-for-hs256"),
            ("API_KEY", "platform-api-key"),
            ("PIECES_API_KEY", "pieces-api-key"),
            ("DATABASE_URL", "postgres://app:database-password@db/pieces"),
            ("REDIS_URL", "redis://:redis-password@cache:6379/2"),
        ])
        .expect("valid settings");
        let printed = format!("{settings:?}");
        for secret in [
            "jwt-secret",
            "platform-api-key",
            "pieces-api-key",
            "database-password",
            "redis-password",
        ] {
            assert!(!printed.contains(secret), "{secret} in {printed}");
        }
    }

    #[test]
    fn an_unknown_key_in_the_config_file_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("temporary directory");
        let file = dir.path().join("pieces.toml");
        std::fs::write(&file, "api_port = 8300\napi_prot = 8300\n").expect("written");
        let error = load(&[("CONFIG_FILE", file.to_str().expect("UTF-8 path"))]);
        assert_eq!(
            error.expect_err("refused"),
            "configuration error: CONFIG_FILE: unknown key `api_prot`"
        );
    }

    #[test]
    fn an_api_key_that_cannot_be_a_header_is_refused_naming_api_key() {
        let error = load(&[("API_KEY", "platform\u{7}key")]).expect_err("refused");
        assert!(error.contains("API_KEY"), "{error}");
        assert!(
            !error.contains("platform"),
            "the key itself is not printed: {error}"
        );
        assert_eq!(error.lines().count(), 1, "{error}");
    }

    #[test]
    fn every_variable_is_documented_in_env_example_and_readme() {
        let example = include_str!("../../.env.example");
        let readme = include_str!("../../README.md");
        for var in ENV_VARS {
            assert!(
                example.contains(&format!("\n{var}=")),
                "{var} missing from .env.example"
            );
            assert!(
                readme.contains(&format!("`{var}`")),
                "{var} missing from README"
            );
        }
    }
}
