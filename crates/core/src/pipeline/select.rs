//! Stage three of the pipeline: turn a tier into an ordered candidate list — the cheapest
//! capable model of the tier first, then the other capable models of the tier, then the
//! tiers above (fallback goes up, never silently down), and only then, as a last resort
//! that the plan's reason records, the tiers below.

use rust_decimal::Decimal;

use super::estimate::Estimate;
use super::session::WarmCache;
use super::{Candidate, Classification, Decision, Plan};
use rust_decimal::prelude::ToPrimitive;

use crate::catalog::ModelInfo;
use crate::config::Config;
use crate::cost::cost_usd;
use crate::error::{GatewayError, Result};
use crate::quality::serving::{QualityRouter, RankInputs};
use crate::types::{ChatRequest, Part, Tier, Usage};

/// What a model must support to serve a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requirements {
    pub tools: bool,
    pub vision: bool,
}

impl Requirements {
    pub fn of(req: &ChatRequest) -> Requirements {
        let tools = !req.tools.is_empty()
            || req
                .messages
                .iter()
                .flat_map(|m| &m.content)
                .any(|p| matches!(p, Part::ToolUse { .. } | Part::ToolResult { .. }));
        let vision = req
            .messages
            .iter()
            .flat_map(|m| &m.content)
            .any(|p| match p {
                Part::Image { .. } => true,
                Part::ToolResult { content, .. } => {
                    content.iter().any(|c| matches!(c, Part::Image { .. }))
                }
                _ => false,
            });
        Requirements { tools, vision }
    }
}

/// Why a model cannot serve a request. Kept as data and put into words only when a
/// request is refused, not for every unsuitable model of every request.
#[derive(Debug, Clone, Copy)]
enum Unfit<'a> {
    Disabled,
    NoApiKey { provider: &'a str, var: &'a str },
    UnknownProvider(&'a str),
    NoTools,
    NoImages,
    ContextWindow { prompt: u64, window: u64 },
}

impl std::fmt::Display for Unfit<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unfit::Disabled => f.write_str("disabled"),
            Unfit::NoApiKey { provider, var } => {
                write!(f, "provider `{provider}` has no API key (set {var})")
            }
            Unfit::UnknownProvider(p) => write!(f, "unknown provider `{p}`"),
            Unfit::NoTools => f.write_str("does not support tools"),
            Unfit::NoImages => f.write_str("does not support images"),
            Unfit::ContextWindow { prompt, window } => write!(
                f,
                "prompt of ~{prompt} tokens exceeds its {window}-token context window"
            ),
        }
    }
}

/// Why a model cannot serve the request, or `None` when it can.
fn unfit<'a>(
    cfg: &'a Config,
    m: &'a ModelInfo,
    r: &Requirements,
    est: &Estimate,
) -> Option<Unfit<'a>> {
    if !m.enabled {
        return Some(Unfit::Disabled);
    }
    match cfg.provider_of(m) {
        Some(p) if p.usable() => {}
        Some(p) => {
            let var = p.api_key_env.as_deref().unwrap_or("its API key variable");
            return Some(Unfit::NoApiKey {
                provider: &p.name,
                var,
            });
        }
        None => return Some(Unfit::UnknownProvider(&m.provider)),
    }
    if r.tools && !m.tools {
        return Some(Unfit::NoTools);
    }
    if r.vision && !m.vision {
        return Some(Unfit::NoImages);
    }
    if est.input_tokens > m.context_window {
        return Some(Unfit::ContextWindow {
            prompt: est.input_tokens,
            window: m.context_window,
        });
    }
    None
}

fn estimated_cost(m: &ModelInfo, est: &Estimate) -> Decimal {
    let usage = Usage {
        input_tokens: est.input_tokens,
        output_tokens: est.output_tokens.min(u64::from(m.max_output)),
        ..Default::default()
    };
    cost_usd(&m.prices, &usage)
}

