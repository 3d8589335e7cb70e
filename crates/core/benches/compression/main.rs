//! Compression and prompt-caching benchmark on ../shared/data/compression: tau-bench
//! replay (tool-result savings, prefix stability, modelled Anthropic cache bill), BFCL
//! (JSON values kept), lost-in-the-middle (gold survives), FastChat, code fences, and the
//! overhead of `compress_body` on one core, each next to the uncompressed baseline.
//!
//!   cargo bench -p frugal-core --bench compression

mod corpora;
mod tau;

use std::time::Instant;

use serde_json::{json, Value};

use frugal_core::pipeline::compress::{compress_body, CompressConfig};
use frugal_core::tokens::count_reference;
use frugal_core::types::Format;

const DATA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/data/compression"
);

fn pct(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 * 100.0 / b as f64
    }
}

fn main() {
    frugal_core::tokens::warm_up();
    let lossless = CompressConfig::default();
    let all = CompressConfig {
        dedup: true,
        ..lossless.clone()
    };
    let ws_only = CompressConfig {
        json_minify: false,
        ..lossless.clone()
    };
    let json_only = CompressConfig {
        whitespace: false,
        ..lossless.clone()
    };

    let trajs = tau::trajectories(&format!(
        "{DATA}/tau-bench/historical_trajectories/gpt-4o-airline.json"
    ));
    if trajs.is_empty() {
        eprintln!("no data under {DATA}: nothing to measure");
        return;
    }
    // The server's request path: passes only (tokens are counted beside the upstream call).
    let request_path = CompressConfig {
        count_tokens: false,
        ..lossless.clone()
    };
    let t = tau::run(&trajs, &request_path, 1024);
    println!(
        "## tau-bench airline: {} trajectories, {} model calls",
        trajs.len(),
        t.calls
    );
    println!("{:<44} {:>14} {:>14}", "", "baseline", "frugal");
    println!(
        "{:<44} {:>14} {:>14}  ({:.1} % fewer)",
        "tool-result tokens (o200k, each result once)",
        t.tool_tokens_before,
        t.tool_tokens_after,
        pct(
            t.tool_tokens_before - t.tool_tokens_after,
            t.tool_tokens_before
        )
    );
    println!(
        "{:<44} {:>14} {:>13.1}%",
        "calls prefix-stable",
        "-",
        pct(t.prefix_stable as u64, t.calls as u64)
    );
    let total = t.input_tokens;
    let uncached = total - t.cache_read - t.cache_write;
    let bill = uncached as f64 + 0.1 * t.cache_read as f64 + 1.25 * t.cache_write as f64;
    println!(
        "{:<44} {:>14} {:>14}",
        "replayed input tokens (Claude est.)", t.input_tokens_uncompressed, total
    );
    println!(
        "{:<44} {:>14} {:>13.1}%  (read {:.1} %, write {:.1} %)",
        "cache-eligible share of input tokens",
        "0 %",
        pct(t.cache_read + t.cache_write, total),
        pct(t.cache_read, total),
        pct(t.cache_write, total)
    );
    println!(
        "{:<44} {:>14} {:>14.3}  (× uncompressed uncached; {:.3} × compressed uncached)",
        "modelled Anthropic input bill",
        "1.000",
        bill / t.input_tokens_uncompressed as f64,
        bill / total as f64
    );
    println!("\n## overhead of compress_body, one core (scaled to 100k prompt tokens)");
    overhead("tau-bench calls, passes (request path)", &t.timings);
    let counted = tau::run(&trajs[..50], &lossless, 1024);
    overhead(
        "tau-bench calls (50 trajs), passes + token count",
        &counted.timings,
    );
    big_body(&trajs, &lossless);

    let mut checked = corpora::Checked::default();
    for traj in &trajs {
        let body = json!({"model": "auto", "messages": traj});
        for cfg in [&lossless, &all, &ws_only, &json_only] {
            checked.add(Format::OpenAi, &body, cfg);
        }
    }
    let b = corpora::bfcl(&format!("{DATA}/bfcl"), &all, &mut checked);
    println!("\n## Lossy tool pruning (off by default) on BFCL live_simple + live_multiple");
    for keep in [2, 3, 5, 8] {
        let (n, ok, before, after) = corpora::prune_recall(&format!("{DATA}/bfcl"), keep);
        println!(
            "keep {keep}: expected function still offered in {ok} / {n} requests ({:.2} %); tools offered {before} → {after}",
            100.0 * ok as f64 / n.max(1) as f64
        );
    }
    println!("\n## BFCL v4 (live_simple, live_multiple, multi_turn_base)");
    println!(
        "schemas as text: {} / {} same JSON value after minify; tokens {} → {} ({:.1} % fewer)",
        b.schemas_same,
        b.schemas,
        b.schema_tokens_pretty,
        b.schema_tokens_min,
        pct(
            b.schema_tokens_pretty - b.schema_tokens_min,
            b.schema_tokens_pretty
        )
    );
    println!(
        "tool calls: {} / {} same JSON value after compression",
        b.calls_same, b.calls
    );
    let l = corpora::litm(
        &format!("{DATA}/lost-in-the-middle"),
        &[
            lossless.clone(),
            all.clone(),
            ws_only.clone(),
            json_only.clone(),
        ],
        &mut checked,
    );
    println!("\n## lost-in-the-middle (4 pass configurations each)");
    println!(
        "kv-retrieval-75: gold UUID survives in {} / {} compressed prompts ({:.1} %)",
        l.kv_survived,
        l.kv_prompts,
        pct(l.kv_survived as u64, l.kv_prompts as u64)
    );
    println!(
        "nq-open oracle: gold answer survives in {} / {} ({:.1} %)",
        l.qa_survived,
        l.qa_prompts,
        pct(l.qa_survived as u64, l.qa_prompts as u64)
    );
    let (fb, fa) = corpora::fastchat(
        &format!("{DATA}/fastchat/dummy_conversation.json"),
        &all,
        &mut checked,
    );
    println!(
        "\n## FastChat dummy_conversation: text tokens {fb} → {fa} ({:.1} % fewer)",
        pct(fb - fa, fb)
    );
    println!("\n## lossless check over every request built above");
    println!(
        "{} requests, {} failed; {} code fences byte-identical; {} JSON parts same value",
        checked.requests, checked.failed, checked.fences, checked.json_parts
    );
    if let Some(p) = &checked.first_problem {
        println!("first problem: {p}");
    }
}

