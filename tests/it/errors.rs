//! Every failure answers in the JSON error shape, and bad input changes nothing. These drive
//! the router in process: no server is needed to see an error's shape.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::in_process::InProcess;
use crate::support::{snippet, user};

const SNIPPETS: &str = "/api/v1/snippets";

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = InProcess::start().await;
    for body in ["{", "{\"title\": }", "not json", "", "{} trailing"] {
        let reply = app
            .request(Method::POST, SNIPPETS, &user())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        reply.expect_error(StatusCode::BAD_REQUEST, "malformed_json");
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_typed_is_a_415() {
    let app = InProcess::start().await;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut call = app
            .request(Method::POST, SNIPPETS, &user())
            .body(snippet("x").to_string());
        if let Some(ct) = content_type {
            call = call.header("content-type", ct);
        }
        let reply = call.send().await;
        reply.expect_error(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    let charset = app
        .request(Method::POST, SNIPPETS, &user())
        .header("content-type", "application/json; charset=utf-8")
        .body(snippet("x").to_string())
        .send()
        .await;
    assert_eq!(charset.status, StatusCode::CREATED);
}

#[tokio::test]
async fn missing_and_mistyped_fields_are_named() {
    let app = InProcess::start().await;
    let missing = json!({"code": "x", "language": "rust"});
    let reply = app.post(SNIPPETS, &user(), &missing).await;
    let error = reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(error["field"], "title");
    let mistyped = json!({"title": "t", "code": ["x"], "language": "rust"});
    let reply = app.post(SNIPPETS, &user(), &mistyped).await;
    let error = reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    assert_eq!(error["field"], "code");
}

#[tokio::test]
async fn an_oversized_body_is_a_413_and_stores_nothing() {
    let app = InProcess::start().await;
    let alice = user();
    let huge = json!({"title": "t", "language": "rust", "code": "x".repeat(5 * 1024 * 1024)});
    let reply = app.post(SNIPPETS, &alice, &huge).await;
    reply.expect_error(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    let page = app.get(SNIPPETS, &alice).await.json();
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = InProcess::start().await;
    let reply = app.get("/api/v1/nothing-here", &user()).await;
    reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    let reply = app.get("/nothing", &user()).await;
    reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    let put = app.request(Method::PUT, SNIPPETS, &user()).send().await;
    put.expect_error(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_simply_not_found() {
    let app = InProcess::start().await;
    for id in ["abc", "1", "..%2F..%2Fetc", "%FF%FE", "x:y"] {
        let reply = app.get(&format!("{SNIPPETS}/{id}"), &user()).await;
        reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    }
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_one_is_made_otherwise() {
    let app = InProcess::start().await;
    let reply = app
        .request(Method::GET, "/api/v1/snippets/nope", &user())
        .header("x-request-id", "trace-me-123")
        .send()
        .await;
    assert_eq!(reply.header("x-request-id"), Some("trace-me-123"));
    let body = reply.expect_error(StatusCode::NOT_FOUND, "not_found");
    assert_eq!(body["request_id"], "trace-me-123");
    let reply = app.get(SNIPPETS, &user()).await;
    assert!(reply
        .header("x-request-id")
        .is_some_and(|id| !id.is_empty()));
}

#[tokio::test]
async fn responses_carry_security_and_cors_headers() {
    let app = InProcess::start().await;
    let reply = app
        .request(Method::GET, SNIPPETS, &user())
        .header("origin", "https://aiwfe.com")
        .send()
        .await;
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(reply.header("x-frame-options"), Some("DENY"));
    assert_eq!(
        reply.header("access-control-allow-origin"),
        Some("https://aiwfe.com")
    );
    assert_eq!(
        reply.header("access-control-allow-credentials"),
        Some("true")
    );
    let preflight = app
        .anonymous(Method::OPTIONS, SNIPPETS)
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await;
    assert!(preflight.status.is_success());
    let allowed = preflight
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(allowed.contains("authorization"), "{allowed}");
    let stranger = app
        .request(Method::GET, SNIPPETS, &user())
        .header("origin", "https://evil.example")
        .send()
        .await;
    assert!(stranger.header("access-control-allow-origin").is_none());
    // Without an Origin (no browser asking across origins) there is nothing to allow.
    let plain = app.request(Method::GET, SNIPPETS, &user()).send().await;
    assert!(plain.status.is_success());
    assert!(plain.header("access-control-allow-origin").is_none());
    assert!(plain.header("access-control-allow-credentials").is_none());
    assert_eq!(plain.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test]
async fn metrics_are_labelled_by_route_template() {
    let app = InProcess::start().await;
    let alice = user();
    let created = app.post(SNIPPETS, &alice, &snippet("m")).await.json();
    let id = created["snippet_id"].as_str().expect("an id").to_owned();
    app.get(&format!("{SNIPPETS}/{id}"), &alice).await;
    app.get(&format!("{SNIPPETS}/{id}"), &alice).await;
    app.get("/api/v1/snippets/not-a-uuid", &alice).await;
    app.request(Method::PUT, &format!("{SNIPPETS}/{id}"), &alice)
        .send()
        .await;
    app.get("/api/v1/no-such-route", &alice).await;
    let text = app.service.state().metrics.render();
    assert!(!text.contains(&id), "raw ids never become labels");
    assert!(
        text.contains(
            r#"pieces_requests_total{endpoint="/api/v1/snippets/{id}",method="GET",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"pieces_requests_total{endpoint="/api/v1/snippets/{id}",method="PUT",status="405"} 1"#
        ),
        "a wrong method counts under its route: {text}"
    );
    assert!(
        text.contains(r#"pieces_requests_total{endpoint="unmatched",method="GET",status="404"} 1"#),
        "{text}"
    );
    assert!(text.contains("pieces_request_duration_seconds_bucket"));
    assert!(text.contains(r#"pieces_errors_total{error_type="not_found"} 2"#));
    assert!(text.contains(r#"pieces_cache_requests_total{result="hit"} 1"#));
    assert!(text.contains("pieces_active_connections"));
    assert!(text.contains("process_resident_memory_bytes"));
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let app = InProcess::start().await;
    let reply = app.anonymous(Method::GET, "/openapi.json").send().await;
    assert_eq!(reply.status, StatusCode::OK);
    let doc = reply.json();
    let paths = doc["paths"].as_object().expect("paths");
    for (path, methods) in [
        ("/api/v1/snippets", vec!["get", "post"]),
        ("/api/v1/snippets/{id}", vec!["get", "patch", "delete"]),
        ("/api/v1/workflow-context", vec!["get", "post"]),
        ("/api/v1/ai-assist", vec!["post"]),
        ("/health/live", vec!["get"]),
        ("/health/ready", vec!["get"]),
    ] {
        for method in methods {
            assert!(paths[path][method].is_object(), "{method} {path} missing");
        }
    }
    for schema in [
        "ErrorBody",
        "Snippet",
        "NewSnippet",
        "SnippetPatch",
        "ContextInput",
        "AssistRequest",
        "AssistAnswer",
    ] {
        assert!(
            doc["components"]["schemas"][schema].is_object(),
            "schema {schema} missing"
        );
    }
}

#[tokio::test]
async fn the_description_carries_the_limits_the_service_enforces() {
    let app = InProcess::start().await;
    let doc = app
        .anonymous(Method::GET, "/openapi.json")
        .send()
        .await
        .json();
    let schemas = &doc["components"]["schemas"];
    let title = &schemas["NewSnippet"]["properties"]["title"];
    assert_eq!(
        (title["minLength"].as_u64(), title["maxLength"].as_u64()),
        (Some(1), Some(200))
    );
    assert_eq!(schemas["NewSnippet"]["properties"]["tags"]["maxItems"], 32);
    assert_eq!(
        schemas["AssistRequest"]["properties"]["max_tokens"]["maximum"],
        8192
    );
    assert!(
        schemas["SnippetPatch"]["anyOf"].is_array(),
        "a patch names a field"
    );
    let listing = &doc["paths"]["/api/v1/snippets"]["get"]["parameters"];
    let limit = listing
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "limit"))
        .expect("limit");
    assert_eq!(limit["schema"]["maximum"], 100);
    let id = &doc["paths"]["/api/v1/snippets/{id}"]["get"]["parameters"][0]["schema"];
    assert_eq!(id["format"], "uuid");
    let create = &doc["paths"]["/api/v1/snippets"]["post"]["responses"];
    for status in ["400", "401", "413", "415", "422", "500", "503", "504"] {
        assert!(
            create[status].is_object(),
            "POST /api/v1/snippets documents {status}"
        );
    }
}

#[tokio::test]
async fn a_patch_may_not_set_a_required_field_to_null() {
    let app = InProcess::start().await;
    let alice = user();
    let created = app.post(SNIPPETS, &alice, &snippet("keep me")).await.json();
    let path = format!("{SNIPPETS}/{}", created["snippet_id"].as_str().expect("id"));
    for body in [
        json!({"title": null}),
        json!({"tags": null}),
        json!({"zz": 1}),
    ] {
        let reply = app
            .request(Method::PATCH, &path, &alice)
            .json(&body)
            .send()
            .await;
        reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
    }
    let cleared = app
        .request(Method::PATCH, &path, &alice)
        .json(&json!({"description": null}))
        .send()
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(cleared.json()["title"], "keep me");
}

#[tokio::test]
async fn a_search_counts_up_to_a_thousand_matches_and_says_so() {
    let app = InProcess::start().await;
    let alice = user();
    let bodies: Vec<_> = (0..1_001)
        .map(|n| json!({"title": format!("needle {n}"), "code": "x", "language": "go"}))
        .collect();
    let calls = bodies.iter().map(|body| app.post(SNIPPETS, &alice, body));
    for reply in futures_util::future::join_all(calls).await {
        assert_eq!(reply.status, StatusCode::CREATED);
    }
    let found = app
        .get("/api/v1/snippets?q=needle&limit=1", &alice)
        .await
        .json();
    assert_eq!(
        (found["total"].as_i64(), found["total_capped"].as_bool()),
        (Some(1_000), Some(true))
    );
    let deep = app
        .get("/api/v1/snippets?q=needle&offset=1000", &alice)
        .await
        .json();
    assert_eq!(
        deep["snippets"].as_array().map(Vec::len),
        Some(1),
        "pages past the cap still work"
    );
    let all = app.get("/api/v1/snippets?limit=1", &alice).await.json();
    assert_eq!(all["total"], 1_001, "without q the total stays exact");
    assert!(all.get("total_capped").is_none());
    let few = app
        .get("/api/v1/snippets?q=needle+999", &alice)
        .await
        .json();
    assert!(few.get("total_capped").is_none());
}

#[tokio::test]
async fn the_websocket_route_checks_the_credential_before_the_upgrade() {
    let app = InProcess::start().await;
    app.anonymous(Method::GET, "/api/v1/ws")
        .send()
        .await
        .expect_error(StatusCode::UNAUTHORIZED, "token_missing");
    app.get("/api/v1/ws", &user())
        .await
        .expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn a_resume_position_is_an_event_id_or_nothing() {
    let app = InProcess::start().await;
    for since in ["abc", "%205", "-1", "1.5", "1234567890123456789", "%00"] {
        let reply = app
            .get(&format!("/api/v1/events?since={since}"), &user())
            .await;
        let body = reply.expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert_eq!(body["field"], "since", "{since}");
    }
    let reply = app
        .request(Method::GET, "/api/v1/ws?since=x", &user())
        .send()
        .await;
    reply.expect_error(StatusCode::BAD_REQUEST, "bad_request");
}

#[tokio::test]
async fn the_description_states_what_free_form_objects_and_positions_may_hold() {
    let app = InProcess::start().await;
    let doc = app
        .anonymous(Method::GET, "/openapi.json")
        .send()
        .await
        .json();
    let no_nul = json!("^[^\\u0000]*$");
    for (schema, property) in [("NewSnippet", "metadata"), ("SnippetPatch", "metadata")] {
        let rule = &doc["components"]["schemas"][schema]["properties"][property];
        assert_eq!(
            rule["propertyNames"]["pattern"], no_nul,
            "{schema}.{property}"
        );
        assert_eq!(
            rule["additionalProperties"]["$ref"],
            "#/components/schemas/JsonWithoutNul"
        );
    }
    let parameters = doc["paths"]["/api/v1/events"]["get"]["parameters"]
        .as_array()
        .expect("parameters");
    for name in ["since", "Last-Event-ID"] {
        let parameter = parameters.iter().find(|p| p["name"] == name).expect(name);
        assert_eq!(
            parameter["schema"]["pattern"],
            pieces_connector::model::CURSOR_PATTERN,
            "{name}"
        );
    }
    let ws = &doc["paths"]["/api/v1/ws"]["get"]["responses"];
    assert!(ws.get("400").is_some(), "/ws documents its 400");
    // What the description refuses, the server refuses.
    let body = json!({"title": "t", "code": "c", "language": "l", "metadata": {"a\u{0}b": 1}});
    app.post(SNIPPETS, &user(), &body)
        .await
        .expect_error(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
}