fn candidate(m: &ModelInfo, tier: Tier, est: &Estimate) -> Candidate {
    Candidate {
        model: m.name.clone(),
        tier,
        est_cost_usd: estimated_cost(m, est),
    }
}

fn baseline_cost(cfg: &Config, est: &Estimate) -> Option<Decimal> {
    cfg.baseline_model().map(|m| estimated_cost(m, est))
}

/// The inputs of a routed decision.
pub struct RouteInputs<'a> {
    pub classification: Classification,
    pub tier: Tier,
    pub requirements: &'a Requirements,
    pub est: &'a Estimate,
    /// The model whose cache this session warmed, if any.
    pub warm: Option<&'a WarmCache>,
    /// Model-aware ranking of the candidates; `None` keeps the tier order.
    pub rank: Option<Rank<'a>>,
}

/// What the model-aware choice needs for one request.
pub struct Rank<'a> {
    pub router: &'a QualityRouter,
    pub embedding: std::sync::Arc<[f32]>,
    /// The hard floor (profile, header, key policy, session): never chosen below.
    pub floor: Option<Tier>,
    pub weights: frugal_router::Weights,
    pub explore_draw: Option<f64>,
}

/// Move the session's warm-cache model to the front when, with its cached prefix billed as
/// cache reads, it is estimated no dearer than the cheapest cold candidate — and only if it
/// serves the chosen tier or above, so staying warm never lowers quality.
fn prefer_warm(
    cfg: &Config,
    candidates: &mut [Candidate],
    tier: Tier,
    input: (&WarmCache, &Estimate),
) -> Option<String> {
    let (warm, est) = input;
    let i = candidates
        .iter()
        .position(|c| c.model == warm.model && c.tier >= tier)?;
    if i == 0 {
        return None;
    }
    let m = cfg.model(&warm.model)?;
    let cached = warm.prefix_tokens.min(est.input_tokens);
    let usage = Usage {
        input_tokens: est.input_tokens,
        output_tokens: est.output_tokens.min(u64::from(m.max_output)),
        cache_read_tokens: cached,
        cache_write_tokens: 0,
    };
    let warm_cost = cost_usd(&m.prices, &usage);
    let cold = candidates[0].est_cost_usd;
    if warm_cost > cold {
        return None;
    }
    candidates[i].est_cost_usd = warm_cost;
    candidates[..=i].rotate_right(1);
    Some(format!(
        "; stays on {} whose cache is warm (est. ${} with ~{cached} cached tokens vs ${} cold)",
        warm.model,
        crate::cost::format_usd(warm_cost),
        crate::cost::format_usd(cold)
    ))
}

/// Candidates for a routed request: the tier's capable models by estimated cost, then
/// the tiers above, then (last resort) the tiers below.
pub fn routed_plan(cfg: &Config, input: RouteInputs<'_>) -> Result<Plan> {
    let RouteInputs {
        classification,
        tier,
        requirements,
        est,
        warm,
        rank,
    } = input;
    let mut candidates = capable(cfg, tier, requirements, est)?;
    let ranked = rank.map(|r| {
        let baseline = baseline_cost(cfg, est)
            .and_then(|c| c.to_f64())
            .unwrap_or(0.0);
        r.router.rank(
            &mut candidates,
            &RankInputs {
                embedding: &r.embedding,
                classified: tier,
                floor: r.floor,
                weights: r.weights,
                baseline_cost: baseline,
                explore_draw: r.explore_draw,
            },
        )
    });
    let warm_note = warm.and_then(|w| prefer_warm(cfg, &mut candidates, tier, (w, est)));
    let served = candidates[0].tier;
    let mut reason = routed_reason(&classification, tier, &candidates, ranked.as_ref());
    if let Some(note) = warm_note {
        reason.push_str(&note);
    }
    let (estimates, explored) = ranked.map_or((vec![], false), |r| (r.estimates, r.explored));
    Ok(Plan {
        decision: Decision::Routed,
        // The tier that serves: the chosen model's (the classified tier is in the reason).
        tier: served,
        est_input_tokens: est.input_tokens,
        est_output_tokens: est.output_tokens,
        baseline_est_cost_usd: baseline_cost(cfg, est),
        candidates,
        classification: Some(classification),
        reason,
        estimates,
        explored,
        verified: false,
        embedding: None,
    })
}

