//! Configuration: the embedded catalogue plus an optional frugal.toml, loaded raw
//! (`raw`), then checked into the runtime `Config` (`validate`). Errors name the file,
//! the field and what is wrong. Secrets are read from the environment, never from files.

mod arg;
mod compression;
pub use arg::ConfigArg;
mod verify;
pub use verify::{Checker, StreamVerify, VerifyConfig};
mod ledger;
mod limits;
mod raw;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::catalog::{ModelInfo, ProviderKind};
use crate::types::Tier;

pub use raw::RawConfig;

/// An API key. Debug and Display never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a secret value; from now on it is redacted from everything frugal emits.
    pub fn new(s: String) -> Secret {
        crate::secrets::register(&s);
        Secret(s)
    }
    /// The key itself, for the one place that puts it in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: String,
    pub max_body_bytes: usize,
    /// Request bodies in memory at once across all requests; beyond it, 503 + retry-after.
    pub body_budget_bytes: usize,
    /// Headers must arrive within this (a stalled client is disconnected).
    pub header_timeout: Duration,
    /// The body must arrive within this, with no longer pause between its parts.
    pub body_timeout: Duration,
    /// Open connections at most; more are answered 503 and closed.
    pub max_connections: usize,
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    /// The env var the key comes from (for messages), and the key if it was set.
    pub api_key_env: Option<String>,
    pub api_key: Option<Secret>,
    /// True when the provider needs no key (local servers).
    pub keyless: bool,
    pub connect_timeout: Duration,
    pub timeout: Duration,
    pub stream_idle_timeout: Duration,
}

impl ProviderConfig {
    /// Whether requests can be sent to this provider at all.
    pub fn usable(&self) -> bool {
        self.keyless || self.api_key.is_some()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Added to every boundary: positive makes the profile cheaper (harder to escalate).
    pub boundary_shift: f64,
    pub min_tier: Option<Tier>,
    /// The price of quality for this alias (model-aware choice).
    pub lambda: f64,
    /// Answers to this alias are checked and escalated when doubtful.
    pub verify: bool,
}

/// The model-aware choice (`[routing] lambda`, `[routing.quality]`).
#[derive(Debug, Clone, PartialEq)]
pub struct QualityConfig {
    /// λ for `auto`.
    pub lambda: f64,
    pub beta: f64,
    pub floor: Option<f64>,
    pub explore: f64,
    /// Learn from rated answers (feedback, retries, grades) as they arrive.
    pub learn: bool,
}

impl Default for QualityConfig {
    fn default() -> QualityConfig {
        QualityConfig {
            lambda: DEFAULT_LAMBDA,
            beta: 1.0,
            floor: None,
            explore: 0.02,
            learn: true,
        }
    }
}

/// λ of `auto` (measured on the shared data: about 30 % of the top model's cost on
/// RouterBench, 44 % on LLMRouter; research/routing/FINDINGS.md).
pub const DEFAULT_LAMBDA: f64 = 0.1;

#[derive(Debug, Clone)]
pub struct RoutingConfig {
    /// Three ascending score boundaries between the four tiers.
    pub boundaries: [f64; 3],
    /// The model savings are measured against: the first preferred baseline whose provider
    /// has a key, else the first preferred one.
    pub baseline: Option<String>,
    /// Tier → models serving it, in configured order.
    pub tiers: BTreeMap<Tier, Vec<String>>,
    pub profiles: BTreeMap<String, Profile>,
    /// How long a session's tier may only rise (zero: no stickiness).
    pub session_ttl: Duration,
    /// Router model file from `routing.router_model`; `None` means the built-in one.
    pub router_model: Option<PathBuf>,
    /// The LLM judge (stage 3), off unless configured.
    pub judge: Option<JudgeConfig>,
    /// Stage 2's sentence-transformers model folder; `None` means the built-in static table.
    pub embedding_model: Option<PathBuf>,
    pub quality: QualityConfig,
    /// `[routing.verify]`: verified answers.
    pub verify: VerifyConfig,
}

#[derive(Debug, Clone)]
pub struct JudgeConfig {
    /// A catalogue model.
    pub model: String,
    pub timeout: Duration,
}

/// A client key frugal recognises and the routing policy of its project.
#[derive(Debug, Clone)]
pub struct ClientKey {
    /// The `[keys.NAME]` name.
    pub name: String,
    /// `project`, else the name.
    pub project: String,
    pub key: Secret,
    pub never_route_down: bool,
    pub min_tier: Option<Tier>,
    pub lambda: Option<f64>,
    /// Allowed models and tiers, budgets, rate limits (`min_tier` and `lambda` are above).
    pub rules: crate::limits::Rules,
}

/// The validated runtime configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub models: BTreeMap<String, ModelInfo>,
    pub routing: RoutingConfig,
    /// Recognised client keys (from `[keys.*]`, whose env vars were set).
    pub keys: Vec<ClientKey>,
    /// Refuse requests without a recognised key.
    pub require_key: bool,
    /// The key `/api/*` (the dashboard's data) requires (`[auth] admin_key_env`).
    pub admin_key: Option<Secret>,
    /// Where the user part came from, if anywhere (for messages).
    pub source: Option<PathBuf>,
    /// `[ledger]`: request recording.
    pub ledger: crate::ledger::LedgerConfig,
    /// `[feedback]`: the quality loop.
    pub feedback: crate::ledger::quality::LoopConfig,
    /// `[compression]`: prompt compression passes and automatic prompt caching.
    pub compression: crate::pipeline::compress::CompressConfig,
    /// `[limits]` and `[projects.*]`: concurrency, rate sharing, project budgets.
    pub limits: crate::limits::LimitsConfig,
}

