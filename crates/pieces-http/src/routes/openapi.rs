//! `/openapi.json`: the description the router itself collected from the handlers, with the
//! configured limits written into the schemas, serialized once at start-up.

use axum::http::header;
use axum::response::IntoResponse;
use axum::Extension;
use bytes::Bytes;
use serde_json::Value;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use pieces_model::Limits;

#[derive(OpenApi)]
#[openapi(
    info(title = "pieces-connector", description = "Code snippets, workflow context and AI assistance"),
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

/// The served document.
#[derive(Clone)]
pub struct OpenApiJson(pub Bytes);

/// The document with this server's limits in place of the defaults; without an embedding
/// provider (`semantic` false) the search modes it refuses are left out.
pub fn finish(
    doc: utoipa::openapi::OpenApi,
    limits: &Limits,
    semantic: bool,
    groups: bool,
) -> Value {
    let mut doc = serde_json::to_value(doc).unwrap_or(Value::Null);
    super::openapi_rules::apply(&mut doc, limits);
    super::openapi_rules::workspace_rules(&mut doc);
    super::openapi_rules::history_rules(&mut doc);
    if !semantic {
        super::openapi_rules::text_search_only(&mut doc);
    }
    if !groups {
        super::openapi_rules::without_groups(&mut doc);
    }
    add_common_statuses(&mut doc);
    doc
}

/// The document as served, serialized once.
pub fn served(doc: &Value) -> OpenApiJson {
    OpenApiJson(Bytes::from(serde_json::to_vec(doc).unwrap_or_default()))
}

/// Every status an `/api/v1` operation can answer whatever its handler does: a missing
/// scope (403), a fault (500) and the request timeout (504).
fn add_common_statuses(doc: &mut Value) {
    let Some(Value::Object(paths)) = doc.get_mut("paths") else {
        return;
    };
    let error = serde_json::json!({
        "description": "",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    });
    for (path, operations) in paths.iter_mut() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        let Value::Object(operations) = operations else {
            continue;
        };
        for operation in operations.values_mut() {
            let Some(Value::Object(responses)) = operation.get_mut("responses") else {
                continue;
            };
            for (status, description) in [
                (
                    "500",
                    "An internal fault; the request id identifies it in the logs",
                ),
                ("504", "The request took longer than REQUEST_TIMEOUT_SECS"),
            ] {
                let mut answer = error.clone();
                answer["description"] = Value::from(description);
                responses.entry(status).or_insert(answer);
            }
        }
    }
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "meta",
    responses((status = 200, description = "The OpenAPI description of this API")))]
pub async fn openapi_json(
    Extension(OpenApiJson(doc)): Extension<OpenApiJson>,
) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], doc)
}
