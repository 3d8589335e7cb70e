//! Model-aware choice on the request path, and learning from the deployment's ratings.
//!
//! Every capable candidate at or above the request's hard floor (profile, header, key
//! policy, session) gets an estimate q̂ ± σ: its labelled neighbours' scores shrunk towards
//! a prior. The prior encodes the classifier: a model of the request's classified tier or
//! above starts at [`PRIOR_HIGH`], each tier below loses [`PRIOR_STEP`]. So with no labels
//! the choice is the tier router's (the cheapest capable model of the classified tier),
//! and as rated answers arrive, a model that proves good at a kind of request is chosen
//! for it whatever its tier, and one that proves poor is passed over. Labels come from the
//! offline data a router file carries (for models it names) and from feedback on this
//! deployment's own answers (`learn`), kept in memory and effective at once.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use frugal_router::{choose, explore, Ask, Candidate as Scored, Estimate, QualityStore, Weights};
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use crate::ledger::Label;
use crate::pipeline::classify::embedder::Embedder;
use crate::pipeline::Candidate;
use crate::types::Tier;

/// Prior quality of a model at or above the request's classified tier.
pub const PRIOR_HIGH: f64 = 0.85;
/// What each tier below the classified one loses from the prior.
pub const PRIOR_STEP: f64 = 0.25;
/// Recently routed requests remembered for learning from their feedback.
const REMEMBERED: usize = 50_000;

/// One candidate's estimate, for explanations (`frugal route`, the plan's reason).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CandidateEstimate {
    pub model: String,
    pub tier: Tier,
    pub q: f64,
    pub sigma: f64,
    /// Labelled neighbours behind the estimate (0: the prior alone).
    pub neighbours: usize,
    pub prior: f64,
    pub est_cost_usd: f64,
    pub utility: f64,
    /// False when below the request's floor (tier or quality).
    pub eligible: bool,
}

/// What one ranking needs besides the candidates.
pub struct RankInputs<'a> {
    pub embedding: &'a [f32],
    /// The tier the classifier placed the request in (after rules, judge, route-up).
    pub classified: Tier,
    /// Candidates below this tier are never chosen (they stay last, as fallbacks).
    pub floor: Option<Tier>,
    pub weights: Weights,
    /// The baseline model's estimated cost for this request (λ's unit).
    pub baseline_cost: f64,
    /// A uniform draw in [0, 1) for the exploration decision; `None` never explores.
    pub explore_draw: Option<f64>,
}

/// The estimates, the chosen model and whether it was an exploration.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ranked {
    pub estimates: Vec<CandidateEstimate>,
    pub explored: bool,
}

/// The deployment's quality model: its store, its embedder, and the embeddings of recent
/// requests awaiting feedback.
pub struct QualityRouter {
    embedder: Arc<Embedder>,
    store: RwLock<QualityStore>,
    recent: Mutex<Recent>,
    explore_share: f64,
    /// Whether rated answers become labels (`[routing.quality] learn`).
    learning: bool,
    rng: Mutex<u64>,
    /// (request, model) pairs already learned: a label read back from the shared store,
    /// or rated twice, counts once.
    learned: Mutex<std::collections::HashSet<u64>>,
}

#[derive(Default)]
struct Recent {
    by_id: HashMap<String, Arc<[f32]>>,
    order: VecDeque<String>,
}

impl QualityRouter {
    /// A router over `offline` labels (a trained router's store; `None`: none), learning
    /// from feedback from then on. The store must use `embedder`'s embedding.
    pub fn new(
        embedder: Arc<Embedder>,
        offline: Option<QualityStore>,
        cfg: &crate::config::QualityConfig,
    ) -> anyhow::Result<QualityRouter> {
        let store = match offline {
            Some(s) if s.embedding() != embedder.id() => anyhow::bail!(
                "the router's quality store was built with embedding {:?} but the configured one is {:?}",
                s.embedding(),
                embedder.id()
            ),
            Some(s) => s,
            None => QualityStore::new(embedder.id(), embedder.dim(), Default::default()),
        };
        Ok(QualityRouter {
            embedder,
            store: RwLock::new(store),
            recent: Mutex::new(Recent::default()),
            explore_share: cfg.explore.clamp(0.0, 1.0),
            learning: cfg.learn,
            rng: Mutex::new(0x2545_f491_4f6c_dd1d),
            learned: Mutex::new(Default::default()),
        })
    }

