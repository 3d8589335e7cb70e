//! `frugal crossval`: APGR on task groups the router never saw. The evaluation file's
//! groups (its `task`, e.g. the MMLU subject) are split into folds; for each fold a router
//! is trained on the other folds (plus any `--extra` files) and scored on the fold alone.
//! Each fold is measured on its own and the folds are averaged: pasting out-of-fold scores
//! of different fold models together would mix their offsets and bias the result
//! (research/classifier/FINDINGS.md, "a trap").

use crate::hashing::{fnv1a, splitmix64};
use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::{bail, Result};
use indicatif::{ProgressBar, ProgressStyle};

use super::labels::{self, LabelOverrides};
use super::{examples, featurize, train_model};
use crate::eval::metrics::{pair_metrics, router_curve, PairQuality};
use crate::eval::{load_rows, PriceTable, Row};
use crate::pipeline::classify::text::Signals;

#[derive(Debug, Clone, clap::Args)]
pub struct CrossvalArgs {
    /// The routing data to measure on (grouped by its rows' `task`).
    #[arg(long)]
    pub data: PathBuf,
    /// Strong and weak model of the APGR pair.
    #[arg(long)]
    pub strong: String,
    #[arg(long)]
    pub weak: String,
    /// More training files used in every fold (never measured on).
    #[arg(long)]
    pub extra: Vec<PathBuf>,
    /// Prices (models.json shape) for telling cheap models from strong ones in training.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Repeat with different group-to-fold assignments.
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Also measure stage 2 and the stage 1 → 2 cascade with this embedding (`builtin` or
    /// a sentence-transformers model folder).
    #[arg(long)]
    pub embedding: Option<String>,
}

/// Boundaries the cascade is evaluated with (the built-in configuration's).
const EVAL_BOUNDARIES: [f64; 3] = [0.30, 0.55, 0.80];

/// The cascade's score: stage 1's, unless it is within the margin of a boundary and a
/// stage-2 head exists.
fn cascade_score(
    model: &crate::pipeline::classify::model::RouterModel,
    x: &[f64],
    x2: Option<&Vec<f64>>,
) -> f64 {
    let s1 = model.stage1.score(x);
    let near = EVAL_BOUNDARIES
        .iter()
        .any(|b| (s1 - b).abs() < model.abstain_margin);
    match (near, &model.stage2, x2) {
        (true, Some(h), Some(x2)) => model.resolve(s1, h.score(x2)),
        _ => s1,
    }
}

/// Assign each group to one of `k` folds: groups shuffled by `seed`, then each placed in the
/// fold with the fewest rows so far (folds of similar size). Returns the fold of each item.
pub fn group_folds<'a>(groups: impl Iterator<Item = &'a str>, k: usize, seed: u64) -> Vec<usize> {
    let items: Vec<&str> = groups.collect();
    let mut sizes: BTreeMap<&str, usize> = BTreeMap::new();
    for g in &items {
        *sizes.entry(g).or_default() += 1;
    }
    let mut order: Vec<(&str, usize)> = sizes.into_iter().collect();
    // Deterministic shuffle (splitmix64 keys), then largest groups first.
    order.sort_by_key(|(g, n)| {
        (
            std::cmp::Reverse(*n / 50),
            splitmix64(seed ^ fnv1a(g.as_bytes())),
        )
    });
    let mut load = vec![0usize; k.max(1)];
    let mut fold_of: BTreeMap<&str, usize> = BTreeMap::new();
    for (g, n) in order {
        let f = (0..load.len()).min_by_key(|f| load[*f]).unwrap_or(0);
        load[f] += n;
        fold_of.insert(g, f);
    }
    items
        .iter()
        .map(|g| fold_of.get(g).copied().unwrap_or(0))
        .collect()
}

