//! A minimal Server-Sent Events reader over a reqwest response, for the stream's tests.

use std::time::Duration;

use reqwest::Response;
use serde_json::Value;

/// One event as received.
#[derive(Debug, Clone, PartialEq)]
pub struct SseEvent {
    pub id: Option<String>,
    pub event: String,
    pub data: Value,
}

pub struct SseReader {
    response: Response,
    buffer: String,
}

impl SseReader {
    pub fn new(response: Response) -> Self {
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or None when the stream ends or `within` passes.
    pub async fn next(&mut self, within: Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return Some(event);
                }
                continue;
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await;
            match chunk {
                Ok(Ok(Some(bytes))) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Reads `count` events, failing the test if they do not come within `within`.
    pub async fn take(&mut self, count: usize, within: Duration) -> Vec<SseEvent> {
        let mut events = Vec::new();
        while events.len() < count {
            match self.next(within).await {
                Some(event) => events.push(event),
                None => panic!(
                    "only {} of {count} events arrived: {events:?}",
                    events.len()
                ),
            }
        }
        events
    }

    /// True when the server ended the stream within `within`.
    pub async fn ends_within(&mut self, within: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Ok(Ok(None)) | Ok(Err(_)) => return true,
                Ok(Ok(Some(_))) => {}
                Err(_) => return false,
            }
        }
    }
}

fn parse(block: &str) -> Option<SseEvent> {
    let mut id = None;
    let mut event = None;
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("event:") {
            event = Some(v.trim().to_owned());
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim_start());
        }
    }
    let event = event?;
    Some(SseEvent {
        id,
        event,
        data: serde_json::from_str(&data).unwrap_or(Value::Null),
    })
}
