//! frugal's model-aware router: what it knows, how it decides, how it learns.
//!
//! - **Knows** (`quality`): labelled requests — an embedding and, per model, the quality
//!   of that model's answer (0–1) — from public per-model data and from the deployment's
//!   own rated traffic. For a new request and a model, the estimate is a kernel-weighted
//!   mean of that model's scores on the request's nearest labelled neighbours, shrunk
//!   towards a prior, with its uncertainty (a Beta posterior).
//! - **Finds neighbours** (`index`): a flat scan of int8 vectors, or an inverted-file
//!   index (spherical k-means lists, a few probed per query) once the store is large.
//! - **Decides** (`choose`): among the candidates the caller allows, the one with the
//!   best trade-off `q̂ − λ·cost/baseline cost − β·σ`.
//! - **Learns** (`QualityStore::add`): a rated answer becomes one more labelled row, at
//!   once, with no retraining step.
//!
//! The crate is pure: no network, no files but the ones it is handed, no knowledge of
//! wire formats or embeddings models (the caller embeds the request).

pub mod choose;
pub mod index;
pub mod quality;
mod vectors;

pub use choose::{choose, explore, Candidate, Choice, Weights};
pub use quality::{Ask, Estimate, Params, QualityStore};
