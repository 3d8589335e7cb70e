//! From a routing data set to what the simulation replays: which data-set model stands in
//! for each tier (the catalogue's models are not the data set's), and each row's score and
//! cost for those four models.

use std::collections::BTreeMap;

use anyhow::{bail, Result};
use serde::Serialize;

use crate::eval::{PriceTable, Row};

const CHARS_PER_TOKEN: f64 = 4.0;

/// The data-set model standing in for each tier, cheapest first, with its mean price and
/// quality over the data set.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TierModels {
    pub models: Vec<String>,
    pub mean_cost_usd: Vec<f64>,
    pub mean_quality: Vec<f64>,
    /// Where the costs come from: "prices file" or "row cost_usd".
    pub cost_source: String,
}

/// One replayable row: the request and, per tier, the score and cost of its model.
#[derive(Debug, Clone)]
pub struct SimRow {
    pub row: Row,
    pub score: [f64; 4],
    pub cost: [f64; 4],
}

/// A model's cost for a row: the prices file when given, else the row's `cost_usd`.
fn cost_of(
    row: &Row,
    model: &str,
    prices: Option<&PriceTable>,
    output_tokens: f64,
) -> Result<Option<f64>> {
    if let Some(t) = prices {
        if let Some(p) = t.get(model)? {
            let input = (row.text_chars() as f64 / CHARS_PER_TOKEN).ceil();
            return Ok(Some(p.cost(input, output_tokens)));
        }
    }
    Ok(row.cost_usd.get(model).copied())
}

/// Mean cost and quality of every model that is scored and priced in at least 95 % of rows.
fn model_stats(
    rows: &[Row],
    prices: Option<&PriceTable>,
    output_tokens: f64,
) -> Result<BTreeMap<String, (f64, f64)>> {
    let mut acc: BTreeMap<String, (f64, f64, usize)> = BTreeMap::new();
    for r in rows {
        for (m, s) in &r.scores {
            if let Some(c) = cost_of(r, m, prices, output_tokens)? {
                let e = acc.entry(m.clone()).or_default();
                e.0 += c;
                e.1 += s;
                e.2 += 1;
            }
        }
    }
    let need = rows.len() as f64 * 0.95;
    Ok(acc
        .into_iter()
        .filter(|(_, (_, _, n))| *n as f64 >= need)
        .map(|(m, (c, q, n))| (m, (c / n as f64, q / n as f64)))
        .collect())
}

/// The four tier models: `chosen` when given (cheapest first), else the models on the
/// cost/quality Pareto front (sorted by price; a model no better than a cheaper one is
/// dropped: nobody would pay more for it), four of them spread from the cheapest to the
/// most expensive (with fewer than four, neighbouring tiers share a model).
pub fn tier_models(
    rows: &[Row],
    prices: Option<&PriceTable>,
    chosen: &[String],
    output_tokens: f64,
) -> Result<TierModels> {
    let stats = model_stats(rows, prices, output_tokens)?;
    let models: Vec<String> = if chosen.is_empty() {
        let mut sorted: Vec<(&String, &(f64, f64))> = stats.iter().collect();
        sorted.sort_by(|a, b| a.1 .0.total_cmp(&b.1 .0).then(b.1 .1.total_cmp(&a.1 .1)));
        let mut front: Vec<String> = Vec::new();
        let mut best = f64::NEG_INFINITY;
        for (m, (_, q)) in sorted {
            if *q > best {
                best = *q;
                front.push(m.clone());
            }
        }
        if front.is_empty() {
            bail!("no model in the data set is both scored and priced (give --prices?)");
        }
        let n = front.len() - 1;
        (0..4)
            .map(|i| front[((i * n) as f64 / 3.0).round() as usize].clone())
            .collect()
    } else if chosen.len() == 4 {
        chosen.to_vec()
    } else {
        bail!("--tier-models needs exactly four models, cheapest first");
    };
    let mut out = TierModels {
        cost_source: if prices.is_some() {
            "prices file".into()
        } else {
            "row cost_usd".into()
        },
        ..TierModels::default()
    };
    for m in &models {
        let Some((c, q)) = stats.get(m) else {
            bail!("model {m} is not scored and priced in the data set (give --prices?); priced models: {}",
                stats.keys().cloned().collect::<Vec<_>>().join(", "));
        };
        out.mean_cost_usd.push(*c);
        out.mean_quality.push(*q);
    }
    out.models = models;
    Ok(out)
}

/// The rows that have a score and a cost for all four tier models (costs as in
/// [`tier_models`]: the prices file first, else the row's `cost_usd`).
pub fn sim_rows(
    rows: &[Row],
    tiers: &TierModels,
    prices: Option<&PriceTable>,
    output_tokens: f64,
) -> Result<Vec<SimRow>> {
    let mut out = Vec::with_capacity(rows.len());
    'rows: for r in rows {
        let mut score = [0.0; 4];
        let mut cost = [0.0; 4];
        for (i, m) in tiers.models.iter().enumerate().take(4) {
            let (Some(s), Some(c)) = (r.scores.get(m), cost_of(r, m, prices, output_tokens)?)
            else {
                continue 'rows;
            };
            score[i] = *s;
            cost[i] = c;
        }
        out.push(SimRow {
            row: r.clone(),
            score,
            cost,
        });
    }
    if out.is_empty() {
        bail!(
            "no row has scores and costs for all of {}",
            tiers.models.join(", ")
        );
    }
    Ok(out)
}
