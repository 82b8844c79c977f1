//! The data platform, which receives every snippet change at `POST /snippets`.

use bytes::Bytes;

use super::{HttpUpstream, UpstreamError};

pub struct DataPlatformClient {
    http: HttpUpstream,
}

impl DataPlatformClient {
    pub fn new(http: HttpUpstream) -> Self {
        Self { http }
    }

    /// Sends a recorded `{user_id, snippet, timestamp, event}` body as it was stored.
    pub async fn sync(
        &self,
        body: Bytes,
        request_id: &str,
        idempotency_key: &str,
    ) -> Result<(), UpstreamError> {
        self.http
            .post("snippets", body, request_id, Some(idempotency_key))
            .await
            .map(drop)
    }
}
