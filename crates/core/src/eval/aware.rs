//! Cost–quality curves of routers that estimate every model's quality per row (the
//! model-aware router, and the task oracle that knows each task's per-model means): for
//! each price of quality λ, every row goes to `argmax q̂ − λ·ĉ/ĉ_best − β·σ`, and the
//! point is the mean realised cost and quality. Pure math on tables; no files.

use super::data::Row;
use super::multi::{CostPoint, MultiData};

/// Estimates per model and row (`q[model][row]`), as the router sees them.
pub struct Estimates<'a> {
    pub q: &'a [Vec<f64>],
    pub sigma: Option<&'a [Vec<f64>]>,
    /// What the router believes each answer costs (`cost[model][row]`).
    pub cost: &'a [Vec<f64>],
}

/// λ values swept: 0, then 10^-4 … 10^1.5 (quality points per baseline-request of cost).
pub fn lambdas() -> Vec<f64> {
    let mut v = vec![0.0];
    v.extend((0..=80).map(|k| 10f64.powf(-4.0 + 5.5 * f64::from(k) / 80.0)));
    v
}

/// The curve of `est` on `data`, with `base` (the model whose believed cost is λ's unit)
/// and uncertainty weight `beta`; points sorted by cost.
pub fn lambda_curve(
    data: &MultiData,
    est: &Estimates<'_>,
    base: usize,
    beta: f64,
) -> Vec<CostPoint> {
    let n = data.rows();
    let models = data.models.len();
    let mut points: Vec<CostPoint> = lambdas()
        .into_iter()
        .map(|lambda| {
            let (mut cost, mut quality) = (0.0, 0.0);
            for r in 0..n {
                let unit = est.cost[base][r].max(1e-12);
                let utility = |m: usize| {
                    let s = est.sigma.map_or(0.0, |s| s[m][r]);
                    est.q[m][r] - lambda * est.cost[m][r] / unit - beta * s
                };
                let pick = (0..models)
                    .max_by(|&a, &b| {
                        utility(a)
                            .total_cmp(&utility(b))
                            .then(est.cost[b][r].total_cmp(&est.cost[a][r]))
                    })
                    .unwrap_or(0);
                cost += data.cost[pick][r];
                quality += data.quality[pick][r];
            }
            CostPoint {
                cost: cost / n.max(1) as f64,
                quality: quality / n.max(1) as f64,
            }
        })
        .collect();
    points.sort_by(|a, b| {
        a.cost
            .total_cmp(&b.cost)
            .then(a.quality.total_cmp(&b.quality))
    });
    points
}

/// What a router can know of costs before answering: a model's cost per row when it
/// follows from the prompt (per-token prices), else its mean over the rows (measured
/// per-query costs, as RouterBench's, are not known in advance).
pub fn believed_costs(data: &MultiData, measured: &[bool]) -> Vec<Vec<f64>> {
    data.cost
        .iter()
        .zip(measured)
        .map(|(c, &m)| {
            if m {
                let mean = c.iter().sum::<f64>() / c.len().max(1) as f64;
                vec![mean; c.len()]
            } else {
                c.clone()
            }
        })
        .collect()
}

/// Each task's per-model mean quality, for every row of the task (in-sample: an upper
/// bound for any router that only knows what kind of request it is).
pub fn task_means(rows: &[&Row], data: &MultiData) -> Vec<Vec<f64>> {
    let task = |r: &Row| r.task.clone().unwrap_or_default();
    let mut sums: std::collections::HashMap<String, (Vec<f64>, f64)> = Default::default();
    for (i, r) in rows.iter().enumerate() {
        let e = sums
            .entry(task(r))
            .or_insert_with(|| (vec![0.0; data.models.len()], 0.0));
        for (m, q) in data.quality.iter().enumerate() {
            e.0[m] += q[i];
        }
        e.1 += 1.0;
    }
    (0..data.models.len())
        .map(|m| {
            rows.iter()
                .map(|r| sums.get(&task(r)).map_or(0.0, |(s, n)| s[m] / n))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knowing_which_model_is_good_at_what_beats_one_model() {
        // Two rows: cheap is right on row 0 only, big on both.
        let data = MultiData {
            models: vec!["cheap".into(), "big".into()],
            quality: vec![vec![1.0, 0.0], vec![1.0, 1.0]],
            cost: vec![vec![0.1, 0.1], vec![1.0, 1.0]],
        };
        let perfect = Estimates {
            q: &data.quality,
            sigma: None,
            cost: &data.cost,
        };
        let curve = lambda_curve(&data, &perfect, 1, 0.0);
        // Some λ sends row 0 to cheap and row 1 to big: full quality at 55 % of big's cost.
        assert!(
            curve
                .iter()
                .any(|p| p.quality == 1.0 && (p.cost - 0.55).abs() < 1e-9),
            "{curve:?}"
        );
        assert!(curve.windows(2).all(|w| w[0].cost <= w[1].cost));
        let believed = believed_costs(&data, &[true, false]);
        assert_eq!(believed[0], vec![0.1, 0.1]);
    }
}
