//! Offline token counting: the right BPE per model family (o200k_base for gpt-4o, gpt-4.1,
//! gpt-5 and the o-series; cl100k_base for older OpenAI models) and a documented
//! approximation for Claude, whose tokenizer is not published. Counts are for accounting
//! and estimates; billing always comes from the provider's own `usage`.
//!
//! The BPE tables are embedded in tiktoken-rs and loaded once per process (the first
//! o200k load takes ~100 ms: call [`warm_up`] at start-up to keep it off a request).

use std::sync::OnceLock;

use tiktoken_rs::CoreBPE;

/// Claude tokens per o200k token, used to estimate Claude counts offline.
///
/// Calibration: Anthropic publishes no Claude 3/4 tokenizer, so this cannot be measured
/// offline exactly. The value is the ratio of Anthropic-reported `input_tokens` to o200k
/// counts commonly observed for English prose, JSON and code (Claude's vocabulary is
/// smaller, so it splits the same text into ~10–20 % more pieces); 1.15 is the middle of
/// that range. It is the prior only: the gateway calibrates it on its own Anthropic
/// traffic (`observe_claude`, `claude_factor`, shown on `/metrics`). Planning and the
/// `compress` report use the estimate; cost never does (the ledger bills the upstream's
/// usage fields).
pub const CLAUDE_PER_O200K: f64 = 1.15;

/// Which tokenizer a model uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// gpt-4o, gpt-4.1, gpt-5, o1/o3/o4 and unknown OpenAI-compatible models.
    O200k,
    /// gpt-4, gpt-3.5-turbo, text-embedding-3.
    Cl100k,
    /// Claude models: o200k × [`CLAUDE_PER_O200K`].
    ClaudeEstimate,
}

impl Family {
    /// The family of a model name (catalogue or upstream name).
    pub fn of_model(model: &str) -> Family {
        let m = model.to_ascii_lowercase();
        let m = m.rsplit('/').next().unwrap_or(&m);
        if m.starts_with("claude") {
            Family::ClaudeEstimate
        } else if (m.starts_with("gpt-4") && !m.starts_with("gpt-4o") && !m.starts_with("gpt-4.1"))
            || m.starts_with("gpt-3.5")
            || m.starts_with("text-embedding")
        {
            Family::Cl100k
        } else {
            Family::O200k
        }
    }
}

fn o200k() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| load("o200k_base", tiktoken_rs::o200k_base))
        .as_ref()
}

fn cl100k() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| load("cl100k_base", tiktoken_rs::cl100k_base))
        .as_ref()
}

fn load(name: &str, f: fn() -> anyhow::Result<CoreBPE>) -> Option<CoreBPE> {
    match f() {
        Ok(bpe) => Some(bpe),
        Err(e) => {
            // The tables are compiled in, so this is a build defect; say so once and
            // fall back to the byte estimate rather than failing requests.
            tracing::error!(tokenizer = name, error = %e, "tokenizer failed to load; counting tokens as bytes/4");
            None
        }
    }
}

/// Load the tokenizer every current model family uses now (start-up), so no request pays
/// for it. cl100k_base (gpt-4, gpt-3.5 only) is loaded the first time such a model needs
/// it: it costs ~30 MB of memory that most deployments never use.
pub fn warm_up() {
    let _ = o200k();
}

/// Tokens in `text` for `family`, special-token text counted as ordinary text.
pub fn count(text: &str, family: Family) -> u64 {
    if text.is_empty() {
        return 0;
    }
    match family {
        Family::O200k => bpe_count(o200k(), text),
        Family::Cl100k => bpe_count(cl100k(), text),
        Family::ClaudeEstimate => claude_from_o200k(bpe_count(o200k(), text)),
    }
}

/// o200k tokens of Claude requests observed so far, and what Anthropic reported for them.
static OBSERVED_O200K: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static OBSERVED_CLAUDE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
/// Observed o200k tokens needed before the calibration replaces the prior.
pub const CALIBRATION_MIN_TOKENS: u64 = 20_000;

/// Calibrate the Claude estimate with a real answer: the o200k count of what frugal sent
/// and the `input_tokens` Anthropic billed for it (all prompt tokens, cached or not).
pub fn observe_claude(o200k_tokens: u64, claude_tokens: u64) {
    use std::sync::atomic::Ordering::Relaxed;
    // Ignore implausible pairs (empty prompts, images counted by the provider only).
    if o200k_tokens == 0 || claude_tokens == 0 || claude_tokens > 3 * o200k_tokens {
        return;
    }
    OBSERVED_O200K.fetch_add(o200k_tokens, Relaxed);
    OBSERVED_CLAUDE.fetch_add(claude_tokens, Relaxed);
}

/// Claude tokens per o200k token: the ratio observed on this gateway's own Anthropic
/// traffic once it has seen `CALIBRATION_MIN_TOKENS`, else the prior `CLAUDE_PER_O200K`.
pub fn claude_factor() -> f64 {
    use std::sync::atomic::Ordering::Relaxed;
    let (o, c) = (OBSERVED_O200K.load(Relaxed), OBSERVED_CLAUDE.load(Relaxed));
    if o >= CALIBRATION_MIN_TOKENS {
        c as f64 / o as f64
    } else {
        CLAUDE_PER_O200K
    }
}

/// The Claude estimate for a text whose o200k count is `o200k_tokens`.
pub fn claude_from_o200k(o200k_tokens: u64) -> u64 {
    (o200k_tokens as f64 * claude_factor()).round() as u64
}

/// o200k tokens: the reference count frugal reports when the model is not known yet
/// (compression runs before routing).
pub fn count_reference(text: &str) -> u64 {
    count(text, Family::O200k)
}

fn bpe_count(bpe: Option<&CoreBPE>, text: &str) -> u64 {
    match bpe {
        Some(b) => b.encode_ordinary(text).len() as u64,
        None => text.len().div_ceil(4) as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_factor_is_calibrated_by_observed_usage() {
        observe_claude(10, 1_000); // implausible: ignored
        observe_claude(100_000, 120_000);
        assert!((claude_factor() - 1.2).abs() < 1e-9, "{}", claude_factor());
        assert_eq!(claude_from_o200k(1_000), 1_200);
    }

    #[test]
    fn families() {
        assert_eq!(Family::of_model("gpt-4o-mini"), Family::O200k);
        assert_eq!(Family::of_model("gpt-4.1-nano"), Family::O200k);
        assert_eq!(Family::of_model("gpt-5"), Family::O200k);
        assert_eq!(Family::of_model("o3"), Family::O200k);
        assert_eq!(Family::of_model("gpt-4-turbo"), Family::Cl100k);
        assert_eq!(Family::of_model("gpt-3.5-turbo"), Family::Cl100k);
        assert_eq!(
            Family::of_model("claude-sonnet-4-5"),
            Family::ClaudeEstimate
        );
        assert_eq!(
            Family::of_model("anthropic/claude-haiku-4-5"),
            Family::ClaudeEstimate
        );
    }

    #[test]
    fn known_counts() {
        // Reference values from OpenAI's tiktoken.
        assert_eq!(count("hello world", Family::O200k), 2);
        assert_eq!(count("hello world", Family::Cl100k), 2);
        assert_eq!(count("", Family::O200k), 0);
        assert_eq!(count("<|endoftext|>", Family::Cl100k), 7);
        let o = count(
            "The quick brown fox jumps over the lazy dog.",
            Family::O200k,
        );
        assert_eq!(
            count(
                "The quick brown fox jumps over the lazy dog.",
                Family::ClaudeEstimate
            ),
            claude_from_o200k(o)
        );
    }
}
