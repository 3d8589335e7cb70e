//! frugal's core: configuration, the decision (compress → classify → select ⇒ `Plan`, no
//! network), keys and limits, the ledger and its feedback loop, verified-answer logic, and
//! the offline lab (eval, train, crossval, distill, simulate). The HTTP server, the
//! upstream calls and the binary are the gateway crate (`crates/gateway`), which sits on
//! top, so a change there rebuilds only that crate. See docs/architecture.md.

pub mod caller;
pub mod catalog;
pub mod compress_cli;
pub mod config;
pub mod cost;
pub mod embed;
pub mod error;
pub mod eval;
pub mod hashing;
pub mod ledger;
pub mod limits;
pub mod pipeline;
pub mod quality;
pub mod secrets;
pub mod tokens;
pub mod train;
pub mod verify;

// The wire formats and the internal model live in their own crate (crates/wire); these
// names keep one path for them across the gateway.
pub use frugal_wire as wire;
pub use frugal_wire::types;
