//! Offline evaluation of a cascade on recorded answers: quality (mean score of the answering
//! model) against cost share (the calls' recorded cost over the reference model's), over a
//! threshold sweep; the APGR-equivalent area for the ladder's bottom/top pair; escalation
//! share and calls per request; beside random routing of that pair and the oracle; and one
//! operating point whose threshold is cross-validated by row. Pure arithmetic on plain data.

use serde::Serialize;

use super::cascade::{Outcome, Trace};

/// One request as the report sees it: its trace, and per-model score and cost lookups
/// already resolved for every model the ladder and checker may call.
#[derive(Debug, Clone)]
pub struct Scored {
    pub trace: Trace,
    /// Fold of the row for cross-validation (`fnv1a(id) % folds`).
    pub fold: usize,
    /// (model, score, cost_usd) for every ladder model and the checker.
    pub models: Vec<(String, f64, f64)>,
}

impl Scored {
    fn score(&self, m: &str) -> f64 {
        self.models
            .iter()
            .find(|(n, _, _)| n == m)
            .map_or(0.0, |x| x.1)
    }
    fn cost(&self, m: &str) -> f64 {
        self.models
            .iter()
            .find(|(n, _, _)| n == m)
            .map_or(0.0, |x| x.2)
    }
    /// Quality and cost of one outcome.
    pub fn account(&self, o: &Outcome) -> (f64, f64) {
        (
            self.score(&o.answered_by),
            o.calls.iter().map(|m| self.cost(m)).sum(),
        )
    }
}

/// Aggregates of a set of outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Point {
    pub threshold: f64,
    /// Mean score of the answering model, 0..1.
    pub quality: f64,
    /// Total cost of all calls / total cost of the reference model answering alone.
    pub cost_share: f64,
    /// Share of requests served by a rung above the one they started on.
    pub escalation_share: f64,
    pub calls_per_request: f64,
    /// Share of requests that called the ladder's top model.
    pub top_share: f64,
}

/// The cascade at threshold `t` over `rows`; `reference_cost` is the reference model's
/// total cost over the same rows.
pub fn point(rows: &[&Scored], t: f64, reference_cost: f64, top: &str) -> Point {
    let n = rows.len().max(1) as f64;
    let (mut q, mut c, mut esc, mut calls, mut topn) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for r in rows {
        let o = r.trace.decide(t);
        let (rq, rc) = r.account(&o);
        q += rq;
        c += rc;
        esc += f64::from(u8::from(o.escalated));
        calls += o.calls.len() as f64;
        topn += f64::from(u8::from(o.calls.iter().any(|m| m == top)));
    }
    Point {
        threshold: t,
        quality: q / n,
        cost_share: if reference_cost > 0.0 {
            c / reference_cost
        } else {
            0.0
        },
        escalation_share: esc / n,
        calls_per_request: calls / n,
        top_share: topn / n,
    }
}

/// The pair a ladder's APGR-equivalent is measured between.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Pair {
    /// Mean quality of the bottom (weak) and top (strong) model answering alone.
    pub weak_quality: f64,
    pub strong_quality: f64,
    /// Weak model's total cost / strong model's total cost.
    pub weak_cost_share: f64,
}

/// Trapezoid area of the threshold sweep as a RouteLLM-style curve: y = (quality − weak) /
/// (strong − weak), x = cost share of the strong model. The curve is the sweep in threshold
/// order (not sorted, not hulled), starting at the weak model alone (x = weak cost share,
/// y = 0) and ending at the strong model alone (1, 1); points costing more than the strong
/// model are dropped. x below the weak model's share adds no area. Returns
/// `(area, area over x normalised to (cost − weak) / (strong − weak))`: the second makes
/// random routing exactly 0.5, like RouteLLM's strong-call share.
pub fn apgr_equivalent(points: &[(f64, f64)], pair: &Pair) -> (f64, f64) {
    let gap = pair.strong_quality - pair.weak_quality;
    if gap.abs() < 1e-12 {
        return (0.0, 0.0);
    }
    let mut curve = vec![(pair.weak_cost_share, 0.0)];
    curve.extend(
        points
            .iter()
            .filter(|(x, _)| *x <= 1.0)
            .map(|(x, q)| (x.max(pair.weak_cost_share), (q - pair.weak_quality) / gap)),
    );
    curve.push((1.0, 1.0));
    let area: f64 = curve
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum();
    let span = 1.0 - pair.weak_cost_share;
    (area, if span > 0.0 { area / span } else { 0.0 })
}

/// Same area with x = share of requests that called the strong model (RouteLLM's axis;
/// the checker's cost is not on it): for comparison with strong-call-share figures.
pub fn apgr_by_strong_calls(points: &[Point], pair: &Pair) -> f64 {
    let gap = pair.strong_quality - pair.weak_quality;
    if gap.abs() < 1e-12 {
        return 0.0;
    }
    let mut curve = vec![(0.0, 0.0)];
    curve.extend(
        points
            .iter()
            .map(|p| (p.top_share, (p.quality - pair.weak_quality) / gap)),
    );
    curve.push((1.0, 1.0));
    curve
        .windows(2)
        .map(|w| (w[1].0 - w[0].0) * (w[0].1 + w[1].1) / 2.0)
        .sum()
}

