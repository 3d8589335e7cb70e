//! A BERT encoder forward pass for sentence-transformers models (all-MiniLM-L6-v2 and
//! kin), in pure Rust: embeddings (word + position + token type 0) → LayerNorm, then N
//! layers of multi-head self-attention → dense → residual → LayerNorm and
//! dense → GELU (erf) → dense → residual → LayerNorm; then mean (or CLS) pooling and
//! optional L2 normalisation.
//!
//! Sequences are batched *packed* (concatenated rows, no padding): attention runs over each
//! sequence's own rows, which is exactly what an attention mask over padding computes,
//! and a sequence's result does not depend on what it is batched with.

use std::path::Path;

use anyhow::{bail, Context};
use serde::Deserialize;

use super::linalg::{add_assign, axpy, dot, gelu, layer_norm, softmax, Linear};
use super::safetensors::SafeTensors;
use crate::pipeline::classify::wordpiece::WordPiece;

/// The fields of a Hugging Face BERT config.json the forward pass needs.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f32,
    #[serde(default = "default_act")]
    pub hidden_act: String,
}

fn default_eps() -> f32 {
    1e-12
}

fn default_act() -> String {
    "gelu".into()
}

struct Layer {
    qkv: Linear,
    attn_out: Linear,
    ln1: (Vec<f32>, Vec<f32>),
    inter: Linear,
    out: Linear,
    ln2: (Vec<f32>, Vec<f32>),
}

/// BERT weights, ready to run.
pub struct Bert {
    cfg: BertConfig,
    word: Vec<f32>,
    pos: Vec<f32>,
    type0: Vec<f32>,
    emb_ln: (Vec<f32>, Vec<f32>),
    layers: Vec<Layer>,
}

/// Scratch buffers for one forward pass, reused across layers.
struct Workspace {
    x: Vec<f32>,
    qkv: Vec<f32>,
    ctx: Vec<f32>,
    tmp: Vec<f32>,
    inter: Vec<f32>,
    scores: Vec<f32>,
}

impl Bert {
    /// Build from a config and a safetensors file (names with or without a `bert.` prefix).
    pub fn from_safetensors(cfg: BertConfig, st: &SafeTensors) -> anyhow::Result<Bert> {
        if cfg.hidden_act != "gelu" {
            bail!(
                "hidden_act `{}` is not supported (only BERT's erf `gelu`)",
                cfg.hidden_act
            );
        }
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        if cfg.num_attention_heads == 0 || h % cfg.num_attention_heads != 0 {
            bail!(
                "hidden_size {h} is not a multiple of num_attention_heads {}",
                cfg.num_attention_heads
            );
        }
        let prefix = if st.info("embeddings.word_embeddings.weight").is_none()
            && st.info("bert.embeddings.word_embeddings.weight").is_some()
        {
            "bert."
        } else {
            ""
        };
        let get = |name: &str, shape: &[usize]| -> anyhow::Result<Vec<f32>> {
            Ok(st.f32_shaped(&format!("{prefix}{name}"), shape)?.data)
        };
        let ln = |name: &str| -> anyhow::Result<(Vec<f32>, Vec<f32>)> {
            Ok((
                get(&format!("{name}.weight"), &[h])?,
                get(&format!("{name}.bias"), &[h])?,
            ))
        };
        let linear = |name: &str, n_out: usize, n_in: usize| -> anyhow::Result<Linear> {
            let w = get(&format!("{name}.weight"), &[n_out, n_in])?;
            Ok(Linear::new(
                &w,
                &get(&format!("{name}.bias"), &[n_out])?,
                n_out,
                n_in,
            ))
        };
        let word = get("embeddings.word_embeddings.weight", &[cfg.vocab_size, h])?;
        let pos = get(
            "embeddings.position_embeddings.weight",
            &[cfg.max_position_embeddings, h],
        )?;
        let types = st.f32(&format!("{prefix}embeddings.token_type_embeddings.weight"))?;
        if types.shape.len() != 2 || types.shape[1] != h || types.shape[0] == 0 {
            bail!(
                "token_type_embeddings has shape {:?}, expected [_, {h}]",
                types.shape
            );
        }
        let emb_ln = ln("embeddings.LayerNorm")?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for l in 0..cfg.num_hidden_layers {
            let p = format!("encoder.layer.{l}.");
            let q = |n: &str| get(&format!("{p}attention.self.{n}"), &[h, h]);
            let qb = |n: &str| get(&format!("{p}attention.self.{n}"), &[h]);
            let (wq, wk, wv) = (q("query.weight")?, q("key.weight")?, q("value.weight")?);
            let (bq, bk, bv) = (qb("query.bias")?, qb("key.bias")?, qb("value.bias")?);
            let qkv = Linear::concat(&[(&wq, &bq, h), (&wk, &bk, h), (&wv, &bv, h)], h);
            layers.push(Layer {
                qkv,
                attn_out: linear(&format!("{p}attention.output.dense"), h, h)?,
                ln1: ln(&format!("{p}attention.output.LayerNorm"))?,
                inter: linear(&format!("{p}intermediate.dense"), i, h)?,
                out: linear(&format!("{p}output.dense"), h, i)?,
                ln2: ln(&format!("{p}output.LayerNorm"))?,
            });
        }
        let type0 = types.data[..h].to_vec();
        Ok(Bert {
            cfg,
            word,
            pos,
            type0,
            emb_ln,
            layers,
        })
    }

