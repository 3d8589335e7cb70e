use std::collections::BTreeMap;

use super::*;
use crate::config::{Config, Env};
use crate::eval::Row;
use crate::ledger::quality::LoopConfig;

struct NoEnv;
impl Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

fn pipeline() -> Pipeline {
    offline_pipeline(Config::load(None, &NoEnv).expect("catalogue")).expect("pipeline")
}

/// Hand-made rows: varied prompts; the cheapest model scores `cheap` on every row, the
/// others 1.0. Costs 1, 2, 3, 10.
fn rows(cheap: f64) -> Vec<SimRow> {
    let prompts = [
        "What is the capital of France?",
        "Prove that there are infinitely many primes, then generalise the argument to primes of the form 4k+3 and discuss where it fails for 4k+1.",
        "Translate 'good morning' into Spanish.",
        "Design a distributed, fault-tolerant consensus protocol for a geo-replicated database and analyse its latency under partitions.",
        "List three fruits.",
        "Write a Rust function that parses a JSON document without external crates, with error recovery and tests.",
    ];
    (0..60)
        .map(|i| SimRow {
            row: Row {
                id: format!("r{i}"),
                source: None,
                task: None,
                prompt: format!("{} (#{i})", prompts[i % prompts.len()]),
                turns: vec![],
                scores: BTreeMap::new(),
                cost_usd: BTreeMap::new(),
            },
            score: [cheap, 1.0, 1.0, 1.0],
            cost: [1.0, 2.0, 3.0, 10.0],
        })
        .collect()
}

fn opts(start: [f64; 3]) -> SimOptions {
    SimOptions {
        loop_config: LoopConfig {
            enabled: true,
            floor: 0.7,
            ceiling: 0.75,
            min_samples: 20,
            ..LoopConfig::default()
        },
        start,
        rounds: 40,
        window: 30,
        seed: 7,
        controller: crate::ledger::blended::ControllerKind::PerTier,
        base: [0.30, 0.55, 0.80],
    }
}

#[test]
fn a_good_cheap_model_opens_every_boundary_from_the_top() {
    // Every model is perfect: the right boundaries send everything down, so from "all to
    // the frontier" the probe must open the tiers one by one and cost must fall.
    let p = pipeline();
    let mut o = opts([0.0; 3]);
    o.rounds = 100;
    let r = simulate(&p, &rows(1.0), &o, &|| {}).expect("runs");
    let first = &r.windows[0];
    let last = r.windows.last().expect("windows");
    assert_eq!(first.tier_mix[3], first.requests, "{first:?}");
    assert!(r.final_boundaries[2] > 0.8, "{:?}", r.final_boundaries);
    assert!(last.cost_usd < 0.5 * first.cost_usd, "{last:?}");
    assert!(!r.analysis.oscillates, "{:?}", r.analysis);
}

#[test]
fn a_useless_cheap_model_closes_the_cheap_tier_from_the_bottom() {
    // The cheapest model always fails: the right boundary 0 is 0 (nothing to it but what
    // hand rules force), and quality must climb from the start to above the floor.
    let p = pipeline();
    let r = simulate(&p, &rows(0.0), &opts([1.0; 3]), &|| {}).expect("runs");
    assert!(r.final_boundaries[0] < 0.3, "{:?}", r.final_boundaries);
    let last = r.windows.last().expect("windows");
    assert!(last.quality >= 0.7, "{last:?}");
    assert!(r.windows[0].quality < 0.7, "{:?}", r.windows[0]);
}

#[test]
fn same_seed_same_output_other_seed_other_order() {
    let p = pipeline();
    let data = rows(0.6);
    let a = simulate(&p, &data, &opts([0.5; 3]), &|| {}).expect("runs");
    let b = simulate(&p, &data, &opts([0.5; 3]), &|| {}).expect("runs");
    assert_eq!(
        serde_json::to_string(&a).expect("json"),
        serde_json::to_string(&b).expect("json")
    );
    assert_eq!(render_table(&a), render_table(&b));
    let svg = render_plot(&a);
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
}

#[test]
fn tiers_follow_the_price_sorted_pareto_front() {
    let mk = |id: &str, scores: &[(&str, f64)], costs: &[(&str, f64)]| Row {
        id: id.into(),
        source: None,
        task: None,
        prompt: "p".into(),
        turns: vec![],
        scores: scores.iter().map(|(m, s)| (m.to_string(), *s)).collect(),
        cost_usd: costs.iter().map(|(m, c)| (m.to_string(), *c)).collect(),
    };
    let costs = [("a", 1.0), ("dominated", 2.0), ("b", 3.0), ("c", 5.0)];
    let data = vec![mk(
        "1",
        &[("a", 0.5), ("dominated", 0.4), ("b", 0.7), ("c", 0.9)],
        &costs,
    )];
    let t = tier_models(&data, None, &[], 256.0).expect("tiers");
    assert_eq!(t.models, vec!["a", "b", "b", "c"]);
    assert!(tier_models(&data, None, &["a".into()], 256.0).is_err());
}
