//! `/openapi.json`, generated from the handlers and types themselves.

use axum::routing::get;
use axum::{Json, Router};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::state::AppState;

#[derive(OpenApi)]
#[openapi(
    info(title = "pieces-connector", description = "Code snippets, workflow context and AI assistance"),
    paths(
        super::snippets::create_snippet,
        super::snippets::list_snippets,
        super::snippets::get_snippet,
        super::snippets::update_snippet,
        super::snippets::delete_snippet,
        super::workflow::set_context,
        super::workflow::get_context,
        super::assist::assist,
        super::health::live,
        super::health::ready,
    ),
    components(schemas(crate::error::ErrorBody)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

pub fn router() -> Router<AppState> {
    Router::new().route("/openapi.json", get(|| async { Json(ApiDoc::openapi()) }))
}