    pub fn config(&self) -> &BertConfig {
        &self.cfg
    }

    fn check(&self, seqs: &[&[u32]]) -> anyhow::Result<()> {
        for s in seqs {
            if s.is_empty() || s.len() > self.cfg.max_position_embeddings {
                bail!(
                    "sequence of {} tokens (must be 1..={})",
                    s.len(),
                    self.cfg.max_position_embeddings
                );
            }
            if let Some(id) = s.iter().find(|id| **id as usize >= self.cfg.vocab_size) {
                bail!(
                    "token id {id} is outside the vocabulary ({})",
                    self.cfg.vocab_size
                );
            }
        }
        Ok(())
    }

    /// Last hidden states of each sequence, packed: `Σ len` rows of `hidden_size`.
    pub fn hidden_states(&self, seqs: &[&[u32]]) -> anyhow::Result<Vec<f32>> {
        self.check(seqs)?;
        Ok(self.forward(seqs))
    }

    /// Mean of each sequence's last hidden states (not normalised).
    pub fn mean_pooled(&self, seqs: &[&[u32]]) -> anyhow::Result<Vec<Vec<f32>>> {
        self.check(seqs)?;
        Ok(self.pool(seqs, self.forward(seqs), Pooling::Mean))
    }

    fn pool(&self, seqs: &[&[u32]], x: Vec<f32>, pooling: Pooling) -> Vec<Vec<f32>> {
        let h = self.cfg.hidden_size;
        let mut row = 0;
        let mut out = Vec::with_capacity(seqs.len());
        for s in seqs {
            let rows = &x[row * h..(row + s.len()) * h];
            row += s.len();
            let v = match pooling {
                Pooling::Cls => rows[..h].to_vec(),
                Pooling::Mean => {
                    let mut v = vec![0.0f32; h];
                    for r in rows.chunks_exact(h) {
                        add_assign(&mut v, r);
                    }
                    let inv = 1.0 / s.len() as f32;
                    v.iter_mut().for_each(|a| *a *= inv);
                    v
                }
            };
            out.push(v);
        }
        out
    }

    /// The forward pass over already-checked sequences.
    fn forward(&self, seqs: &[&[u32]]) -> Vec<f32> {
        let c = &self.cfg;
        let (h, rows) = (c.hidden_size, seqs.iter().map(|s| s.len()).sum::<usize>());
        let longest = seqs.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ws = Workspace {
            x: vec![0.0; rows * h],
            qkv: vec![0.0; rows * 3 * h],
            ctx: vec![0.0; rows * h],
            tmp: vec![0.0; rows * h],
            inter: vec![0.0; rows * c.intermediate_size],
            scores: vec![0.0; longest],
        };
        let mut xr = ws.x.chunks_exact_mut(h);
        for s in seqs {
            for (p, (&id, x)) in s.iter().zip(xr.by_ref()).enumerate() {
                let id = id as usize;
                x.copy_from_slice(&self.word[id * h..(id + 1) * h]);
                add_assign(x, &self.pos[p * h..(p + 1) * h]);
                add_assign(x, &self.type0);
            }
        }
        layer_norm(&mut ws.x, &self.emb_ln.0, &self.emb_ln.1, c.layer_norm_eps);
        for layer in &self.layers {
            self.layer(layer, seqs, rows, &mut ws);
        }
        ws.x
    }

