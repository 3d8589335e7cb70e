//! Training labels from rows with per-model scores: "how much does a strong model gain over
//! the cheap ones on this prompt?" (gain = strong − mean of cheap). Which models are strong
//! and cheap is decided per data file, the same way for every file:
//!
//! - strong: the model with the best mean score in the file;
//! - cheap: models priced at most `CHEAP_PRICE_RATIO` × the file's cheapest model (prices
//!   from `--prices`, else the rows' own `cost_usd`), leaving out models whose mean score is
//!   below half the strong model's (broken or off-task models teach nothing about the prompt).
//!
//! `--strong` / `--cheap` override the choice for every file.

use std::collections::BTreeMap;

use anyhow::{bail, Result};

use crate::eval::{PriceTable, Row};

/// A model counts as cheap when it costs at most this multiple of the cheapest one.
pub const CHEAP_PRICE_RATIO: f64 = 4.0;

#[derive(Debug, Clone, PartialEq)]
pub struct LabelSpec {
    pub strong: String,
    pub cheap: Vec<String>,
}

/// Explicit choices that override the per-file rule.
#[derive(Debug, Clone, Default)]
pub struct LabelOverrides {
    pub strong: Option<String>,
    pub cheap: Vec<String>,
}

fn mean_scores(rows: &[Row]) -> BTreeMap<String, f64> {
    let mut sum: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for r in rows {
        for (m, s) in &r.scores {
            let e = sum.entry(m.clone()).or_default();
            e.0 += s;
            e.1 += 1;
        }
    }
    sum.into_iter()
        .map(|(m, (s, n))| (m, s / n as f64))
        .collect()
}

/// Relative price of each model: the prices file, else the mean of the rows' `cost_usd`.
fn prices(rows: &[Row], table: Option<&PriceTable>) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    let mut cost: BTreeMap<String, (f64, usize)> = BTreeMap::new();
    for r in rows {
        for (m, c) in &r.cost_usd {
            let e = cost.entry(m.clone()).or_default();
            e.0 += c;
            e.1 += 1;
        }
    }
    for m in mean_scores(rows).keys() {
        // A model priced twice differently is treated as unpriced here: only the relative
        // order of prices matters, and the rows' own costs may still tell.
        let p = match table.and_then(|t| t.get(m).ok().flatten()) {
            Some(p) => Some(p.input_per_mtok + p.output_per_mtok),
            None => cost.get(m).map(|(c, n)| c / *n as f64),
        };
        if let Some(p) = p {
            out.insert(m.clone(), p);
        }
    }
    out
}

/// Choose strong and cheap models for one data file.
pub fn choose(rows: &[Row], table: Option<&PriceTable>, o: &LabelOverrides) -> Result<LabelSpec> {
    let means = mean_scores(rows);
    let strong = match &o.strong {
        Some(s) => s.clone(),
        None => means
            .iter()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(m, _)| m.clone())
            .ok_or_else(|| anyhow::anyhow!("no model scores in the data"))?,
    };
    if !o.cheap.is_empty() {
        return Ok(LabelSpec {
            strong,
            cheap: o.cheap.clone(),
        });
    }
    let strong_mean = means.get(&strong).copied().unwrap_or(0.0);
    let others: Vec<&String> = means.keys().filter(|m| **m != strong).collect();
    if let [only] = others.as_slice() {
        // A strong/weak pair needs no prices.
        return Ok(LabelSpec {
            strong,
            cheap: vec![only.to_string()],
        });
    }
    let price = prices(rows, table);
    let candidates: Vec<(&String, f64)> = price
        .iter()
        .filter(|(m, _)| **m != strong && means.get(*m).is_some_and(|q| *q >= 0.5 * strong_mean))
        .map(|(m, p)| (m, *p))
        .collect();
    let Some(min) = candidates.iter().map(|c| c.1).min_by(f64::total_cmp) else {
        bail!(
            "cannot tell which models are cheap: no prices (give --prices, rows' cost_usd, or --cheap); models: {}",
            means.keys().cloned().collect::<Vec<_>>().join(", ")
        );
    };
    let cheap = candidates
        .iter()
        .filter(|(_, p)| *p <= min * CHEAP_PRICE_RATIO)
        .map(|(m, _)| m.to_string())
        .collect();
    Ok(LabelSpec { strong, cheap })
}

/// gain = strong − mean(cheap) for each row that has every needed score.
pub fn gains(rows: &[Row], spec: &LabelSpec) -> Vec<Option<f64>> {
    rows.iter()
        .map(|r| {
            let s = r.scores.get(&spec.strong)?;
            let mut sum = 0.0;
            for m in &spec.cheap {
                sum += r.scores.get(m)?;
            }
            Some(s - sum / spec.cheap.len().max(1) as f64)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(scores: &[(&str, f64)], costs: &[(&str, f64)]) -> Row {
        serde_json::from_value(serde_json::json!({
            "id": "r", "prompt": "p",
            "scores": scores.iter().map(|(m, s)| (m.to_string(), *s)).collect::<BTreeMap<_, _>>(),
            "cost_usd": costs.iter().map(|(m, s)| (m.to_string(), *s)).collect::<BTreeMap<_, _>>(),
        }))
        .expect("row")
    }

    #[test]
    fn strong_is_best_and_cheap_are_priced_near_the_cheapest() {
        let costs = [
            ("big", 10.0),
            ("small", 0.1),
            ("small2", 0.3),
            ("mid", 1.0),
            ("broken", 0.1),
        ];
        let rows = vec![
            row(
                &[
                    ("big", 1.0),
                    ("small", 1.0),
                    ("small2", 0.0),
                    ("mid", 1.0),
                    ("broken", 0.0),
                ],
                &costs,
            ),
            row(
                &[
                    ("big", 1.0),
                    ("small", 0.0),
                    ("small2", 1.0),
                    ("mid", 0.0),
                    ("broken", 0.0),
                ],
                &costs,
            ),
        ];
        let spec = choose(&rows, None, &LabelOverrides::default()).expect("spec");
        assert_eq!(spec.strong, "big");
        assert_eq!(spec.cheap, vec!["small".to_string(), "small2".to_string()]);
        assert_eq!(gains(&rows, &spec), vec![Some(0.5), Some(0.5)]);
    }
}