/// A single operating point with its threshold cross-validated by row: for each fold, the
/// threshold is chosen on the other folds (the highest quality whose cost share is within
/// `budget`; the cheapest threshold if none is), then applied to the fold; the held-out
/// outcomes of all folds are pooled.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CrossValidated {
    pub budget: f64,
    /// The threshold chosen for each fold.
    pub thresholds: Vec<f64>,
    pub quality: f64,
    pub cost_share: f64,
    pub escalation_share: f64,
    pub calls_per_request: f64,
}

pub fn cross_validate(
    rows: &[Scored],
    thresholds: &[f64],
    folds: usize,
    budget: f64,
    reference: &str,
    top: &str,
) -> CrossValidated {
    let ref_cost = |rs: &[&Scored]| rs.iter().map(|r| r.cost(reference)).sum::<f64>();
    let mut chosen = Vec::with_capacity(folds);
    let (mut q, mut c, mut esc, mut calls, mut n) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for f in 0..folds {
        let train: Vec<&Scored> = rows.iter().filter(|r| r.fold != f).collect();
        let test: Vec<&Scored> = rows.iter().filter(|r| r.fold == f).collect();
        if test.is_empty() {
            continue;
        }
        let rc = ref_cost(&train);
        let sweep: Vec<Point> = thresholds
            .iter()
            .map(|t| point(&train, *t, rc, top))
            .collect();
        let best = sweep
            .iter()
            .filter(|p| p.cost_share <= budget)
            .max_by(|a, b| a.quality.total_cmp(&b.quality))
            .or_else(|| {
                sweep
                    .iter()
                    .min_by(|a, b| a.cost_share.total_cmp(&b.cost_share))
            });
        let t = best.map_or(0.0, |p| p.threshold);
        chosen.push(t);
        for r in &test {
            let o = r.trace.decide(t);
            let (rq, rcost) = r.account(&o);
            q += rq;
            c += rcost;
            esc += f64::from(u8::from(o.escalated));
            calls += o.calls.len() as f64;
            n += 1.0;
        }
    }
    let all: Vec<&Scored> = rows.iter().collect();
    let total_ref = ref_cost(&all);
    let n = f64::max(n, 1.0);
    CrossValidated {
        budget,
        thresholds: chosen,
        quality: q / n,
        cost_share: if total_ref > 0.0 { c / total_ref } else { 0.0 },
        escalation_share: esc / n,
        calls_per_request: calls / n,
    }
}

/// The oracle over the ladder: each request served by the cheapest ladder model with the
/// row's best score among them, one call. Returns (quality, cost share).
pub fn oracle(rows: &[Scored], ladder: &[String], reference: &str) -> (f64, f64) {
    let (mut q, mut c, mut rc) = (0.0, 0.0, 0.0);
    for r in rows {
        let best = ladder.iter().map(|m| r.score(m)).fold(f64::MIN, f64::max);
        let pick = ladder
            .iter()
            .filter(|m| r.score(m) >= best)
            .min_by(|a, b| r.cost(a).total_cmp(&r.cost(b)));
        if let Some(m) = pick {
            q += r.score(m);
            c += r.cost(m);
        }
        rc += r.cost(reference);
    }
    let n = rows.len().max(1) as f64;
    (q / n, if rc > 0.0 { c / rc } else { 0.0 })
}

/// The pair statistics of `weak` and `strong` over the rows.
pub fn pair(rows: &[Scored], weak: &str, strong: &str) -> Pair {
    let n = rows.len().max(1) as f64;
    let cs: f64 = rows.iter().map(|r| r.cost(strong)).sum();
    Pair {
        weak_quality: rows.iter().map(|r| r.score(weak)).sum::<f64>() / n,
        strong_quality: rows.iter().map(|r| r.score(strong)).sum::<f64>() / n,
        weak_cost_share: if cs > 0.0 {
            rows.iter().map(|r| r.cost(weak)).sum::<f64>() / cs
        } else {
            0.0
        },
    }
}

/// RouteLLM's oracle on the pair, in the same coordinates as [`apgr_equivalent`]: the strong
/// model is called only where it scores higher; the curve rises from the weak model alone
/// to that point, then stays flat to x = 1. Returns (area, normalised area).
pub fn oracle_apgr(rows: &[Scored], weak: &str, strong: &str) -> (f64, f64) {
    let p = pair(rows, weak, strong);
    let gap = p.strong_quality - p.weak_quality;
    let cs: f64 = rows.iter().map(|r| r.cost(strong)).sum();
    if gap.abs() < 1e-12 || cs <= 0.0 {
        return (0.0, 0.0);
    }
    let n = rows.len().max(1) as f64;
    let (mut q, mut c) = (0.0, 0.0);
    for r in rows {
        let up = r.score(strong) > r.score(weak);
        q += r.score(if up { strong } else { weak });
        c += r.cost(if up { strong } else { weak });
    }
    let (x, y) = (c / cs, (q / n - p.weak_quality) / gap);
    let area = (x - p.weak_cost_share) * y / 2.0 + (1.0 - x) * y;
    let span = 1.0 - p.weak_cost_share;
    (area, if span > 0.0 { area / span } else { 0.0 })
}
