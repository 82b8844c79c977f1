//! Every failure answers in the JSON error shape, and bad input changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{expect_error, snippet, status_json, user, Backend, TestApp};

#[tokio::test]
async fn malformed_json_is_a_400() {
    let app = TestApp::start(&Backend::sqlite()).await;
    for body in ["{", "{\"title\": }", "not json", "", "{} trailing"] {
        let response = app
            .request(Method::POST, "/api/v1/snippets", &user())
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .unwrap();
        expect_error(response, StatusCode::BAD_REQUEST, "malformed_json").await;
    }
}

#[tokio::test]
async fn a_body_that_is_not_json_typed_is_a_415() {
    let app = TestApp::start(&Backend::sqlite()).await;
    for content_type in [
        None,
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
    ] {
        let mut request = app
            .request(Method::POST, "/api/v1/snippets", &user())
            .body(snippet("x").to_string());
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        expect_error(
            request.send().await.unwrap(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        )
        .await;
    }
    let charset = app
        .request(Method::POST, "/api/v1/snippets", &user())
        .header("content-type", "application/json; charset=utf-8")
        .body(snippet("x").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(charset.status(), StatusCode::CREATED);
}

#[tokio::test]
async fn missing_and_mistyped_fields_are_named() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let error = expect_error(
        app.post(
            "/api/v1/snippets",
            &user(),
            &json!({"code": "x", "language": "rust"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error["field"], "title");
    let error = expect_error(
        app.post(
            "/api/v1/snippets",
            &user(),
            &json!({"title": "t", "code": ["x"], "language": "rust"}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(error["field"], "code");
}

#[tokio::test]
async fn an_oversized_body_is_a_413_and_stores_nothing() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let huge = json!({"title": "t", "language": "rust", "code": "x".repeat(5 * 1024 * 1024)});
    expect_error(
        app.post("/api/v1/snippets", &alice, &huge).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
    )
    .await;
    let (_, page) = status_json(app.get("/api/v1/snippets", &alice).await).await;
    assert_eq!(page["total"], 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let app = TestApp::start(&Backend::sqlite()).await;
    expect_error(
        app.get("/api/v1/nothing-here", &user()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    expect_error(
        app.get("/", &user()).await,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    let put = app
        .request(Method::PUT, "/api/v1/snippets", &user())
        .send()
        .await
        .unwrap();
    expect_error(put, StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed").await;
}

#[tokio::test]
async fn an_id_that_is_not_a_uuid_is_simply_not_found() {
    let app = TestApp::start(&Backend::sqlite()).await;
    for id in ["abc", "1", "..%2F..%2Fetc", "%FF%FE", "x:y"] {
        expect_error(
            app.get(&format!("/api/v1/snippets/{id}"), &user()).await,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn a_client_request_id_is_echoed_and_one_is_made_otherwise() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let response = app
        .request(Method::GET, "/api/v1/snippets/nope", &user())
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-123");
    let body = expect_error(response, StatusCode::NOT_FOUND, "not_found").await;
    assert_eq!(body["request_id"], "trace-me-123");
    let response = app.get("/api/v1/snippets", &user()).await;
    assert!(!response.headers()["x-request-id"].is_empty());
}

#[tokio::test]
async fn responses_carry_security_and_cors_headers() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let response = app
        .request(Method::GET, "/api/v1/snippets", &user())
        .header("origin", "https://aiwfe.com")
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["access-control-allow-origin"], "https://aiwfe.com");
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let preflight = app
        .http
        .request(Method::OPTIONS, format!("{}/api/v1/snippets", app.api))
        .header("origin", "http://localhost:3000")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success());
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(allowed.contains("authorization"), "{allowed}");
    let stranger = app
        .request(Method::GET, "/api/v1/snippets", &user())
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(stranger
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[tokio::test]
async fn metrics_are_labelled_by_route_template() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let alice = user();
    let id = app.create(&alice, &snippet("m")).await;
    app.get(&format!("/api/v1/snippets/{id}"), &alice).await;
    app.get(&format!("/api/v1/snippets/{id}"), &alice).await;
    app.get("/api/v1/snippets/not-a-uuid", &alice).await;
    let text = app
        .http
        .get(format!("{}/metrics", app.metrics))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!text.contains(&id), "raw ids never become labels");
    assert!(
        text.contains(
            r#"pieces_requests_total{endpoint="/api/v1/snippets/{id}",method="GET",status="200"} 2"#
        ),
        "{text}"
    );
    assert!(text.contains("pieces_request_duration_seconds_bucket"));
    assert!(text.contains(r#"pieces_errors_total{error_type="not_found"} 1"#));
    assert!(text.contains(r#"pieces_cache_requests_total{result="hit"} 1"#));
    assert!(text.contains("pieces_active_connections"));
    assert!(text.contains("process_resident_memory_bytes"));
}

#[tokio::test]
async fn openapi_describes_every_route() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let (status, doc) = status_json(
        app.http
            .get(format!("{}/openapi.json", app.api))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
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
