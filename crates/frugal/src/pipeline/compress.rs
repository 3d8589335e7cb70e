//! Stage one of the pipeline: lossless prompt compression, applied in place before
//! classification so the classifier scores — and the provider receives — the same bytes.
//!
//! Not implemented yet: this stage is currently the identity (it changes nothing and
//! reports zero savings). The passes (JSON minification, whitespace normalisation outside
//! code, cache breakpoints) are tracked as their own issue; this function is where they
//! plug in, so the pipeline boundary is already the real one.

use crate::types::ChatRequest;

/// What compression did to a request (bytes before/after, for accounting).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CompressStats {
    pub bytes_before: usize,
    pub bytes_after: usize,
}

/// Compress `req` in place. Deterministic and idempotent (trivially, for now).
pub fn compress(_req: &mut ChatRequest) -> CompressStats {
    CompressStats::default()
}
