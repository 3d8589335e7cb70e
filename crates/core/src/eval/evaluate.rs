//! Turning loaded rows and router scores into a report: row selection, price resolution,
//! and running the evaluated router beside its baselines. The math itself lives in
//! metrics.rs (strong/weak) and multi.rs (N models).

use anyhow::{bail, Result};

use super::aware;
use super::baselines::{average_curves, length_scores, random_scores};
use super::data::{PriceTable, Row};
use super::metrics::{
    check_gap, gap_standard_error, oracle_curve, pair_metrics, router_curve, PairMetrics,
    PairQuality,
};
use super::multi::{
    best_single, cost_to_reach, ladder_curve, ladder_indices, oracle_frontier, quality_at_budget,
    singles, CostPoint, MultiData,
};
use super::report::{
    Budget, DataSummary, ModelQuality, MultiReport, MultiRouter, PairReport, PairRouter,
};

/// Characters per token for price-based cost estimates: the pipeline's own rule of thumb.
const CHARS_PER_TOKEN: f64 = 4.0;

/// What every evaluation needs besides the data: the router's name and scores, and the
/// sweep settings.
pub struct Setup<'a> {
    pub data: DataSummary,
    pub router_name: &'a str,
    /// Aligned with the selected rows; higher = needs a stronger model.
    pub scores: &'a [f64],
    pub bins: usize,
    pub seeds: u64,
    /// The model-aware router's per-model estimates (multi-model mode), when available.
    pub aware: Option<AwarePredictions>,
}

/// A model-aware router's estimates on the evaluated rows, aligned with the models.
pub struct AwarePredictions {
    /// How it is labelled in the report (says whether it was cross-validated).
    pub name: String,
    pub q: Vec<Vec<f64>>,
    pub sigma: Vec<Vec<f64>>,
}

/// Rows that have a quality score for every one of `models`, and how many were dropped.
pub fn rows_with_scores<'r>(rows: &'r [Row], models: &[String]) -> Result<(Vec<&'r Row>, usize)> {
    for m in models {
        if !rows.iter().any(|r| r.scores.contains_key(m)) {
            bail!(
                "model {m:?} has no scores in this data set; it has: {}",
                model_list(rows)
            );
        }
    }
    let kept: Vec<&Row> = rows
        .iter()
        .filter(|r| models.iter().all(|m| r.scores.contains_key(m)))
        .collect();
    if kept.is_empty() {
        bail!("no row has scores for all of {}", models.join(", "));
    }
    let skipped = rows.len() - kept.len();
    Ok((kept, skipped))
}

