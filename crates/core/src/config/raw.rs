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
    /// Verify this key's routed answers (true) or never (false), whatever the alias says;
    /// the request's `x-frugal-verify` header still wins.
    pub verify: Option<bool>,
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

impl RawConfig {
    /// The catalogue with `user` laid over it. The merge happens on the TOML tables, so no
    /// field can be forgotten: tables merge key by key at every depth ([models.*],
    /// [routing.profiles.*], [ledger]...), and any other value the user sets (a string, a
    /// number, an array) replaces the catalogue's. `user` has been parsed as a `RawConfig`
    /// on its own first, so its mistakes are reported against its own file.
    pub fn layered(catalogue: &str, user: &str) -> Result<RawConfig, String> {
        let mut merged: toml::Table =
            toml::from_str(catalogue).map_err(|e| format!("built-in catalogue: {e}"))?;
        let over: toml::Table = toml::from_str(user).map_err(|e| e.to_string())?;
        overlay(&mut merged, over);
        toml::Value::Table(merged)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())
    }
}

/// Lays `over` onto `base`: tables merge key by key, recursively; other values replace.
fn overlay(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => overlay(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_merge_at_every_depth_and_other_values_replace() {
        let catalogue = "[a]\nx = 1\ny = [1, 2]\n[a.inner]\np = \"c\"\nq = \"c\"\n[b]\nz = 3\n";
        let mut base: toml::Table = toml::from_str(catalogue).expect("toml");
        let over: toml::Table =
            toml::from_str("[a]\ny = [9]\n[a.inner]\nq = \"u\"\n[c]\nw = 4\n").expect("toml");
        overlay(&mut base, over);
        let want: toml::Table = toml::from_str(
            "[a]\nx = 1\ny = [9]\n[a.inner]\np = \"c\"\nq = \"u\"\n[b]\nz = 3\n[c]\nw = 4\n",
        )
        .expect("toml");
        assert_eq!(base, want);
    }

    /// Every field a user sets reaches the merged configuration, in every section: the
    /// merge has no list of fields to forget one from.
    #[test]
    fn a_user_setting_is_never_dropped() {
        let user = "[server]\nmax_connections = 7\n\
                    [models.\"gpt-4o\"]\nmin_cache_tokens = 99\n\
                    [routing]\nsession_ttl_secs = 5\n\
                    [routing.profiles.eco]\nverify = true\n\
                    [routing.verify]\ngrader = \"gpt-4.1\"\n\
                    [ledger]\nretry_window_secs = 11\n\
                    [feedback]\ngrade_daily_budget_usd = 2.5\n\
                    [compression]\nprune_keep = 3\n\
                    [limits]\nbudget_warn_share = 0.5\n";
        let merged = RawConfig::layered(crate::catalog::EMBEDDED, user).expect("valid");
        let model = &merged.models["gpt-4o"];
        assert_eq!(model.min_cache_tokens, Some(99));
        assert!(model.input.is_some(), "the catalogue's price stays");
        let routing = merged.routing.as_ref().expect("routing");
        assert_eq!(routing.session_ttl_secs, Some(5));
        assert_eq!(routing.profiles["eco"].verify, Some(true));
        assert!(
            routing.profiles["eco"].lambda.is_some(),
            "the catalogue's lambda stays"
        );
        assert_eq!(
            routing.verify.as_ref().and_then(|v| v.grader.as_deref()),
            Some("gpt-4.1")
        );
        assert_eq!(
            merged.server.as_ref().and_then(|s| s.max_connections),
            Some(7)
        );
        assert_eq!(
            merged.ledger.as_ref().and_then(|l| l.retry_window_secs),
            Some(11)
        );
        assert_eq!(
            merged
                .feedback
                .as_ref()
                .and_then(|f| f.grade_daily_budget_usd),
            Some(2.5)
        );
        assert_eq!(
            merged.compression.as_ref().and_then(|c| c.prune_keep),
            Some(3)
        );
        assert_eq!(
            merged.limits.as_ref().and_then(|l| l.budget_warn_share),
            Some(0.5)
        );
    }
}
