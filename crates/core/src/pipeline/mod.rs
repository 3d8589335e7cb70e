//! The routing pipeline: compress (the raw body, before parsing) → classify → select ⇒
//! `Plan`. Pure functions of the request, the configuration and the route context; it
//! never touches the network.

pub mod cache;
pub mod classify;
pub mod compress;
pub mod estimate;
pub mod select;
pub mod session;

use std::sync::Arc;

use rust_decimal::Decimal;
use serde::Serialize;

use crate::config::Config;
use crate::error::{GatewayError, Result};
use crate::types::{ChatRequest, Tier};

pub use classify::{Classification, Classifier};

/// Model names that ask frugal to choose.
pub const AUTO_ALIASES: [&str; 2] = ["auto", "frugal/auto"];
/// Routing profiles, addressed as `frugal/<name>`.
pub const PROFILE_PREFIX: &str = "frugal/";

/// Per-request routing inputs that do not come from the body (headers, key policy).
#[derive(Debug, Clone, Default)]
pub struct RouteContext {
    /// `x-frugal-min-tier`: never route below this tier.
    pub min_tier: Option<Tier>,
    /// `x-frugal-route: off`: treat an alias as the baseline model, no classification.
    pub route_off: bool,
    /// The tier this request's session has already reached (stickiness).
    pub session_floor: Option<Tier>,
    /// The LLM judge's verdict, when the server asked it about an abstained request.
    pub judge: Option<classify::JudgeOutcome>,
    /// The model whose prompt cache this session warmed (cache-aware selection).
    pub warm: Option<session::WarmCache>,
    /// The caller key's price of quality, overriding the alias's.
    pub lambda: Option<f64>,
    /// Whether this request may be one of the few sent to an uncertain cheaper model.
    pub may_explore: bool,
    /// `x-frugal-verify: on|off`: check routed answers (or not) whatever the alias says.
    pub verify: Option<bool>,
}

/// How the model was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    /// The caller named a model; frugal passes it through untouched.
    Explicit,
    /// frugal routed an alias by complexity.
    Routed,
    /// Routing was switched off for this request; the baseline model serves it.
    RoutingOff,
}

/// One model to try, with what it is expected to cost.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub model: String,
    pub tier: Tier,
    #[serde(with = "rust_decimal::serde::str")]
    pub est_cost_usd: Decimal,
}

/// The pipeline's answer: who to call, in order, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub decision: Decision,
    /// Present when a classifier scored the request.
    pub classification: Option<Classification>,
    /// The tier the request was placed in after profile and overrides.
    pub tier: Tier,
    /// Ordered: first is preferred, the rest are fallbacks.
    pub candidates: Vec<Candidate>,
    /// Estimated tokens the cost estimates are based on.
    pub est_input_tokens: u64,
    pub est_output_tokens: u64,
    /// What the baseline model would cost for the same estimate.
    #[serde(with = "rust_decimal::serde::str_option")]
    pub baseline_est_cost_usd: Option<Decimal>,
    pub reason: String,
    /// Every candidate's quality estimate, best first (routed requests).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub estimates: Vec<crate::quality::serving::CandidateEstimate>,
    /// True when this request was sent to an uncertain, cheaper model to learn about it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub explored: bool,
    /// True when the answer is to be checked and escalated when doubtful (verified mode).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
    /// The request's embedding, kept so its feedback can teach the quality model.
    #[serde(skip)]
    pub embedding: Option<Arc<[f32]>>,
}

impl Plan {
    pub fn est_cost_usd(&self) -> Decimal {
        self.candidates
            .first()
            .map(|c| c.est_cost_usd)
            .unwrap_or_default()
    }
}

/// Compresses, scores and selects. Cheap to share: hold it in an `Arc`.
pub struct Pipeline {
    config: Arc<Config>,
    /// Swapped whole by `reload_router`; a request keeps the one it started with.
    router: std::sync::RwLock<Arc<LoadedRouter>>,
    live: LiveBoundaries,
    /// Per-model quality estimates and what the deployment's feedback taught them (kept
    /// across router reloads: the labels learned from traffic are not in the file).
    quality: Arc<crate::quality::serving::QualityRouter>,
}

/// A classifier and what it was loaded from.
pub struct LoadedRouter {
    pub classifier: Arc<Classifier>,
    pub info: RouterInfo,
}

/// Which router is serving, for `/health` and logs.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RouterInfo {
    /// The router file, or "built-in".
    pub source: String,
    /// FNV-1a of the model's canonical JSON: replicas serving the same router agree.
    pub fingerprint: String,
    /// Training rows, from the model's provenance.
    pub rows: usize,
}

