//! A sentence-transformers model (BERT family, e.g. all-MiniLM-L6-v2) run in-process with
//! candle: `config.json`, `tokenizer.json` and `model.safetensors` from `EMBEDDINGS_MODEL_DIR`,
//! mean pooling over the tokens, unit length. Nothing is fetched: the folder is the model.
//!
//! Background work runs on one thread of its own at the lowest priority, so a backlog of
//! embeddings never slows a request; a search's query runs at once on the blocking pool.

use std::path::Path;
use std::sync::{mpsc, Arc};

use async_trait::async_trait;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};
use tokenizers::{PaddingParams, Tokenizer, TruncationParams};
use tokio::sync::oneshot;

use super::bert::{BertModel, Config};
use super::{vector, EmbedError, Embedder, Urgency};

/// The longest input the model reads; sentence-transformers trained MiniLM at this length.
const MAX_TOKENS: usize = 256;

type Job = (
    Vec<String>,
    oneshot::Sender<Result<Vec<Vec<f32>>, EmbedError>>,
);

pub struct LocalModel {
    model: BertModel,
    device: Device,
    tokenizer: Tokenizer,
    id: String,
}

impl LocalModel {
    /// Loads the model in `dir`; the error names what is missing or wrong.
    pub fn load(dir: &Path) -> Result<Self, String> {
        let read = |name: &str| {
            std::fs::read(dir.join(name)).map_err(|e| format!("cannot read {name}: {e}"))
        };
        let config_bytes = read("config.json")?;
        let config: Config = serde_json::from_slice(&config_bytes)
            .map_err(|e| format!("config.json is not a BERT configuration: {e}"))?;
        let weights = read("model.safetensors")?;
        let id = model_id(dir, &config_bytes, &weights);
        let device = Device::Cpu;
        let vb = VarBuilder::from_buffered_safetensors(weights, DType::F32, &device)
            .map_err(|e| format!("model.safetensors: {e}"))?;
        let model = BertModel::load(vb, &config).map_err(|e| format!("model.safetensors: {e}"))?;
        let mut tokenizer = Tokenizer::from_file(dir.join("tokenizer.json"))
            .map_err(|e| format!("tokenizer.json: {e}"))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..TruncationParams::default()
            }))
            .map_err(|e| format!("tokenizer.json: {e}"))?;
        tokenizer.with_padding(Some(PaddingParams::default()));
        Ok(Self {
            model,
            device,
            tokenizer,
            id,
        })
    }

    pub fn id(&self) -> &str {
        &self.id
    }

    /// Embeds on the calling thread.
    pub fn embed_now(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, EmbedError> {
        let fail = |e: &dyn std::fmt::Display| EmbedError::Model(e.to_string());
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts, true)
            .map_err(|e| fail(&e))?;
        let device = &self.device;
        let rows = |pick: fn(&tokenizers::Encoding) -> &[u32]| {
            let rows = encodings
                .iter()
                .map(|e| Tensor::new(pick(e), device))
                .collect::<Result<Vec<_>, _>>()?;
            Tensor::stack(&rows, 0)
        };
        let run = || -> candle_core::Result<Vec<Vec<f32>>> {
            let ids = rows(|e| e.get_ids())?;
            let mask = rows(|e| e.get_attention_mask())?;
            let hidden = self.model.forward(&ids, &mask)?;
            // Mean of the real tokens' states (padding masked out).
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = hidden.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?;
            summed.broadcast_div(&counts)?.to_vec2::<f32>()
        };
        let mut vectors = run().map_err(|e| fail(&e))?;
        vectors.iter_mut().for_each(|v| vector::normalize(v));
        Ok(vectors)
    }
}

/// The folder's name and a digest of its configuration and of the weights' size and header,
/// so replacing the model changes the id without hashing 90 MB at every start.
fn model_id(dir: &Path, config: &[u8], weights: &[u8]) -> String {
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let header = weights.len().min(64 * 1024);
    let mut digest = Sha256::new();
    digest.update(config);
    digest.update((weights.len() as u64).to_le_bytes());
    digest.update(&weights[..header]);
    let hex: String = digest.finalize()[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("local:{name}:{hex}")
}

/// The local model as a provider: a background thread for the backlog, the blocking pool for
/// queries.
pub struct LocalEmbedder {
    model: Arc<LocalModel>,
    background: std::sync::Mutex<mpsc::Sender<Job>>,
}

impl LocalEmbedder {
    pub fn start(model: LocalModel) -> std::io::Result<Self> {
        let model = Arc::new(model);
        let (jobs, inbox) = mpsc::channel::<Job>();
        let worker = Arc::clone(&model);
        std::thread::Builder::new()
            .name("embedder".into())
            .spawn(move || {
                lower_this_threads_priority();
                for (texts, reply) in inbox {
                    let _ = reply.send(worker.embed_now(texts));
                }
            })?;
        Ok(Self {
            model,
            background: std::sync::Mutex::new(jobs),
        })
    }
}

#[async_trait]
impl Embedder for LocalEmbedder {
    fn model_id(&self) -> &str {
        self.model.id()
    }

    async fn embed(
        &self,
        texts: Vec<String>,
        urgency: Urgency,
    ) -> Result<Vec<Vec<f32>>, EmbedError> {
        match urgency {
            Urgency::Query => {
                let model = Arc::clone(&self.model);
                tokio::task::spawn_blocking(move || model.embed_now(texts))
                    .await
                    .map_err(|e| EmbedError::Model(e.to_string()))?
            }
            Urgency::Background => {
                let (reply, answer) = oneshot::channel();
                let sent = self
                    .background
                    .lock()
                    .map_err(|_| EmbedError::Model("embedder lock poisoned".into()))?
                    .send((texts, reply));
                if sent.is_err() {
                    return Err(EmbedError::Model("the embedding thread has stopped".into()));
                }
                answer
                    .await
                    .map_err(|_| EmbedError::Model("the embedding thread has stopped".into()))?
            }
        }
    }
}

/// Nice 19 for the calling thread only (Linux applies `setpriority` per thread).
fn lower_this_threads_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        if libc::setpriority(libc::PRIO_PROCESS, tid, 19) != 0 {
            tracing::debug!("cannot lower the embedding thread's priority");
        }
    }
}
