//! `frugal eval --tiers A,B,…`: tier accuracy on a labelled tier set built from routing data.
//!
//! The tier set: the models are the tiers, cheapest first; a row's tier is the first model
//! that answers it (score ≥ 0.5); rows no model answers are left out (no tier would do).
//! Each scorer ranks the rows, and the ranking is cut into tiers with the label set's own
//! shares (as many rows predicted in each tier as there truly are): every scorer gets the
//! same best-case boundaries from the tier shares alone, never from a row's label, so the
//! comparison is of the ranking. Reported beside the majority baseline (every row in the
//! most common tier), because plain accuracy on skewed tier sets mostly measures the skew:
//! balanced accuracy (mean recall per tier) and the under-routing rate (a tier below the
//! row's, so a model that fails it) say more.

use anyhow::{bail, Result};
use serde::Serialize;

use super::baselines::{length_scores, random_scores};
use super::batch::OfflineRouter;
use super::data::Row;
use crate::pipeline::classify::text::request_texts;

/// A model "answers" a row at this score or above.
const ANSWERS: f64 = 0.5;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TierMetrics {
    pub name: String,
    pub accuracy: f64,
    pub balanced_accuracy: f64,
    /// Share of rows sent to a tier below their own: the answer fails.
    pub under_routed: f64,
    /// Share of rows sent to a tier above their own: correct, but paid too much.
    pub over_routed: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TierReport {
    pub data: String,
    pub tiers: Vec<String>,
    /// Rows per tier (the label set's shares).
    pub counts: Vec<usize>,
    /// Rows left out: some tier model unscored, or no model answers.
    pub left_out: usize,
    pub scorers: Vec<TierMetrics>,
}

/// Each row's tier: the first of `models` that answers it; `None` when none does or a
/// score is missing.
pub fn labels(rows: &[Row], models: &[String]) -> Vec<Option<usize>> {
    rows.iter()
        .map(|r| {
            let scores: Option<Vec<f64>> =
                models.iter().map(|m| r.scores.get(m).copied()).collect();
            scores?.iter().position(|s| *s >= ANSWERS)
        })
        .collect()
}

/// Cut a ranking into tiers with the given counts (lowest scores → tier 0).
pub fn cut_by_shares(scores: &[f64], counts: &[usize]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]).then(a.cmp(b)));
    let mut pred = vec![0; scores.len()];
    let mut tier = 0;
    let mut left = counts.first().copied().unwrap_or(0);
    for i in order {
        while left == 0 && tier + 1 < counts.len() {
            tier += 1;
            left = counts[tier];
        }
        pred[i] = tier;
        left = left.saturating_sub(1);
    }
    pred
}

pub fn metrics(name: &str, pred: &[usize], truth: &[usize], tiers: usize) -> TierMetrics {
    let n = truth.len().max(1) as f64;
    let hits = pred.iter().zip(truth).filter(|(p, t)| p == t).count();
    let recalls: Vec<f64> = (0..tiers)
        .filter_map(|k| {
            let of_k: Vec<usize> = (0..truth.len()).filter(|i| truth[*i] == k).collect();
            (!of_k.is_empty())
                .then(|| of_k.iter().filter(|i| pred[**i] == k).count() as f64 / of_k.len() as f64)
        })
        .collect();
    TierMetrics {
        name: name.to_string(),
        accuracy: hits as f64 / n,
        balanced_accuracy: recalls.iter().sum::<f64>() / recalls.len().max(1) as f64,
        under_routed: pred.iter().zip(truth).filter(|(p, t)| p < t).count() as f64 / n,
        over_routed: pred.iter().zip(truth).filter(|(p, t)| p > t).count() as f64 / n,
    }
}

