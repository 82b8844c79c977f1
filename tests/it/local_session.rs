//! Local mode's sign-in route for the web page: it exists only in local mode (no
//! `JWT_SECRET_KEY`), and there answers only this machine; anyone else cannot tell it from a
//! route that does not exist.

use axum::http::{Method, StatusCode};
use serde_json::Value;

use crate::support::in_process::InProcess;
use crate::support::{settings_for, snippet, Backend, TestApp};

const LOCAL_SESSION: &str = "/local/session";

#[tokio::test]
async fn the_local_session_route_is_absent_when_a_secret_is_configured() {
    let app = InProcess::start().await;
    let reply = app
        .anonymous(Method::POST, LOCAL_SESSION)
        .peer("127.0.0.1:50000")
        .header("host", "localhost:8200")
        .send()
        .await;
    reply.expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn in_local_mode_a_loopback_peer_gets_a_token_for_the_local_user() {
    let app = InProcess::start_local().await;
    for (peer, host) in [
        ("127.0.0.1:50000", "localhost:8200"),
        ("[::1]:50000", "[::1]:8200"),
        ("127.0.0.1:50000", "127.0.0.1:8200"),
    ] {
        let reply = app
            .anonymous(Method::POST, LOCAL_SESSION)
            .peer(peer)
            .header("host", host)
            .header("origin", &format!("http://{host}"))
            .send()
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{peer} {host}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let session = reply.json();
        assert_eq!(session["user"], "local-user");
        let token = session["token"].as_str().expect("a token");
        let listing = app
            .anonymous(Method::GET, "/api/v1/snippets")
            .header("authorization", &format!("Bearer {token}"))
            .send()
            .await;
        assert_eq!(listing.status, StatusCode::OK, "the token is accepted");
    }
}

#[tokio::test]
async fn in_local_mode_anyone_but_loopback_gets_the_404_of_a_missing_route() {
    let app = InProcess::start_local().await;
    let refused = [
        ("192.168.1.20:50000", "localhost:8200", None),
        ("[2001:db8::1]:50000", "localhost:8200", None),
        // DNS rebinding: a loopback connection for a page of another name.
        ("127.0.0.1:50000", "evil.example:8200", None),
        // A page of another origin posting to this machine.
        (
            "127.0.0.1:50000",
            "localhost:8200",
            Some("https://evil.example"),
        ),
    ];
    for (peer, host, origin) in refused {
        let mut call = app
            .anonymous(Method::POST, LOCAL_SESSION)
            .peer(peer)
            .header("host", host);
        if let Some(origin) = origin {
            call = call.header("origin", origin);
        }
        call.send()
            .await
            .expect_error(StatusCode::NOT_FOUND, "not_found");
    }
    // No recorded peer at all.
    app.anonymous(Method::POST, LOCAL_SESSION)
        .header("host", "localhost")
        .send()
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
    // A non-loopback GET cannot tell the route from a missing one either.
    app.anonymous(Method::GET, LOCAL_SESSION)
        .peer("10.0.0.9:1")
        .header("host", "localhost")
        .send()
        .await
        .expect_error(StatusCode::NOT_FOUND, "not_found");
}

#[tokio::test]
async fn a_page_on_another_port_of_this_machine_gets_no_token_and_no_cors_answer() {
    let app = InProcess::start_local().await;
    // http://localhost:3000 is among the default CORS origins: the API answers it, this
    // route must not.
    for origin in ["http://localhost:3000", "http://127.0.0.1:8200"] {
        let reply = app
            .anonymous(Method::POST, LOCAL_SESSION)
            .peer("127.0.0.1:50000")
            .header("host", "localhost:8200")
            .header("origin", origin)
            .send()
            .await;
        reply.expect_error(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(
            reply.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
        let preflight = app
            .anonymous(Method::OPTIONS, LOCAL_SESSION)
            .peer("127.0.0.1:50000")
            .header("host", "localhost:8200")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .send()
            .await;
        assert_ne!(preflight.status, StatusCode::OK, "{origin}");
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            None,
            "{origin}"
        );
        assert_eq!(
            preflight.header("access-control-allow-credentials"),
            None,
            "{origin}"
        );
    }
}

#[tokio::test]
async fn over_a_real_socket_a_loopback_client_signs_in_locally() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.jwt_secret_key = None;
    let app = TestApp::start_with(&backend, settings).await;
    let session: Value = app
        .http
        .post(format!("{}{LOCAL_SESSION}", app.api))
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON");
    let token = session["token"].as_str().expect("a token");
    let stored = app
        .http
        .post(format!("{}/api/v1/snippets", app.api))
        .bearer_auth(token)
        .json(&snippet("made locally"))
        .send()
        .await
        .expect("answered");
    assert_eq!(stored.status(), StatusCode::CREATED);
    app.stop().await;
}
