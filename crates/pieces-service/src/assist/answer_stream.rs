//! An answer as it is produced: its text in pieces, then the whole answer, or an error once
//! it had begun. Dropping it cancels the provider's call.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures_util::stream::{self, BoxStream, Stream, StreamExt};

use super::answers::AnswerCache;
use crate::{ServiceError, ServiceResult};
use pieces_model::AssistAnswer;
use pieces_upstream::ai::DeltaStream;
use pieces_upstream::UpstreamError;

/// An answer longer than this is refused: no provider asked for at most 8,192 tokens
/// produces it, and the whole answer is held to finish with.
const ANSWER_MAX_BYTES: usize = 1024 * 1024;

pub enum AnswerEvent {
    /// More of the answer's text.
    Delta(String),
    /// The whole answer; nothing follows.
    Done(AssistAnswer),
    /// The answer stopped midway; nothing follows.
    Failed(ServiceError),
}

pub struct AnswerStream(BoxStream<'static, AnswerEvent>);

/// Where a fresh answer is kept once whole.
pub struct Keep {
    pub cache: Arc<AnswerCache>,
    pub key: String,
}

impl AnswerStream {
    /// An answer already whole (from the cache): all its text at once, then itself.
    pub fn whole(answer: AssistAnswer) -> Self {
        let text = answer.response.clone();
        Self(stream::iter([AnswerEvent::Delta(text), AnswerEvent::Done(answer)]).boxed())
    }

    /// An answer whose text comes from `deltas`; `template` holds everything else.
    pub fn producing(deltas: DeltaStream, template: AssistAnswer, keep: Option<Keep>) -> Self {
        let state = Producing {
            deltas,
            template: Some(template),
            text: String::new(),
            keep,
        };
        Self(stream::unfold(state, Producing::next).boxed())
    }

    /// Waits for the whole answer.
    pub async fn finish(mut self) -> ServiceResult<AssistAnswer> {
        while let Some(event) = self.0.next().await {
            match event {
                AnswerEvent::Delta(_) => {}
                AnswerEvent::Done(answer) => return Ok(answer),
                AnswerEvent::Failed(e) => return Err(e),
            }
        }
        Err(ServiceError::Upstream(UpstreamError::Interrupted(
            "the provider",
        )))
    }
}

impl Stream for AnswerStream {
    type Item = AnswerEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<AnswerEvent>> {
        self.0.as_mut().poll_next(cx)
    }
}

struct Producing {
    deltas: DeltaStream,
    /// Taken when the answer ends.
    template: Option<AssistAnswer>,
    text: String,
    keep: Option<Keep>,
}

impl Producing {
    async fn next(mut self) -> Option<(AnswerEvent, Self)> {
        let template = self.template.as_ref()?;
        let provider = template.provider.as_str();
        let event = match self.deltas.next().await {
            Some(Ok(delta)) if self.text.len() + delta.len() <= ANSWER_MAX_BYTES => {
                self.text.push_str(&delta);
                return Some((AnswerEvent::Delta(delta), self));
            }
            Some(Ok(_)) => {
                tracing::warn!(provider, "an answer grew past {ANSWER_MAX_BYTES} bytes");
                AnswerEvent::Failed(UpstreamError::Malformed(provider).into())
            }
            Some(Err(e)) => AnswerEvent::Failed(e.into()),
            None => {
                let mut answer = self.template.take()?;
                answer.response = std::mem::take(&mut self.text);
                if let Some(keep) = &self.keep {
                    keep.cache.put(&keep.key, &answer).await;
                }
                return Some((AnswerEvent::Done(answer), self));
            }
        };
        self.template = None;
        Some((event, self))
    }
}
