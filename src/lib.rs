//! pieces-connector: code snippets, live workflow context and context-aware AI assistance.
//!
//! The core (`model`, `service`) knows nothing of its front doors; `http` is the REST front
//! door; `store`, `cache`, `upstream` and `embeddings` are the backends the core is built on; `server`
//! assembles them.

pub mod allocator;
pub mod server;
pub mod shutdown;
pub mod telemetry;

// The layers, each a crate of its own, under the names they had as modules of this one.
pub use pieces_cache as cache;
pub use pieces_config as config;
pub use pieces_embeddings as embeddings;
pub use pieces_http as http;
pub use pieces_metrics as metrics;
pub use pieces_model as model;
pub use pieces_model::request_id;
pub use pieces_service as service;
pub use pieces_service::{auth, outbox};
pub use pieces_store as store;
pub use pieces_upstream as upstream;

pub use http::build_router;
pub use server::{Listeners, Service, StartupError};

use auth::JwtKeys;
use config::Settings;
use secrecy::ExposeSecret;

/// Lifetime of the token printed in local mode.
const LOCAL_TOKEN_TTL_SECS: u64 = 24 * 3600;

/// The token keys from `JWT_SECRET_KEY`; without one, outside Kubernetes, a random secret and
/// a ready token for `local-user` (local mode).
pub fn jwt_keys(settings: &Settings) -> Result<(JwtKeys, Option<String>), StartupError> {
    let issuer = settings.jwt_issuer.as_deref();
    let audience = settings.jwt_audience.as_deref();
    let groups = settings.jwt_groups_claim.as_deref();
    if let Some(secret) = &settings.jwt_secret_key {
        let secret = secret.expose_secret().as_bytes();
        let keys = JwtKeys::new(secret, issuer, audience).with_groups_claim(groups);
        return Ok((keys, None));
    }
    if in_kubernetes() {
        return Err(config::ConfigError(
            "JWT_SECRET_KEY: required when running in Kubernetes (local mode is refused there)"
                .into(),
        )
        .into());
    }
    let mut secret = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut secret);
    let keys = JwtKeys::new(&secret, issuer, audience).with_groups_claim(groups);
    let token = keys.mint(auth::LOCAL_USER, LOCAL_TOKEN_TTL_SECS);
    Ok((keys, Some(token)))
}

/// Kubernetes sets this in every container.
pub fn in_kubernetes() -> bool {
    std::env::var_os("KUBERNETES_SERVICE_HOST").is_some()
}

/// Refuses the embedded store where replicas would each get their own copy of the data.
fn check_store_choice(settings: &Settings, in_kubernetes: bool) -> Result<(), StartupError> {
    if settings.database_url.is_embedded() && in_kubernetes {
        if !settings.allow_sqlite_in_kubernetes {
            return Err(config::ConfigError(
                "DATABASE_URL: the embedded SQLite store is per pod and would split data between \
                 replicas; set a postgres:// URL (or ALLOW_SQLITE_IN_KUBERNETES=true for one replica)"
                    .into(),
            )
            .into());
        }
        tracing::warn!(
            "running on the embedded SQLite store in Kubernetes: use exactly one replica"
        );
    }
    Ok(())
}

/// Stores a personal access token for `user` (for scripts: `pieces-connector token --scopes`).
pub async fn mint_personal_token(
    settings: &Settings,
    user: &str,
    request: model::NewToken,
) -> Result<service::CreatedToken, String> {
    let stores = store::connect(
        &settings.database_url,
        1,
        std::time::Duration::from_millis(settings.database_timeout_ms),
        store::Keeping {
            versions: settings.history_max_versions.into(),
        },
        // A one-off command: its metrics are never served.
        &metrics::Metrics::new().map_err(|e| e.to_string())?,
    )
    .await
    .map_err(|e| format!("DATABASE_URL: cannot open the store: {e}"))?;
    let personal = std::sync::Arc::new(auth::PersonalTokens::new(stores.tokens.clone()));
    let access = std::sync::Arc::new(service::Access::new(stores.workspaces.clone()));
    let tokens = service::TokenService::new(
        stores.tokens,
        personal,
        access,
        settings.tokens_max_per_user,
    );
    // Made on the server's own machine: the audit log says `local`.
    let caller = auth::Principal {
        user: user.to_owned(),
        scopes: model::Scopes::all(),
        token_id: None,
        expires_at: None,
        via: model::audit::Via::Local,
        workspaces: None,
        groups: std::sync::Arc::from(Vec::new()),
    };
    tokens.create(&caller, request).await.map_err(|e| match e {
        service::ServiceError::Invalid(e) => format!("--{}: {e}", e.field.replace('_', "-")),
        other => other.to_string(),
    })
}

/// Runs the service with `settings` until SIGTERM or Ctrl-C.
pub async fn run(settings: Settings) -> Result<(), StartupError> {
    check_store_choice(&settings, in_kubernetes())?;
    let (keys, local_token) = jwt_keys(&settings)?;
    let service = Service::build(settings.clone(), keys).await?;
    let listeners = Listeners::bind(&settings).await?;
    if let Some(token) = local_token {
        announce_local_mode(&settings, &token);
    }
    service.serve(listeners, shutdown::signal()).await?;
    Ok(())
}

fn announce_local_mode(settings: &Settings, token: &str) {
    tracing::warn!(
        "LOCAL MODE: JWT_SECRET_KEY is unset; a random secret was generated for this run only"
    );
    eprintln!(
        "\n=== LOCAL MODE: JWT_SECRET_KEY is not set ===\n\
         A random secret was generated; tokens die with this process. Never run like this in production.\n\
         Ready token for user `local-user` (24 h):\n\n{token}\n\n\
         Try: curl -H 'Authorization: Bearer {token}' http://127.0.0.1:{}/api/v1/snippets\n",
        settings.api_port
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_store_is_refused_in_kubernetes_unless_allowed() {
        let mut settings = Settings::default();
        let refused = check_store_choice(&settings, true).expect_err("refused");
        assert!(refused
            .to_string()
            .starts_with("configuration error: DATABASE_URL:"));
        assert!(
            check_store_choice(&settings, false).is_ok(),
            "fine on a workstation"
        );
        settings.allow_sqlite_in_kubernetes = true;
        assert!(check_store_choice(&settings, true).is_ok());
        settings.allow_sqlite_in_kubernetes = false;
        settings.database_url = "postgres://db/pieces".parse().expect("a PostgreSQL URL");
        assert!(check_store_choice(&settings, true).is_ok());
    }

    #[test]
    fn without_a_secret_local_mode_mints_a_token_its_keys_accept() {
        let settings = Settings::default();
        if in_kubernetes() {
            return;
        }
        let (keys, token) = jwt_keys(&settings).expect("local mode");
        let token = token.expect("a ready token");
        assert_eq!(keys.verify(&token).expect("valid"), auth::LOCAL_USER);
    }
}
