//! Multi-model evaluation: how a single difficulty score buys quality among N priced
//! models. Pure math on per-row quality and cost tables; no files, no pipeline.
//!
//! How one score chooses among N models (kept deliberately simple and reproducible):
//! 1. Rank the models by mean cost per query and keep the *ladder*: the models no cheaper
//!    model matches in quality. A dominated model (costlier and no better) is never worth
//!    routing to on a difficulty score alone, so it only appears as a reference point.
//! 2. Walk up the ladder one rung at a time. Between rungs `k` and `k+1`, apply RouteLLM's
//!    strong/weak procedure with rung `k` as weak and `k+1` as strong: the same quantile
//!    thresholds on the score, so 0 %, 10 %, ..., 100 % of the hardest-scored rows move up.
//!    The swept threshold plays the role of the router's willingness to pay: the curve
//!    passes through every ladder model's own point and, for two models, is exactly the
//!    RouteLLM curve with cost on the x axis.
//! 3. The oracle knows every model's quality on every row: for each price of quality λ it
//!    picks per row `argmax(quality − λ·cost)`, which traces the best cost–quality
//!    frontier any router could reach.

use serde::Serialize;

use super::metrics::{mean, quantile_thresholds};

/// Quality and cost of each model on each row, model-major (`quality[m][row]`).
#[derive(Debug, Clone, PartialEq)]
pub struct MultiData {
    pub models: Vec<String>,
    pub quality: Vec<Vec<f64>>,
    pub cost: Vec<Vec<f64>>,
}

impl MultiData {
    pub fn rows(&self) -> usize {
        self.quality.first().map_or(0, Vec::len)
    }
}

/// One model used for every row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SingleModel {
    pub model: String,
    /// Mean USD per query.
    pub cost: f64,
    pub quality: f64,
    /// On the cost-sorted Pareto ladder the router climbs (false = dominated).
    pub on_ladder: bool,
}

/// One operating point of a router: mean USD per query and mean quality.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CostPoint {
    pub cost: f64,
    pub quality: f64,
}

/// Every model's own point, with the ladder marked; sorted by cost (then quality, best
/// first) so the ladder reads bottom-up.
pub fn singles(data: &MultiData) -> Vec<SingleModel> {
    let mut out: Vec<SingleModel> = data
        .models
        .iter()
        .enumerate()
        .map(|(m, name)| SingleModel {
            model: name.clone(),
            cost: mean(&data.cost[m]),
            quality: mean(&data.quality[m]),
            on_ladder: false,
        })
        .collect();
    out.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(b.quality.total_cmp(&a.quality))
    });
    let mut best = f64::NEG_INFINITY;
    for s in &mut out {
        if s.quality > best {
            s.on_ladder = true;
            best = s.quality;
        }
    }
    out
}

/// The best single model: highest quality, the cheaper one on a tie.
pub fn best_single(singles: &[SingleModel]) -> Option<&SingleModel> {
    singles.iter().max_by(|a, b| {
        a.quality
            .total_cmp(&b.quality)
            .then(b.cost.total_cmp(&a.cost))
    })
}

/// The router's cost–quality curve on the ladder (see the module docs), one point per
/// (rung, threshold), in ladder order. `scores` are aligned with the rows.
pub fn ladder_curve(
    data: &MultiData,
    ladder: &[usize],
    scores: &[f64],
    bins: usize,
) -> Vec<CostPoint> {
    let n = data.rows();
    if ladder.len() < 2 {
        return ladder.iter().map(|&m| point_of(data, m)).collect();
    }
    let thresholds = quantile_thresholds(scores, bins);
    let mut points = Vec::with_capacity((ladder.len() - 1) * thresholds.len());
    for rung in ladder.windows(2) {
        let (lo, hi) = (rung[0], rung[1]);
        // Highest threshold first, so each rung's points run from "all on lo" to "all on hi".
        for (i, &t) in thresholds.iter().enumerate().rev() {
            let last = i == thresholds.len() - 1;
            let (mut cost, mut quality) = (0.0, 0.0);
            for (r, &s) in scores.iter().enumerate() {
                let m = if (last && s > t) || (!last && s >= t) {
                    hi
                } else {
                    lo
                };
                cost += data.cost[m][r];
                quality += data.quality[m][r];
            }
            points.push(CostPoint {
                cost: cost / n as f64,
                quality: quality / n as f64,
            });
        }
    }
    points
}

fn point_of(data: &MultiData, m: usize) -> CostPoint {
    CostPoint {
        cost: mean(&data.cost[m]),
        quality: mean(&data.quality[m]),
    }
}

/// Model indices of the ladder, cheapest first.
pub fn ladder_indices(data: &MultiData, singles: &[SingleModel]) -> Vec<usize> {
    singles
        .iter()
        .filter(|s| s.on_ladder)
        .filter_map(|s| data.models.iter().position(|m| *m == s.model))
        .collect()
}

/// The oracle's frontier: per row `argmax(quality − λ·cost)` for λ from 0 (best answer,
/// cheapest among equals) through a log grid to ∞ (cheapest answer, best among equals).
/// The grid is scaled by the data's typical cost so it spans the interesting range on
/// any price level; the result is sorted by cost with duplicate points removed.
pub fn oracle_frontier(data: &MultiData) -> Vec<CostPoint> {
    let n = data.rows();
    let scale = mean(&data.cost.iter().map(|c| mean(c)).collect::<Vec<_>>()).max(1e-12);
    let mut lambdas = vec![0.0];
    lambdas.extend((-40..=40).map(|k| 10f64.powf(k as f64 / 10.0) / scale));
    lambdas.push(f64::INFINITY);
    let mut points: Vec<CostPoint> = lambdas
        .iter()
        .map(|&lambda| {
            let (mut cost, mut quality) = (0.0, 0.0);
            for r in 0..n {
                let m = oracle_pick(data, r, lambda);
                cost += data.cost[m][r];
                quality += data.quality[m][r];
            }
            CostPoint {
                cost: cost / n as f64,
                quality: quality / n as f64,
            }
        })
        .collect();
    points.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(a.quality.total_cmp(&b.quality))
    });
    points
        .dedup_by(|a, b| (a.cost - b.cost).abs() < 1e-15 && (a.quality - b.quality).abs() < 1e-12);
    points
}

