//! The choice: among the candidates the caller allows (capable, routable, at or above any
//! floor), the best trade-off of estimated quality against cost,
//!
//! ```text
//! utility = q̂ − λ · cost / baseline cost − β · σ
//! ```
//!
//! λ is the price of quality: how many quality points (0–1 scale) the caller would give up
//! to save one baseline request's worth of spend. β counts uncertainty against a model.
//! An optional hard floor drops candidates whose q̂ − β·σ is below it (unless none is
//! above, when the most likely to be good stays). Ties go to the cheaper candidate.
//! `explore` is Thompson sampling over the same utility, for the small share of traffic
//! the caller spends on learning about uncertain, cheaper models.

use serde::Serialize;

use crate::quality::Estimate;

/// How the choice weighs quality, cost and uncertainty.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights {
    pub lambda: f64,
    pub beta: f64,
    /// Candidates whose q̂ − β·σ is below this are not chosen (unless none is above).
    pub floor: Option<f64>,
}

impl Default for Weights {
    fn default() -> Weights {
        Weights {
            lambda: 0.1,
            beta: 1.0,
            floor: None,
        }
    }
}

/// One candidate as the choice sees it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Candidate {
    pub estimate: Estimate,
    /// Estimated USD for this request on this model.
    pub cost: f64,
}

/// Candidates ranked best first, with the utility of each.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Choice {
    /// Indices into the options, best first; those under the floor come last.
    pub order: Vec<usize>,
    /// Utility of each option (same indexing as the options).
    pub utility: Vec<f64>,
    /// Whether each option clears the floor.
    pub above_floor: Vec<bool>,
}

/// Rank `options` for a request whose baseline model would cost `baseline_cost`.
pub fn choose(options: &[Candidate], baseline_cost: f64, w: &Weights) -> Choice {
    let scale = if baseline_cost.is_finite() && baseline_cost > 0.0 {
        baseline_cost
    } else {
        // No baseline price: compare costs among the options themselves.
        options
            .iter()
            .map(|o| o.cost)
            .fold(0.0, f64::max)
            .max(1e-12)
    };
    let utility: Vec<f64> = options
        .iter()
        .map(|o| o.estimate.q - w.lambda * o.cost / scale - w.beta * o.estimate.sigma)
        .collect();
    let lower = |o: &Candidate| o.estimate.q - w.beta * o.estimate.sigma;
    let mut above: Vec<bool> = options
        .iter()
        .map(|o| w.floor.is_none_or(|f| lower(o) >= f))
        .collect();
    if !above.iter().any(|a| *a) {
        // Nothing is sure to clear the floor: the likeliest to be good stays eligible.
        if let Some(best) =
            (0..options.len()).max_by(|a, b| lower(&options[*a]).total_cmp(&lower(&options[*b])))
        {
            above[best] = true;
        }
    }
    let mut order: Vec<usize> = (0..options.len()).collect();
    order.sort_by(|&a, &b| {
        above[b]
            .cmp(&above[a])
            .then(utility[b].total_cmp(&utility[a]))
            .then(options[a].cost.total_cmp(&options[b].cost))
    });
    Choice {
        order,
        utility,
        above_floor: above,
    }
}

/// Thompson sampling: each option's quality drawn from N(q̂, σ²) with `normal()` giving
/// standard normal draws, then the best sampled utility (β = 0: the draw is the
/// uncertainty). Options under the floor are skipped. `None` without options.
pub fn explore(
    options: &[Candidate],
    baseline_cost: f64,
    w: &Weights,
    normal: &mut dyn FnMut() -> f64,
) -> Option<usize> {
    let scale = if baseline_cost > 0.0 {
        baseline_cost
    } else {
        1.0
    };
    (0..options.len())
        .filter(|&i| {
            w.floor
                .is_none_or(|f| options[i].estimate.q + 2.0 * options[i].estimate.sigma >= f)
        })
        .map(|i| {
            let o = &options[i];
            let q = o.estimate.q + o.estimate.sigma * normal();
            (q - w.lambda * o.cost / scale, i)
        })
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, i)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opt(q: f64, sigma: f64, cost: f64) -> Candidate {
        Candidate {
            estimate: Estimate {
                q,
                sigma,
                evidence: 10.0,
                neighbours: 10,
                prior: q,
            },
            cost,
        }
    }

    #[test]
    fn pays_only_for_the_quality_it_needs() {
        // cheap 0.80 at 2 % of the baseline; big 0.90 at 100 %.
        let opts = [opt(0.80, 0.0, 0.02), opt(0.90, 0.0, 1.0)];
        let w = |lambda| Weights {
            lambda,
            beta: 0.0,
            floor: None,
        };
        assert_eq!(
            choose(&opts, 1.0, &w(0.05)).order[0],
            1,
            "0.1 quality is worth 5 % of a baseline"
        );
        assert_eq!(choose(&opts, 1.0, &w(0.2)).order[0], 0, "not worth 20 %");
        // Equal estimates: the cheaper wins.
        let same = [opt(0.9, 0.0, 0.5), opt(0.9, 0.0, 0.1)];
        assert_eq!(choose(&same, 1.0, &w(0.0)).order[0], 1);
    }

    #[test]
    fn uncertainty_counts_against_and_the_floor_holds() {
        let opts = [opt(0.85, 0.2, 0.1), opt(0.84, 0.01, 0.1)];
        let w = Weights {
            lambda: 0.1,
            beta: 1.0,
            floor: None,
        };
        assert_eq!(choose(&opts, 1.0, &w).order[0], 1);
        let floored = Weights {
            lambda: 1.0,
            beta: 0.0,
            floor: Some(0.9),
        };
        let c = choose(&[opt(0.5, 0.0, 0.01), opt(0.95, 0.0, 1.0)], 1.0, &floored);
        assert_eq!(c.order[0], 1);
        assert_eq!(c.above_floor, vec![false, true]);
        // Nothing above the floor: the likeliest stays eligible.
        let c = choose(&[opt(0.5, 0.0, 0.01), opt(0.6, 0.0, 1.0)], 1.0, &floored);
        assert_eq!((c.order[0], c.above_floor.clone()), (1, vec![false, true]));
    }

    #[test]
    fn exploration_tries_uncertain_options() {
        let opts = [opt(0.80, 0.3, 0.02), opt(0.90, 0.0, 1.0)];
        let w = Weights {
            lambda: 0.05,
            beta: 0.0,
            floor: None,
        };
        let mut high = || 1.0;
        assert_eq!(explore(&opts, 1.0, &w, &mut high), Some(0));
        let mut low = || -1.0;
        assert_eq!(explore(&opts, 1.0, &w, &mut low), Some(1));
        assert_eq!(explore(&[], 1.0, &w, &mut low), None);
    }
}