/// The tier boundaries in force, shared between the feedback loop (which moves them, and
/// loads them from the ledger so replicas agree) and the classifier (which should read
/// them on every request). Starts at `routing.boundaries`.
#[derive(Debug, Clone)]
pub struct LiveBoundaries(Arc<std::sync::RwLock<[f64; 3]>>);

impl LiveBoundaries {
    pub fn new(b: [f64; 3]) -> LiveBoundaries {
        LiveBoundaries(Arc::new(std::sync::RwLock::new(b)))
    }

    pub fn get(&self) -> [f64; 3] {
        // A poisoned lock still holds valid numbers (writers only store whole arrays).
        *self.0.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set(&self, b: [f64; 3]) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = b;
    }
}

/// Load the router model `routing.router_model` names (or the built-in one) with the
/// embedder its stage 2 was trained on: `reuse` when its id matches, else the configured
/// one. A model that does not load, or whose embedding differs, is an error.
fn load_router(
    config: &Config,
    reuse: Option<Arc<classify::embedder::Embedder>>,
) -> anyhow::Result<LoadedRouter> {
    let (model, source) = match &config.routing.router_model {
        Some(path) => (
            classify::model::RouterModel::load(path)?,
            path.display().to_string(),
        ),
        None => (classify::model::RouterModel::embedded()?, "built-in".into()),
    };
    let signals = classify::text::Signals::builtin()?;
    let embedder = match (&model.stage2, &model.embedding_id) {
        (None, _) => None,
        (Some(_), id) => {
            let e = match reuse.filter(|e| id.as_deref() == Some(e.id())) {
                Some(e) => e,
                None => Arc::new(match &config.routing.embedding_model {
                    Some(dir) => classify::embedder::Embedder::full(dir)?,
                    None => classify::embedder::Embedder::builtin()?,
                }),
            };
            if id.as_deref() != Some(e.id()) {
                anyhow::bail!(
                    "the router model's stage 2 was trained with embedding {:?} but the configured one is {:?}; \
                     train a router with this embedding (frugal train --embedding ...) or change routing.embedding_model",
                    id,
                    e.id()
                );
            }
            Some(e)
        }
    };
    let info = RouterInfo {
        source,
        fingerprint: format!(
            "{:016x}",
            crate::hashing::fnv1a(model.to_json()?.as_bytes())
        ),
        rows: model.provenance.rows,
    };
    Ok(LoadedRouter {
        classifier: Arc::new(Classifier::new(model, signals, embedder)),
        info,
    })
}

impl Pipeline {
    /// Build the pipeline, loading the router model named by `routing.router_model` (or the
    /// built-in one). A model that does not load is an error: never a silent fallback.
    pub fn new(config: Arc<Config>) -> anyhow::Result<Pipeline> {
        let router = load_router(&config, None)?;
        let embedder = match router.classifier.embedder() {
            Some(e) => e.clone(),
            None => Arc::new(match &config.routing.embedding_model {
                Some(dir) => classify::embedder::Embedder::full(dir)?,
                None => classify::embedder::Embedder::builtin()?,
            }),
        };
        let offline = router.classifier.model().quality.clone();
        let quality = Arc::new(crate::quality::serving::QualityRouter::new(
            embedder,
            offline,
            &config.routing.quality,
        )?);
        Ok(Pipeline {
            router: std::sync::RwLock::new(Arc::new(router)),
            live: LiveBoundaries::new(config.routing.boundaries),
            quality,
            config,
        })
    }

    /// The model-aware part of the router.
    pub fn quality(&self) -> &Arc<crate::quality::serving::QualityRouter> {
        &self.quality
    }

    /// Load `routing.router_model` again (after `frugal train` wrote a new one) and swap it
    /// in; requests already classifying finish with the old one. The embedder is kept when
    /// the new model was trained with the same one. On any error the serving router stays
    /// and the error is returned for the caller to report.
    pub fn reload_router(&self) -> anyhow::Result<RouterInfo> {
        let current = self.router();
        let router = load_router(&self.config, current.classifier.embedder().cloned())?;
        let info = router.info.clone();
        *self.router.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(router);
        Ok(info)
    }

