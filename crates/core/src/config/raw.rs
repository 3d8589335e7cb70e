//! Phase one of configuration: the TOML exactly as written (every field optional,
//! unknown fields rejected), and the field-wise merge of a user file over the catalogue.
//! No checking of meaning happens here; `validate` does that.

use std::collections::BTreeMap;

use serde::Deserialize;

/// A price or other decimal as written in TOML: a number (`0.40`) or a string (`"0.40"`).
/// Kept as text so `0.1` stays exactly 0.1 instead of its nearest binary float.
#[derive(Debug, Clone, PartialEq)]
pub struct RawDecimal(pub String);

impl<'de> Deserialize<'de> for RawDecimal {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Either {
            Int(i64),
            // f64's Display prints the shortest text that parses back to the same float,
            // which is the number the user typed.
            Float(f64),
            Str(String),
        }
        Ok(RawDecimal(match Either::deserialize(d)? {
            Either::Int(i) => i.to_string(),
            Either::Float(f) => f.to_string(),
            Either::Str(s) => s,
        }))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: Option<RawServer>,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
    #[serde(default)]
    pub models: BTreeMap<String, RawModel>,
    pub routing: Option<RawRouting>,
    /// Client API keys frugal recognises, by project name.
    #[serde(default)]
    pub keys: BTreeMap<String, RawKey>,
    pub auth: Option<RawAuth>,
    /// `[ledger]`: where requests are recorded (config/ledger.rs).
    pub ledger: Option<super::ledger::RawLedger>,
    /// `[feedback]`: the quality loop (config/ledger.rs).
    pub feedback: Option<super::ledger::RawFeedback>,
    /// `[compression]`: compression passes and prompt caching (config/compression.rs).
    pub compression: Option<super::compression::RawCompression>,
    /// `[limits]`: concurrency, key refresh, rate sharing, budget warnings (config/limits.rs).
    pub limits: Option<super::limits::RawLimits>,
    /// `[projects.NAME]`: budgets over all of a project's keys (config/limits.rs).
    #[serde(default)]
    pub projects: BTreeMap<String, super::limits::RawProject>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawKey {
    /// Environment variable holding the key this project's clients send.
    pub key_env: Option<String>,
    /// Always serve this project's routed requests with the top tier's models.
    pub never_route_down: Option<bool>,
    /// Never route this project's requests below this tier.
    pub min_tier: Option<String>,
    /// The price of quality for this key's routed requests (overrides the alias's).
    pub lambda: Option<f64>,
    /// The project the key's requests are counted (and budgeted) under; default: its name.
    pub project: Option<String>,
    /// Model names and aliases the key may ask for (default: all).
    pub models: Option<Vec<String>>,
    /// Tiers whose models may serve the key (default: all).
    pub tiers: Option<Vec<String>>,
    pub budget_day_usd: Option<RawDecimal>,
    pub budget_month_usd: Option<RawDecimal>,
    pub budget_total_usd: Option<RawDecimal>,
    pub requests_per_min: Option<u64>,
    pub tokens_per_min: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// Refuse requests whose key is not one of `[keys.*]` (401).
    pub require_key: Option<bool>,
    /// Environment variable holding the key `/dashboard` and `/api/*` require.
    pub admin_key_env: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<String>,
    pub max_body_bytes: Option<usize>,
    /// Request bodies held in memory at once, all requests together (bytes).
    pub body_budget_bytes: Option<usize>,
    /// A client must finish sending its headers within this many seconds.
    pub header_timeout_secs: Option<u64>,
    /// ...and its body within this many seconds, no gap longer than this either.
    pub body_timeout_secs: Option<u64>,
    /// Open client connections at most; more are refused with 503.
    pub max_connections: Option<usize>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProvider {
    /// "openai" (any OpenAI-compatible server) or "anthropic".
    pub kind: Option<String>,
    pub base_url: Option<String>,
    /// Name of the environment variable holding the key; the key itself never goes in a file.
    pub api_key_env: Option<String>,
    /// Local servers (Ollama, vLLM) often need no key.
    pub no_api_key: Option<bool>,
    pub connect_timeout_ms: Option<u64>,
    /// Time allowed until the response head (non-streaming: the whole body).
    pub timeout_ms: Option<u64>,
    /// Streaming: time allowed until the first event, and between events.
    pub stream_idle_timeout_ms: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawModel {
    pub provider: Option<String>,
    /// The model's name at the provider when it differs from the catalogue key.
    pub upstream_name: Option<String>,
    pub tier: Option<String>,
    pub input: Option<RawDecimal>,
    pub output: Option<RawDecimal>,
    pub cached_input: Option<RawDecimal>,
    pub cache_write: Option<RawDecimal>,
    pub context_window: Option<u64>,
    pub max_output: Option<u32>,
    pub tools: Option<bool>,
    pub vision: Option<bool>,
    /// `false` removes a model from routing and from `/v1/models`; callers may still name it.
    pub enabled: Option<bool>,
    /// Shortest prompt prefix the provider caches (Anthropic: 1,024–4,096 by model).
    pub min_cache_tokens: Option<u64>,
    /// OpenAI endpoints the model answers on: "both" (default), "chat" or "responses".
    pub api: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRouting {
    pub boundaries: Option<Vec<f64>>,
    pub baseline: Option<BaselineSpec>,
    /// Explicit tier → model lists; when absent a tier holds the models whose `tier` it is.
    #[serde(default)]
    pub tiers: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub profiles: BTreeMap<String, RawProfile>,
    /// Within a session the tier may rise but not fall for this long (0 disables).
    pub session_ttl_secs: Option<u64>,
    /// A router model written by `frugal train` (default: the built-in one).
    pub router_model: Option<std::path::PathBuf>,
    /// Stage 3: a cheap model that rates the requests the local stages are unsure of.
    pub judge: Option<RawJudge>,
    /// A sentence-transformers model folder for stage 2 (default: the built-in static table).
    pub embedding_model: Option<std::path::PathBuf>,
    /// The price of quality for `auto`: quality points given up to save one baseline
    /// request's worth of spend.
    pub lambda: Option<f64>,
    /// Model-aware choice: uncertainty weight, quality floor, exploration share.
    pub quality: Option<RawQuality>,
    /// Verified answers (config/verify.rs).
    pub verify: Option<super::verify::RawVerify>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawQuality {
    /// Uncertainty counted against an estimate (q̂ − β·σ).
    pub beta: Option<f64>,
    /// Never choose a model whose q̂ − β·σ is below this (when another clears it).
    pub floor: Option<f64>,
    /// Share of routed requests sent to a cheaper, still uncertain candidate to learn.
    pub explore: Option<f64>,
    /// Learn from this deployment's rated answers (and read what earlier runs learned).
    pub learn: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawJudge {
    pub model: Option<String>,
    pub timeout_ms: Option<u64>,
}

/// One baseline model, or a preference list (first whose provider has a key wins).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum BaselineSpec {
    One(String),
    List(Vec<String>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProfile {
    pub boundary_shift: Option<f64>,
    pub min_tier: Option<String>,
    pub lambda: Option<f64>,
    /// Check the first answer and escalate when it is doubtful (`frugal/verified`).
    pub verify: Option<bool>,
}

/// Overwrite `base`'s fields with those `over` sets: `over` wins field by field.
macro_rules! overlay {
    ($base:expr, $over:expr, $($f:ident),+) => {
        {
            $( if $over.$f.is_some() { $base.$f = $over.$f.clone(); } )+
        }
    };
}

impl RawConfig {
    /// Lay `user` over `self` (the catalogue): tables merge key by key, fields one by one.
    pub fn merge(mut self, user: &RawConfig) -> RawConfig {
        match (&mut self.server, &user.server) {
            (Some(base), Some(over)) => {
                overlay!(
                    base,
                    over,
                    listen,
                    max_body_bytes,
                    body_budget_bytes,
                    header_timeout_secs,
                    body_timeout_secs,
                    max_connections
                )
            }
            (None, Some(over)) => self.server = Some(over.clone()),
            _ => {}
        }
        for (name, over) in &user.providers {
            let base = self.providers.entry(name.clone()).or_default();
            overlay!(
                base,
                over,
                kind,
                base_url,
                api_key_env,
                no_api_key,
                connect_timeout_ms,
                timeout_ms,
                stream_idle_timeout_ms
            );
        }
        for (name, over) in &user.models {
            let base = self.models.entry(name.clone()).or_default();
            overlay!(
                base,
                over,
                provider,
                upstream_name,
                tier,
                input,
                output,
                cached_input,
                cache_write,
                context_window,
                max_output,
                tools,
                vision,
                enabled,
                min_cache_tokens,
                api
            );
        }
        for (name, over) in &user.keys {
            let base = self.keys.entry(name.clone()).or_default();
            overlay!(
                base,
                over,
                key_env,
                never_route_down,
                min_tier,
                lambda,
                project,
                models,
                tiers,
                budget_day_usd,
                budget_month_usd,
                budget_total_usd,
                requests_per_min,
                tokens_per_min
            );
        }
        if let Some(over) = &user.auth {
            let base = self.auth.get_or_insert_with(RawAuth::default);
            overlay!(base, over, require_key, admin_key_env);
        }
        if let Some(over) = &user.routing {
            let base = self.routing.get_or_insert_with(RawRouting::default);
            overlay!(
                base,
                over,
                boundaries,
                baseline,
                session_ttl_secs,
                router_model,
                judge,
                embedding_model,
                lambda,
                quality
            );
            for (tier, list) in &over.tiers {
                base.tiers.insert(tier.clone(), list.clone());
            }
            for (name, p) in &over.profiles {
                let bp = base.profiles.entry(name.clone()).or_default();
                overlay!(bp, p, boundary_shift, min_tier, lambda, verify);
            }
            super::verify::merge_verify(&mut base.verify, &over.verify);
        }
        super::ledger::merge_ledger(&mut self.ledger, &user.ledger);
        super::ledger::merge_feedback(&mut self.feedback, &user.feedback);
        super::compression::merge_compression(&mut self.compression, &user.compression);
        super::limits::merge_limits(
            &mut self.limits,
            &user.limits,
            &mut self.projects,
            &user.projects,
        );
        self
    }
}
