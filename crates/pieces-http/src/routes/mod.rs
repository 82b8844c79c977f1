//! The API port's routes, one module per resource, and the one list they and the API
//! description are both built from.

mod assist;
mod events;
mod export;
mod fallback;
pub mod health;
mod history;
mod imports;
mod listing_body;
mod local_session;
mod openapi;
mod openapi_rules;
mod related;
mod shares;
mod snippets;
mod tokens;
mod trash;
mod web;
mod workflow;
mod workspaces;

pub use local_session::PATH as LOCAL_SESSION_PATH;
pub use openapi::ApiDoc;

use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::middleware;
use super::state::AppState;

/// The API port's router: `/api/v1`, `/openapi.json` and the probes, with every layer. Each
/// route is registered with its description, so none can exist undocumented. Beside them, not
/// described since they are not API: the web page and `/docs`, and in local mode the page's
/// sign-in route.
pub fn build_router(state: AppState) -> Router {
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(snippets::router())
        .merge(history::router())
        .merge(related::router())
        .merge(trash::router())
        .merge(workflow::router())
        .merge(assist::router())
        .merge(tokens::router())
        .merge(workspaces::router())
        .merge(shares::router())
        .merge(imports::router())
        .merge(export::router())
        .merge(events::router())
        .split_for_parts();
    let (description, description_doc) = OpenApiRouter::new()
        .routes(routes!(openapi::openapi_json))
        .split_for_parts();
    let (probes, probes_doc) = health::router().split_for_parts();
    let mut doc = doc;
    doc.merge(description_doc);
    doc.merge(probes_doc);
    let settings = &state.settings;
    let semantic = settings.embeddings_model_dir.is_some() || settings.embeddings_url.is_some();
    let groups = settings.jwt_groups_claim.is_some();
    let doc = openapi::finish(doc, &settings.limits(), semantic, groups);
    // Only the description's own route carries it.
    let description = description.layer(Extension(openapi::served(&doc)));
    let api = api
        .merge(description)
        .merge(super::mcp::router(&state, &doc));
    let mut api = routed(api, tracing::Level::INFO)
        .merge(routed(probes, tracing::Level::DEBUG))
        .merge(routed(web::router(), tracing::Level::DEBUG));
    if let Some(local) = local_session::router(&state) {
        api = api.merge(routed(local, tracing::Level::INFO));
    }
    let api = api.fallback(fallback::not_found);
    middleware::with_common_layers(api, &state)
}

/// Routes with their logging; a wrong method is answered inside it, so it is counted under
/// its route.
fn routed<S: Clone + Send + Sync + 'static>(router: Router<S>, level: tracing::Level) -> Router<S> {
    middleware::with_request_logging(
        router.method_not_allowed_fallback(fallback::method_not_allowed),
        level,
    )
}

/// The probe listener's router.
pub fn probes_router() -> Router<AppState> {
    middleware::with_request_logging(health::router().split_for_parts().0, tracing::Level::DEBUG)
}