fn apgr(scores: &[f64], rows: &[&Row], strong: &str, weak: &str) -> Result<f64> {
    let s: Vec<f64> = rows.iter().map(|r| r.scores[strong]).collect();
    let w: Vec<f64> = rows.iter().map(|r| r.scores[weak]).collect();
    let (sm, wm) = (mean(&s), mean(&w));
    let curve = router_curve(
        scores,
        PairQuality {
            strong: &s,
            weak: &w,
        },
        10,
    );
    Ok(pair_metrics(&curve, wm, sm)?.apgr)
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn sd(v: &[f64]) -> f64 {
    let m = mean(v);
    (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (v.len().max(2) - 1) as f64).sqrt()
}

pub fn run(args: &CrossvalArgs) -> Result<()> {
    let signals = Signals::builtin()?;
    let prices = args.prices.as_deref().map(PriceTable::load).transpose()?;
    let rows: Vec<Row> = load_rows(&args.data)?
        .into_iter()
        .filter(|r| r.scores.contains_key(&args.strong) && r.scores.contains_key(&args.weak))
        .collect();
    if rows.is_empty() {
        bail!(
            "no row of {} scores both {} and {}",
            args.data.display(),
            args.strong,
            args.weak
        );
    }
    let o = LabelOverrides::default();
    let spec = labels::choose(&rows, prices.as_ref(), &o)?;
    let gains = labels::gains(&rows, &spec);
    let embedder = super::embedder(args.embedding.as_deref())?;
    let emb_id = embedder.as_ref().map(|e| e.id().to_string());
    let xs = featurize(&rows, &signals, embedder.as_ref())?;
    let f = super::Featurizer {
        overrides: &o,
        signals: &signals,
        embedder: embedder.as_ref(),
    };
    let (extra, _) = if args.extra.is_empty() {
        (vec![], vec![])
    } else {
        examples(&args.extra, prices.as_ref(), &f)?
    };
    let groups: Vec<String> = rows
        .iter()
        .map(|r| r.task.clone().unwrap_or_default())
        .collect();

    let bar = ProgressBar::new(args.seeds * args.folds as u64).with_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} folds [{elapsed}]")?,
    );
    let (mut router, mut length, mut stage2, mut cascade) = (vec![], vec![], vec![], vec![]);
    for seed in 0..args.seeds {
        let folds = group_folds(groups.iter().map(String::as_str), args.folds, seed);
        for k in 0..args.folds {
            let mut train: Vec<super::Example> = extra.clone();
            for (i, (x, x2)) in xs.iter().enumerate() {
                if folds[i] != k {
                    if let Some(y) = gains[i] {
                        let group = groups[i].clone();
                        train.push(super::Example {
                            x: x.clone(),
                            x2: x2.clone(),
                            y,
                            group,
                        });
                    }
                }
            }
            let test: Vec<usize> = (0..rows.len()).filter(|i| folds[*i] == k).collect();
            if test.is_empty() || train.is_empty() {
                continue;
            }
            let model = train_model(&train, vec![], emb_id.clone())?;
            let test_rows: Vec<&Row> = test.iter().map(|i| &rows[*i]).collect();
            let scores: Vec<f64> = test.iter().map(|i| model.stage1.raw(&xs[*i].0)).collect();
            if let Some(h) = &model.stage2 {
                let s2: Vec<f64> = test
                    .iter()
                    .map(|i| xs[*i].1.as_ref().map_or(0.0, |x2| h.raw(x2)))
                    .collect();
                stage2.push(apgr(&s2, &test_rows, &args.strong, &args.weak)?);
                let c: Vec<f64> = test
                    .iter()
                    .map(|i| cascade_score(&model, &xs[*i].0, xs[*i].1.as_ref()))
                    .collect();
                cascade.push(apgr(&c, &test_rows, &args.strong, &args.weak)?);
            }
            let lens: Vec<f64> = test_rows
                .iter()
                .map(|r| r.prompt.chars().count() as f64)
                .collect();
            router.push(apgr(&scores, &test_rows, &args.strong, &args.weak)?);
            length.push(apgr(&lens, &test_rows, &args.strong, &args.weak)?);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    println!(
        "{}: {} groups, {} folds × {} seeds, each fold measured alone; training label: strong {}, cheap {}{}",
        args.data.display(),
        groups.iter().collect::<std::collections::BTreeSet<_>>().len(),
        args.folds,
        args.seeds,
        spec.strong,
        spec.cheap.join(" + "),
        if args.extra.is_empty() { String::new() } else { format!(", plus {} extra rows", extra.len()) }
    );
    println!(
        "{:<28} {:>10} {:>8} {:>8} {:>8}",
        "router", "APGR mean", "sd", "min", "max"
    );
    for (name, v) in [
        ("frugal stage 1 (learned)", &router),
        ("frugal stage 2 alone", &stage2),
        ("frugal cascade 1 → 2", &cascade),
        ("prompt length", &length),
    ] {
        if v.is_empty() {
            continue;
        }
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        println!(
            "{name:<28} {:>10.3} {:>8.3} {min:>8.3} {max:>8.3}",
            mean(v),
            sd(v)
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_keep_groups_together_and_balance_sizes() {
        let groups: Vec<String> = (0..1000).map(|i| format!("g{}", i % 20)).collect();
        let f = group_folds(groups.iter().map(String::as_str), 5, 1);
        for (i, g) in groups.iter().enumerate() {
            for (j, h) in groups.iter().enumerate() {
                if g == h {
                    assert_eq!(f[i], f[j]);
                }
            }
        }
        let mut sizes = [0; 5];
        for k in &f {
            sizes[*k] += 1;
        }
        assert!(sizes.iter().all(|s| *s == 200), "{sizes:?}");
        assert_ne!(
            f,
            group_folds(groups.iter().map(String::as_str), 5, 2),
            "seed changes the split"
        );
    }
}
