//! Assembles the service from its settings and serves it on already-bound listeners until a
//! shutdown future resolves.

use std::future::{Future, IntoFuture};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::get;
use axum::Router;
use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::{Authenticator, JwtKeys, LocalMode, PersonalTokens};
use crate::cache::{Cache, MemoryCache, NearCache, RedisCache};
use crate::config::Settings;
use crate::embeddings::{LocalEmbedder, LocalModel, RemoteEmbedder, SharedEmbedder};
use crate::http::routes::probes_router;
use crate::http::serve::{self, ConnectionLimits};
use crate::http::state::{AppState, Shared};
use crate::metrics::Metrics;
use crate::model::{EventPlan, Provider};
use crate::outbox::{OutboxWorker, WorkerConfig};
use crate::service::{
    Access, AnswerCache, AssistDeps, AssistService, CacheKeeper, ContextDeps, ContextService,
    EmbeddingDeps, EmbeddingService, ExportService, HealthService, HistoryService, ImportService,
    OutboxSignal, RelevanceFloor, SearchDeps, SearchService, Services, ShareService, SnippetDeps,
    SnippetService, StreamService, TokenService, TrashService, WorkspaceService,
};
use crate::store::{self, AuditLog, ChangeFeed, ChangeLog, ContextStore, StoreError, TrashStore};
use crate::upstream::ai::{AiProvider, OpenAiClient};
use crate::upstream::{
    self, CircuitBreaker, CognitiveClient, DataPlatformClient, GatewayClient, HttpUpstream,
};

