//! The model catalogue: what each model costs and can do, and which tier it serves.
//! The built-in catalogue is embedded from catalog.toml; a user's frugal.toml extends it.

use rust_decimal::Decimal;

use crate::types::Tier;

/// The catalogue shipped inside the binary (same schema as frugal.toml).
pub const EMBEDDED: &str = include_str!("catalog.toml");

/// Which wire protocol a provider speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProviderKind {
    /// OpenAI Chat Completions, and every server compatible with it (Ollama, vLLM, Groq...).
    OpenAi,
    Anthropic,
}

impl ProviderKind {
    pub fn format(self) -> crate::types::Format {
        match self {
            ProviderKind::OpenAi => crate::types::Format::OpenAi,
            ProviderKind::Anthropic => crate::types::Format::Anthropic,
        }
    }
}

/// Which OpenAI endpoints a model of an `openai`-kind provider answers on (`api` in the
/// catalogue). Anthropic models always speak Messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ModelApi {
    /// Chat Completions and Responses (OpenAI's own models): each client's requests go to
    /// the endpoint of its own format, untranslated.
    #[default]
    Both,
    /// Chat Completions only (most OpenAI-compatible servers): Responses clients are
    /// translated to it.
    Chat,
    /// Responses only (e.g. the Codex and deep-research models): Chat Completions and
    /// Anthropic clients are translated to it.
    Responses,
}

impl ModelApi {
    pub fn parse(s: &str) -> Option<ModelApi> {
        match s {
            "both" => Some(ModelApi::Both),
            "chat" => Some(ModelApi::Chat),
            "responses" => Some(ModelApi::Responses),
            _ => None,
        }
    }
}

/// Prices in US dollars per 1M tokens, exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prices {
    pub input: Decimal,
    pub output: Decimal,
    /// Price of a prompt-cache read.
    pub cached_input: Decimal,
    /// Price of writing the prompt cache.
    pub cache_write: Decimal,
}

/// One routable model, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The catalogue name callers use.
    pub name: String,
    /// The name sent to the provider.
    pub upstream_name: String,
    pub provider: String,
    pub tier: Tier,
    pub prices: Prices,
    pub context_window: u64,
    pub max_output: u32,
    pub tools: bool,
    pub vision: bool,
    pub enabled: bool,
    /// Shortest prefix the provider will cache (Anthropic models); `None`: not applicable.
    pub min_cache_tokens: Option<u64>,
    /// The endpoints the model answers on (OpenAI-kind providers).
    pub api: ModelApi,
}
