//! An accepted socket that holds its connection slot and its place in the gauge for as long
//! as it lives (also after an upgrade hands it to a WebSocket), and reports arriving bytes
//! and writes that wait for the client.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use prometheus::IntGauge;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

use super::activity::Activity;

/// One of the `max_connections` slots, counted in the open-connections gauge while held.
pub(super) struct Slot {
    _permit: OwnedSemaphorePermit,
    gauge: IntGauge,
}

impl Slot {
    pub(super) fn take(permit: OwnedSemaphorePermit, gauge: IntGauge) -> Self {
        gauge.inc();
        Self {
            _permit: permit,
            gauge,
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

pin_project! {
    pub(super) struct SlottedStream {
        #[pin]
        stream: TcpStream,
        activity: Arc<Activity>,
        _slot: Slot,
    }
}

impl SlottedStream {
    pub(super) fn new(stream: TcpStream, slot: Slot, activity: Arc<Activity>) -> Self {
        Self {
            stream,
            activity,
            _slot: slot,
        }
    }
}

impl AsyncRead for SlottedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.project();
        let before = buf.filled().len();
        let polled = this.stream.poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.bytes_arrived();
        }
        polled
    }
}

/// Tells `activity` whether a write went through or waits for the client.
fn watched<T>(activity: &Activity, polled: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
    match &polled {
        Poll::Pending => activity.write_blocked(),
        Poll::Ready(_) => activity.write_went_through(),
    }
    polled
}

impl AsyncWrite for SlottedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        watched(this.activity, this.stream.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.project();
        watched(this.activity, this.stream.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().stream.poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.project();
        watched(this.activity, this.stream.poll_write_vectored(cx, bufs))
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}
