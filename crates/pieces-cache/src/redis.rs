use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::AsyncCommands;
use tokio::sync::OnceCell;

use super::{Cache, CacheError, FillTicket, Lookup};

/// Redis through one multiplexed connection that reconnects by itself. Every call is bounded
/// by `timeout`, so a Redis outage costs a request at most that long.
pub struct RedisCache {
    client: redis::Client,
    config: ConnectionManagerConfig,
    /// Set by the first successful connect; the manager reconnects by itself after that.
    connection: OnceCell<ConnectionManager>,
    /// When the last first-connect attempt failed, so an outage at start-up is not retried
    /// by every request.
    last_failure: Mutex<Option<Instant>>,
    timeout: Duration,
    /// Calls that failed, for `Cache::failures`.
    failures: AtomicU64,
}

/// How long to answer "unavailable" at once after a failed first connect.
const RECONNECT_PAUSE: Duration = Duration::from_secs(1);

/// How long a key's generation outlives its last invalidation: far longer than any fill
/// (a store read) takes, so a fill never finds the generation gone and mistakes it for none.
const GENERATION_TTL_SECS: u64 = 3600;

/// Stores the value only if the key's generation is still the one the look-up saw.
const FILL_SCRIPT: &str = r"
if (redis.call('GET', KEYS[2]) or '0') == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
  return 1
end
return 0";

/// The key that counts invalidations of `key`.
fn generation_key(key: &str) -> String {
    format!("{key}:gen")
}

impl RedisCache {
    /// Connects without waiting for Redis to be up: a Redis that starts later is picked up.
    pub async fn connect(url: &str, timeout: Duration) -> Result<Self, CacheError> {
        let client =
            redis::Client::open(url).map_err(|e| CacheError::Unavailable(e.to_string()))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout.max(Duration::from_millis(500)))
            .set_response_timeout(timeout)
            .set_number_of_retries(1)
            .set_max_delay(2_000);
        let cache = Self {
            client,
            config,
            connection: OnceCell::new(),
            last_failure: Mutex::new(None),
            timeout,
            failures: AtomicU64::new(0),
        };
        // A failure here is only logged: the first request after Redis is up connects.
        if let Err(e) = cache.connection().await {
            tracing::warn!(error = %e, "Redis is not reachable yet; will keep trying");
        }
        Ok(cache)
    }

    async fn connection(&self) -> Result<ConnectionManager, CacheError> {
        match self.connection.get() {
            Some(conn) => Ok(conn.clone()),
            // Boxed: connecting is a future of some 13 KiB, and every cache call would carry
            // (and copy) it inline although only the first one connects.
            None => Box::pin(self.first_connect())
                .await
                .inspect_err(|_| self.failed()),
        }
    }

    fn failed(&self) {
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    async fn first_connect(&self) -> Result<ConnectionManager, CacheError> {
        let recently_failed = self
            .last_failure
            .lock()
            .map(|t| t.is_some_and(|t| t.elapsed() < RECONNECT_PAUSE))
            .unwrap_or(false);
        if recently_failed {
            return Err(CacheError::Unavailable("not connected".into()));
        }
        let connect = ConnectionManager::new_with_config(self.client.clone(), self.config.clone());
        let result = self
            .connection
            .get_or_try_init(|| async {
                match tokio::time::timeout(self.timeout.max(Duration::from_millis(500)), connect)
                    .await
                {
                    Ok(Ok(conn)) => Ok(conn),
                    Ok(Err(e)) => Err(CacheError::Unavailable(e.to_string())),
                    Err(_) => Err(CacheError::Timeout),
                }
            })
            .await;
        if result.is_err() {
            if let Ok(mut t) = self.last_failure.lock() {
                *t = Some(Instant::now());
            }
        }
        result.cloned()
    }

    async fn bounded<T>(
        &self,
        call: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, CacheError> {
        let result = match tokio::time::timeout(self.timeout, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(CacheError::Unavailable(e.to_string())),
            Err(_) => Err(CacheError::Timeout),
        };
        if result.is_err() {
            self.failed();
        }
        result
    }
}

#[async_trait]
impl Cache for RedisCache {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, CacheError> {
        let mut conn = self.connection().await?;
        let value: Option<Vec<u8>> = self.bounded(conn.get(key)).await?;
        Ok(value.map(Bytes::from))
    }

    async fn set(&self, key: &str, value: Bytes, ttl: Duration) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        let secs = ttl.as_secs().max(1);
        self.bounded(conn.set_ex::<_, _, ()>(key, value.as_ref(), secs))
            .await
    }

    async fn delete(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        self.bounded(conn.del::<_, ()>(key)).await
    }

    async fn lookup(&self, key: &str) -> Result<Lookup, CacheError> {
        let mut conn = self.connection().await?;
        let (value, generation): (Option<Vec<u8>>, Option<u64>) = self
            .bounded(
                redis::pipe()
                    .get(key)
                    .get(generation_key(key))
                    .query_async(&mut conn),
            )
            .await?;
        Ok(match value {
            Some(value) => Lookup::Hit(Bytes::from(value)),
            None => Lookup::Miss(FillTicket::new(generation.unwrap_or(0))),
        })
    }

    async fn fill(
        &self,
        key: &str,
        value: Bytes,
        ttl: Duration,
        ticket: FillTicket,
    ) -> Result<bool, CacheError> {
        let mut conn = self.connection().await?;
        let script = redis::Script::new(FILL_SCRIPT);
        let mut call = script.key(key);
        call.key(generation_key(key))
            .arg(ticket.generation)
            .arg(value.as_ref())
            .arg(ttl.as_secs().max(1));
        let stored: i64 = self.bounded(call.invoke_async(&mut conn)).await?;
        Ok(stored == 1)
    }

    async fn invalidate(&self, key: &str) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        let generation = generation_key(key);
        self.bounded(
            redis::pipe()
                .atomic()
                .incr(&generation, 1)
                .ignore()
                .expire(&generation, GENERATION_TTL_SECS as i64)
                .ignore()
                .del(key)
                .ignore()
                .query_async::<()>(&mut conn),
        )
        .await
    }

    async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.connection().await?;
        self.bounded(redis::cmd("PING").query_async::<String>(&mut conn))
            .await
            .map(drop)
    }

    fn backend(&self) -> &'static str {
        "redis"
    }

    fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
}
