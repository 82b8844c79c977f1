//! The platform's API gateway, told of every workflow-context update.

use bytes::Bytes;

use super::{HttpUpstream, UpstreamError};

pub struct GatewayClient {
    http: HttpUpstream,
}

impl GatewayClient {
    pub fn new(http: HttpUpstream) -> Self {
        Self { http }
    }

    /// Sends the stored context object as it was recorded.
    pub async fn context_updated(
        &self,
        body: Bytes,
        request_id: &str,
        idempotency_key: &str,
    ) -> Result<(), UpstreamError> {
        self.http
            .post(
                "internal/context-update",
                body,
                request_id,
                Some(idempotency_key),
            )
            .await
            .map(drop)
    }
}
