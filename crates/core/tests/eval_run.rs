//! `frugal eval` and `frugal route --batch` end to end on small data files: pair and
//! multi-model reports, baselines, price sources, guards, JSON, SVG, and the real
//! pipeline routing rows offline.

use std::path::PathBuf;

use frugal_core::eval::report::EvalReport;
use frugal_core::eval::{run_eval, run_route_batch, write_report, EvalArgs, OfflineRouter, Row};

/// A file under the system temp dir, unique per test (tests run in parallel).
fn temp_file(name: &str, text: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("frugal-eval-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temporary data directory");
    let path = dir.join(name);
    std::fs::write(&path, text).expect("temporary data file");
    path
}

/// 40 rows: the first 8 (20 %, a multiple of the 10 % grid the oracle is computed on)
/// only the strong model answers, the next 20 both, the last 12 neither. Prompts grow with the row number so prompt length is a perfect router too.
fn pair_data() -> String {
    (0..40)
        .map(|i| {
            let (s, w) = match i {
                0..8 => (1.0, 0.0),
                8..28 => (1.0, 1.0),
                _ => (0.0, 0.0),
            };
            let prompt = "x".repeat(200 - i);
            format!(
                "{{\"id\":\"r{i}\",\"prompt\":\"{prompt}\",\"scores\":{{\"big\":{s},\"small\":{w}}},\
                 \"cost_usd\":{{\"big\":0.01,\"small\":0.001}}}}\n"
            )
        })
        .collect()
}

fn pair_args(file: &str) -> EvalArgs {
    let mut args = EvalArgs::new(temp_file(file, &pair_data()));
    args.strong = Some("big".into());
    args.weak = Some("small".into());
    args
}

/// The router "knows" the answer: score 1 for rows only the strong model gets right.
fn knowing(row: &Row) -> anyhow::Result<f64> {
    Ok(row.scores["big"] - row.scores["small"])
}

#[test]
fn pair_report_has_router_and_every_baseline() {
    let args = pair_args("pair.jsonl");
    let EvalReport::Pair(r) = run_eval(&args, &knowing, None).unwrap() else {
        panic!("pair mode")
    };
    let names: Vec<&str> = r.routers.iter().map(|x| x.name.as_str()).collect();
    assert_eq!(
        names,
        ["frugal", "prompt length", "random (10 seeds)", "oracle"]
    );
    assert_eq!((r.strong.quality, r.weak.quality), (0.7, 0.5));
    assert_eq!(r.data.rows_used, 40);
    let router = &r.routers[0].metrics;
    let oracle = &r.routers[3].metrics;
    assert!(
        (router.apgr - oracle.apgr).abs() < 1e-9,
        "{router:?} vs {oracle:?}"
    );
    assert!(r.routers[0].curve.len() == 11 && r.routers[2].curve.len() == 11);
    let random = r.routers[2].metrics.apgr;
    assert!((0.3..0.7).contains(&random), "random APGR {random}");

    let mut table = Vec::new();
    write_report(&EvalReport::Pair(r), &args, &mut table).unwrap();
    let table = String::from_utf8(table).unwrap();
    for want in [
        "APGR",
        "CPT(50%)",
        "always-strong",
        "always-weak",
        "oracle",
        "prompt length",
    ] {
        assert!(table.contains(want), "{want} missing from\n{table}");
    }
}

#[test]
fn negative_gap_is_a_clear_error() {
    let mut args = pair_args("swapped.jsonl");
    std::mem::swap(&mut args.strong, &mut args.weak);
    let err = format!("{:#}", run_eval(&args, &knowing, None).unwrap_err());
    assert!(err.contains("not above") && err.contains("swap"), "{err}");
}

#[test]
fn scores_file_replaces_the_pipeline_and_json_and_svg_are_written() {
    let mut args = pair_args("pair2.jsonl");
    let lines: String = (0..40)
        .map(|i| format!("{{\"id\":\"r{i}\",\"score\":{}}}\n", 40 - i))
        .collect();
    args.scores = Some(temp_file("scores.jsonl", &lines));
    args.json = true;
    args.plot =
        Some(std::env::temp_dir().join(format!("frugal-eval-{}/pair.svg", std::process::id())));
    let never = |_: &Row| -> anyhow::Result<f64> { anyhow::bail!("the scorer must not run") };
    let report = run_eval(&args, &never, None).unwrap();
    let mut out = Vec::new();
    write_report(&report, &args, &mut out).unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(json["mode"], "pair");
    assert!(json["routers"][0]["metrics"]["apgr"].as_f64().unwrap() > 0.85);
    let svg = std::fs::read_to_string(args.plot.as_ref().unwrap()).unwrap();
    assert!(svg.starts_with("<svg") && svg.matches("<polyline").count() >= 4);
}