/// Build the tier set from `rows` and measure the router's stages and the baselines on it.
pub fn evaluate(
    data: &str,
    rows: &[Row],
    models: &[String],
    router: &OfflineRouter,
    seeds: u64,
) -> Result<TierReport> {
    if models.len() < 2 {
        bail!("--tiers needs at least two models, cheapest first");
    }
    if let Some(m) = models
        .iter()
        .find(|m| !rows.iter().any(|r| r.scores.contains_key(*m)))
    {
        bail!(
            "--tiers: no row scores model {m}; models in {data}: {}",
            super::evaluate::model_list(rows)
        );
    }
    let labelled: Vec<(&Row, usize)> = rows
        .iter()
        .zip(labels(rows, models))
        .filter_map(|(r, l)| Some((r, l?)))
        .collect();
    if labelled.is_empty() {
        bail!(
            "--tiers: no row is answered by any of {}",
            models.join(", ")
        );
    }
    let used: Vec<&Row> = labelled.iter().map(|(r, _)| *r).collect();
    let truth: Vec<usize> = labelled.iter().map(|(_, l)| *l).collect();
    let k = models.len();
    let mut counts = vec![0; k];
    for t in &truth {
        counts[*t] += 1;
    }
    let majority = (0..k)
        .max_by_key(|t| (counts[*t], std::cmp::Reverse(*t)))
        .unwrap_or(0);
    let mut scorers = vec![metrics(
        "majority (always the most common tier)",
        &vec![majority; truth.len()],
        &truth,
        k,
    )];
    let random: Vec<TierMetrics> = (0..seeds.max(1))
        .map(|s| {
            metrics(
                "",
                &cut_by_shares(&random_scores(used.len(), s), &counts),
                &truth,
                k,
            )
        })
        .collect();
    let mean = |f: fn(&TierMetrics) -> f64| random.iter().map(f).sum::<f64>() / random.len() as f64;
    scorers.push(TierMetrics {
        name: format!("random ({} seeds)", random.len()),
        accuracy: mean(|m| m.accuracy),
        balanced_accuracy: mean(|m| m.balanced_accuracy),
        under_routed: mean(|m| m.under_routed),
        over_routed: mean(|m| m.over_routed),
    });
    scorers.push(metrics(
        "prompt length",
        &cut_by_shares(&length_scores(&used), &counts),
        &truth,
        k,
    ));
    let classifier = router.classifier();
    let mut stage1 = Vec::with_capacity(used.len());
    let mut stage2 = Vec::with_capacity(used.len());
    let mut cascade = Vec::with_capacity(used.len());
    for r in &used {
        let texts = request_texts(&r.to_chat_request("auto")?);
        let text = texts.scored().text;
        let s1 = classifier.stage1(text);
        stage2.push(classifier.stage2(&s1.features, text));
        stage1.push(s1.score);
        cascade.push(router.score(r)?);
    }
    scorers.push(metrics(
        "stage 1 (rules: features)",
        &cut_by_shares(&stage1, &counts),
        &truth,
        k,
    ));
    if let Some(s2) = stage2.into_iter().collect::<Option<Vec<f64>>>() {
        scorers.push(metrics(
            "stage 2 (features + embedding)",
            &cut_by_shares(&s2, &counts),
            &truth,
            k,
        ));
    }
    scorers.push(metrics(
        "cascade (as served)",
        &cut_by_shares(&cascade, &counts),
        &truth,
        k,
    ));
    Ok(TierReport {
        data: data.to_string(),
        tiers: models.to_vec(),
        counts,
        left_out: rows.len() - used.len(),
        scorers,
    })
}

pub fn render_table(r: &TierReport) -> String {
    let total: usize = r.counts.iter().sum();
    let mut out = format!(
        "tier set from {}: {} rows ({} left out: unscored or answered by none)\n",
        r.data, total, r.left_out
    );
    for (i, (m, c)) in r.tiers.iter().zip(&r.counts).enumerate() {
        out += &format!(
            "  tier {i}: {m:<40} {c:>6} rows ({:.1} %)\n",
            100.0 * *c as f64 / total.max(1) as f64
        );
    }
    out += &format!(
        "{:<40} {:>9} {:>9} {:>9} {:>9}\n",
        "scorer", "accuracy", "balanced", "under", "over"
    );
    for s in &r.scorers {
        out += &format!(
            "{:<40} {:>8.1}% {:>8.1}% {:>8.1}% {:>8.1}%\n",
            s.name,
            100.0 * s.accuracy,
            100.0 * s.balanced_accuracy,
            100.0 * s.under_routed,
            100.0 * s.over_routed
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_the_label_shares_and_ranks() {
        let pred = cut_by_shares(&[0.9, 0.1, 0.5, 0.7, 0.2], &[2, 1, 2]);
        assert_eq!(pred, vec![2, 0, 1, 2, 0]);
        assert_eq!(cut_by_shares(&[0.3, 0.1], &[0, 2]), vec![1, 1]);
    }

    #[test]
    fn metrics_count_under_and_over_routing() {
        let m = metrics("x", &[0, 1, 1, 0], &[0, 1, 0, 1], 2);
        assert_eq!(m.accuracy, 0.5);
        assert_eq!(m.balanced_accuracy, 0.5);
        assert_eq!((m.under_routed, m.over_routed), (0.25, 0.25));
    }

    #[test]
    fn a_row_belongs_to_the_first_model_that_answers_it() {
        let row = |s: serde_json::Value| -> Row {
            serde_json::from_value(serde_json::json!({"id": "r", "prompt": "p", "scores": s}))
                .expect("row")
        };
        let rows = vec![
            row(serde_json::json!({"small": 1.0, "big": 1.0})),
            row(serde_json::json!({"small": 0.0, "big": 1.0})),
            row(serde_json::json!({"small": 0.0, "big": 0.0})),
            row(serde_json::json!({"big": 1.0})),
        ];
        let models = vec!["small".to_string(), "big".to_string()];
        assert_eq!(labels(&rows, &models), vec![Some(0), Some(1), None, None]);
    }
}
