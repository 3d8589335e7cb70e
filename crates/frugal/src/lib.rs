//! frugal: an LLM gateway that routes each request to the cheapest model able to answer it.
//!
//! The request path, top to bottom: `server` (HTTP handlers) → `wire` (client formats ⇄
//! `types`) → `pipeline` (compress → classify → select ⇒ `Plan`, no network) →
//! `providers` (upstream adapters, fallback) → metering. See docs/architecture.md.

pub mod caller;
pub mod catalog;
pub mod cli;
pub mod compress_cli;
pub mod config;
pub mod cost;
pub mod embed;
pub mod error;
pub mod eval;
pub mod hashing;
pub mod ledger;
pub mod limits;
pub mod metrics;
pub mod pipeline;
pub mod providers;
pub mod quality;
pub mod secrets;
pub mod server;
pub mod tokens;
pub mod train;
pub mod verify;

// The wire formats and the internal model live in their own crate (crates/wire); these
// names keep one path for them across the gateway.
pub use frugal_wire as wire;
pub use frugal_wire::types;
