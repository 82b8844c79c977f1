//! Serves a router with its connections bounded: at most `max_connections` open, request heads
//! within `header_read_timeout`, idle keep-alive connections closed after `idle_timeout`.
//! `axum::serve` has none of these knobs, so this drives hyper's HTTP/1.1 server itself:
//! upgrades (WebSocket), graceful shutdown.

mod activity;
mod io;
#[cfg(test)]
mod tests;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::middleware::AddExtension;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1::Builder;
use hyper::service::Service as _;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use prometheus::IntGauge;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use activity::{Activity, TrackedBody};
use io::{Slot, SlottedStream};

/// A failing accept that is not about one client (out of file descriptors, say) is retried
/// after this pause rather than at once, which would spin on the same error.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    /// How long a client may take to send a request head, counted from the connection's
    /// accept for the first request and from the first byte of each later one.
    pub header_read_timeout: Duration,
    /// How long a connection may wait for its next request once the last one is answered.
    pub idle_timeout: Duration,
    /// Open connections at most; past that the listener is not polled and newcomers wait in
    /// the kernel's backlog.
    pub max_connections: usize,
    /// How long a write may wait for the client to take bytes before the connection is closed.
    pub write_timeout: Duration,
}

/// At shutdown, how long a write may still wait for its client: a client that does not read
/// (a change stream left open) must not hold the shutdown for the whole drain.
const WRITE_GRACE_AT_SHUTDOWN: Duration = Duration::from_secs(2);

/// Serves `router` on `listener` until `shutdown` resolves, then stops accepting at once and
/// returns when the open connections have finished their requests. `active` counts open
/// connections; handlers can extract `ConnectInfo<SocketAddr>`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    active: IntGauge,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let builder = Arc::new(connection_builder());
    let with_peer = router.into_make_service_with_connect_info::<SocketAddr>();
    let stopping = CancellationToken::new();
    let connections = TaskTracker::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let (stream, peer, permit) = tokio::select! {
            biased;
            () = &mut shutdown => break,
            accepted = accept(&listener, &slots) => accepted?,
        };
        let Ok(router) = with_peer.clone().oneshot(peer).await;
        let slot = Slot::take(permit, active.clone());
        let connection = Connection {
            builder: builder.clone(),
            limits,
            peer,
            stopping: stopping.clone(),
        };
        connections.spawn(connection.serve(stream, slot, TowerToHyperService::new(router)));
    }
    // Closed now, so newcomers are refused while the open connections finish.
    drop(listener);
    stopping.cancel();
    connections.close();
    connections.wait().await;
    Ok(())
}

/// Waits for a free slot, then for a client.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> std::io::Result<(TcpStream, SocketAddr, OwnedSemaphorePermit)> {
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .map_err(|_| std::io::Error::other("the connection slots were closed"))?;
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                // Small JSON answers should leave at once, not wait for Nagle.
                let _ = stream.set_nodelay(true);
                return Ok((stream, peer, permit));
            }
            // One client gave up between its handshake and this accept: take the next.
            Err(e) if is_about_one_client(&e) => {}
            Err(e) => {
                tracing::warn!(error = %e, "accept failed; pausing before the next");
                tokio::time::sleep(ACCEPT_PAUSE).await;
            }
        }
    }
}

fn is_about_one_client(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// HTTP/1.1 only: what browsers, agents and the platform's gateway speak to this port. hyper's
/// own server rather than hyper-util's version-sniffing one: that one reads a connection's
/// first 24 bytes apart (even when told HTTP/1 only, once upgrades are on), which doubled
/// every connection's read buffer to 16 KiB, and an idle change stream is mostly its
/// connection.
fn connection_builder() -> Builder {
    let mut builder = Builder::new();
    // `Activity` bounds request heads. hyper's own header timeout would do for the first
    // request, but it also runs while a kept-alive connection waits for its next one, so it
    // would close idle connections after the header timeout instead of the idle timeout.
    builder.header_read_timeout(None);
    builder
}

/// The router with the client's address in each request's extensions.
type PeerRouter = TowerToHyperService<AddExtension<Router, ConnectInfo<SocketAddr>>>;

/// What a connection's task needs besides its socket and its service.
struct Connection {
    builder: Arc<Builder>,
    limits: ConnectionLimits,
    peer: SocketAddr,
    /// Cancelled at shutdown: the connection finishes its request, then closes.
    stopping: CancellationToken,
}

impl Connection {
    /// Serves one client until it leaves, upgrades, overstays a limit or is shut down.
    async fn serve(self, stream: TcpStream, slot: Slot, router: PeerRouter) {
        let activity = Activity::new();
        let io = TokioIo::new(SlottedStream::new(stream, slot, activity.clone()));
        let tracked = activity.clone();
        let service = hyper::service::service_fn(move |request: http::Request<Incoming>| {
            let in_flight = tracked.request_started();
            let answer = router.call(request);
            async move {
                let response = answer.await?;
                Ok::<_, Infallible>(response.map(|body| TrackedBody::new(body, in_flight)))
            }
        });
        let mut served = pin!(self.builder.serve_connection(io, service).with_upgrades());
        let mut overdue = pin!(activity.overdue(&self.limits));
        let mut stalled = pin!(activity.write_stalled(self.limits.write_timeout));
        let mut stalled_at_shutdown = pin!(activity.write_stalled(WRITE_GRACE_AT_SHUTDOWN));
        let mut stopping = pin!(self.stopping.cancelled());
        let mut shutting_down = false;
        let ended = loop {
            tokio::select! {
                result = served.as_mut() => break Ok(result),
                () = overdue.as_mut() => break Err("idled or sent its request head too slowly"),
                () = stalled.as_mut() => break Err("has not read what was written for it"),
                () = stalled_at_shutdown.as_mut(), if shutting_down => {
                    break Err("has not read what was written for it, at shutdown")
                }
                () = stopping.as_mut(), if !shutting_down => {
                    shutting_down = true;
                    served.as_mut().graceful_shutdown();
                }
            }
        };
        match ended {
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "connection ended with an error");
            }
            Err(why) => tracing::debug!(peer = %self.peer, "closing a connection that {why}"),
            Ok(Ok(())) => {}
        }
    }
}