/// Reads environment variables; a trait so tests can supply their own.
pub trait Env {
    fn var(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Env for ProcessEnv {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
}

impl Config {
    /// The catalogue alone, or overlaid with the TOML file at `path`.
    pub fn load(path: Option<&Path>, env: &dyn Env) -> anyhow::Result<Config> {
        let (merged, source) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("{}: cannot read: {e}", p.display()))?;
                let merged = Self::layered(&text)
                    .map_err(|e| anyhow::anyhow!("{}: {}", p.display(), e.trim()))?;
                (merged, Some(p.to_path_buf()))
            }
            None => (Self::layered("").map_err(anyhow::Error::msg)?, None),
        };
        let label = source
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "built-in catalogue".to_string());
        validate::validate(merged, env, source).map_err(|e| anyhow::anyhow!("{label}: {e}"))
    }

    /// Parse a TOML string as the user file (for tests and `config check --stdin`).
    pub fn from_toml_str(text: &str, env: &dyn Env) -> anyhow::Result<Config> {
        let merged = Self::layered(text).map_err(|e| anyhow::anyhow!("{e}"))?;
        validate::validate(merged, env, None).map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The user's TOML, checked on its own (so errors point into it), then laid over the
    /// built-in catalogue.
    fn layered(user: &str) -> Result<RawConfig, String> {
        toml::from_str::<RawConfig>(user).map_err(|e| e.to_string())?;
        RawConfig::layered(crate::catalog::EMBEDDED, user)
    }

    pub fn model(&self, name: &str) -> Option<&ModelInfo> {
        self.models.get(name)
    }

    pub fn provider_of(&self, model: &ModelInfo) -> Option<&ProviderConfig> {
        self.providers.get(&model.provider)
    }

    /// Whether a model can be sent requests now (enabled and its provider usable).
    pub fn routable(&self, model: &ModelInfo) -> bool {
        model.enabled && self.provider_of(model).is_some_and(ProviderConfig::usable)
    }

    /// The project whose key the client presented, if any.
    pub fn client_key(&self, presented: &str) -> Option<&ClientKey> {
        self.keys
            .iter()
            .find(|k| constant_time_eq(k.key.expose().as_bytes(), presented.as_bytes()))
    }

    pub fn baseline_model(&self) -> Option<&ModelInfo> {
        self.routing
            .baseline
            .as_deref()
            .and_then(|b| self.models.get(b))
    }
}

/// Compare secrets without an early exit that would leak their common prefix by timing.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests;
