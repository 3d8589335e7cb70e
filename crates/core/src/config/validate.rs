//! Phase two of configuration: turn the merged raw TOML into a `Config`, or say exactly
//! which field is wrong. An unpriced model is an error here, never a $0 model.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;

use super::raw::{BaselineSpec, RawConfig, RawDecimal, RawModel, RawProvider};
use super::{ClientKey, Config, Env, Profile, ProviderConfig, RoutingConfig, Secret, ServerConfig};
use crate::catalog::{ModelApi, ModelInfo, Prices, ProviderKind};
use crate::types::Tier;

type VResult<T> = Result<T, String>;

/// A timeout in whole seconds, 1 or more.
fn secs(name: &str, v: Option<u64>, default: u64) -> VResult<Duration> {
    match v.unwrap_or(default) {
        0 => Err(format!("{name}: must be at least 1")),
        n => Ok(Duration::from_secs(n)),
    }
}

pub(super) fn validate(raw: RawConfig, env: &dyn Env, source: Option<PathBuf>) -> VResult<Config> {
    let server = raw.server.unwrap_or_default();
    let server = ServerConfig {
        listen: server
            .listen
            .unwrap_or_else(|| "127.0.0.1:8080".to_string()),
        max_body_bytes: server.max_body_bytes.unwrap_or(32 * 1024 * 1024),
        // 64 MiB of bodies at once: two 30 MB requests in flight, the rest told to retry
        // (a parsed body takes several times its size again while it is being planned).
        body_budget_bytes: server.body_budget_bytes.unwrap_or(64 * 1024 * 1024),
        header_timeout: secs("server.header_timeout_secs", server.header_timeout_secs, 10)?,
        body_timeout: secs("server.body_timeout_secs", server.body_timeout_secs, 30)?,
        max_connections: match server.max_connections {
            Some(0) => return Err("server.max_connections: must be at least 1".into()),
            Some(n) => n,
            None => 4096,
        },
    };

    let mut providers = BTreeMap::new();
    for (name, p) in &raw.providers {
        providers.insert(name.clone(), provider(name, p, env)?);
    }

    let mut models = BTreeMap::new();
    for (name, m) in &raw.models {
        let info = model(name, m)?;
        if !providers.contains_key(&info.provider) {
            return Err(format!(
                "models.\"{name}\".provider: unknown provider `{}` (known: {})",
                info.provider,
                providers.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        }
        let kind = providers.get(&info.provider).map(|p| p.kind);
        if info.api != ModelApi::Both && kind == Some(ProviderKind::Anthropic) {
            return Err(format!(
                "models.\"{name}\".api: only models of an openai-kind provider choose an API"
            ));
        }
        models.insert(name.clone(), info);
    }

    let routing = routing(raw.routing.unwrap_or_default(), &models, &providers)?;
    let keys = client_keys(&raw.keys, env)?;
    let auth = raw.auth.unwrap_or_default();
    let require_key = auth.require_key.unwrap_or(false);
    let admin_key = match auth.admin_key_env.as_deref() {
        None => None,
        Some(var) => Some(Secret::new(env.var(var).ok_or_else(|| {
            format!("auth.admin_key_env: the environment variable {var} is not set (the dashboard would have no key)")
        })?)),
    };
    let ledger_on = raw.ledger.as_ref().and_then(|l| l.enabled).unwrap_or(true);
    // Keys may also live in the ledger's database (`frugal keys create`).
    if require_key && keys.is_empty() && !ledger_on {
        return Err("auth.require_key: true but no [keys.*] entry has its key_env variable set and the ledger (where `frugal keys create` stores keys) is off; every request would be refused".into());
    }
    let limits = super::limits::validate_limits(raw.limits, &raw.projects)?;
    let budgeted = keys.iter().any(|k| !k.rules.budget.is_empty())
        || limits.projects.values().any(|b| !b.is_empty());
    if budgeted && !ledger_on {
        return Err("budgets ([keys.*] budget_*_usd, [projects.*]) are kept in the ledger's database, but [ledger] enabled = false".into());
    }
    let ledger = super::ledger::validate_ledger(raw.ledger)?;
    let feedback = super::ledger::validate_feedback(raw.feedback)?;
    let compression = super::compression::validate_compression(raw.compression)?;
    Ok(Config {
        server,
        providers,
        models,
        routing,
        keys,
        require_key,
        admin_key,
        source,
        ledger,
        feedback,
        compression,
        limits,
    })
}

fn provider(name: &str, p: &RawProvider, env: &dyn Env) -> VResult<ProviderConfig> {
    let field = |f: &str| format!("providers.{name}.{f}");
    let kind = match p.kind.as_deref() {
        Some("openai") => ProviderKind::OpenAi,
        Some("anthropic") => ProviderKind::Anthropic,
        Some(other) => {
            return Err(format!(
                "{}: `{other}` is not `openai` or `anthropic`",
                field("kind")
            ))
        }
        None => {
            return Err(format!(
                "{}: missing (`openai` or `anthropic`)",
                field("kind")
            ))
        }
    };
    let base_url = p
        .base_url
        .clone()
        .ok_or_else(|| format!("{}: missing", field("base_url")))?;
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(format!(
            "{}: `{base_url}` must start with http:// or https://",
            field("base_url")
        ));
    }
    let keyless = p.no_api_key.unwrap_or(false);
    if !keyless && p.api_key_env.is_none() {
        return Err(format!(
            "{}: missing (name the environment variable holding the key, or set no_api_key = true)",
            field("api_key_env")
        ));
    }
    let api_key = p
        .api_key_env
        .as_deref()
        .and_then(|v| env.var(v))
        .map(Secret::new);
    let ms = |v: Option<u64>, default: u64, f: &str| -> VResult<Duration> {
        match v.unwrap_or(default) {
            0 => Err(format!("{}: must be greater than 0", field(f))),
            n => Ok(Duration::from_millis(n)),
        }
    };
    Ok(ProviderConfig {
        name: name.to_string(),
        kind,
        base_url: base_url.trim_end_matches('/').to_string(),
        api_key_env: p.api_key_env.clone(),
        api_key,
        keyless,
        connect_timeout: ms(p.connect_timeout_ms, 5_000, "connect_timeout_ms")?,
        timeout: ms(p.timeout_ms, 600_000, "timeout_ms")?,
        stream_idle_timeout: ms(p.stream_idle_timeout_ms, 120_000, "stream_idle_timeout_ms")?,
    })
}

fn price(model: &str, f: &str, v: Option<&RawDecimal>) -> VResult<Option<Decimal>> {
    let Some(v) = v else { return Ok(None) };
    let d = Decimal::from_str(&v.0)
        .map_err(|_| format!("models.\"{model}\".{f}: `{}` is not a number", v.0))?;
    if d.is_sign_negative() {
        return Err(format!("models.\"{model}\".{f}: price {d} is negative"));
    }
    Ok(Some(d))
}

fn model(name: &str, m: &RawModel) -> VResult<ModelInfo> {
    let field = |f: &str| format!("models.\"{name}\".{f}");
    let provider = m
        .provider
        .clone()
        .ok_or_else(|| format!("{}: missing", field("provider")))?;
    let tier_text = m.tier.as_deref().ok_or_else(|| {
        format!(
            "{}: missing (simple, medium, complex or frontier)",
            field("tier")
        )
    })?;
    let tier = Tier::parse(tier_text).ok_or_else(|| {
        format!(
            "{}: `{tier_text}` is not simple, medium, complex or frontier",
            field("tier")
        )
    })?;
    let unpriced = |f: &str| {
        format!("{}: missing: every model needs a price (USD per 1M tokens); an unpriced model would be counted as free", field(f))
    };
    let input = price(name, "input", m.input.as_ref())?.ok_or_else(|| unpriced("input"))?;
    let output = price(name, "output", m.output.as_ref())?.ok_or_else(|| unpriced("output"))?;
    // Without a published cache price, a cache read is billed like plain input: honest, not $0.
    let cached_input = price(name, "cached_input", m.cached_input.as_ref())?.unwrap_or(input);
    let cache_write = price(name, "cache_write", m.cache_write.as_ref())?.unwrap_or(input);
    let api = match m.api.as_deref() {
        None => ModelApi::Both,
        Some(a) => ModelApi::parse(a)
            .ok_or_else(|| format!("{}: `{a}` is not both, chat or responses", field("api")))?,
    };
    let context_window = m.context_window.unwrap_or(128_000);
    let max_output = m.max_output.unwrap_or(4_096);
    if context_window == 0 || max_output == 0 {
        return Err(format!(
            "{}: context_window and max_output must be > 0",
            field("context_window")
        ));
    }
    Ok(ModelInfo {
        name: name.to_string(),
        upstream_name: m.upstream_name.clone().unwrap_or_else(|| name.to_string()),
        provider,
        tier,
        prices: Prices {
            input,
            output,
            cached_input,
            cache_write,
        },
        context_window,
        max_output,
        tools: m.tools.unwrap_or(false),
        vision: m.vision.unwrap_or(false),
        enabled: m.enabled.unwrap_or(true),
        min_cache_tokens: m.min_cache_tokens,
        api,
    })
}

fn routing(
    raw: super::raw::RawRouting,
    models: &BTreeMap<String, ModelInfo>,
    providers: &BTreeMap<String, ProviderConfig>,
) -> VResult<RoutingConfig> {
    let b = raw.boundaries.unwrap_or_else(|| vec![0.30, 0.55, 0.80]);
    let boundaries: [f64; 3] = b.as_slice().try_into().map_err(|_| {
        format!(
            "routing.boundaries: need exactly 3 numbers, got {}",
            b.len()
        )
    })?;
    if !boundaries
        .iter()
        .all(|x| x.is_finite() && (0.0..=1.0).contains(x))
        || boundaries[0] > boundaries[1]
        || boundaries[1] > boundaries[2]
    {
        return Err(format!(
            "routing.boundaries: {b:?} must be ascending numbers in 0..1"
        ));
    }

    let mut tiers: BTreeMap<Tier, Vec<String>> = BTreeMap::new();
    for (name, info) in models {
        tiers.entry(info.tier).or_default().push(name.clone());
    }
    for (tier_name, list) in &raw.tiers {
        let tier = Tier::parse(tier_name).ok_or_else(|| {
            format!("routing.tiers.{tier_name}: not a tier (simple, medium, complex, frontier)")
        })?;
        for m in list {
            if !models.contains_key(m) {
                return Err(format!("routing.tiers.{tier_name}: unknown model `{m}`"));
            }
        }
        tiers.insert(tier, list.clone());
    }

    let candidates = match raw.baseline {
        None => vec![],
        Some(BaselineSpec::One(s)) => vec![s],
        Some(BaselineSpec::List(v)) => v,
    };
    for c in &candidates {
        if !models.contains_key(c) {
            return Err(format!("routing.baseline: unknown model `{c}`"));
        }
    }
    let usable = |m: &str| {
        models
            .get(m)
            .and_then(|i| providers.get(&i.provider))
            .is_some_and(ProviderConfig::usable)
    };
    // Prefer a baseline the user can actually call; fall back to the first named so
    // savings are still reported against something the user chose.
    let baseline = candidates
        .iter()
        .find(|m| usable(m))
        .or(candidates.first())
        .cloned();

    let quality = quality(raw.lambda, raw.quality.clone())?;
    let mut profiles = BTreeMap::new();
    for (name, p) in raw.profiles {
        let min_tier =
            match p.min_tier.as_deref() {
                None => None,
                Some(t) => Some(Tier::parse(t).ok_or_else(|| {
                    format!("routing.profiles.{name}.min_tier: `{t}` is not a tier")
                })?),
            };
        let shift = p.boundary_shift.unwrap_or(0.0);
        if !shift.is_finite() || shift.abs() > 1.0 {
            return Err(format!(
                "routing.profiles.{name}.boundary_shift: must be within -1..1"
            ));
        }
        let lambda = lambda_field(&format!("routing.profiles.{name}.lambda"), p.lambda)?
            .unwrap_or(super::DEFAULT_LAMBDA);
        profiles.insert(
            name,
            Profile {
                boundary_shift: shift,
                min_tier,
                lambda,
                verify: p.verify.unwrap_or(false),
            },
        );
    }
    let verify = super::verify::validate_verify(raw.verify.clone())?;
    if let Some(g) = &verify.grader {
        if !models.contains_key(g) {
            return Err(format!("routing.verify.grader: `{g}` is not a known model"));
        }
    }
    for alias in &verify.aliases {
        let known = crate::pipeline::AUTO_ALIASES.contains(&alias.as_str())
            || alias
                .strip_prefix(crate::pipeline::PROFILE_PREFIX)
                .is_some_and(|p| profiles.contains_key(p));
        if !known {
            return Err(format!(
                "routing.verify.aliases: `{alias}` is not a routing alias (auto, frugal/auto or frugal/<profile>)"
            ));
        }
    }
    let session_ttl = Duration::from_secs(raw.session_ttl_secs.unwrap_or(1800));
    let router_model = raw.router_model.clone();
    let judge = match &raw.judge {
        None => None,
        Some(j) => {
            let model = j
                .model
                .clone()
                .ok_or("routing.judge.model: missing (a catalogue model)")?;
            if !models.contains_key(&model) {
                return Err(format!("routing.judge.model: unknown model `{model}`"));
            }
            let ms = j.timeout_ms.unwrap_or(2_000);
            if ms == 0 {
                return Err("routing.judge.timeout_ms: must be greater than 0".into());
            }
            Some(super::JudgeConfig {
                model,
                timeout: Duration::from_millis(ms),
            })
        }
    };
    Ok(RoutingConfig {
        boundaries,
        baseline,
        tiers,
        profiles,
        session_ttl,
        router_model,
        judge,
        embedding_model: raw.embedding_model.clone(),
        quality,
        verify,
    })
}

/// λ must be a finite number ≥ 0 (0: quality alone decides).
fn lambda_field(name: &str, v: Option<f64>) -> VResult<Option<f64>> {
    match v {
        Some(l) if !l.is_finite() || l < 0.0 => Err(format!("{name}: must be a number ≥ 0")),
        other => Ok(other),
    }
}

fn quality(
    lambda: Option<f64>,
    q: Option<super::raw::RawQuality>,
) -> VResult<super::QualityConfig> {
    let q = q.unwrap_or_default();
    let d = super::QualityConfig::default();
    let share = |name: &str, v: Option<f64>, default: f64| -> VResult<f64> {
        match v {
            None => Ok(default),
            Some(x) if (0.0..=1.0).contains(&x) => Ok(x),
            Some(_) => Err(format!("routing.quality.{name}: must be within 0..1")),
        }
    };
    let beta = match q.beta {
        None => d.beta,
        Some(b) if b.is_finite() && (0.0..=10.0).contains(&b) => b,
        Some(_) => return Err("routing.quality.beta: must be within 0..10".into()),
    };
    Ok(super::QualityConfig {
        lambda: lambda_field("routing.lambda", lambda)?.unwrap_or(d.lambda),
        beta,
        floor: q.floor.map(|f| share("floor", Some(f), 0.0)).transpose()?,
        explore: share("explore", q.explore, d.explore)?,
        learn: q.learn.unwrap_or(d.learn),
    })
}

fn client_keys(
    raw: &BTreeMap<String, super::raw::RawKey>,
    env: &dyn Env,
) -> VResult<Vec<ClientKey>> {
    let mut keys = vec![];
    for (project, k) in raw {
        let var = k.key_env.as_deref().ok_or_else(|| {
            format!("keys.{project}.key_env: missing (the environment variable holding this project's key)")
        })?;
        let min_tier = match k.min_tier.as_deref() {
            None => None,
            Some(t) => Some(
                Tier::parse(t)
                    .ok_or_else(|| format!("keys.{project}.min_tier: `{t}` is not a tier"))?,
            ),
        };
        let rules = super::limits::key_rules(project, k)?;
        // An unset variable leaves the project unrecognised rather than matching "".
        if let Some(key) = env.var(var) {
            keys.push(ClientKey {
                name: project.clone(),
                project: k.project.clone().unwrap_or_else(|| project.clone()),
                rules,
                key: Secret::new(key),
                never_route_down: k.never_route_down.unwrap_or(false),
                min_tier,
                lambda: lambda_field(&format!("keys.{project}.lambda"), k.lambda)?,
            });
        }
    }
    Ok(keys)
}