    pub fn embed(&self, text: &str) -> Vec<f32> {
        self.embedder.embed(text)
    }

    /// Labelled rows known now.
    pub fn rows(&self) -> usize {
        self.store.read().map(|s| s.rows()).unwrap_or(0)
    }

    /// A uniform draw when this request should explore (the configured share of them).
    pub fn explore_draw(&self) -> Option<f64> {
        let mut s = self.rng.lock().ok()?;
        let u = next_uniform(&mut s);
        (u < self.explore_share).then(|| next_uniform(&mut s))
    }

    /// Order `candidates` (all capable models, any tier) best first and say why.
    pub fn rank(&self, candidates: &mut Vec<Candidate>, input: &RankInputs<'_>) -> Ranked {
        let store = match self.store.read() {
            Ok(s) => s,
            Err(e) => e.into_inner(),
        };
        let asks: Vec<Ask> = candidates
            .iter()
            .map(|c| Ask {
                model: store.model_index(&c.model),
                prior: tier_prior(c.tier, input.classified),
            })
            .collect();
        let estimates = store.estimate(input.embedding, &asks);
        drop(store);
        let below_floor = |c: &Candidate| input.floor.is_some_and(|f| c.tier < f);
        let scored: Vec<Scored> = candidates
            .iter()
            .zip(&estimates)
            .map(|(c, e)| Scored {
                estimate: if below_floor(c) { never(e) } else { *e },
                cost: c.est_cost_usd.to_f64().unwrap_or(f64::MAX),
            })
            .collect();
        let choice = choose(&scored, input.baseline_cost, &input.weights);
        let best = choice.order.first().copied().unwrap_or(0);
        let eligible: Vec<bool> = (0..candidates.len())
            .map(|i| !below_floor(&candidates[i]) && choice.above_floor[i])
            .collect();
        let explored_to = input
            .explore_draw
            .and_then(|u| explore_cheaper(&scored, &eligible, best, input, u));
        let (first, explored) = match explored_to {
            Some(i) => (i, true),
            None => (best, false),
        };
        // The chosen model, then fallbacks: others at its tier or above by utility, then
        // the rest (lower tiers last: fallback never silently goes down first).
        let chosen_tier = candidates[first].tier;
        let mut order: Vec<usize> = choice
            .order
            .iter()
            .copied()
            .filter(|&i| i != first)
            .collect();
        order.sort_by_key(|&i| candidates[i].tier < chosen_tier || below_floor(&candidates[i]));
        order.insert(0, first);
        let scores = Scores {
            estimates: &estimates,
            scored: &scored,
            utility: &choice.utility,
            eligible: &eligible,
        };
        let explained = explain(candidates, &order, &scores);
        let reordered: Vec<Candidate> = order.iter().map(|&i| candidates[i].clone()).collect();
        *candidates = reordered;
        Ranked {
            estimates: explained,
            explored,
        }
    }

    /// Remember a routed request's embedding until its feedback arrives (bounded: the
    /// oldest are forgotten first).
    pub fn remember(&self, request_id: &str, embedding: Arc<[f32]>) {
        let Ok(mut r) = self.recent.lock() else {
            return;
        };
        if r.by_id.insert(request_id.to_string(), embedding).is_none() {
            r.order.push_back(request_id.to_string());
        }
        while r.order.len() > REMEMBERED {
            if let Some(old) = r.order.pop_front() {
                r.by_id.remove(&old);
            }
        }
    }