/// Three models: `cheap` right on rows 0..19, `mid` (dominated: dearer than `cheap`, no
/// better) right on 0..9, `big` right on 0..29 of 40.
fn multi_data() -> String {
    (0..40)
        .map(|i| {
            let q = |n: usize| f64::from(u8::from(i < n));
            format!(
                "{{\"id\":\"m{i}\",\"prompt\":\"p{i}\",\"scores\":{{\"cheap\":{},\"mid\":{},\"big\":{}}},\
                 \"cost_usd\":{{\"cheap\":0.001,\"mid\":0.002,\"big\":0.01}}}}\n",
                q(20),
                q(10),
                q(30)
            )
        })
        .chain(std::iter::once("{\"id\":\"partial\",\"prompt\":\"p\",\"scores\":{\"cheap\":1}}\n".to_string()))
        .collect()
}

#[test]
fn multi_report_sweeps_the_ladder_and_finds_the_cost_to_match_the_best_model() {
    let mut args = EvalArgs::new(temp_file("multi.jsonl", &multi_data()));
    args.models = vec!["all".into()];
    // Score 1 exactly for the rows only `big` gets right.
    let knows = |r: &Row| -> anyhow::Result<f64> { Ok(r.scores["big"] - r.scores["cheap"]) };
    let EvalReport::Multi(r) = run_eval(&args, &knows, None).unwrap() else {
        panic!("multi mode")
    };
    assert_eq!((r.data.rows_used, r.data.rows_skipped), (40, 1));
    assert_eq!(r.best.model, "big");
    let ladder: Vec<&str> = r
        .models
        .iter()
        .filter(|m| m.on_ladder)
        .map(|m| m.model.as_str())
        .collect();
    assert_eq!(ladder, ["cheap", "big"]);
    assert!(r.cost_sources.iter().all(|(_, s)| s == "row cost_usd"));
    // Sending exactly the 10 big-only rows to big matches big's quality (0.75) for
    // 30 · 0.001 + 10 · 0.01 over 40 rows = 0.00325 per query.
    let router = &r.routers[0];
    assert_eq!(router.name, "frugal");
    let cost = router.cost_to_match_best.unwrap();
    assert!((cost - 0.00325).abs() < 1e-12, "{cost}");
    let oracle = r.routers.last().unwrap();
    assert_eq!(oracle.name, "oracle");
    assert!(oracle.cost_to_match_best.unwrap() <= cost + 1e-12);
    // Budgets default to 20/50/80 % of big's cost; at 50 % (0.005) the router is at best.
    assert_eq!(r.budgets.len(), 3);
    assert!((router.quality_at_budgets[1].unwrap() - 0.75).abs() < 1e-12);
}

#[test]
fn prices_file_wins_over_row_costs() {
    let mut args = EvalArgs::new(temp_file("multi2.jsonl", &multi_data()));
    args.models = vec!["cheap".into(), "big".into()];
    args.prices = Some(temp_file(
        "prices.json",
        r#"{"group": {"cheap": {"usd_per_mtok_blended": 1.0}, "big": {"input_usd_per_mtok": 10, "output_usd_per_mtok": 30}}, "_note": "x"}"#,
    ));
    args.output_tokens = 100;
    let EvalReport::Multi(r) = run_eval(&args, &|_: &Row| Ok(0.0), None).unwrap() else {
        panic!()
    };
    let cheap = r.models.iter().find(|m| m.model == "cheap").unwrap();
    // "pN" prompts are 2-3 characters → 1 token in, 100 out at $1/Mtok.
    assert!((cheap.cost - 101.0 / 1e6).abs() < 1e-12, "{}", cheap.cost);
    assert!(r.cost_sources.iter().all(|(_, s)| s == "prices file"));
}

