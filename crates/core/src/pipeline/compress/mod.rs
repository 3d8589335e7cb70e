//! Stage one of the pipeline: lossless prompt compression of the client's raw JSON body,
//! in place and before parsing, so the classifier scores — and the provider receives, on
//! the raw-forwarding and the translated path alike — the same compact bytes.
//!
//! Every pass rewrites one string at a time (see `walk`) and depends only on that string
//! and, for `dedup`, on earlier ones: the result is deterministic, idempotent and
//! prefix-stable (compressing turns 1..k gives the first k turns of compressing 1..k+1),
//! which keeps provider prompt caches hitting. It must not touch the network or anything
//! but text (ids, names, schemas and unknown fields are never visited).

pub mod check;
pub mod dedup;
pub mod json_min;
pub mod prune;
pub mod walk;
pub mod whitespace;

use serde::Serialize;
use serde_json::Value;

use crate::types::Format;
use walk::{Slot, SlotKind};

/// The `[compression]` configuration (all passes switchable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompressConfig {
    /// Master switch for the passes below.
    pub enabled: bool,
    /// Minify tool results and tool-call arguments that are JSON documents.
    pub json_minify: bool,
    /// Normalise whitespace outside code fences, tables and indented blocks.
    pub whitespace: bool,
    /// Replace exact duplicate tool results by a reference (off by default: see `dedup`).
    pub dedup: bool,
    /// Count the tokens saved (o200k) for headers and the ledger; costs tokenizer time on
    /// the changed strings only.
    pub count_tokens: bool,
    /// Anthropic upstreams: place `cache_control` breakpoints automatically.
    pub cache_breakpoints: bool,
    /// OpenAI upstreams: send a `prompt_cache_key` derived from the conversation's start.
    pub prompt_cache_key: bool,
    /// LOSSY, off by default: offer only the `prune_keep` most relevant tools (`prune`).
    pub prune_tools: bool,
    pub prune_keep: usize,
}

impl Default for CompressConfig {
    fn default() -> Self {
        CompressConfig {
            enabled: true,
            json_minify: true,
            whitespace: true,
            dedup: false,
            count_tokens: true,
            cache_breakpoints: true,
            prompt_cache_key: true,
            prune_tools: false,
            prune_keep: 8,
        }
    }
}

/// One pass's effect on a request. Bytes and tokens cover only the strings it changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PassReport {
    /// Strings the pass rewrote.
    pub changed: u64,
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// o200k tokens (0 when `count_tokens` is off).
    pub tokens_before: u64,
    pub tokens_after: u64,
}

impl PassReport {
    pub fn bytes_saved(&self) -> u64 {
        self.bytes_before.saturating_sub(self.bytes_after)
    }
    pub fn tokens_saved(&self) -> u64 {
        self.tokens_before.saturating_sub(self.tokens_after)
    }
    fn add_bytes(&mut self, before: &str, after: &str) {
        self.changed += 1;
        self.bytes_before += before.len() as u64;
        self.bytes_after += after.len() as u64;
    }
}

/// What compression did, pass by pass (the ledger records these as savings from
/// compression).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct CompressReport {
    pub json_minify: PassReport,
    pub whitespace: PassReport,
    pub dedup: PassReport,
}

impl CompressReport {
    pub fn passes(&self) -> [(&'static str, &PassReport); 3] {
        [
            ("json_minify", &self.json_minify),
            ("whitespace", &self.whitespace),
            ("dedup", &self.dedup),
        ]
    }
    pub fn tokens_saved(&self) -> u64 {
        self.passes().iter().map(|(_, p)| p.tokens_saved()).sum()
    }
    pub fn bytes_saved(&self) -> u64 {
        self.passes().iter().map(|(_, p)| p.bytes_saved()).sum()
    }
    fn pass_mut(&mut self, pass: Pass) -> &mut PassReport {
        match pass {
            Pass::Json => &mut self.json_minify,
            Pass::Whitespace => &mut self.whitespace,
            Pass::Dedup => &mut self.dedup,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Pass {
    Json,
    Whitespace,
    Dedup,
}

/// A report whose token counts are still to be made: the texts each pass changed, before
/// and after. Counting 100k tokens takes ~25 ms on one core, so the server runs
/// [`Pending::finish`] on a blocking thread while the upstream call is in flight, keeping
/// the request path to the passes themselves.
#[derive(Debug, Default)]
pub struct Pending {
    report: CompressReport,
    changed: Vec<(Pass, String, String)>,
}

impl Pending {
    /// The report with bytes only (tokens not counted yet).
    pub fn bytes_report(&self) -> CompressReport {
        self.report
    }

    /// Count the tokens (o200k) and return the full report.
    pub fn finish(self) -> CompressReport {
        let mut report = self.report;
        for (pass, before, after) in &self.changed {
            let p = report.pass_mut(*pass);
            p.tokens_before += crate::tokens::count_reference(before);
            p.tokens_after += crate::tokens::count_reference(after);
        }
        report
    }

    fn record(&mut self, pass: Pass, text: &mut String, new: String, keep: bool) {
        self.report.pass_mut(pass).add_bytes(text, &new);
        let old = std::mem::replace(text, new);
        if keep {
            self.changed.push((pass, old, text.clone()));
        }
    }
}

/// Compress a raw request body of `format` in place; tokens are counted before returning
/// when `cfg.count_tokens` is set.
pub fn compress_body(format: Format, body: &mut Value, cfg: &CompressConfig) -> CompressReport {
    compress_body_deferred(format, body, cfg).finish()
}

/// Compress in place now; count the saved tokens later (see [`Pending`]).
pub fn compress_body_deferred(format: Format, body: &mut Value, cfg: &CompressConfig) -> Pending {
    let mut pending = Pending::default();
    if !cfg.enabled {
        return pending;
    }
    if cfg.prune_tools {
        let removed = prune::prune_tools(format, body, cfg.prune_keep);
        if removed > 0 {
            tracing::debug!(removed, "lossy tool pruning removed tools");
        }
    }
    let mut seen = dedup::Seen::default();
    walk::visit(format, body, &mut |slot: &Slot, text: &mut String| {
        compress_slot(slot, text, cfg, &mut seen, &mut pending);
    });
    pending
}

fn compress_slot(
    slot: &Slot,
    text: &mut String,
    cfg: &CompressConfig,
    seen: &mut dedup::Seen,
    pending: &mut Pending,
) {
    let keep = cfg.count_tokens;
    let is_tool = matches!(slot.kind, SlotKind::ToolResult | SlotKind::ToolArgs);
    let mut is_json = false;
    if cfg.json_minify && is_tool {
        if let Some(min) = json_min::minify(text) {
            pending.record(Pass::Json, text, min, keep);
            is_json = true;
        }
    }
    // Arguments are JSON (or a model's broken attempt at it): never reformat them as text.
    if cfg.whitespace && !is_json && slot.kind != SlotKind::ToolArgs {
        let mode = if slot.kind == SlotKind::ToolResult {
            whitespace::Mode::ToolOutput
        } else {
            whitespace::Mode::Prose
        };
        if let Some(norm) = whitespace::normalize(text, mode) {
            pending.record(Pass::Whitespace, text, norm, keep);
        }
    }
    if cfg.dedup && slot.kind == SlotKind::ToolResult {
        if let Some(r) = seen.check(text, slot.call_id.as_deref()) {
            pending.record(Pass::Dedup, text, r, keep);
        }
    }
}

#[cfg(test)]
mod tests;
