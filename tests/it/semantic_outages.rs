//! An OpenAI-compatible embeddings provider that is down, then garbled, then back: saves and
//! text search never notice, hybrid answers by text and says so, semantic says the provider
//! is failing, and the snippets are embedded once it answers.

use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

use crate::support::{eventually, settings_for, status_json, user, Backend, TestApp};

/// Embeds a text as counts of its words hashed into 64 dimensions: texts sharing words
/// are near. Enough to tell that vectors went where they belong.
struct WordCounts;

impl Respond for WordCounts {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let body: Value = serde_json::from_slice(&request.body).unwrap_or_default();
        let inputs = body["input"].as_array().cloned().unwrap_or_default();
        let data: Vec<Value> = inputs
            .iter()
            .enumerate()
            .map(|(index, text)| {
                let mut v = vec![0f32; 64];
                for word in text.as_str().unwrap_or_default().split_whitespace() {
                    let h = word
                        .to_lowercase()
                        .bytes()
                        .fold(7u32, |h, b| h.wrapping_mul(31).wrapping_add(b.into()));
                    v[(h % 64) as usize] += 1.0;
                }
                json!({"object": "embedding", "index": index, "embedding": v})
            })
            .collect();
        ResponseTemplate::new(200).set_body_json(json!({"object": "list", "data": data}))
    }
}

fn free_address() -> SocketAddr {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
}

#[tokio::test]
async fn a_provider_outage_delays_embeddings_but_never_a_save_or_a_text_search() {
    let provider = free_address();
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.embeddings_url = Some(format!("http://{provider}/v1"));
    settings.embeddings_model = Some("word-counts".into());
    settings.upstream_timeout_secs = 2;
    let app = TestApp::start_with(&backend, settings).await;
    let me = user();

    let started = std::time::Instant::now();
    let id = app
        .create(
            &me,
            &json!({"title": "retry with backoff", "language": "rust", "code": "loop { sleep(backoff) }"}),
        )
        .await;
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the save waited"
    );

    let (status, text) =
        status_json(app.get("/api/v1/snippets?q=backoff&mode=text", &me).await).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text["snippets"][0]["id"], id.as_str());

    let (status, hybrid) = status_json(app.get("/api/v1/snippets?q=backoff", &me).await).await;
    assert_eq!(status, StatusCode::OK, "{hybrid}");
    assert_eq!(hybrid["mode"], "text", "answered by text, and says so");
    assert_eq!(hybrid["snippets"][0]["id"], id.as_str());

    let (status, semantic) = status_json(
        app.get("/api/v1/snippets?q=backoff&mode=semantic", &me)
            .await,
    )
    .await;
    assert!(status.is_server_error(), "{status} {semantic}");
    assert!(semantic["detail"]
        .as_str()
        .is_some_and(|d| d.contains("embedding provider")));

    let waiting = eventually(Duration::from_secs(10), || async {
        app.metric("pieces_embeddings_backlog", &[]).await == 1.0
    })
    .await;
    assert!(waiting, "the backlog gauge shows the snippet waiting");

    // Back, but answering garbage: still nothing embedded, nothing breaks.
    let listener = std::net::TcpListener::bind(provider).expect("provider port free again");
    let stub = MockServer::builder().listener(listener).start().await;
    let garbage = Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(ResponseTemplate::new(200).set_body_string("<html>oops</html>"))
        .mount_as_scoped(&stub)
        .await;
    let garbled = eventually(Duration::from_secs(20), || async {
        !stub
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    })
    .await;
    assert!(garbled, "the embedding was retried");
    assert_eq!(app.metric("pieces_embeddings_backlog", &[]).await, 1.0);
    drop(garbage);

    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(WordCounts)
        .mount(&stub)
        .await;
    let embedded = eventually(Duration::from_secs(40), || async {
        app.metric("pieces_embeddings_backlog", &[]).await == 0.0
            && app
                .metric("pieces_embeddings_total", &["outcome=\"embedded\""])
                .await
                == 1.0
    })
    .await;
    assert!(
        embedded,
        "embedded once the provider answered: backlog {}, embedded {}",
        app.metric("pieces_embeddings_backlog", &[]).await,
        app.metric("pieces_embeddings_total", &["outcome=\"embedded\""])
            .await
    );
    let (status, semantic) = status_json(
        app.get("/api/v1/snippets?q=sleep+backoff&mode=semantic", &me)
            .await,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{semantic}");
    assert_eq!(semantic["mode"], "semantic");
    assert_eq!(semantic["snippets"][0]["id"], id.as_str());
    app.stop().await;
}

/// The backlog gauge counts a snippet as waiting for its embedding as soon as it is saved:
/// read right after a burst of creates, it never says "done" before the work has started.
#[tokio::test]
async fn the_embeddings_backlog_counts_a_saved_snippet_at_once() {
    let stub = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/v1/embeddings"))
        .respond_with(SlowWordCounts(Duration::from_secs(3)))
        .mount(&stub)
        .await;
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.embeddings_url = Some(format!("{}/v1", stub.uri()));
    settings.embeddings_model = Some("word-counts".into());
    let app = TestApp::start_with(&backend, settings).await;
    let me = user();
    let creates = (0..20).map(|n| {
        let body =
            json!({"title": format!("snippet {n}"), "language": "rust", "code": "fn x() {}"});
        let (app, me) = (&app, &me);
        async move { app.create(me, &body).await }
    });
    futures_util::future::join_all(creates).await;
    let backlog = app.metric("pieces_embeddings_backlog", &[]).await;
    assert_eq!(backlog, 20.0, "read right after the creates");
    let done = eventually(Duration::from_secs(30), || async {
        app.metric("pieces_embeddings_backlog", &[]).await == 0.0
    })
    .await;
    assert!(done, "and down to 0 once they are embedded");
}

/// `WordCounts`, answered after a delay.
struct SlowWordCounts(Duration);

impl Respond for SlowWordCounts {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        WordCounts.respond(request).set_delay(self.0)
    }
}
