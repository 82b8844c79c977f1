//! The BERT encoder (the architecture of all-MiniLM-L6-v2 and other sentence-transformers
//! models) over candle-nn's layers: token, position and segment embeddings, then layers of
//! self-attention and a feed-forward block, each closed by a residual sum and a layer norm.
//!
//! It is written here rather than taken from candle-transformers because that crate compiles
//! about a hundred models to offer this one, which made it the longest step of a fresh build.
//! Weight names follow Hugging Face's `BertModel` checkpoints, with or without the `bert.`
//! prefix.

use candle_core::{DType, Module, Result, Tensor, D};
use candle_nn::{embedding, layer_norm, linear, Embedding, LayerNorm, Linear, VarBuilder};
use serde::Deserialize;

/// The fields of a checkpoint's `config.json` the encoder reads.
#[derive(Debug, Clone, Deserialize)]
pub struct Config {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    hidden_act: Activation,
    max_position_embeddings: usize,
    type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    position_embedding_type: PositionEmbedding,
}

fn default_layer_norm_eps() -> f64 {
    1e-12
}

/// The feed-forward block's activation, by the names `transformers` gives them.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Activation {
    /// The exact GELU (with erf), BERT's own.
    Gelu,
    /// The tanh approximation.
    #[serde(alias = "gelu_pytorch_tanh")]
    GeluNew,
    Relu,
}

impl Activation {
    fn apply(self, xs: &Tensor) -> Result<Tensor> {
        match self {
            Self::Gelu => xs.gelu_erf(),
            Self::GeluNew => xs.gelu(),
            Self::Relu => xs.relu(),
        }
    }
}

/// Only learned absolute positions are supported; a checkpoint with relative ones is refused
/// when its configuration is read rather than giving wrong vectors.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum PositionEmbedding {
    #[default]
    Absolute,
}

pub struct BertModel {
    words: Embedding,
    positions: Embedding,
    segments: Embedding,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl BertModel {
    pub fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        // The one kind of positions read from a configuration; another never gets here.
        let PositionEmbedding::Absolute = config.position_embedding_type;
        let vb = if vb.contains_tensor("bert.embeddings.word_embeddings.weight") {
            vb.pp("bert")
        } else {
            vb
        };
        let (hidden, eps) = (config.hidden_size, config.layer_norm_eps);
        let emb = vb.pp("embeddings");
        let layers = (0..config.num_hidden_layers)
            .map(|i| Layer::load(vb.pp(format!("encoder.layer.{i}")), config))
            .collect::<Result<_>>()?;
        Ok(Self {
            words: embedding(config.vocab_size, hidden, emb.pp("word_embeddings"))?,
            positions: embedding(
                config.max_position_embeddings,
                hidden,
                emb.pp("position_embeddings"),
            )?,
            segments: embedding(
                config.type_vocab_size,
                hidden,
                emb.pp("token_type_embeddings"),
            )?,
            embeddings_norm: layer_norm(hidden, eps, emb.pp("LayerNorm"))?,
            layers,
        })
    }

    /// The last layer's hidden states, `(batch, tokens, hidden)`, for token ids and an
    /// attention mask (1 for a real token, 0 for padding), both `(batch, tokens)` of u32.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let tokens = ids.dim(1)?;
        let positions = Tensor::arange(0u32, tokens as u32, ids.device())?;
        let segments = ids.zeros_like()?;
        let mut hidden = (self.words.forward(ids)? + self.segments.forward(&segments)?)?
            .broadcast_add(&self.positions.forward(&positions)?)?;
        hidden = self.embeddings_norm.forward(&hidden)?;
        // Padding gets the lowest score before the softmax, so no token attends to it.
        let blocked = ((1.0 - mask.to_dtype(DType::F32)?)? * f64::from(f32::MIN))?
            .unsqueeze(1)?
            .unsqueeze(1)?;
        for layer in &self.layers {
            hidden = layer.forward(&hidden, &blocked)?;
        }
        Ok(hidden)
    }
}

/// One encoder layer: multi-head self-attention, then the feed-forward block.
struct Layer {
    query: Linear,
    key: Linear,
    value: Linear,
    heads: usize,
    attention_out: Linear,
    attention_norm: LayerNorm,
    expand: Linear,
    activation: Activation,
    contract: Linear,
    output_norm: LayerNorm,
}

impl Layer {
    fn load(vb: VarBuilder, config: &Config) -> Result<Self> {
        let (hidden, inner, eps) = (
            config.hidden_size,
            config.intermediate_size,
            config.layer_norm_eps,
        );
        let attention = vb.pp("attention");
        let this = attention.pp("self");
        Ok(Self {
            query: linear(hidden, hidden, this.pp("query"))?,
            key: linear(hidden, hidden, this.pp("key"))?,
            value: linear(hidden, hidden, this.pp("value"))?,
            heads: config.num_attention_heads,
            attention_out: linear(hidden, hidden, attention.pp("output.dense"))?,
            attention_norm: layer_norm(hidden, eps, attention.pp("output.LayerNorm"))?,
            expand: linear(hidden, inner, vb.pp("intermediate.dense"))?,
            activation: config.hidden_act,
            contract: linear(inner, hidden, vb.pp("output.dense"))?,
            output_norm: layer_norm(hidden, eps, vb.pp("output.LayerNorm"))?,
        })
    }

    fn forward(&self, xs: &Tensor, blocked: &Tensor) -> Result<Tensor> {
        let attended = self.attention(xs, blocked)?;
        let xs = self
            .attention_norm
            .forward(&(self.attention_out.forward(&attended)? + xs)?)?;
        let inner = self.activation.apply(&self.expand.forward(&xs)?)?;
        self.output_norm
            .forward(&(self.contract.forward(&inner)? + xs)?)
    }

    /// Scaled dot-product attention over `heads` heads, their outputs joined again.
    fn attention(&self, xs: &Tensor, blocked: &Tensor) -> Result<Tensor> {
        let (batch, tokens, hidden) = xs.dims3()?;
        let head_size = hidden / self.heads;
        let split = |t: Tensor| {
            t.reshape((batch, tokens, self.heads, head_size))?
                .transpose(1, 2)?
                .contiguous()
        };
        let q = split(self.query.forward(xs)?)?;
        let k = split(self.key.forward(xs)?)?;
        let v = split(self.value.forward(xs)?)?;
        let scores = (q.matmul(&k.t()?)? / (head_size as f64).sqrt())?.broadcast_add(blocked)?;
        let weights = candle_nn::ops::softmax_last_dim(&scores)?;
        weights
            .matmul(&v)?
            .transpose(1, 2)?
            .contiguous()?
            .flatten_from(D::Minus2)
    }
}

#[cfg(test)]
mod tests {
    use super::Config;

    #[test]
    fn a_checkpoint_with_relative_positions_is_refused_when_its_configuration_is_read() {
        let config = r#"{"vocab_size": 10, "hidden_size": 4, "num_hidden_layers": 1,
            "num_attention_heads": 2, "intermediate_size": 8, "hidden_act": "gelu",
            "max_position_embeddings": 16, "type_vocab_size": 2,
            "position_embedding_type": "relative_key"}"#;
        let error = serde_json::from_str::<Config>(config).unwrap_err();
        assert!(error.to_string().contains("relative_key"), "{error}");
        let absolute = config.replace("relative_key", "absolute");
        serde_json::from_str::<Config>(&absolute).expect("absolute positions are read");
    }
}
