//! Local sentence embeddings, in pure Rust with no network: a BERT encoder for
//! sentence-transformers models (`bert`, loading `safetensors`), and the compact static
//! token table distilled from it (`static_table`, built by `distill` /
//! `frugal distill`) that stage 2 of the classifier uses on every request.

pub mod bert;
pub mod distill;
mod linalg;
pub mod safetensors;
pub mod static_table;
#[cfg(test)]
mod testutil;

pub use bert::{SentenceEncoder, DEFAULT_MAX_TOKENS};
pub use distill::{distill, DistillOptions};
pub use static_table::StaticEmbedding;