/// Every model scored somewhere in the data, with its mean quality: what a user needs to
/// pick `--strong/--weak` or `--models`.
pub fn model_list(rows: &[Row]) -> String {
    all_models(rows)
        .iter()
        .map(|m| {
            let qs: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.scores.get(m).copied())
                .collect();
            format!(
                "{m} ({:.1}%)",
                100.0 * qs.iter().sum::<f64>() / qs.len().max(1) as f64
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn all_models(rows: &[Row]) -> Vec<String> {
    let mut set = std::collections::BTreeSet::new();
    for r in rows {
        set.extend(r.scores.keys().cloned());
    }
    set.into_iter().collect()
}

fn column(rows: &[&Row], model: &str) -> Vec<f64> {
    rows.iter()
        .map(|r| r.scores.get(model).copied().unwrap_or(0.0))
        .collect()
}

/// RouteLLM's evaluation of the router on one strong/weak pair, beside prompt length,
/// random (mean of `seeds` seeds) and the oracle.
pub fn eval_pair(setup: &Setup<'_>, rows: &[&Row], strong: &str, weak: &str) -> Result<PairReport> {
    let (sq, wq) = (column(rows, strong), column(rows, weak));
    let q = PairQuality {
        strong: &sq,
        weak: &wq,
    };
    let (s_mean, w_mean) = (q.strong_mean(), q.weak_mean());
    check_gap(w_mean, s_mean).map_err(|e| e.context(format!("--strong {strong} --weak {weak}")))?;
    let gap = s_mean - w_mean;
    let se = gap_standard_error(q);
    let mut warnings = Vec::new();
    if gap < 2.0 * se {
        warnings.push(format!(
            "the quality gap ({:.2} pp) is less than two standard errors ({:.2} pp): APGR and CPT \
             measure mostly noise on this pair",
            100.0 * gap,
            100.0 * 2.0 * se
        ));
    }
    let run = |name: &str, scores: &[f64]| -> Result<PairRouter> {
        let curve = router_curve(scores, q, setup.bins);
        let metrics = pair_metrics(&curve, w_mean, s_mean)?;
        Ok(PairRouter {
            name: name.to_string(),
            metrics,
            curve,
        })
    };
    let mut routers = vec![run(setup.router_name, setup.scores)?];
    if let Some(a) = &setup.aware {
        // The pair's models are the first two asked for (strong, weak): the model-aware
        // router sends up the rows where it expects the strong model to gain most.
        let gain: Vec<f64> = a.q[0].iter().zip(&a.q[1]).map(|(s, w)| s - w).collect();
        routers.push(run(&a.name, &gain)?);
    }
    routers.push(run("prompt length", &length_scores(rows))?);
    let mut curves = Vec::new();
    let mut metrics = Vec::new();
    for seed in 0..setup.seeds {
        let r = run("random", &random_scores(rows.len(), seed))?;
        metrics.push(r.metrics);
        curves.push(r.curve);
    }
    if !curves.is_empty() {
        routers.push(PairRouter {
            name: format!("random ({} seeds)", setup.seeds),
            metrics: mean_metrics(&metrics),
            curve: average_curves(&curves),
        });
    }
    let oracle = oracle_curve(q, setup.bins);
    routers.push(PairRouter {
        name: "oracle".into(),
        metrics: pair_metrics(&oracle, w_mean, s_mean)?,
        curve: oracle,
    });
    Ok(PairReport {
        data: setup.data.clone(),
        strong: ModelQuality {
            model: strong.to_string(),
            quality: s_mean,
        },
        weak: ModelQuality {
            model: weak.to_string(),
            quality: w_mean,
        },
        gap,
        gap_standard_error: se,
        bins: setup.bins,
        random_seeds: setup.seeds as usize,
        routers,
        warnings,
    })
}

fn mean_metrics(ms: &[PairMetrics]) -> PairMetrics {
    let k = ms.len().max(1) as f64;
    let avg = |f: fn(&PairMetrics) -> f64| ms.iter().map(f).sum::<f64>() / k;
    PairMetrics {
        apgr: avg(|m| m.apgr),
        auc: avg(|m| m.auc),
        cpt20: avg(|m| m.cpt20),
        cpt50: avg(|m| m.cpt50),
        cpt80: avg(|m| m.cpt80),
    }
}

/// Where model prices come from, in order of precedence: an explicit prices file, the
/// row's own measured `cost_usd`, the catalogue.
pub struct Pricing<'a> {
    pub prices: Option<&'a PriceTable>,
    pub catalog: Option<&'a PriceTable>,
    /// Output tokens assumed per answer when costing from per-token prices.
    pub output_tokens: f64,
    /// Budgets as fractions of the best single model's mean cost.
    pub budgets: &'a [f64],
}

/// Per-row cost of each model (`cost[model][row]`), and where each model's came from.
pub struct CostTable {
    pub cost: Vec<Vec<f64>>,
    pub sources: Vec<(String, String)>,
}

pub fn cost_table(rows: &[&Row], models: &[String], p: &Pricing<'_>) -> Result<CostTable> {
    let mut costs = Vec::with_capacity(models.len());
    let mut sources = Vec::with_capacity(models.len());
    for m in models {
        let from_table = |t: &PriceTable| -> Result<Option<Vec<f64>>> {
            Ok(t.get(m)?.map(|price| {
                rows.iter()
                    .map(|r| {
                        let input = (r.text_chars() as f64 / CHARS_PER_TOKEN).ceil();
                        price.cost(input, p.output_tokens)
                    })
                    .collect()
            }))
        };
        let with_cost = rows.iter().filter(|r| r.cost_usd.contains_key(m)).count();
        let (c, source) = if let Some(c) = p.prices.map(from_table).transpose()?.flatten() {
            (c, "prices file")
        } else if with_cost == rows.len() {
            (
                rows.iter()
                    .map(|r| r.cost_usd.get(m).copied().unwrap_or(0.0))
                    .collect(),
                "row cost_usd",
            )
        } else if let Some(c) = p.catalog.map(from_table).transpose()?.flatten() {
            (c, "catalogue")
        } else if with_cost > 0 {
            bail!(
                "model {m} has cost_usd on only {with_cost} of {} rows; give --prices",
                rows.len()
            );
        } else {
            bail!("no price for model {m}: pass --prices FILE (models.json shape), use data with cost_usd, or a catalogue model");
        };
        if let Some(bad) = c.iter().position(|x| !x.is_finite() || *x < 0.0) {
            bail!(
                "model {m}: cost of row {} is {} (must be finite and >= 0)",
                rows[bad].id,
                c[bad]
            );
        }
        costs.push(c);
        sources.push((m.clone(), source.to_string()));
    }
    Ok(CostTable {
        cost: costs,
        sources,
    })
}

/// The multi-model sweep (see multi.rs) of the router beside prompt length, random and
/// the oracle, with every single model for reference.
pub fn eval_multi(
    setup: &Setup<'_>,
    rows: &[&Row],
    models: &[String],
    pricing: &Pricing<'_>,
) -> Result<MultiReport> {
    let CostTable {
        cost,
        sources: cost_sources,
    } = cost_table(rows, models, pricing)?;
    let data = MultiData {
        models: models.to_vec(),
        quality: models.iter().map(|m| column(rows, m)).collect(),
        cost,
    };
    let singles = singles(&data);
    let Some(best) = best_single(&singles).cloned() else {
        bail!("no models to evaluate")
    };
    let ladder = ladder_indices(&data, &singles);
    let mut warnings = Vec::new();
    if ladder.len() < 2 {
        warnings.push(format!(
            "{} is both the cheapest and the best model here: no routing can improve on it",
            best.model
        ));
    }
    let budgets: Vec<Budget> = pricing
        .budgets
        .iter()
        .map(|&f| Budget {
            fraction: f,
            usd: f * best.cost,
        })
        .collect();
    let summarize = |name: String, curve: Vec<CostPoint>| MultiRouter {
        cost_to_match_best: cost_to_reach(&curve, best.quality),
        quality_at_budgets: budgets
            .iter()
            .map(|b| quality_at_budget(&curve, b.usd))
            .collect(),
        max_quality: curve
            .iter()
            .map(|p| p.quality)
            .fold(f64::NEG_INFINITY, f64::max),
        name,
        curve,
    };
    let mut routers = vec![
        summarize(
            setup.router_name.to_string(),
            ladder_curve(&data, &ladder, setup.scores, setup.bins),
        ),
        summarize(
            "prompt length".into(),
            ladder_curve(&data, &ladder, &length_scores(rows), setup.bins),
        ),
    ];
    if setup.seeds > 0 {
        let curves: Vec<Vec<CostPoint>> = (0..setup.seeds)
            .map(|seed| ladder_curve(&data, &ladder, &random_scores(rows.len(), seed), setup.bins))
            .collect();
        routers.push(summarize(
            format!("random ({} seeds)", setup.seeds),
            average_cost_curves(&curves),
        ));
    }
    // Model-aware routing: the router's estimates, and a task oracle (each task's
    // per-model means, in-sample) for what knowing the kind of request alone can reach.
    let measured: Vec<bool> = cost_sources
        .iter()
        .map(|(_, s)| s == "row cost_usd")
        .collect();
    let believed = aware::believed_costs(&data, &measured);
    let base = models.iter().position(|m| *m == best.model).unwrap_or(0);
    if let Some(a) = &setup.aware {
        let est = aware::Estimates {
            q: &a.q,
            sigma: Some(&a.sigma),
            cost: &believed,
        };
        let curve = aware::lambda_curve(&data, &est, base, 1.0);
        routers.insert(1, summarize(a.name.clone(), curve));
    }
    let task_q = aware::task_means(rows, &data);
    let est = aware::Estimates {
        q: &task_q,
        sigma: None,
        cost: &believed,
    };
    routers.push(summarize(
        "task oracle".into(),
        aware::lambda_curve(&data, &est, base, 0.0),
    ));
    routers.push(summarize("oracle".into(), oracle_frontier(&data)));
    Ok(MultiReport {
        data: setup.data.clone(),
        models: singles,
        cost_sources,
        best,
        budgets,
        bins: setup.bins,
        random_seeds: setup.seeds as usize,
        routers,
        warnings,
    })
}

fn average_cost_curves(curves: &[Vec<CostPoint>]) -> Vec<CostPoint> {
    let Some(first) = curves.first() else {
        return Vec::new();
    };
    let k = curves.len() as f64;
    (0..first.len())
        .map(|i| CostPoint {
            cost: curves.iter().map(|c| c[i].cost).sum::<f64>() / k,
            quality: curves.iter().map(|c| c[i].quality).sum::<f64>() / k,
        })
        .collect()
}