/// How long deliveries in flight may take to settle at shutdown.
const OUTBOX_DRAIN: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    #[error("DATABASE_URL: cannot open the store: {0}")]
    Store(#[from] StoreError),
    #[error("REDIS_URL: {0}")]
    Cache(#[from] crate::cache::CacheError),
    #[error("cannot set up metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("{0}")]
    Http(#[from] upstream::ClientError),
    #[error("cannot listen: {0}")]
    Bind(#[from] io::Error),
}

/// The three listeners, bound before serving so tests can bind port 0.
pub struct Listeners {
    pub api: TcpListener,
    pub metrics: TcpListener,
    pub health: TcpListener,
}

impl Listeners {
    pub async fn bind(settings: &Settings) -> io::Result<Self> {
        let at = |port| SocketAddr::new(settings.bind_address, port);
        let bind = |port| async move {
            TcpListener::bind(at(port))
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("port {port}: {e}")))
        };
        Ok(Self {
            api: bind(settings.api_port).await?,
            metrics: bind(settings.metrics_port).await?,
            health: bind(settings.health_port).await?,
        })
    }
}

/// The embedding provider the settings name, if any; a local model is loaded here, so a
/// missing or broken one stops start-up naming `EMBEDDINGS_MODEL_DIR`.
async fn embedder(settings: &Settings) -> Result<Option<SharedEmbedder>, StartupError> {
    let invalid = |var: &str, why: String| crate::config::ConfigError(format!("{var}: {why}"));
    if let Some(dir) = settings.embeddings_model_dir.clone() {
        let shown = dir.display().to_string();
        let model = tokio::task::spawn_blocking(move || LocalModel::load(&dir))
            .await
            .map_err(|e| invalid("EMBEDDINGS_MODEL_DIR", e.to_string()))?
            .map_err(|e| invalid("EMBEDDINGS_MODEL_DIR", format!("{shown}: {e}")))?;
        tracing::info!(model = model.id(), "local embedding model loaded");
        let local = LocalEmbedder::start(model)
            .map_err(|e| invalid("EMBEDDINGS_MODEL_DIR", format!("cannot start: {e}")))?;
        return Ok(Some(Arc::new(local)));
    }
    if let (Some(url), Some(model)) = (&settings.embeddings_url, &settings.embeddings_model) {
        let remote = RemoteEmbedder::new(
            url,
            model.trim(),
            settings.embeddings_api_key.as_ref(),
            Duration::from_millis(settings.upstream_connect_timeout_ms),
            Duration::from_secs(settings.upstream_timeout_secs),
        )
        .map_err(crate::config::ConfigError)?;
        return Ok(Some(Arc::new(remote)));
    }
    Ok(None)
}

/// How often users idle past their rate-limit window are forgotten.
const FORGET_IDLE_USERS_EVERY: Duration = Duration::from_secs(60);

/// A built service, ready to serve.
pub struct Service {
    state: AppState,
    background: Background,
}

/// What runs beside the listeners.
struct Background {
    worker: OutboxWorker,
    personal: Arc<PersonalTokens>,
    feed: ChangeFeed,
    near: Option<Arc<NearCache>>,
    postgres: Option<sqlx::PgPool>,
    pruner: Pruner,
    keeper: Arc<CacheKeeper>,
    stream: Arc<StreamService>,
    embedding: Option<Arc<EmbeddingService>>,
    search: Option<Arc<SearchService>>,
    access: Arc<Access>,
}

/// What is deleted once it is past its time: change-stream events, workflow contexts and
/// audit records.
struct Pruner {
    changes: Arc<dyn ChangeLog>,
    contexts: Arc<dyn ContextStore>,
    audit: Arc<dyn AuditLog>,
    trash: Arc<dyn TrashStore>,
}

impl Service {
    /// Connects the store (running migrations) and the cache, builds the upstream clients,
    /// and assembles the use cases on them. Without `JWT_SECRET_KEY` in `settings` this is
    /// local mode, and `jwt` holds the run's own random secret (see `crate::jwt_keys`).
    pub async fn build(settings: Settings, jwt: JwtKeys) -> Result<Self, StartupError> {
        let local = settings
            .jwt_secret_key
            .is_none()
            .then(|| LocalMode::new(jwt.clone()));
        let metrics = Arc::new(Metrics::new()?);
        metrics.preset_error_types(crate::http::error::ApiError::CODES);
        let stores = store::connect(
            &settings.database_url,
            settings.database_max_connections,
            Duration::from_millis(settings.database_timeout_ms),
            store::Keeping {
                versions: settings.history_max_versions.into(),
            },
            &metrics,
        )
        .await?;
        let feed = ChangeFeed::default();
        // With Redis, reads are served from an in-process copy the change bus keeps fresh.
        let Caches {
            cache,
            shared,
            near,
        } = caches(&settings, &metrics).await?;
        let client = upstream::build_client(upstream::ClientSettings {
            api_key: settings.api_key.as_ref(),
            connect_timeout: Duration::from_millis(settings.upstream_connect_timeout_ms),
            timeout: Duration::from_secs(settings.upstream_timeout_secs),
        })?;
        let upstream = |name: &'static str, url: &Option<String>| {
            url.as_deref()
                .and_then(|u| HttpUpstream::new(name, u, client.clone(), metrics.clone()))
        };
        let cooldown = Duration::from_secs(settings.circuit_breaker_cooldown_secs);
        let threshold = settings.circuit_breaker_threshold;
        let new_breaker = || CircuitBreaker::new(threshold, cooldown);
        let cognitive = upstream("cognitive", &settings.cognitive_services_url)
            .map(|http| Arc::new(CognitiveClient::new(http, new_breaker)));
        let openai = openai_client(&settings, &metrics, new_breaker())?;
        let data_platform =
            upstream("data_platform", &settings.data_platform_url).map(DataPlatformClient::new);
        let gateway = upstream("gateway", &settings.gateway_url).map(GatewayClient::new);
        let embedder = embedder(&settings).await?;
        if let Some(embedder) = &embedder {
            metrics
                .embedding_model
                .with_label_values(&[embedder.model_id()])
                .set(1);
        }
        let plan = EventPlan {
            sync: data_platform.is_some(),
            enrich: cognitive.is_some(),
            notify: gateway.is_some(),
            embed: embedder.is_some(),
            actor: None,
        };
        let access = Arc::new(Access::new(stores.workspaces.clone()));
        let search = embedder.as_ref().map(|embedder| {
            Arc::new(SearchService::new(SearchDeps {
                embedder: embedder.clone(),
                embeddings: stores.embeddings.clone(),
                snippets: stores.snippets.clone(),
                min_similarity: settings.search_min_similarity,
                index_max_bytes: settings.vector_index_max_bytes,
                relevance: RelevanceFloor::at(settings.ai_context_min_similarity),
                metrics: metrics.clone(),
            }))
        });
        let embedding = embedder.map(|embedder| {
            Arc::new(EmbeddingService::new(EmbeddingDeps {
                embedder,
                embeddings: stores.embeddings.clone(),
                snippets: stores.snippets.clone(),
                metrics: metrics.clone(),
            }))
        });
        let signal = Arc::new(OutboxSignal::new(
            metrics.sync_backlog.with_label_values(&["pending"]),
        ));
        let keeper = Arc::new(CacheKeeper::new(
            cache.clone(),
            stores.outbox.clone(),
            signal.clone(),
        ));
        let limits = settings.limits();
        let snippets = Arc::new(SnippetService::new(SnippetDeps {
            store: stores.snippets.clone(),
            outbox: stores.outbox.clone(),
            cache: cache.clone(),
            keeper: keeper.clone(),
            metrics: metrics.clone(),
            plan: plan.clone(),
            limits: limits.clone(),
            cache_ttl: Duration::from_secs(settings.snippet_cache_ttl_secs),
            signal: signal.clone(),
            feed: feed.clone(),
            search: search.clone(),
            embedding: embedding.clone(),
            access: access.clone(),
        }));
        let workspaces = Arc::new(WorkspaceService {
            store: stores.workspaces.clone(),
            access: access.clone(),
            audit: stores.audit.clone(),
            feed: feed.clone(),
            groups_claim: settings.jwt_groups_claim.is_some(),
        });
        let shares = Arc::new(ShareService::new(
            stores.shares.clone(),
            stores.snippets.clone(),
            access.clone(),
            settings.share_rate_per_minute,
        ));
        let context = Arc::new(ContextService::new(ContextDeps {
            cache: shared,
            keeper: keeper.clone(),
            store: stores.contexts.clone(),
            outbox: stores.outbox.clone(),
            plan,
            limits: limits.clone(),
            ttl: Duration::from_secs(settings.workflow_context_ttl_secs),
            signal: signal.clone(),
            feed: feed.clone(),
        }));
        let providers = settings
            .answering_providers()
            .into_iter()
            .filter_map(|provider| match provider {
                Provider::Cognitive => cognitive.clone().map(AiProvider::Cognitive),
                Provider::Openai => openai.clone().map(AiProvider::Openai),
            })
            .collect();
        let answers = Arc::new(AnswerCache::new(
            cache.clone(),
            Duration::from_secs(settings.ai_cache_ttl_secs),
            answering_setup(&settings),
            metrics.clone(),
        ));
        let assist = Arc::new(AssistService::new(AssistDeps {
            snippets: snippets.clone(),
            access: access.clone(),
            context: context.clone(),
            providers,
            answers,
            calls_per_minute: settings.ai_assist_rate_per_minute,
            limits,
            metrics: metrics.clone(),
        }));
        let worker = OutboxWorker {
            queue: stores.outbox.clone(),
            snippets: snippets.clone(),
            keeper: keeper.clone(),
            metrics: metrics.clone(),
            data_platform,
            gateway,
            cognitive,
            embeddings: embedding.clone(),
            signal,
            config: WorkerConfig {
                poll_interval: Duration::from_millis(settings.outbox_poll_interval_ms),
                max_age: Duration::from_secs(settings.outbox_max_age_secs),
            },
            last_count: Default::default(),
        };
        let history = Arc::new(HistoryService::new(
            stores.history.clone(),
            snippets.clone(),
        ));
        let trash = Arc::new(TrashService::new(
            stores.trash.clone(),
            access.clone(),
            snippets.clone(),
        ));
        let exports = Arc::new(ExportService {
            snippets: snippets.clone(),
            walk: stores.walk.clone(),
            store: stores.snippets.clone(),
            history: stores.history.clone(),
        });
        let imports = Arc::new(ImportService {
            snippets: snippets.clone(),
            jobs: stores.imports.clone(),
            store: stores.snippets.clone(),
            trash: stores.trash.clone(),
            limits: settings.limits(),
            metrics: metrics.clone(),
            running: Arc::new(tokio::sync::Semaphore::new(
                crate::service::imports::IMPORTS_AT_ONCE,
            )),
        });
        ImportService::forget_stale_files(&std::env::temp_dir());
        let personal = Arc::new(PersonalTokens::new(stores.tokens.clone()));
        let tokens = Arc::new(TokenService::new(
            stores.tokens.clone(),
            personal.clone(),
            access.clone(),
            settings.tokens_max_per_user,
        ));
        let stream = Arc::new(StreamService::new(
            stores.changes.clone(),
            personal.clone(),
            access.clone(),
            settings.stream_max_per_user,
        ));
        let background = Background {
            worker,
            personal: personal.clone(),
            feed,
            near,
            postgres: stores.postgres.clone(),
            pruner: Pruner {
                changes: stores.changes_pruner.clone(),
                contexts: stores.contexts_pruner.clone(),
                audit: stores.audit_pruner.clone(),
                trash: stores.trash.clone(),
            },
            access,
            keeper,
            stream: stream.clone(),
            embedding,
            search,
        };
        let state = AppState::new(Shared {
            services: Services {
                snippets,
                context,
                assist,
                tokens,
                stream,
                workspaces,
                shares,
                history,
                trash,
                imports,
                exports,
            },
            health: HealthService {
                store: stores.snippets,
                cache,
                redis_critical: settings.redis_critical,
            },
            auth: Arc::new(Authenticator::new(jwt, personal.clone(), local.is_some())),
            metrics,
            body_budget: crate::http::body_budget::BodyBudget::new(settings.max_body_bytes),
            settings,
            local,
            shutting_down: AtomicBool::new(false),
            stop: CancellationToken::new(),
        });
        Ok(Self { state, background })
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` resolves: readiness turns 503 at once, listeners stop taking
    /// connections, in-flight requests get `SHUTDOWN_TIMEOUT_SECS` to finish.
    pub async fn serve(
        self,
        listeners: Listeners,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> io::Result<()> {
        let Self { state, background } = self;
        let stop = state.stop.clone();
        let Background {
            worker,
            personal,
            feed,
            near,
            postgres,
            pruner,
            keeper,
            stream,
            embedding,
            search,
            access,
        } = background;
        let worker_task = tokio::spawn(worker.run(stop.clone(), OUTBOX_DRAIN));
        if let Some(embedding) = embedding {
            let (backfill, counting) = (embedding.clone(), stop.clone());
            tokio::spawn(async move { embedding.keep_backlog_counted(counting).await });
            let stop = stop.clone();
            tokio::spawn(async move { backfill.backfill(&stop).await });
        }
        tokio::spawn(forget_idle_users(state.clone(), stop.clone()));
        let flushing = tokio::spawn(flush_token_uses(personal, stop.clone()));
        tokio::spawn(stream.follow(feed.clone(), stop.clone()));
        tokio::spawn(access.follow(feed.clone(), stop.clone()));
        if let Some(search) = search {
            tokio::spawn(search.follow(feed.clone(), stop.clone()));
        }
        if let Some(near) = near {
            tokio::spawn(near.follow(feed.clone(), stop.clone()));
        }
        if let Some(pool) = postgres {
            tokio::spawn(store::feed::listen(feed.clone(), pool, stop.clone()));
        }
        let retention = Retention {
            events: state.settings.event_retention(),
            audit: state.settings.audit_retention(),
            trash: state.settings.trash_retention(),
        };
        tokio::spawn(prune(pruner, retention, stop.clone()));
        if let Some(schedule) = backup_schedule(&state.settings) {
            tokio::spawn(schedule.run(state.metrics.clone(), stop.clone()));
        }
        tokio::spawn(give_memory_back(stop.clone()));
        tokio::spawn(keeper.watch(stop.clone()));
        let api = crate::http::build_router(state.clone());
        let metrics_router = metrics_router(&state);
        let health_router = probes_router().with_state(state.clone());
        tracing::info!(
            api = %listeners.api.local_addr()?,
            metrics = %listeners.metrics.local_addr()?,
            health = %listeners.health.local_addr()?,
            store = state.health.backends().0,
            cache = state.health.backends().1,
            "pieces-connector listening"
        );
        let watcher_state = state.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutdown requested: readiness now fails, streams end, draining");
            watcher_state.begin_shutdown();
        });
        let until = |t: CancellationToken| async move { t.cancelled().await };
        // The health listener outlives the others, so probes see readiness fail while the
        // API drains.
        let health_stop = CancellationToken::new();
        let health_task = tokio::spawn(
            axum::serve(listeners.health, health_router)
                .with_graceful_shutdown(until(health_stop.clone()))
                .into_future(),
        );
        let servers = async {
            tokio::try_join!(
                serve::serve(
                    listeners.api,
                    api,
                    connection_limits(&state.settings),
                    state.metrics.active_connections.clone(),
                    until(stop.clone()),
                ),
                axum::serve(listeners.metrics, metrics_router)
                    .with_graceful_shutdown(until(stop.clone()))
                    .into_future(),
            )
        };
        let timeout = state.settings.shutdown_timeout();
        tokio::select! {
            result = servers => { result?; }
            () = async { stop.cancelled().await; tokio::time::sleep(timeout).await } => {
                tracing::warn!(?timeout, "requests still running at the shutdown deadline; stopping anyway");
            }
        }
        health_stop.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(1), health_task).await;
        let _ = tokio::time::timeout(OUTBOX_DRAIN + Duration::from_secs(1), worker_task).await;
        let _ = tokio::time::timeout(Duration::from_secs(2), flushing).await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// The caches a service reads through.
struct Caches {
    /// Snippet reads: with Redis, the near cache in front of it.
    cache: Arc<dyn Cache>,
    /// Redis itself (or the in-process cache). Workflow contexts are read from it, never from
    /// the near cache, whose copies would outlive a context's expiry and are not dropped on
    /// other replicas when a context changes.
    shared: Arc<dyn Cache>,
    near: Option<Arc<NearCache>>,
}

/// Redis with an in-process near cache in front when `REDIS_URL` is set; the in-process
/// cache otherwise.
async fn caches(settings: &Settings, metrics: &Arc<Metrics>) -> Result<Caches, StartupError> {
    let Some(url) = &settings.redis_url else {
        let memory: Arc<dyn Cache> = Arc::new(MemoryCache::new(settings.cache_max_bytes));
        return Ok(Caches {
            cache: memory.clone(),
            shared: memory,
            near: None,
        });
    };
    let redis: Arc<dyn Cache> =
        Arc::new(RedisCache::connect(url.expose_secret(), settings.redis_timeout()).await?);
    let near = Arc::new(NearCache::new(
        redis.clone(),
        Duration::from_secs(settings.near_cache_ttl_secs),
        settings.near_cache_max_bytes,
        metrics.clone(),
    ));
    Ok(Caches {
        cache: near.clone(),
        shared: redis,
        near: Some(near),
    })
}

/// The OpenAI-compatible provider, when `OPENAI_BASE_URL` is set, on a client of its own.
fn openai_client(
    settings: &Settings,
    metrics: &Arc<Metrics>,
    breaker: CircuitBreaker,
) -> Result<Option<Arc<OpenAiClient>>, StartupError> {
    let Some(base) = &settings.openai_base_url else {
        return Ok(None);
    };
    let client = upstream::ai::openai_client(upstream::ClientSettings {
        api_key: settings.openai_api_key.as_ref(),
        connect_timeout: Duration::from_millis(settings.upstream_connect_timeout_ms),
        timeout: Duration::from_secs(settings.upstream_timeout_secs),
    })?;
    let Some(http) = HttpUpstream::new("openai", base, client, metrics.clone()) else {
        return Ok(None);
    };
    let model = settings.openai_model.as_deref().unwrap_or_default();
    let model = model.trim().to_owned();
    let idle = Duration::from_secs(settings.upstream_timeout_secs);
    Ok(Some(Arc::new(OpenAiClient::new(
        http, breaker, model, idle,
    ))))
}

/// Names the providers, their order and the OpenAI model: answers cached under another
/// configuration are not served under this one.
fn answering_setup(settings: &Settings) -> String {
    let order: Vec<&str> = settings
        .answering_providers()
        .iter()
        .map(|p| p.as_str())
        .collect();
    format!(
        "{}/{}",
        order.join(","),
        settings.openai_model.as_deref().unwrap_or_default()
    )
}

/// Writes personal tokens' last use every this often: `last_used_at` is at most this late,
/// and a busy token costs one write a period, not one a request.
const FLUSH_TOKEN_USES_EVERY: Duration = Duration::from_secs(30);

/// Records personal tokens' uses in batches, and once more at shutdown.
async fn flush_token_uses(personal: Arc<PersonalTokens>, stop: CancellationToken) {
    let mut every = tokio::time::interval(FLUSH_TOKEN_USES_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => personal.flush_uses().await,
        }
    }
    personal.flush_uses().await;
}

/// Change-stream events older than their retention, and expired workflow contexts, are
/// pruned this often, in batches of this many.
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const PRUNE_BATCH: i64 = 1_000;

/// Deletes change-stream events past their retention and expired contexts, a bounded batch at
/// a time, so the store never holds a long lock for it.
/// Scheduled backups of the embedded store, when `BACKUP_INTERVAL_MINUTES` asks for them
/// (the settings allow them on the embedded store only).
fn backup_schedule(settings: &Settings) -> Option<crate::service::BackupSchedule> {
    let store::DatabaseUrl::Sqlite(url) = &settings.database_url else {
        return None;
    };
    let dir = settings.backup_dir.clone()?;
    (settings.backup_interval_minutes > 0).then(|| crate::service::BackupSchedule {
        url: url.clone(),
        dir,
        every: Duration::from_secs(settings.backup_interval_minutes * 60),
        keep: settings.backup_keep,
    })
}

/// How long what the pruner deletes is kept.
struct Retention {
    events: Duration,
    audit: Duration,
    trash: Duration,
}

async fn prune(pruner: Pruner, retention: Retention, stop: CancellationToken) {
    let mut every = tokio::time::interval(PRUNE_EVERY);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let now = chrono::Utc::now();
        let ago = |kept: Duration| {
            now - chrono::Duration::from_std(kept).unwrap_or(chrono::Duration::MAX)
        };
        let before = ago(retention.events);
        in_batches("the change log", || {
            pruner.changes.prune_changes(before, PRUNE_BATCH)
        })
        .await;
        let before = ago(retention.audit);
        in_batches("the audit log", || {
            pruner.audit.prune_audit(before, PRUNE_BATCH)
        })
        .await;
        let before = ago(retention.trash);
        in_batches("the trash", || {
            pruner.trash.prune_trash(before, PRUNE_BATCH)
        })
        .await;
        in_batches("expired contexts", || {
            pruner.contexts.prune_contexts(now, PRUNE_BATCH)
        })
        .await;
    }
}

/// Runs `delete` until it removes less than a batch.
async fn in_batches<F, Fut>(what: &str, mut delete: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    loop {
        match delete().await {
            Ok(removed) if removed == PRUNE_BATCH as u64 => tokio::task::yield_now().await,
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %e, "cannot prune {what}; will retry");
                return;
            }
        }
    }
}

/// Hands memory freed after a burst back to the system, so repeated bursts do not ratchet the
/// resident memory up (see `allocator`).
async fn give_memory_back(stop: CancellationToken) {
    let mut every = tokio::time::interval(crate::allocator::GIVE_BACK_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => {
                let _ = tokio::task::spawn_blocking(crate::allocator::give_back).await;
            }
        }
    }
}

/// Keeps the per-user rate limit's memory to the users active in its window.
async fn forget_idle_users(state: AppState, stop: CancellationToken) {
    let mut every = tokio::time::interval(FORGET_IDLE_USERS_EVERY);
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = every.tick() => {
                state.services.assist.forget_idle_users();
                state.services.shares.forget_idle();
            }
        }
    }
}

fn connection_limits(settings: &Settings) -> ConnectionLimits {
    ConnectionLimits {
        header_read_timeout: settings.header_read_timeout(),
        idle_timeout: settings.idle_timeout(),
        max_connections: settings.max_connections,
        write_timeout: settings.client_write_timeout(),
    }
}

fn metrics_router(state: &AppState) -> Router {
    let metrics = state.metrics.clone();
    Router::new().route(
        "/metrics",
        get(move || {
            let metrics = metrics.clone();
            async move {
                (
                    [(axum::http::header::CONTENT_TYPE, prometheus::TEXT_FORMAT)],
                    metrics.render(),
                )
            }
        }),
    )
}