    /// A rated answer: `model`'s quality on that request becomes a label at once, and is
    /// returned for the ledger to keep. `None` when the request is not remembered (too
    /// old, or not routed here) or was already learned.
    pub fn learn(&self, request_id: &str, model: &str, score: f64) -> Option<Label> {
        if !self.learning {
            return None;
        }
        let embedding = match self.recent.lock() {
            Ok(r) => r.by_id.get(request_id).cloned(),
            Err(_) => None,
        }?;
        let label = Label {
            request_id: request_id.to_string(),
            ts_ms: crate::ledger::now_ms(),
            model: model.to_string(),
            score,
            embedding_id: self.embedder.id().to_string(),
            embedding: embedding.to_vec(),
        };
        self.add_label(&label).then_some(label)
    }

    /// Add a label (learned here or read from the ledger); false when it was already known
    /// or does not fit this router's embedding.
    pub fn add_label(&self, label: &Label) -> bool {
        if label.embedding_id != self.embedder.id() {
            return false;
        }
        let key =
            crate::hashing::fnv1a(format!("{}\u{0}{}", label.request_id, label.model).as_bytes());
        let new = self.learned.lock().is_ok_and(|mut seen| seen.insert(key));
        if !new {
            return false;
        }
        let Ok(mut store) = self.store.write() else {
            return false;
        };
        let m = store.ensure_model(&label.model);
        store
            .add(&label.embedding, &[(m, label.score as f32)])
            .is_ok()
    }

    /// Whether this router learns from rated answers.
    pub fn learning(&self) -> bool {
        self.learning
    }

    /// The embedding labels must come from.
    pub fn embedding_id(&self) -> &str {
        self.embedder.id()
    }

    /// Per-model label counts and means, for reports.
    pub fn summary(&self) -> Vec<(String, u64, Option<f64>)> {
        let Ok(s) = self.store.read() else {
            return vec![];
        };
        (0..s.models().len())
            .map(|m| (s.models()[m].clone(), s.label_count(m), s.mean(m)))
            .collect()
    }
}

/// What the choice computed per candidate (same indexing as the candidates).
struct Scores<'a> {
    estimates: &'a [Estimate],
    scored: &'a [Scored],
    utility: &'a [f64],
    eligible: &'a [bool],
}

/// Every candidate's estimate in `order`, for explanations.
fn explain(candidates: &[Candidate], order: &[usize], s: &Scores<'_>) -> Vec<CandidateEstimate> {
    order
        .iter()
        .map(|&i| CandidateEstimate {
            model: candidates[i].model.clone(),
            tier: candidates[i].tier,
            q: s.estimates[i].q,
            sigma: s.estimates[i].sigma,
            neighbours: s.estimates[i].neighbours,
            prior: s.estimates[i].prior,
            est_cost_usd: s.scored[i].cost,
            utility: s.utility[i],
            eligible: s.eligible[i],
        })
        .collect()
}

/// Thompson sampling among the eligible candidates cheaper than `best`, with the draw `u`
/// seeding the normal draws: the candidate to try instead, if any.
fn explore_cheaper(
    scored: &[Scored],
    eligible: &[bool],
    best: usize,
    input: &RankInputs<'_>,
    u: f64,
) -> Option<usize> {
    let cheaper: Vec<usize> = (0..scored.len())
        .filter(|&i| eligible[i] && scored[i].cost < scored[best].cost)
        .collect();
    let options: Vec<Scored> = cheaper.iter().map(|&i| scored[i]).collect();
    let mut seed = (u * u64::MAX as f64) as u64 | 1;
    let mut normal = || standard_normal(&mut seed);
    explore(&options, input.baseline_cost, &input.weights, &mut normal).map(|k| cheaper[k])
}

/// The prior of a model of `tier` for a request classified `classified`.
pub fn tier_prior(tier: Tier, classified: Tier) -> f64 {
    let below = (classified as i32 - tier as i32).max(0);
    (PRIOR_HIGH - PRIOR_STEP * f64::from(below)).max(0.05)
}

