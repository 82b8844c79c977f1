//! What `serve` gives handlers besides the bounds, which tests/it/connections.rs pins from outside.

use std::net::SocketAddr;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{header, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus::IntGauge;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

use super::{serve, ConnectionLimits};

const LIMITS: ConnectionLimits = ConnectionLimits {
    header_read_timeout: Duration::from_secs(1),
    idle_timeout: Duration::from_secs(1),
    max_connections: 4,
    write_timeout: Duration::from_secs(1),
};

/// Serves `router` on port 0; returns its address, its gauge and the way to stop it.
async fn start(router: Router) -> (SocketAddr, IntGauge, oneshot::Sender<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let gauge = IntGauge::new("open", "open connections").expect("gauge");
    let (stop, stopped) = oneshot::channel::<()>();
    let shutdown = async {
        let _ = stopped.await;
    };
    tokio::spawn(serve(listener, router, LIMITS, gauge.clone(), shutdown));
    (addr, gauge, stop)
}

/// Whether the gauge falls to 0 within two seconds.
async fn all_closed(gauge: &IntGauge) -> bool {
    for _ in 0..100 {
        if gauge.get() == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// Reads until the end of a response head and returns it.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let byte = stream.read_u8().await.expect("a response head");
        head.push(byte);
    }
    String::from_utf8(head).expect("ASCII head")
}

fn peer_router() -> Router {
    Router::new().route(
        "/peer",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { peer.to_string() }),
    )
}

#[tokio::test]
async fn handlers_see_the_clients_address() {
    let (addr, _gauge, _stop) = start(peer_router()).await;
    let mut client = TcpStream::connect(addr).await.expect("connect");
    let me = client.local_addr().expect("address").to_string();
    client
        .write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = String::new();
    client.read_to_string(&mut answer).await.expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with(&me), "{answer} should end with {me}");
}

/// Answers 101 and echoes whatever comes over the upgraded connection.
async fn echo_upgrade(mut request: Request) -> impl IntoResponse {
    let upgrade = hyper::upgrade::on(&mut request);
    tokio::spawn(async move {
        let Ok(upgraded) = upgrade.await else { return };
        let (mut reader, mut writer) = tokio::io::split(TokioIo::new(upgraded));
        let _ = tokio::io::copy(&mut reader, &mut writer).await;
    });
    (
        StatusCode::SWITCHING_PROTOCOLS,
        [(header::CONNECTION, "upgrade"), (header::UPGRADE, "echo")],
    )
}

#[tokio::test]
async fn an_upgraded_connection_outlives_the_idle_timeout_and_keeps_its_slot() {
    let (addr, gauge, _stop) = start(Router::new().route("/echo", get(echo_upgrade))).await;
    let mut client = TcpStream::connect(addr).await.expect("connect");
    client
        .write_all(b"GET /echo HTTP/1.1\r\nHost: x\r\nConnection: upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .expect("send");
    let head = read_head(&mut client).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");

    // Quiet for longer than both timeouts: they bound HTTP, not what a connection upgrades to.
    tokio::time::sleep(LIMITS.idle_timeout * 2).await;
    client.write_all(b"ping").await.expect("send");
    let mut echoed = [0u8; 4];
    client.read_exact(&mut echoed).await.expect("echo");
    assert_eq!(&echoed, b"ping");
    assert_eq!(gauge.get(), 1, "the upgraded connection still counts");

    drop(client);
    assert!(
        all_closed(&gauge).await,
        "the slot is released when the upgraded connection closes"
    );
}

#[tokio::test]
async fn shutdown_lets_a_request_in_flight_finish_and_closes_idle_connections() {
    let slow = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }),
    );
    let router = slow.merge(peer_router());
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let gauge = IntGauge::new("open", "open connections").expect("gauge");
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, LIMITS, gauge.clone(), async {
        let _ = stopped.await;
    }));

    // One connection answered and now idle between requests, one waiting on a slow answer.
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    idle.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    assert!(read_head(&mut idle).await.starts_with("HTTP/1.1 200"));
    let mut busy = TcpStream::connect(addr).await.expect("connect");
    busy.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    tokio::time::sleep(Duration::from_millis(100)).await;

    // Every wait below is shorter than the idle timeout, which would close both anyway.
    stop.send(()).expect("the server listens for its stop");
    let quick = Duration::from_millis(600);
    let mut answer = String::new();
    tokio::time::timeout(quick, busy.read_to_string(&mut answer))
        .await
        .expect("the busy connection closes after its answer")
        .expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.ends_with("done"),
        "the answer arrives whole: {answer}"
    );
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(quick, idle.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the idle connection is closed at shutdown");
    tokio::time::timeout(quick, server)
        .await
        .expect("serve returns once its connections are done")
        .expect("serve did not panic")
        .expect("serve ended cleanly");
    assert_eq!(gauge.get(), 0);
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "newcomers are refused"
    );
}
