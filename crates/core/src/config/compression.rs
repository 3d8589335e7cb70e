//! The `[compression]` table: its raw TOML shape, the field-wise merge and the validated
//! `pipeline::compress::CompressConfig` (lossless passes on, lossy ones off by default).

use serde::Deserialize;

use crate::pipeline::compress::CompressConfig;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCompression {
    /// Master switch for the compression passes.
    pub enabled: Option<bool>,
    /// Minify tool results and tool-call arguments that are JSON (lossless).
    pub json_minify: Option<bool>,
    /// Normalise whitespace outside code, tables and indented blocks (lossless).
    pub whitespace: Option<bool>,
    /// Replace repeated tool results by a reference to the first (off by default).
    pub dedup: Option<bool>,
    /// Count saved tokens for the response header and the ledger.
    pub count_tokens: Option<bool>,
    /// Anthropic: place prompt-cache breakpoints automatically.
    pub cache_breakpoints: Option<bool>,
    /// OpenAI: send a per-conversation `prompt_cache_key`.
    pub prompt_cache_key: Option<bool>,
    /// LOSSY, off by default: offer only the most relevant tools.
    pub prune_tools: Option<bool>,
    /// How many tools pruning keeps (plus those already called or forced).
    pub prune_keep: Option<usize>,
}

pub fn validate_compression(raw: Option<RawCompression>) -> Result<CompressConfig, String> {
    let r = raw.unwrap_or_default();
    let d = CompressConfig::default();
    Ok(CompressConfig {
        enabled: r.enabled.unwrap_or(d.enabled),
        json_minify: r.json_minify.unwrap_or(d.json_minify),
        whitespace: r.whitespace.unwrap_or(d.whitespace),
        dedup: r.dedup.unwrap_or(d.dedup),
        count_tokens: r.count_tokens.unwrap_or(d.count_tokens),
        cache_breakpoints: r.cache_breakpoints.unwrap_or(d.cache_breakpoints),
        prompt_cache_key: r.prompt_cache_key.unwrap_or(d.prompt_cache_key),
        prune_tools: r.prune_tools.unwrap_or(d.prune_tools),
        prune_keep: match r.prune_keep {
            Some(0) => return Err("compression.prune_keep: must be at least 1".into()),
            Some(k) => k,
            None => d.prune_keep,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_overrides() {
        assert_eq!(validate_compression(None), Ok(CompressConfig::default()));
        let base: Option<RawCompression> = toml::from_str("dedup = true\nwhitespace = false")
            .map(Some)
            .expect("toml");
        let c = validate_compression(base).expect("valid");
        assert!(c.dedup && !c.whitespace && c.json_minify);
        assert!(toml::from_str::<RawCompression>("jsonminify = true").is_err());
    }
}
