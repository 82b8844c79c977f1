//! Connection bounds on the API port: slow headers, idle keep-alive connections and floods of
//! connections cost the service a bounded number of sockets for a bounded time.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio::time::{timeout, Instant};

use crate::support::{eventually, settings_for, user, Backend, TestApp};

/// The start of a request whose headers never end.
const HALF_A_HEADER: &[u8] = b"GET /api/v1/snippets HTTP/1.1\r\nHost: x\r\n";
const GAUGE: &str = "pieces_active_connections";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_sent_request_headers_are_dropped_after_the_header_timeout() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.header_read_timeout_secs = 1;
    let cap = settings.max_connections as f64;
    let app = TestApp::start_with(&backend, settings).await;
    // More than the default cap: the rest wait in the backlog and get their turn.
    let held = hold_half_sent_requests(api_addr(&app), 3_000);
    let (closed_after, peak) = peak_gauge_during(&app, async {
        timeout(Duration::from_secs(9), held.join_all()).await
    })
    .await;
    let closed_after = closed_after.expect("every half-sent request is closed within 9 s");
    assert!(peak <= cap, "{peak} connections open, cap {cap}");
    let soonest = closed_after.iter().min().expect("3,000 connections");
    assert!(
        *soonest >= Duration::from_millis(500),
        "closed after {soonest:?}: the header timeout (1 s) is a grace period, not a reflex"
    );
    assert_served_normally_once_drained(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_connections_never_exceed_the_cap() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.max_connections = 200;
    settings.header_read_timeout_secs = 1;
    let app = TestApp::start_with(&backend, settings).await;
    let mut held = hold_half_sent_requests(api_addr(&app), 3_000);
    // Long enough for the header timeout to free and refill every slot twice.
    let ((), peak) =
        peak_gauge_during(&app, tokio::time::sleep(Duration::from_millis(2_500))).await;
    assert_eq!(
        peak, 200.0,
        "the service fills its 200 slots and never opens more"
    );
    held.abort_all();
    assert_served_normally_once_drained(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.header_read_timeout_secs = 1;
    settings.idle_timeout_secs = 3;
    let app = TestApp::start_with(&backend, settings).await;
    let mut stream = TcpStream::connect(api_addr(&app)).await.expect("connect");
    assert_eq!(request_on(&mut stream, &app).await, 200);
    assert!(
        timeout(Duration::from_secs(2), closed(&mut stream))
            .await
            .is_err(),
        "an idle connection is kept for IDLE_TIMEOUT_SECS, not cut at the header timeout"
    );
    assert!(
        timeout(Duration::from_secs(7), closed(&mut stream))
            .await
            .is_ok(),
        "the service closes a connection idle for IDLE_TIMEOUT_SECS"
    );
    assert_served_normally_once_drained(&app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_request_sent_by_halves_is_dropped_after_the_header_timeout() {
    let backend = Backend::sqlite();
    let mut settings = settings_for(&backend);
    settings.header_read_timeout_secs = 1;
    settings.idle_timeout_secs = 60;
    let app = TestApp::start_with(&backend, settings).await;
    let mut stream = TcpStream::connect(api_addr(&app)).await.expect("connect");
    assert_eq!(request_on(&mut stream, &app).await, 200);
    stream.write_all(HALF_A_HEADER).await.expect("send");
    assert!(
        timeout(Duration::from_secs(7), closed(&mut stream))
            .await
            .is_ok(),
        "a kept-alive connection gets the header timeout, not the idle one, once a request starts"
    );
    assert_served_normally_once_drained(&app).await;
}

fn api_addr(app: &TestApp) -> SocketAddr {
    app.api
        .trim_start_matches("http://")
        .parse()
        .expect("the API URL is an address")
}

/// `n` connections that each send half a request header and then only listen; each ends with
/// how long after it began the service closed it. Connections the service has not accepted wait
/// in the kernel's backlog (or retry their SYN) like any client's.
fn hold_half_sent_requests(addr: SocketAddr, n: usize) -> JoinSet<Duration> {
    let mut held = JoinSet::new();
    for _ in 0..n {
        held.spawn(async move {
            // Timed from before the connect: a task left waiting after its send (3,000 of
            // them share two threads) would otherwise start its clock late.
            let started = Instant::now();
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.write_all(HALF_A_HEADER).await.expect("send");
            closed(&mut stream).await;
            started.elapsed()
        });
    }
    held
}

/// Waits until the service closes the connection, reading (and dropping) whatever it sends.
async fn closed(stream: &mut TcpStream) {
    let mut buf = [0u8; 1024];
    while let Ok(1..) = stream.read(&mut buf).await {}
}

/// Sends one authenticated keep-alive request on `stream`, reads the whole answer, and returns
/// its status code.
async fn request_on(stream: &mut TcpStream, app: &TestApp) -> u16 {
    let request = format!(
        "GET /api/v1/snippets HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        app.token(&user())
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let head_end = loop {
        let n = stream.read(&mut buf).await.expect("answer");
        assert!(n > 0, "closed before answering");
        answer.extend_from_slice(&buf[..n]);
        if let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).to_lowercase();
    let length: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .expect("a content-length");
    while answer.len() < head_end + length {
        let n = stream.read(&mut buf).await.expect("body");
        assert!(n > 0, "closed mid-body");
        answer.extend_from_slice(&buf[..n]);
    }
    head[9..12].parse().expect("a status code")
}

/// Runs `work` while sampling the open-connection gauge; returns its output and the peak.
async fn peak_gauge_during<F: Future>(app: &TestApp, work: F) -> (F::Output, f64) {
    let mut work = std::pin::pin!(work);
    let mut peak = 0f64;
    loop {
        tokio::select! {
            output = &mut work => return (output, peak),
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                peak = peak.max(app.metric(GAUGE, &[]).await);
            }
        }
    }
}

/// Every connection is gone from the gauge, and an ordinary request is answered.
async fn assert_served_normally_once_drained(app: &TestApp) {
    assert!(
        eventually(Duration::from_secs(5), || async {
            app.metric(GAUGE, &[]).await == 0.0
        })
        .await,
        "the gauge returns to 0, now {}",
        app.metric(GAUGE, &[]).await
    );
    let response = app.get("/api/v1/snippets", &user()).await;
    assert_eq!(response.status(), StatusCode::OK);
}
