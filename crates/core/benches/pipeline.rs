//! Decision latency: `Pipeline::plan` (compress → classify → select) per request, next to
//! the baseline of merely parsing the same request body from JSON, in the same run.
//! Prompts come from ../shared/data/routing when present, else a built-in set.
//!
//!   cargo bench -p frugal-core --bench pipeline

use std::sync::Arc;
use std::time::Instant;

use frugal_core::config::{Config, Env};
use frugal_core::pipeline::classify::text::request_texts;
use frugal_core::pipeline::{Pipeline, RouteContext};
use frugal_core::types::ChatRequest;

struct BenchEnv;
impl Env for BenchEnv {
    fn var(&self, name: &str) -> Option<String> {
        name.ends_with("_API_KEY").then(|| "sk-bench".to_string())
    }
}

fn prompts() -> Vec<String> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/routing/routellm_mmlu_dev.jsonl"
    );
    match std::fs::read_to_string(path) {
        Ok(text) => text
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("prompt").and_then(|p| p.as_str()).map(str::to_string))
            .take(2000)
            .collect(),
        Err(_) => [
            "hi",
            "What is the capital of France?",
            "Design a rate limiter and compare algorithms step by step.",
        ]
        .iter()
        .map(|s| s.repeat(3))
        .collect(),
    }
}

fn percentiles(mut ns: Vec<u128>) -> (f64, f64, f64) {
    ns.sort_unstable();
    let q = |p: f64| ns[((ns.len() as f64 * p) as usize).min(ns.len() - 1)] as f64 / 1e3;
    (
        q(0.5),
        q(0.99),
        ns.iter().sum::<u128>() as f64 / ns.len() as f64 / 1e3,
    )
}

/// Each prompt's fastest time over the rounds (`ns` holds round after round of
/// `per_round` samples): what the decision costs without interference from other work on
/// the machine, which only ever adds time.
fn best_of_rounds(ns: &[u128], per_round: usize) -> Vec<u128> {
    (0..per_round)
        .map(|i| {
            ns.iter()
                .skip(i)
                .step_by(per_round)
                .copied()
                .min()
                .unwrap_or(0)
        })
        .collect()
}

fn main() {
    let cfg = Arc::new(Config::load(None, &BenchEnv).expect("catalogue"));
    let pipeline = Pipeline::new(cfg).expect("pipeline");
    let bodies: Vec<String> = prompts()
        .into_iter()
        .map(|p| {
            serde_json::json!({"model": "auto", "messages": [{"role": "user", "content": p}]})
                .to_string()
        })
        .collect();
    let rounds = 5;
    let (mut parse_ns, mut plan_ns, mut classify_ns) = (vec![], vec![], vec![]);
    let (mut stage1_ns, mut stage12_ns) = (vec![], vec![]);
    let classifier = pipeline.classifier();
    let boundaries = pipeline.config().routing.boundaries;
    for _ in 0..rounds {
        for body in &bodies {
            let t = Instant::now();
            let v: serde_json::Value = serde_json::from_str(body).expect("json");
            let req: ChatRequest = frugal_core::wire::openai::parse_request(&v).expect("request");
            parse_ns.push(t.elapsed().as_nanos());
            // Stage 1 alone, then stages 1 + 2 forced on every prompt (in the cascade
            // stage 2 runs only on the abstained share), on the text the classifier reads.
            let texts = request_texts(&req);
            let text = texts.scored().text;
            let t = Instant::now();
            let s1 = classifier.stage1(text);
            stage1_ns.push(t.elapsed().as_nanos());
            std::hint::black_box(&s1);
            let t = Instant::now();
            let s1 = classifier.stage1(text);
            let s2 = classifier.stage2(&s1.features, text);
            stage12_ns.push(t.elapsed().as_nanos());
            std::hint::black_box((s1, s2));
            let t = Instant::now();
            let c = classifier.classify(&req, boundaries, 0.0, None);
            classify_ns.push(t.elapsed().as_nanos());
            std::hint::black_box(c);
            let t = Instant::now();
            let plan = pipeline.plan(&req, &RouteContext::default()).expect("plan");
            plan_ns.push(t.elapsed().as_nanos());
            std::hint::black_box(plan);
        }
    }
    println!("{} requests x {rounds} rounds", bodies.len());
    let n = bodies.len();
    for (title, best) in [
        ("every sample", false),
        (
            "best of the rounds per request (interference removed)",
            true,
        ),
    ] {
        let stats = |ns: &Vec<u128>| {
            if best {
                percentiles(best_of_rounds(ns, n))
            } else {
                percentiles(ns.clone())
            }
        };
        let parse = stats(&parse_ns);
        let plan = stats(&plan_ns);
        println!("\n{title}");
        println!(
            "{:<28} {:>9} {:>9} {:>9}",
            "µs per request", "p50", "p99", "mean"
        );
        let row = |name: &str, (p50, p99, mean): (f64, f64, f64)| {
            println!("{name:<28} {p50:>9.2} {p99:>9.2} {mean:>9.2}")
        };
        row("baseline: parse JSON body", parse);
        row("stage 1 (features+linear)", stats(&stage1_ns));
        row("stages 1 + 2 (every prompt)", stats(&stage12_ns));
        row("classify (cascade)", stats(&classify_ns));
        row("pipeline.plan", plan);
        row(
            "ratio plan / parse",
            (plan.0 / parse.0, plan.1 / parse.1, plan.2 / parse.2),
        );
    }
}
