//! Stage 2's sentence embedding: the static MiniLM table shipped inside the binary
//! (microseconds a prompt), or a full sentence-transformers model the user points frugal at
//! (`routing.embedding_model`, milliseconds a prompt, better separation). A router's stage-2
//! head only fits the embedding it was trained with, so each embedder has an id that the
//! model file records and loading checks.

use std::path::Path;

use crate::embed::{SentenceEncoder, StaticEmbedding};

use super::wordpiece::WordPiece;

/// The static table distilled by `frugal distill` from all-MiniLM-L6-v2 (Apache-2.0).
pub const BUILTIN_STATIC: &[u8] = include_bytes!("../../../assets/minilm-static-128.bin");

/// Text longer than this is cut before embedding (the head carries the ask; it bounds cost).
const MAX_EMBEDDED_CHARS: usize = 4_000;

pub enum Embedder {
    Static {
        table: StaticEmbedding,
        tokenizer: WordPiece,
        id: String,
    },
    Full {
        encoder: Box<SentenceEncoder>,
        id: String,
    },
}

/// FNV-1a of bytes as hex: identifies an embedding file without a crypto dependency.
fn fingerprint(bytes: &[u8]) -> String {
    format!("{:016x}", crate::hashing::fnv1a(bytes))
}

impl Embedder {
    /// The static table shipped with frugal.
    pub fn builtin() -> anyhow::Result<Embedder> {
        let table = StaticEmbedding::from_bytes(BUILTIN_STATIC)?;
        let tokenizer = table.tokenizer()?;
        Ok(Embedder::Static {
            table,
            tokenizer,
            id: format!("static:{}", fingerprint(BUILTIN_STATIC)),
        })
    }

    /// A sentence-transformers model folder (model.safetensors, tokenizer.json, config.json).
    pub fn full(dir: &Path) -> anyhow::Result<Embedder> {
        let encoder = SentenceEncoder::load(dir)?;
        let weights = std::fs::metadata(dir.join("model.safetensors"))
            .map(|m| m.len())
            .unwrap_or(0);
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = format!("full:{name}:{}:{weights}", encoder.dim());
        Ok(Embedder::Full {
            encoder: Box::new(encoder),
            id,
        })
    }

    pub fn id(&self) -> &str {
        match self {
            Embedder::Static { id, .. } | Embedder::Full { id, .. } => id,
        }
    }

    pub fn dim(&self) -> usize {
        match self {
            Embedder::Static { table, .. } => table.dim(),
            Embedder::Full { encoder, .. } => encoder.dim(),
        }
    }

    pub fn embed(&self, text: &str) -> Vec<f32> {
        let end = text
            .char_indices()
            .nth(MAX_EMBEDDED_CHARS)
            .map_or(text.len(), |(i, _)| i);
        let text = &text[..end];
        match self {
            Embedder::Static {
                table, tokenizer, ..
            } => {
                let mut ids = Vec::with_capacity(text.len() / 4);
                tokenizer.tokenize(text, &mut ids);
                table.embed(&ids)
            }
            Embedder::Full { encoder, .. } => encoder.embed(text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_static_embeds_and_separates_meanings() {
        let e = Embedder::builtin().expect("builtin table");
        assert_eq!(e.dim(), 128);
        let cos = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f32>();
        let a = e.embed("How do I sort a list in Python?");
        let b = e.embed("What's the way to order a Python list?");
        let c = e.embed("The French revolution began in 1789.");
        assert!(
            cos(&a, &b) > cos(&a, &c),
            "paraphrase closer than unrelated"
        );
        assert!(e.id().starts_with("static:"));
    }
}
