//! A small OpenAI-compatible provider that streams its answer as slowly as a test wants,
//! breaks it off midway or falls silent, and notices a caller that hangs up: what wiremock,
//! which answers whole bodies, cannot do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// What the provider does with each request.
#[derive(Debug, Clone)]
pub enum Script {
    /// Streams these pieces of text, `gap` apart (the first at once), then ends as `end` says.
    Stream {
        pieces: Vec<String>,
        gap: Duration,
        end: End,
    },
    /// Answers this status with an OpenAI-style error body.
    Status(u16),
    /// Answers 200 with a web page.
    Garbage,
    /// Answers 200 as an event stream whose only event is this `data`.
    Event(String),
    /// Says nothing at all for this long, then hangs up.
    Silent(Duration),
}

#[derive(Debug, Clone, Copy)]
pub enum End {
    /// `data: [DONE]` and a proper end of the body.
    Done,
    /// The connection closes without ending the body.
    Cut,
    /// Nothing more is sent, for a long while.
    Hang,
}

impl Script {
    /// The pieces streamed at once and `[DONE]`.
    pub fn answer(pieces: &[&str]) -> Self {
        Self::paced(pieces, Duration::ZERO)
    }

    pub fn paced(pieces: &[&str], gap: Duration) -> Self {
        Self::Stream {
            pieces: pieces.iter().map(|p| p.to_string()).collect(),
            gap,
            end: End::Done,
        }
    }
}

/// A request as the provider received it.
#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    /// Lower-case names.
    pub headers: HashMap<String, String>,
    pub body: Value,
}

struct State {
    script: Script,
    received: Vec<Received>,
    /// Callers that hung up while an answer was being sent.
    hung_up: usize,
}

pub struct OpenAiStub {
    /// The base URL to configure (`OPENAI_BASE_URL`).
    pub url: String,
    state: Arc<Mutex<State>>,
    hang_up: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl OpenAiStub {
    pub async fn start(script: Script) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}/v1", listener.local_addr().expect("address"));
        let state = Arc::new(Mutex::new(State {
            script,
            received: Vec::new(),
            hung_up: 0,
        }));
        let hang_up = Arc::new(Notify::new());
        let (shared, notify) = (state.clone(), hang_up.clone());
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, shared.clone(), notify.clone()));
            }
        });
        Self {
            url,
            state,
            hang_up,
            task,
        }
    }

    pub fn received(&self) -> Vec<Received> {
        self.state.lock().expect("stub state").received.clone()
    }

    pub fn calls(&self) -> usize {
        self.received().len()
    }

    /// True once a caller hangs up mid-answer, within `within`.
    pub async fn sees_a_hang_up_within(&self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let notified = self.hang_up.notified();
            if self.state.lock().expect("stub state").hung_up > 0 {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }
}

impl Drop for OpenAiStub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A URL where nothing listens: connections are refused.
pub fn refusing_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}/v1", listener.local_addr().expect("address"))
}

async fn serve(mut socket: TcpStream, state: Arc<Mutex<State>>, hang_up: Arc<Notify>) {
    let Some(received) = read_request(&mut socket).await else {
        return;
    };
    let script = {
        let mut state = state.lock().expect("stub state");
        state.received.push(received);
        state.script.clone()
    };
    let (mut reader, mut writer) = socket.split();
    let mut scratch = [0u8; 64];
    // Waits `gap`, or returns false when the caller hangs up first.
    macro_rules! wait {
        ($gap:expr) => {
            tokio::select! {
                () = tokio::time::sleep($gap) => true,
                _ = reader.read(&mut scratch) => {
                    state.lock().expect("stub state").hung_up += 1;
                    hang_up.notify_waiters();
                    false
                }
            }
        };
    }
    let head = |status: &str, kind: &str| {
        format!("HTTP/1.1 {status}\r\ncontent-type: {kind}\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n")
    };
    match script {
        Script::Status(code) => {
            let body = json!({"error": {"message": "stub failure", "type": "server_error"}});
            let _ = writer
                .write_all(head(&format!("{code} Stub"), "application/json").as_bytes())
                .await;
            let _ = writer.write_all(&chunk(&body.to_string())).await;
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
        Script::Garbage => {
            let _ = writer
                .write_all(head("200 OK", "text/html").as_bytes())
                .await;
            let _ = writer.write_all(&chunk("<html>oops</html>")).await;
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
        Script::Event(data) => {
            let _ = writer
                .write_all(head("200 OK", "text/event-stream").as_bytes())
                .await;
            let _ = writer.write_all(&chunk(&format!("data: {data}\n\n"))).await;
            let _ = writer.write_all(b"0\r\n\r\n").await;
        }
        Script::Silent(how_long) => {
            wait!(how_long);
        }
        Script::Stream { pieces, gap, end } => {
            let _ = writer
                .write_all(head("200 OK", "text/event-stream").as_bytes())
                .await;
            let role = json!({"choices": [{"index": 0, "delta": {"role": "assistant"}}]});
            let _ = writer.write_all(&event(&role)).await;
            for (n, piece) in pieces.iter().enumerate() {
                if n > 0 && !gap.is_zero() && !wait!(gap) {
                    return;
                }
                let delta = json!({"choices": [{"index": 0, "delta": {"content": piece}}]});
                if writer.write_all(&event(&delta)).await.is_err() {
                    return;
                }
            }
            match end {
                End::Done => {
                    let stop =
                        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]});
                    let _ = writer.write_all(&event(&stop)).await;
                    let _ = writer.write_all(&chunk("data: [DONE]\n\n")).await;
                    let _ = writer.write_all(b"0\r\n\r\n").await;
                }
                End::Cut => {}
                End::Hang => {
                    wait!(Duration::from_secs(60));
                }
            }
        }
    }
    let _ = writer.shutdown().await;
}

fn event(data: &Value) -> Vec<u8> {
    chunk(&format!("data: {data}\n\n"))
}

/// One chunk of a chunked body.
fn chunk(text: &str) -> Vec<u8> {
    format!("{:x}\r\n{text}\r\n", text.len()).into_bytes()
}

async fn read_request<S: AsyncRead + Unpin>(socket: &mut S) -> Option<Received> {
    let mut buffer = Vec::new();
    let mut scratch = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = socket.read(&mut scratch).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&scratch[..n]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines.next()?.split(' ').nth(1)?.to_owned();
    let headers: HashMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers.get("content-length")?.parse().ok()?;
    while buffer.len() < head_end + length {
        let n = socket.read(&mut scratch).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&scratch[..n]);
    }
    let body = serde_json::from_slice(&buffer[head_end..head_end + length]).unwrap_or(Value::Null);
    Some(Received {
        path,
        headers,
        body,
    })
}