    /// The router serving now.
    pub fn router(&self) -> Arc<LoadedRouter> {
        self.router
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The live boundaries handle (the feedback loop holds a clone).
    pub fn boundaries(&self) -> &LiveBoundaries {
        &self.live
    }

    pub fn set_boundaries(&self, b: [f64; 3]) {
        self.live.set(b);
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn classifier(&self) -> Arc<Classifier> {
        self.router().classifier.clone()
    }

    /// Plan a request. Compression has already run on the raw body the request was parsed
    /// from (`compress::compress_body`, called by the server), so what is classified and
    /// what is forwarded are the same bytes.
    pub fn plan(&self, req: &ChatRequest, ctx: &RouteContext) -> Result<Plan> {
        if req.model.trim().is_empty() {
            return Err(GatewayError::InvalidRequest(
                "model: must not be empty (use \"auto\" to let frugal choose)".into(),
            ));
        }
        let est = estimate::Estimate::of(req);
        if let Some(profile) = self.routed_profile(&req.model)? {
            if ctx.route_off {
                let requirements = select::Requirements::of(req);
                return select::baseline_plan(&self.config, &requirements, &est);
            }
            let classification =
                self.classifier()
                    .classify(req, self.live.get(), profile.boundary_shift, ctx.judge);
            return self.routed(req, ctx, &profile, (classification, est), None);
        }
        select::explicit_plan(&self.config, &req.model, &est)
    }

    /// `plan` again with the LLM judge's verdict on its classification, without
    /// classifying a second time.
    pub fn replan_with_judge(
        &self,
        req: &ChatRequest,
        ctx: &RouteContext,
        plan: Plan,
        outcome: classify::JudgeOutcome,
    ) -> Result<Plan> {
        let (Some(profile), Some(classification)) = (
            self.routed_profile(&req.model)?,
            plan.classification.clone(),
        ) else {
            return Ok(plan);
        };
        let est = estimate::Estimate::of(req);
        let judged = (classification.judged(outcome), est);
        self.routed(req, ctx, &profile, judged, plan.embedding)
    }

    /// The routed plan for a classification; `embedding` is the request's when a plan for it
    /// already computed one (a re-plan after the judge).
    fn routed(
        &self,
        req: &ChatRequest,
        ctx: &RouteContext,
        profile: &crate::config::Profile,
        (classification, est): (Classification, estimate::Estimate),
        embedding: Option<Arc<[f32]>>,
    ) -> Result<Plan> {
        // Floors only ever raise the tier: profile, caller header, key policy, session.
        let floor = [profile.min_tier, ctx.min_tier, ctx.session_floor]
            .into_iter()
            .flatten()
            .max();
        let tier = floor.map_or(classification.tier, |f| f.max(classification.tier));
        let embedding: Arc<[f32]> =
            embedding.unwrap_or_else(|| self.quality.embed(&classification.text).into());
        let q = &self.config.routing.quality;
        let rank = select::Rank {
            router: &self.quality,
            embedding: embedding.clone(),
            floor,
            weights: frugal_router::Weights {
                lambda: ctx.lambda.unwrap_or(profile.lambda),
                beta: q.beta,
                floor: q.floor,
            },
            explore_draw: if ctx.may_explore {
                self.quality.explore_draw()
            } else {
                None
            },
        };
        let mut plan = select::routed_plan(
            &self.config,
            select::RouteInputs {
                classification,
                tier,
                requirements: &select::Requirements::of(req),
                est: &est,
                warm: ctx.warm.as_ref(),
                rank: Some(rank),
            },
        )?;
        plan.embedding = Some(embedding);
        plan.verified = ctx.verify.unwrap_or(profile.verify);
        Ok(plan)
    }

    /// `Some(profile)` when the model name asks frugal to route; `None` for a concrete model.
    fn routed_profile(&self, model: &str) -> Result<Option<crate::config::Profile>> {
        // `[routing.verify] aliases` verifies an alias whatever its profile says.
        let verified_alias = self
            .config
            .routing
            .verify
            .aliases
            .iter()
            .any(|a| a == model);
        let neutral = crate::config::Profile {
            boundary_shift: 0.0,
            min_tier: None,
            lambda: self.config.routing.quality.lambda,
            verify: verified_alias,
        };
        if AUTO_ALIASES.contains(&model) {
            return Ok(Some(neutral));
        }
        if let Some(name) = model.strip_prefix(PROFILE_PREFIX) {
            return match self.config.routing.profiles.get(name) {
                Some(p) => Ok(Some(crate::config::Profile {
                    verify: p.verify || verified_alias,
                    ..p.clone()
                })),
                None => Err(GatewayError::UnknownModel(model.to_string())),
            };
        }
        Ok(None)
    }

    /// The routing aliases callers may use as a model name.
    pub fn aliases(&self) -> Vec<String> {
        let mut v: Vec<String> = AUTO_ALIASES.iter().map(|s| s.to_string()).collect();
        v.extend(
            self.config
                .routing
                .profiles
                .keys()
                .map(|p| format!("{PROFILE_PREFIX}{p}")),
        );
        v
    }
}

#[cfg(test)]
mod tests;