    fn layer(&self, l: &Layer, seqs: &[&[u32]], rows: usize, ws: &mut Workspace) {
        let eps = self.cfg.layer_norm_eps;
        l.qkv.forward(&ws.x, rows, &mut ws.qkv);
        self.attention(seqs, ws);
        l.attn_out.forward(&ws.ctx, rows, &mut ws.tmp);
        add_assign(&mut ws.x, &ws.tmp);
        layer_norm(&mut ws.x, &l.ln1.0, &l.ln1.1, eps);
        l.inter.forward(&ws.x, rows, &mut ws.inter);
        ws.inter.iter_mut().for_each(|v| *v = gelu(*v));
        l.out.forward(&ws.inter, rows, &mut ws.tmp);
        add_assign(&mut ws.x, &ws.tmp);
        layer_norm(&mut ws.x, &l.ln2.0, &l.ln2.1, eps);
    }

    /// Scaled dot-product attention of every head, each sequence over its own rows.
    fn attention(&self, seqs: &[&[u32]], ws: &mut Workspace) {
        let h = self.cfg.hidden_size;
        let heads = self.cfg.num_attention_heads;
        let dh = h / heads;
        let scale = 1.0 / (dh as f32).sqrt();
        let (qkv, ctx) = (&ws.qkv, &mut ws.ctx);
        ctx.iter_mut().for_each(|v| *v = 0.0);
        let mut start = 0;
        for s in seqs {
            let n = s.len();
            let scores = &mut ws.scores[..n];
            for head in 0..heads {
                let off = head * dh;
                for i in start..start + n {
                    let q = &qkv[i * 3 * h + off..i * 3 * h + off + dh];
                    for (j, sc) in (start..start + n).zip(scores.iter_mut()) {
                        let k = &qkv[j * 3 * h + h + off..j * 3 * h + h + off + dh];
                        *sc = dot(q, k) * scale;
                    }
                    softmax(scores);
                    let out = &mut ctx[i * h + off..i * h + off + dh];
                    for (j, &p) in (start..start + n).zip(scores.iter()) {
                        axpy(
                            out,
                            p,
                            &qkv[j * 3 * h + 2 * h + off..j * 3 * h + 2 * h + off + dh],
                        );
                    }
                }
            }
            start += n;
        }
    }
}

/// How token states become one sentence vector (1_Pooling/config.json).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pooling {
    Mean,
    Cls,
}

/// A sentence-transformers model: WordPiece → BERT → pooling → optional L2 normalisation.
pub struct SentenceEncoder {
    bert: Bert,
    wp: WordPiece,
    vocab: Vec<String>,
    cls: u32,
    sep: u32,
    max_tokens: usize,
    pooling: Pooling,
    normalize: bool,
}

/// Default cap on tokens per text, [CLS] and [SEP] included (MiniLM's max_seq_length).
pub const DEFAULT_MAX_TOKENS: usize = 256;

impl SentenceEncoder {
    /// Load a sentence-transformers folder: config.json, tokenizer.json, model.safetensors,
    /// and (optional) 1_Pooling/config.json, modules.json, sentence_bert_config.json.
    pub fn load(dir: &Path) -> anyhow::Result<SentenceEncoder> {
        let read = |name: &str| {
            let p = dir.join(name);
            std::fs::read_to_string(&p).with_context(|| format!("cannot read {}", p.display()))
        };
        let cfg: BertConfig = serde_json::from_str(&read("config.json")?)
            .with_context(|| format!("{}: not a BERT config", dir.join("config.json").display()))?;
        let vocab = vocab_from_tokenizer_json(&read("tokenizer.json")?)
            .with_context(|| format!("{}", dir.join("tokenizer.json").display()))?;
        let st = SafeTensors::read(&dir.join("model.safetensors"))?;
        let bert = Bert::from_safetensors(cfg, &st)
            .with_context(|| format!("{}", dir.join("model.safetensors").display()))?;
        let mut enc = SentenceEncoder::new(bert, vocab)?;
        let json = |name: &str| -> Option<serde_json::Value> {
            serde_json::from_str(&std::fs::read_to_string(dir.join(name)).ok()?).ok()
        };
        if let Some(p) = json("1_Pooling/config.json") {
            let flag = |k: &str| p.get(k).and_then(|v| v.as_bool()).unwrap_or(false);
            enc.pooling = match (
                flag("pooling_mode_mean_tokens"),
                flag("pooling_mode_cls_token"),
            ) {
                (true, false) => Pooling::Mean,
                (false, true) => Pooling::Cls,
                _ => bail!(
                    "{}: only mean or CLS pooling is supported",
                    dir.join("1_Pooling").display()
                ),
            };
        }
        if let Some(m) = json("modules.json") {
            enc.normalize = m
                .to_string()
                .contains("sentence_transformers.models.Normalize");
        }
        if let Some(n) =
            json("sentence_bert_config.json").and_then(|c| c["max_seq_length"].as_u64())
        {
            enc = enc.with_max_tokens(n as usize);
        }
        Ok(enc)
    }

