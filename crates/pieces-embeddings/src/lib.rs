//! Embedding providers: a text becomes a unit vector whose direction carries its meaning, so
//! a question finds a snippet that shares no word with it. Two providers: a local
//! sentence-transformers model run in-process (`EMBEDDINGS_MODEL_DIR`), and any
//! OpenAI-compatible `/v1/embeddings` endpoint (`EMBEDDINGS_URL`). Neither downloads anything.

mod bert;
mod local;
mod remote;
pub mod vector;

pub use local::{LocalEmbedder, LocalModel};
pub use remote::RemoteEmbedder;

use std::sync::Arc;

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use pieces_model::files::other_files_text;
use pieces_model::Snippet;

/// Why texts could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("the embedding provider cannot be reached")]
    Unreachable,
    #[error("the embedding provider did not answer in time")]
    Timeout,
    #[error("the embedding provider answered HTTP {0}")]
    Status(u16),
    #[error("the embedding provider answered {0}")]
    Malformed(String),
    #[error("the local embedding model failed: {0}")]
    Model(String),
}

/// Who waits for an embedding: a person's search, or the background backlog, which must never
/// take the processor from requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Urgency {
    Query,
    Background,
}

#[async_trait]
pub trait Embedder: Send + Sync {
    /// Names the model and its version: vectors of different models are never compared, and a
    /// change of model re-embeds every snippet.
    fn model_id(&self) -> &str;

    /// One unit vector per text, in order.
    async fn embed(
        &self,
        texts: Vec<String>,
        urgency: Urgency,
    ) -> Result<Vec<Vec<f32>>, EmbedError>;
}

pub type SharedEmbedder = Arc<dyn Embedder>;

/// Characters of a snippet that are embedded: the model reads at most 256 tokens, so more
/// would only cost tokenizing.
const TEXT_CHARS: usize = 2_000;

/// What is embedded of a snippet: what a person would describe it by first, then its code.
pub fn snippet_text(snippet: &Snippet) -> String {
    let mut text = String::with_capacity(256);
    text.push_str(&snippet.title);
    if let Some(description) = snippet.description.as_deref().filter(|d| !d.is_empty()) {
        text.push_str(". ");
        text.push_str(description);
    }
    if !snippet.tags.is_empty() {
        text.push_str(". ");
        text.push_str(&snippet.tags.join(", "));
    }
    text.push_str(". ");
    text.push_str(&snippet.language);
    text.push('\n');
    text.push_str(&snippet.code);
    if text.len() < TEXT_CHARS * 4 {
        text.push_str(&other_files_text(&snippet.files));
    }
    match text.char_indices().nth(TEXT_CHARS) {
        Some((cut, _)) => text[..cut].to_owned(),
        None => text,
    }
}

/// A short digest of what was embedded: an edit that leaves it alone (metadata, say) is not
/// embedded again.
pub fn content_hash(text: &str) -> Vec<u8> {
    Sha256::digest(text.as_bytes())[..16].to_vec()
}