#[test]
fn unknown_or_missing_models_are_explained() {
    let mut args = EvalArgs::new(temp_file("multi3.jsonl", &multi_data()));
    args.models = vec!["cheap".into(), "nope".into()];
    let err = format!(
        "{:#}",
        run_eval(&args, &|_: &Row| Ok(0.0), None).unwrap_err()
    );
    assert!(err.contains("nope") && err.contains("big"), "{err}");
    args.models.clear();
    let err = format!(
        "{:#}",
        run_eval(&args, &|_: &Row| Ok(0.0), None).unwrap_err()
    );
    assert!(
        err.contains("--strong") && err.contains("--models"),
        "{err}"
    );
}

struct NoEnv;

impl frugal_core::config::Env for NoEnv {
    fn var(&self, _: &str) -> Option<String> {
        None
    }
}

#[test]
fn route_batch_runs_the_real_pipeline_offline() {
    let input = temp_file(
        "batch.jsonl",
        "{\"id\":\"a\",\"prompt\":\"hi\"}\n\n{\"id\":\"b\",\"prompt\":\"Design a distributed rate limiter and compare trade-offs step by step\",\"turns\":[\"earlier\",\"answer\"]}\n",
    );
    let config = frugal_core::config::Config::load(None, &NoEnv).unwrap();
    let router = OfflineRouter::new(config, "auto").expect("router");
    let mut out = Vec::new();
    let stats = run_route_batch(&input, &|row| router.decide(row), &mut out).unwrap();
    assert_eq!(stats.rows, 2);
    let lines: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2);
    for (l, id) in lines.iter().zip(["a", "b"]) {
        assert_eq!(l["id"], id);
        assert!(l["score"].is_f64() && l["est_cost_usd"].is_f64(), "{l}");
        for key in ["tier", "stage", "model"] {
            assert!(l[key].as_str().is_some_and(|s| !s.is_empty()), "{l}");
        }
    }
    assert!(
        lines[1]["score"].as_f64() > lines[0]["score"].as_f64(),
        "{lines:?}"
    );
}

#[test]
fn tier_set_reports_every_stage_beside_the_majority_and_random() {
    // Short greetings only the small model needs; long multi-step maths needs the big one;
    // one row nobody answers is left out.
    let mut text = String::new();
    for i in 0..30 {
        let (prompt, small, big) = if i % 3 == 0 {
            (
                format!("Suppose a firm's cost is {i}q^2 + 5 and demand is p = 100 - q. First compute the profit-maximising quantity, then the price, then the deadweight loss, step by step."),
                0.0,
                1.0,
            )
        } else {
            (
                format!("What is the capital of country number {i}?"),
                1.0,
                1.0,
            )
        };
        text += &serde_json::json!({"id": format!("t{i}"), "prompt": prompt,
            "scores": {"small": small, "big": big}})
        .to_string();
        text += "\n";
    }
    text += "{\"id\":\"none\",\"prompt\":\"?\",\"scores\":{\"small\":0,\"big\":0}}\n";
    let rows = frugal_core::eval::load_rows(&temp_file("tiers.jsonl", &text)).unwrap();
    let config = frugal_core::config::Config::load(None, &NoEnv).unwrap();
    let router = OfflineRouter::new(config, "auto").expect("router");
    let models = vec!["small".to_string(), "big".to_string()];
    let r = frugal_core::eval::tiers::evaluate("tiers.jsonl", &rows, &models, &router, 3).unwrap();
    assert_eq!((r.counts.clone(), r.left_out), (vec![20, 10], 1));
    let by_name = |prefix: &str| {
        r.scorers
            .iter()
            .find(|s| s.name.starts_with(prefix))
            .unwrap_or_else(|| panic!("{prefix} in {:?}", r.scorers))
    };
    let majority = by_name("majority");
    assert!((majority.accuracy - 20.0 / 30.0).abs() < 1e-9);
    assert!((majority.under_routed - 10.0 / 30.0).abs() < 1e-9);
    // The router ranks the multi-step maths above the lookups: every row in its tier.
    for stage in ["stage 1", "stage 2", "cascade"] {
        let s = by_name(stage);
        assert_eq!((s.accuracy, s.under_routed), (1.0, 0.0), "{s:?}");
    }
    assert!(by_name("random").accuracy < 1.0);
    let table = frugal_core::eval::tiers::render_table(&r);
    assert!(
        table.contains("balanced") && table.contains("tier 1: big"),
        "{table}"
    );
    let err = frugal_core::eval::tiers::evaluate(
        "t",
        &rows,
        &["small".into(), "huge".into()],
        &router,
        1,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("huge") && err.contains("small"), "{err}");
}
