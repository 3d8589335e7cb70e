//! frugal's gateway: the HTTP server (`server`), the upstream calls with fallback,
//! streaming and verified answers (`providers`), the traffic metrics (`metrics`) and the
//! command line (`cli`). The request path, top to bottom: `server` (HTTP handlers) →
//! `wire` (client formats ⇄ `types`) → `pipeline` (compress → classify → select ⇒ `Plan`,
//! no network) → `providers` (upstream adapters, fallback) → metering (`ledger`). Everything
//! but the first and the fourth lives in the core crate (`frugal`). See
//! docs/architecture.md.

pub mod cli;
pub mod metrics;
pub mod providers;
pub mod server;

// The core's modules, under the names the gateway's code uses for them.
use frugal_core::{
    caller, catalog, config, cost, error, hashing, ledger, limits, pipeline, quality, secrets,
    tokens, types, verify, wire,
};
