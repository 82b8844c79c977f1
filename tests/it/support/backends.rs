//! The stores and caches tests run against: a temporary SQLite file with the in-process
//! cache, or a fresh PostgreSQL database with Redis. PostgreSQL and Redis tests skip with a
//! message when those servers are absent, unless PIECES_TEST_REQUIRE_SERVICES=1 (CI), which
//! turns their absence into a failure.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, Executor, PgConnection};
use tempfile::TempDir;

const DEFAULT_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432/test";
const DEFAULT_REDIS: &str = "redis://127.0.0.1:6379/9";
/// Test databases older than this are dropped by later runs.
const STALE_AFTER_SECS: u64 = 3600;

#[derive(Clone)]
pub enum Store {
    Sqlite(Arc<TempDir>),
    Postgres(String),
}

/// A store and, optionally, Redis.
#[derive(Clone)]
pub struct Backend {
    pub store: Store,
    pub redis: Option<String>,
}

impl Backend {
    /// The embedded defaults: a temporary SQLite file and the in-process cache.
    pub fn sqlite() -> Self {
        Self {
            store: Store::Sqlite(Arc::new(tempfile::tempdir().expect("temp dir"))),
            redis: None,
        }
    }

    /// A fresh PostgreSQL database and Redis, or None (with a message) when absent.
    pub async fn postgres(test: &str) -> Option<Self> {
        let store = Store::Postgres(Services::fresh_database(test).await?);
        let redis = Some(Services::redis(test).await?);
        Some(Self { store, redis })
    }

    pub fn database_url(&self) -> String {
        match &self.store {
            Store::Sqlite(dir) => format!("sqlite://{}/pieces.db", dir.path().display()),
            Store::Postgres(url) => url.clone(),
        }
    }

    pub fn redis_url(&self) -> Option<String> {
        self.redis.clone()
    }
}

/// The machine's PostgreSQL and Redis.
pub struct Services;

impl Services {
    fn required() -> bool {
        std::env::var("PIECES_TEST_REQUIRE_SERVICES").is_ok_and(|v| v == "1" || v == "true")
    }

    fn unavailable(test: &str, what: &str, why: String) -> Option<String> {
        if Self::required() {
            panic!("{test}: {what} is required (PIECES_TEST_REQUIRE_SERVICES=1) but {why}");
        }
        eprintln!("SKIPPED {test}: {what} not available ({why}); set PIECES_TEST_REQUIRE_SERVICES=1 to fail instead");
        None
    }

    pub fn postgres_admin_url() -> String {
        std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES.to_owned())
    }

    /// Creates an empty database for one test and returns its URL.
    pub async fn fresh_database(test: &str) -> Option<String> {
        let admin = Self::postgres_admin_url();
        let connect =
            tokio::time::timeout(Duration::from_secs(3), PgConnection::connect(&admin)).await;
        let mut conn = match connect {
            Ok(Ok(conn)) => conn,
            Ok(Err(e)) => return Self::unavailable(test, "PostgreSQL", format!("{admin}: {e}")),
            Err(_) => return Self::unavailable(test, "PostgreSQL", format!("{admin}: timed out")),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock")
            .as_secs();
        sweep_stale(&mut conn, now).await;
        let name = format!("pieces_t_{now}_{}", uuid::Uuid::new_v4().simple());
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Some(format!("{base}/{name}"))
    }

    /// The Redis URL, after checking Redis answers.
    pub async fn redis(test: &str) -> Option<String> {
        let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS.to_owned());
        let ping = async {
            let client = redis::Client::open(url.as_str())?;
            let mut conn = client.get_multiplexed_async_connection().await?;
            redis::cmd("PING").query_async::<String>(&mut conn).await
        };
        match tokio::time::timeout(Duration::from_secs(3), ping).await {
            Ok(Ok(_)) => Some(url),
            Ok(Err(e)) => Self::unavailable(test, "Redis", format!("{url}: {e}")),
            Err(_) => Self::unavailable(test, "Redis", format!("{url}: timed out")),
        }
    }
}

/// Drops test databases left behind by earlier runs.
async fn sweep_stale(conn: &mut PgConnection, now: u64) {
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'pieces_t_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let created = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(now);
        if now.saturating_sub(created) > STALE_AFTER_SECS {
            let _ = conn
                .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                .await;
        }
    }
}