    /// From a model and its vocabulary in id order (mean pooling, normalised, 256 tokens).
    pub fn new(bert: Bert, vocab: Vec<String>) -> anyhow::Result<SentenceEncoder> {
        if vocab.len() > bert.cfg.vocab_size {
            bail!(
                "tokenizer has {} tokens, the model only {}",
                vocab.len(),
                bert.cfg.vocab_size
            );
        }
        let wp = WordPiece::from_tokens(&vocab)?;
        let special = |t: &str| {
            wp.id(t)
                .with_context(|| format!("vocabulary has no {t} token"))
        };
        let (cls, sep) = (special("[CLS]")?, special("[SEP]")?);
        let max_tokens = DEFAULT_MAX_TOKENS.min(bert.cfg.max_position_embeddings);
        Ok(SentenceEncoder {
            bert,
            wp,
            vocab,
            cls,
            sep,
            max_tokens,
            pooling: Pooling::Mean,
            normalize: true,
        })
    }

    /// Cap tokens per text ([CLS] and [SEP] included; at least 2, at most the model's).
    pub fn with_max_tokens(mut self, n: usize) -> SentenceEncoder {
        self.max_tokens = n.clamp(2, self.bert.cfg.max_position_embeddings);
        self
    }

    pub fn with_normalize(mut self, normalize: bool) -> SentenceEncoder {
        self.normalize = normalize;
        self
    }

    pub fn bert(&self) -> &Bert {
        &self.bert
    }

    pub fn tokenizer(&self) -> &WordPiece {
        &self.wp
    }

    /// The vocabulary in id order.
    pub fn vocab(&self) -> &[String] {
        &self.vocab
    }

    pub fn special_ids(&self) -> (u32, u32) {
        (self.cls, self.sep)
    }

    pub fn dim(&self) -> usize {
        self.bert.cfg.hidden_size
    }

    /// `[CLS] tokens… [SEP]`, truncated to the token cap.
    pub fn encode_ids(&self, text: &str) -> Vec<u32> {
        let mut ids = vec![self.cls];
        self.wp.tokenize(text, &mut ids);
        ids.truncate(self.max_tokens - 1);
        ids.push(self.sep);
        ids
    }

    /// The sentence embedding of one text.
    pub fn embed(&self, text: &str) -> Vec<f32> {
        self.embed_batch(&[text]).pop().unwrap_or_default()
    }

    /// Sentence embeddings of several texts, computed as one packed batch.
    pub fn embed_batch(&self, texts: &[&str]) -> Vec<Vec<f32>> {
        let ids: Vec<Vec<u32>> = texts.iter().map(|t| self.encode_ids(t)).collect();
        let seqs: Vec<&[u32]> = ids.iter().map(Vec::as_slice).collect();
        // Ids come from our own vocabulary (checked against the model at construction)
        // and lengths are capped, so the forward pass needs no further checks.
        let mut out = self
            .bert
            .pool(&seqs, self.bert.forward(&seqs), self.pooling);
        if self.normalize {
            out.iter_mut().for_each(|v| l2_normalize(v));
        }
        out
    }
}

/// Scale `v` to unit length (left as is if zero).
pub fn l2_normalize(v: &mut [f32]) {
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    if n > 0.0 {
        v.iter_mut().for_each(|a| *a /= n);
    }
}

/// The WordPiece vocabulary of a tokenizer.json, in id order.
pub fn vocab_from_tokenizer_json(text: &str) -> anyhow::Result<Vec<String>> {
    let v: serde_json::Value = serde_json::from_str(text)?;
    let map = v
        .pointer("/model/vocab")
        .and_then(|m| m.as_object())
        .context("no model.vocab")?;
    let mut tokens = vec![None; map.len()];
    for (tok, id) in map {
        let slot = id
            .as_u64()
            .and_then(|i| tokens.get_mut(i as usize))
            .with_context(|| format!("bad id for token {tok:?}"))?;
        *slot = Some(tok.clone());
    }
    tokens
        .into_iter()
        .enumerate()
        .map(|(i, t)| t.with_context(|| format!("no token has id {i}")))
        .collect()
}

#[cfg(test)]
#[path = "bert_tests.rs"]
mod tests;