/// Every capable model of every tier: `tier` and above first, then the tiers below; each
/// tier's models by estimated cost. An error naming why each model was unfit when none is.
fn capable(cfg: &Config, tier: Tier, r: &Requirements, est: &Estimate) -> Result<Vec<Candidate>> {
    let order = Tier::ALL
        .iter()
        .copied()
        .filter(|t| *t >= tier)
        .chain(Tier::ALL.iter().rev().copied().filter(|t| *t < tier));
    let mut candidates: Vec<Candidate> = vec![];
    let mut rejected: Vec<(&str, Unfit<'_>)> = vec![];
    for t in order {
        let mut in_tier: Vec<Candidate> = vec![];
        let names = cfg
            .routing
            .tiers
            .get(&t)
            .map(Vec::as_slice)
            .unwrap_or_default();
        for name in names {
            let Some(m) = cfg.model(name) else { continue };
            if candidates.iter().chain(&in_tier).any(|c| &c.model == name) {
                continue;
            }
            match unfit(cfg, m, r, est) {
                None => in_tier.push(candidate(m, t, est)),
                Some(why) => rejected.push((name, why)),
            }
        }
        in_tier.sort_by(|a, b| {
            a.est_cost_usd
                .cmp(&b.est_cost_usd)
                .then(a.model.cmp(&b.model))
        });
        candidates.extend(in_tier);
    }
    if candidates.is_empty() {
        return Err(GatewayError::NoCandidate(format!(
            "no configured model can serve this request: {}",
            if rejected.is_empty() {
                "no models configured".to_string()
            } else {
                rejected
                    .iter()
                    .map(|(name, why)| format!("{name}: {why}"))
                    .collect::<Vec<_>>()
                    .join("; ")
            }
        )));
    }
    Ok(candidates)
}

/// Why a routed request went where it did, in one line.
fn routed_reason(
    c: &Classification,
    tier: Tier,
    candidates: &[Candidate],
    ranked: Option<&crate::quality::serving::Ranked>,
) -> String {
    let mut reason = format!(
        "score {:.3} → {} (stage {}, confidence {:.2})",
        c.score, tier, c.stage, c.confidence
    );
    if let Some(e) = ranked.and_then(|r| r.estimates.first()) {
        reason.push_str(&format!(
            "; {} chosen: quality {:.2} ± {:.2} from {} rated neighbours",
            e.model, e.q, e.sigma, e.neighbours
        ));
        if ranked.is_some_and(|r| r.explored) {
            reason.push_str(" (exploring an uncertain cheaper model)");
        }
    }
    let served = candidates.first().map_or(tier, |c| c.tier);
    if served != tier {
        reason.push_str(&if candidates.iter().any(|c| c.tier == tier) {
            format!("; served by {served}")
        } else {
            format!("; no capable model in {tier}, served by {served}")
        });
    }
    reason
}

/// The caller named a model: exactly that model, no fallback to another model.
pub fn explicit_plan(cfg: &Config, model: &str, est: &Estimate) -> Result<Plan> {
    let m = cfg
        .model(model)
        .ok_or_else(|| GatewayError::UnknownModel(model.to_string()))?;
    // The caller chose this model: capability and size checks are the provider's to make,
    // and `enabled = false` only takes a model out of routing, so only the key matters.
    let explicit = ModelInfo {
        enabled: true,
        ..m.clone()
    };
    let requirements = Requirements {
        tools: false,
        vision: false,
    };
    if let Some(why) = unfit(
        cfg,
        &explicit,
        &requirements,
        &Estimate {
            input_tokens: 0,
            ..*est
        },
    ) {
        return Err(GatewayError::NoCandidate(format!(
            "model `{model}` cannot be used: {why}"
        )));
    }
    Ok(Plan {
        decision: Decision::Explicit,
        classification: None,
        tier: m.tier,
        candidates: vec![candidate(m, m.tier, est)],
        est_input_tokens: est.input_tokens,
        est_output_tokens: est.output_tokens,
        baseline_est_cost_usd: baseline_cost(cfg, est),
        reason: "explicit model requested; passed through".into(),
        estimates: vec![],
        explored: false,
        verified: false,
        embedding: None,
    })
}

/// Routing switched off (`x-frugal-route: off`): the baseline model serves the request.
pub fn baseline_plan(cfg: &Config, r: &Requirements, est: &Estimate) -> Result<Plan> {
    let m = cfg.baseline_model().ok_or_else(|| {
        GatewayError::NoCandidate(
            "routing is off for this request but no baseline model is configured".into(),
        )
    })?;
    if let Some(why) = unfit(cfg, m, r, est) {
        return Err(GatewayError::NoCandidate(format!(
            "baseline model `{}` cannot be used: {why}",
            m.name
        )));
    }
    Ok(Plan {
        decision: Decision::RoutingOff,
        classification: None,
        tier: m.tier,
        candidates: vec![candidate(m, m.tier, est)],
        est_input_tokens: est.input_tokens,
        est_output_tokens: est.output_tokens,
        baseline_est_cost_usd: baseline_cost(cfg, est),
        reason: "routing off for this request; baseline model".into(),
        estimates: vec![],
        explored: false,
        verified: false,
        embedding: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Keys;
    impl crate::config::Env for Keys {
        fn var(&self, _: &str) -> Option<String> {
            Some("k".into())
        }
    }

    fn cand(cfg: &Config, name: &str, est: &Estimate) -> Candidate {
        let m = cfg.model(name).expect("model");
        candidate(m, m.tier, est)
    }

    #[test]
    fn warm_cache_model_wins_when_cheaper_with_its_cache_and_never_below_the_tier() {
        let cfg = Config::load(None, &Keys).expect("catalogue");
        let est = Estimate {
            input_tokens: 20_000,
            output_tokens: 350,
        };
        let mut c = vec![
            cand(&cfg, "gpt-5-nano", &est),
            cand(&cfg, "gpt-4.1-nano", &est),
        ];
        let warm = WarmCache {
            model: "gpt-4.1-nano".into(),
            prefix_tokens: 19_000,
        };
        let note = prefer_warm(&cfg, &mut c, Tier::Simple, (&warm, &est)).expect("moved");
        assert_eq!(c[0].model, "gpt-4.1-nano", "{note}");
        // 1,000 × 0.10 + 19,000 × 0.025 + 350 × 0.40 = 715 µ$, against 1,140 µ$ cold on gpt-5-nano.
        assert_eq!(c[0].est_cost_usd, Decimal::new(715, 6));
        // A small cached prefix does not pay for the dearer model.
        let mut c = vec![
            cand(&cfg, "gpt-5-nano", &est),
            cand(&cfg, "gpt-4.1-nano", &est),
        ];
        let cold = WarmCache {
            model: "gpt-4.1-nano".into(),
            prefix_tokens: 100,
        };
        assert!(prefer_warm(&cfg, &mut c, Tier::Simple, (&cold, &est)).is_none());
        // A warm model below the chosen tier is never used.
        let mut c = vec![
            cand(&cfg, "gpt-4.1-mini", &est),
            cand(&cfg, "gpt-4.1-nano", &est),
        ];
        assert!(prefer_warm(&cfg, &mut c, Tier::Medium, (&warm, &est)).is_none());
    }
}
