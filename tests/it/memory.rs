//! One user with 100 snippets of a mebibyte each cannot push the service out of its pod's
//! memory (224 MiB for search by text alone, k8s/base/deployment.yaml): change streams that are never read and listings of every snippet at once
//! keep the resident memory under a bound, and the memory comes back once they are gone,
//! burst after burst; listings left unread hold their places until the client goes. The
//! service runs as its own process, so its resident memory is its own.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::support::process::ServiceProcess;
use crate::support::{user, Backend};

const SNIPPETS: usize = 100;
const CODE_BYTES: usize = 1024 * 1024 - 1024;
/// The bound on the peak, inside the smallest pod limit (224 MiB).
const PEAK_MAX_MIB: u64 = 160;
/// What the process may keep after a burst, above what it held before the first.
const KEPT_MAX_MIB: u64 = 24;

/// A mebibyte of code that is cheap to index: long lines of few words.
fn code(n: usize) -> String {
    let line = format!("{}\n", "x".repeat(1023));
    let mut code = format!("// snippet {n}\n");
    while code.len() + line.len() <= CODE_BYTES {
        code.push_str(&line);
    }
    code
}

/// A client that sends `request` and then never reads, with a small receive window so the
/// service's writes block early, as they would for a stalled client far away.
async fn never_reading(addr: SocketAddr, request: String) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("a socket");
    socket.set_recv_buffer_size(4096).expect("a small window");
    let mut stream = socket.connect(addr).await.expect("connected");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request sent");
    stream
}

/// Saves `count` snippets of a mebibyte each for the user of `token`.
async fn save_big(service: &ServiceProcess, token: &str, count: usize) {
    let http = reqwest::Client::new();
    for n in 0..count {
        let body = json!({"title": format!("big {n}"), "code": code(n), "language": "text"});
        let created = http
            .post(format!("{}/api/v1/snippets", service.api))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("answered");
        assert_eq!(created.status(), StatusCode::CREATED);
    }
}

fn get(path: &str, token: &str, extra: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: test\r\nAuthorization: Bearer {token}\r\n{extra}\r\n")
}

const WEBSOCKET: &str = "Connection: Upgrade\r\nUpgrade: websocket\r\n\
    Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn big_snippets_unread_streams_and_big_listings_stay_inside_a_bound_and_give_it_back() {
    let service =
        ServiceProcess::start(&Backend::sqlite(), &[("CLIENT_WRITE_TIMEOUT_SECS", "3")]).await;
    let alice = user();
    let token = service.token(&alice);
    let http = reqwest::Client::new();
    save_big(&service, &token, SNIPPETS).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = service.rss_kib();
    let peak = Arc::new(AtomicU64::new(before));
    let sampling = {
        let (peak, pid_rss) = (peak.clone(), service.rss_probe());
        tokio::spawn(async move {
            loop {
                peak.fetch_max(pid_rss(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let addr: SocketAddr = service
        .api
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let mut after = Vec::new();
    for _burst in 0..3 {
        let mut stalled = Vec::new();
        for _ in 0..7 {
            let request = get(
                "/api/v1/events?since=0",
                &token,
                "Accept: text/event-stream\r\n",
            );
            stalled.push(never_reading(addr, request).await);
        }
        for _ in 0..4 {
            stalled.push(never_reading(addr, get("/api/v1/ws?since=0", &token, WEBSOCKET)).await);
        }
        // Two at once: the most one user may have on their way (see the test below).
        let listings = (0..2).map(|_| {
            let (http, url, token) = (http.clone(), service.api.clone(), token.clone());
            async move {
                let page: Value = http
                    .get(format!("{url}/api/v1/snippets?limit=100"))
                    .bearer_auth(token)
                    .send()
                    .await
                    .expect("answered")
                    .json()
                    .await
                    .expect("a whole page");
                page
            }
        });
        for page in futures_util::future::join_all(listings).await {
            let snippets = page["snippets"]
                .as_array()
                .unwrap_or_else(|| panic!("not a page: {page}"));
            assert_eq!(
                (page["total"].as_i64(), snippets.len()),
                (Some(100), SNIPPETS)
            );
            assert!(
                snippets
                    .iter()
                    .all(|s| s["code"].as_str().map(str::len) > Some(CODE_BYTES / 2)),
                "every snippet comes whole"
            );
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
        drop(stalled);
        // The service closes what its clients stopped reading, then gives the memory back.
        tokio::time::sleep(Duration::from_secs(6)).await;
        after.push(service.rss_kib());
    }
    sampling.abort();
    let mib = |kib: u64| kib / 1024;
    let peak = mib(peak.load(Ordering::Relaxed));
    let after: Vec<u64> = after.into_iter().map(mib).collect();
    eprintln!(
        "memory: {} MiB before, peak {peak} MiB, after each burst {after:?} MiB",
        mib(before)
    );
    assert!(peak <= PEAK_MAX_MIB, "peak {peak} MiB > {PEAK_MAX_MIB} MiB");
    for kept in &after {
        assert!(
            kept.saturating_sub(mib(before)) <= KEPT_MAX_MIB,
            "kept {kept} MiB after a burst, {} MiB before",
            mib(before)
        );
    }
    assert!(
        after[2] <= after[0] + 8,
        "bursts ratchet the memory up: {after:?} MiB"
    );
    service.stop().await;
}

/// A client that asks for big listings and does not read them holds one of its places each:
/// past two at once its next big listing is refused (429), small ones still answer, and the
/// places come back when it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unread_big_listings_hold_at_most_two_places_per_user() {
    let service =
        ServiceProcess::start(&Backend::sqlite(), &[("CLIENT_WRITE_TIMEOUT_SECS", "30")]).await;
    let (alice, bob) = (user(), user());
    let (token, bobs) = (service.token(&alice), service.token(&bob));
    let http = reqwest::Client::new();
    save_big(&service, &token, 20).await;
    let addr: SocketAddr = service
        .api
        .trim_start_matches("http://")
        .parse()
        .expect("addr");
    let mut stalled = Vec::new();
    for _ in 0..2 {
        let listing = get("/api/v1/snippets?limit=100", &token, "");
        let mut stream = never_reading(addr, listing).await;
        // Its answer has begun (it holds its place) before any other listing is asked for:
        // otherwise one of those could take a place first and this one be the one refused.
        let mut status = [0u8; 12];
        stream.read_exact(&mut status).await.expect("a status line");
        assert_eq!(
            &status, b"HTTP/1.1 200",
            "the stalled listing is being written"
        );
        stalled.push(stream);
    }
    let list = |token: String, query: &'static str| {
        let (http, url) = (http.clone(), service.api.clone());
        async move {
            http.get(format!("{url}/api/v1/snippets?{query}"))
                .bearer_auth(token)
                .send()
                .await
                .expect("answered")
        }
    };
    let refused = crate::support::eventually(Duration::from_secs(10), || async {
        list(token.clone(), "limit=100").await.status() == StatusCode::TOO_MANY_REQUESTS
    })
    .await;
    assert!(refused, "a third big listing at once is refused");
    let small = list(token.clone(), "limit=1&q=nothing-matches").await;
    assert_eq!(
        small.status(),
        StatusCode::OK,
        "a listing of nothing large answers"
    );
    let others = list(bobs, "limit=100").await;
    assert_eq!(
        others.status(),
        StatusCode::OK,
        "another user is not held up"
    );
    drop(stalled);
    let again = crate::support::eventually(Duration::from_secs(10), || async {
        list(token.clone(), "limit=100").await.status() == StatusCode::OK
    })
    .await;
    assert!(again, "the places come back once the client goes");
    service.stop().await;
}