fn oracle_pick(data: &MultiData, r: usize, lambda: f64) -> usize {
    let key = |m: usize| {
        let (q, c) = (data.quality[m][r], data.cost[m][r]);
        // λ = ∞: utility is −cost, ties broken by quality.
        if lambda.is_infinite() {
            (-c, q)
        } else {
            (q - lambda * c, -c)
        }
    };
    (0..data.models.len())
        .max_by(|&a, &b| {
            let (ka, kb) = (key(a), key(b));
            ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
        })
        .unwrap_or(0)
}

/// The mean cost at which a curve (in the order given, cost rising) first reaches
/// `target` quality, interpolating between the two points that straddle it.
pub fn cost_to_reach(curve: &[CostPoint], target: f64) -> Option<f64> {
    // A float tolerance: the curve's last point *is* the best model, whose mean may
    // differ from `target` in the last ulp after a different summation order.
    let i = curve.iter().position(|p| p.quality >= target - 1e-12)?;
    if i == 0 {
        return Some(curve[0].cost);
    }
    let (a, b) = (curve[i - 1], curve[i]);
    let t = ((target - a.quality) / (b.quality - a.quality)).clamp(0.0, 1.0);
    Some(a.cost + t * (b.cost - a.cost))
}

/// The best quality reachable for at most `budget` mean USD per query: any curve point
/// under budget, or a mix of two neighbouring points (routing a share of rows by one
/// policy and the rest by the other is itself a policy). `None` below the cheapest point.
pub fn quality_at_budget(curve: &[CostPoint], budget: f64) -> Option<f64> {
    let mut best: Option<f64> = None;
    let mut take = |q: f64| best = Some(best.map_or(q, |b: f64| b.max(q)));
    for p in curve.iter().filter(|p| p.cost <= budget) {
        take(p.quality);
    }
    for w in curve.windows(2) {
        let (a, b) = if w[0].cost <= w[1].cost {
            (w[0], w[1])
        } else {
            (w[1], w[0])
        };
        if a.cost <= budget && budget < b.cost && b.cost > a.cost {
            let t = (budget - a.cost) / (b.cost - a.cost);
            take(a.quality + t * (b.quality - a.quality));
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data() -> MultiData {
        // cheap: right on rows 0,1; mid: dominated (costly, no better); big: right on 0..3
        MultiData {
            models: vec!["big".into(), "cheap".into(), "mid".into()],
            quality: vec![
                vec![1.0, 1.0, 1.0, 1.0],
                vec![1.0, 1.0, 0.0, 0.0],
                vec![1.0, 0.0, 0.0, 0.0],
            ],
            cost: vec![vec![10.0; 4], vec![1.0; 4], vec![5.0; 4]],
        }
    }

    #[test]
    fn ladder_skips_dominated_models() {
        let d = data();
        let s = singles(&d);
        let names: Vec<(&str, bool)> = s.iter().map(|s| (s.model.as_str(), s.on_ladder)).collect();
        assert_eq!(names, vec![("cheap", true), ("mid", false), ("big", true)]);
        assert_eq!(ladder_indices(&d, &s), vec![1, 0]);
        assert_eq!(best_single(&s).map(|b| b.model.as_str()), Some("big"));
    }

    #[test]
    fn perfect_score_reaches_best_quality_at_half_the_cost_difference() {
        let d = data();
        let curve = ladder_curve(&d, &[1, 0], &[0.0, 0.0, 1.0, 1.0], 10);
        assert_eq!(
            curve.first(),
            Some(&CostPoint {
                cost: 1.0,
                quality: 0.5
            })
        );
        assert_eq!(
            curve.last(),
            Some(&CostPoint {
                cost: 10.0,
                quality: 1.0
            })
        );
        assert_eq!(cost_to_reach(&curve, 1.0), Some(5.5));
        assert_eq!(quality_at_budget(&curve, 5.5), Some(1.0));
        assert_eq!(quality_at_budget(&curve, 0.5), None);
    }

    #[test]
    fn oracle_frontier_spans_cheapest_to_best() {
        let f = oracle_frontier(&data());
        assert_eq!(
            f.first(),
            Some(&CostPoint {
                cost: 1.0,
                quality: 0.5
            })
        );
        assert_eq!(
            f.last(),
            Some(&CostPoint {
                cost: 5.5,
                quality: 1.0
            })
        );
    }

    #[test]
    fn budget_interpolates_between_points() {
        let c = [
            CostPoint {
                cost: 0.0,
                quality: 0.0,
            },
            CostPoint {
                cost: 2.0,
                quality: 1.0,
            },
        ];
        assert_eq!(quality_at_budget(&c, 1.0), Some(0.5));
        assert_eq!(quality_at_budget(&c, 3.0), Some(1.0));
        assert_eq!(cost_to_reach(&c, 0.25), Some(0.5));
        assert_eq!(cost_to_reach(&c, 1.0), Some(2.0));
        assert_eq!(cost_to_reach(&c, 1.5), None);
    }
}