/// p50/p99 of compress time scaled to 100k tokens, per request.
fn overhead(label: &str, timings: &[(f64, u64)]) {
    let mut per_100k: Vec<f64> = timings
        .iter()
        .filter(|(_, tok)| *tok > 0)
        .map(|(us, tok)| us / 1000.0 * 100_000.0 / *tok as f64)
        .collect();
    per_100k.sort_by(f64::total_cmp);
    let q = |p: f64| {
        per_100k
            .get(((per_100k.len() as f64 - 1.0) * p) as usize)
            .copied()
            .unwrap_or(0.0)
    };
    println!(
        "{label:<52} ms per 100k tokens: p50 {:.2}  p99 {:.2}",
        q(0.5),
        q(0.99)
    );
}

/// One ~100k-token conversation (tau trajectories back to back), compressed 300 times.
fn big_body(trajs: &[Vec<Value>], cfg: &CompressConfig) {
    let mut messages = Vec::new();
    let mut tokens = 0;
    for traj in trajs {
        for m in traj.iter().skip(1) {
            tokens += count_reference(&m.to_string());
            messages.push(m.clone());
        }
        if tokens >= 100_000 {
            break;
        }
    }
    let body = json!({"model": "auto", "messages": messages});
    for (label, c) in [
        (
            "~100k-token body, passes (request path)",
            CompressConfig {
                count_tokens: false,
                ..cfg.clone()
            },
        ),
        ("~100k-token body, passes + token count", cfg.clone()),
    ] {
        let mut times = Vec::new();
        for _ in 0..300 {
            let mut b = body.clone();
            let t0 = Instant::now();
            compress_body(Format::OpenAi, &mut b, &c);
            times.push((t0.elapsed().as_secs_f64() * 1e6, tokens));
        }
        overhead(&format!("{label} ({tokens} tok)"), &times);
    }
}
