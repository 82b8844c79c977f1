//! Tokens: HS256 only, `exp` required, the user from `user_id` or `sub`; every failure is a
//! 401 in the JSON shape with `WWW-Authenticate: Bearer`.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{expect_error, snippet, status_json, Backend, TestApp, SECRET};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn sign(claims: &Value, alg: Algorithm, secret: &str) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

async fn call(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .get(format!("{}/api/v1/snippets", app.api))
        .header("authorization", format!("Bearer {token}"))
        .send()
        .await
        .unwrap()
}

async fn rejected(app: &TestApp, token: &str, code: &str) {
    let response = call(app, token).await;
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    assert!(
        challenge.is_some_and(|c| c.starts_with("Bearer")),
        "WWW-Authenticate: Bearer"
    );
    let body = expect_error(response, StatusCode::UNAUTHORIZED, code).await;
    let text = body.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains(token),
        "no secret or token in the body"
    );
}

#[tokio::test]
async fn bad_tokens_are_rejected_with_their_reason() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let good = json!({"user_id": "alice", "exp": now() + 600});
    rejected(
        &app,
        &sign(
            &json!({"user_id": "alice", "exp": now() - 120}),
            Algorithm::HS256,
            SECRET,
        ),
        "token_expired",
    )
    .await;
    rejected(
        &app,
        &sign(
            &good,
            Algorithm::HS256,
            "another-secret-that-is-long-enough-too",
        ),
        "token_bad_signature",
    )
    .await;
    rejected(
        &app,
        &sign(&good, Algorithm::HS512, SECRET),
        "token_bad_algorithm",
    )
    .await;
    rejected(
        &app,
        &sign(&json!({"user_id": "alice"}), Algorithm::HS256, SECRET),
        "token_missing_claim",
    )
    .await;
    rejected(
        &app,
        &sign(&json!({"exp": now() + 600}), Algorithm::HS256, SECRET),
        "token_missing_claim",
    )
    .await;
    rejected(&app, "not-a-token", "token_malformed").await;
    rejected(&app, "a.b.c", "token_malformed").await;
    // alg "none": header {"alg":"none","typ":"JWT"}, a valid payload and no signature.
    let none = format!(
        "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{}.",
        base64_url(&good.to_string())
    );
    rejected(&app, &none, "token_malformed").await;
    let missing = app
        .http
        .get(format!("{}/api/v1/snippets", app.api))
        .send()
        .await
        .unwrap();
    expect_error(missing, StatusCode::UNAUTHORIZED, "token_missing").await;
    let basic = app
        .http
        .get(format!("{}/api/v1/snippets", app.api))
        .header("authorization", "Basic YWxpY2U6cHc=")
        .send()
        .await
        .unwrap();
    expect_error(basic, StatusCode::UNAUTHORIZED, "token_missing").await;
}

/// A verified token is remembered, so the next request skips its signature check: what is
/// remembered must match only that exact token, never one that shares its claims.
#[tokio::test]
async fn a_remembered_token_vouches_for_itself_only() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let claims = json!({"user_id": "alice", "exp": now() + 600});
    let good = sign(&claims, Algorithm::HS256, SECRET);
    for _ in 0..2 {
        assert_eq!(call(&app, &good).await.status(), StatusCode::OK);
    }
    // The same header and claims under another key: a different signature.
    let forged = sign(
        &claims,
        Algorithm::HS256,
        "another-secret-that-is-long-enough-too",
    );
    let (head_and_claims, _) = good.rsplit_once('.').expect("three parts");
    assert!(forged.starts_with(head_and_claims));
    rejected(&app, &forged, "token_bad_signature").await;
    // The remembered signature on altered claims (another user).
    let (_, signature) = good.rsplit_once('.').expect("three parts");
    let (head, _) = good.split_once('.').expect("three parts");
    let altered = format!(
        "{head}.{}.{signature}",
        base64_url(&json!({"user_id": "mallory", "exp": now() + 600}).to_string())
    );
    rejected(&app, &altered, "token_bad_signature").await;
    // A prefix or an extension of the remembered token is not it.
    rejected(&app, &good[..good.len() - 1], "token_bad_signature").await;
    rejected(&app, &format!("{good}A"), "token_bad_signature").await;
    assert_eq!(call(&app, &good).await.status(), StatusCode::OK);
}

fn base64_url(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[tokio::test]
async fn the_user_is_user_id_or_else_sub() {
    let app = TestApp::start(&Backend::sqlite()).await;
    let by_sub = sign(
        &json!({"sub": "sub-user", "exp": now() + 600}),
        Algorithm::HS256,
        SECRET,
    );
    let by_user_id = sign(
        &json!({"sub": "ignored", "user_id": "sub-user", "exp": now() + 600}),
        Algorithm::HS256,
        SECRET,
    );
    let numeric = sign(
        &json!({"user_id": 42, "exp": now() + 600}),
        Algorithm::HS256,
        SECRET,
    );
    let created = app
        .http
        .post(format!("{}/api/v1/snippets", app.api))
        .bearer_auth(&by_sub)
        .json(&snippet("mine"))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let (status, page) = status_json(call(&app, &by_user_id).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["total"], 1, "user_id and sub name the same user");
    let (status, page) = status_json(call(&app, &numeric).await).await;
    assert_eq!((status, page["total"].as_i64()), (StatusCode::OK, Some(0)));
}

#[tokio::test]
async fn issuer_and_audience_are_enforced_when_configured() {
    let backend = Backend::sqlite();
    let mut settings = crate::support::settings_for(&backend);
    settings.jwt_issuer = Some("aiwfe-gateway".into());
    settings.jwt_audience = Some("pieces".into());
    let app = TestApp::start_with(&backend, settings).await;
    let exp = now() + 600;
    let ok = sign(
        &json!({"user_id": "a", "exp": exp, "iss": "aiwfe-gateway", "aud": "pieces"}),
        Algorithm::HS256,
        SECRET,
    );
    assert_eq!(call(&app, &ok).await.status(), StatusCode::OK);
    let wrong_iss = sign(
        &json!({"user_id": "a", "exp": exp, "iss": "other", "aud": "pieces"}),
        Algorithm::HS256,
        SECRET,
    );
    rejected(&app, &wrong_iss, "token_bad_issuer").await;
    let no_aud = sign(
        &json!({"user_id": "a", "exp": exp, "iss": "aiwfe-gateway"}),
        Algorithm::HS256,
        SECRET,
    );
    rejected(&app, &no_aud, "token_missing_claim").await;
}