/// An estimate no choice prefers (a candidate under the hard floor).
fn never(e: &Estimate) -> Estimate {
    Estimate {
        q: -1.0,
        sigma: 0.0,
        ..*e
    }
}

/// xorshift64*: the exploration coin and draws; no dependency, no global state.
fn next_uniform(s: &mut u64) -> f64 {
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    (s.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 / (1u64 << 53) as f64
}

/// Box–Muller.
fn standard_normal(s: &mut u64) -> f64 {
    let u1 = next_uniform(s).max(1e-12);
    let u2 = next_uniform(s);
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn cand(model: &str, tier: Tier, cost: i64) -> Candidate {
        Candidate {
            model: model.into(),
            tier,
            est_cost_usd: Decimal::new(cost, 6),
        }
    }

    fn router() -> QualityRouter {
        let cfg = crate::config::QualityConfig {
            explore: 0.0,
            ..Default::default()
        };
        QualityRouter::new(Arc::new(Embedder::builtin().expect("embedder")), None, &cfg)
            .expect("router")
    }

    fn inputs(embedding: &[f32], classified: Tier) -> RankInputs<'_> {
        RankInputs {
            embedding,
            classified,
            floor: None,
            weights: Weights::default(),
            baseline_cost: 100e-6,
            explore_draw: None,
        }
    }

    #[test]
    fn without_labels_it_is_the_tier_router() {
        let r = router();
        let e = r.embed("Write a detailed proof that there are infinitely many primes.");
        let mut c = vec![
            cand("small", Tier::Simple, 1),
            cand("mid", Tier::Medium, 10),
            cand("big", Tier::Complex, 100),
        ];
        let ranked = r.rank(&mut c, &inputs(&e, Tier::Medium));
        assert_eq!(c[0].model, "mid");
        assert_eq!(c[1].model, "big", "fallback goes up before down");
        assert_eq!(c[2].model, "small");
        assert!(!ranked.explored);
        assert_eq!(ranked.estimates[0].neighbours, 0);
    }

    #[test]
    fn rated_answers_teach_it_which_model_is_good_at_what() {
        let r = router();
        let text = "Translate this sentence into French: the cat sleeps on the mat.";
        for i in 0..40 {
            let id = format!("frg_{i}");
            let e: Arc<[f32]> = r.embed(&format!("{text} ({i})")).into();
            r.remember(&id, e);
            assert!(r.learn(&id, "small", 1.0).is_some());
            assert!(r.learn(&id, "small", 1.0).is_none(), "learned once");
        }
        let e = r.embed(text);
        let mut c = vec![
            cand("small", Tier::Simple, 1),
            cand("mid", Tier::Medium, 10),
        ];
        let ranked = r.rank(&mut c, &inputs(&e, Tier::Medium));
        assert_eq!(c[0].model, "small", "{ranked:?}");
        assert!(ranked.estimates[0].q > 0.9 && ranked.estimates[0].neighbours >= 40);
        assert!(r.learn("frg_unknown", "small", 1.0).is_none());
    }

    #[test]
    fn the_floor_holds_and_exploration_picks_a_cheaper_model() {
        let r = router();
        let e = r.embed("hello there");
        let mut c = vec![
            cand("small", Tier::Simple, 1),
            cand("big", Tier::Complex, 100),
        ];
        let mut floored = inputs(&e, Tier::Simple);
        floored.floor = Some(Tier::Complex);
        r.rank(&mut c, &floored);
        assert_eq!(c[0].model, "big");
        let mut c = vec![
            cand("small", Tier::Simple, 1),
            cand("big", Tier::Complex, 100),
        ];
        let mut exploring = inputs(&e, Tier::Complex);
        exploring.explore_draw = Some(0.5);
        let ranked = r.rank(&mut c, &exploring);
        assert!(ranked.explored && c[0].model == "small", "{ranked:?}");
    }
}
