//! Measure the local embeddings: full-encoder latency (9 and 75 tokens), static-table
//! latency, and how well each separates paraphrases from unrelated pairs.
//!
//! `cargo run --release -p frugal --example embed_bench -- MODEL_DIR TABLE.bin`

use std::hint::black_box;
use std::path::Path;
use std::time::Instant;

use frugal_core::embed::distill::cosine;
use frugal_core::embed::{SentenceEncoder, StaticEmbedding};

const PAIRS: [(&str, &str); 10] = [
    (
        "How do I reverse a list in Python?",
        "What is the way to invert a Python list?",
    ),
    (
        "What is the capital of France?",
        "Which city is France's capital?",
    ),
    (
        "Write a function that sorts an array of integers.",
        "Implement code to sort a list of numbers.",
    ),
    (
        "Explain how photosynthesis works.",
        "How do plants turn sunlight into energy?",
    ),
    (
        "Translate this sentence into German.",
        "Convert this sentence to German.",
    ),
    (
        "What's the weather like today?",
        "How is the weather today?",
    ),
    (
        "Summarize the following article in three bullet points.",
        "Give me a three-point summary of this article.",
    ),
    (
        "How many calories are in an apple?",
        "What is the calorie count of an apple?",
    ),
    (
        "Fix the bug in my JavaScript code.",
        "Help me debug this JavaScript.",
    ),
    (
        "Who wrote Pride and Prejudice?",
        "Which author wrote the novel Pride and Prejudice?",
    ),
];

const LONG: &str = "Our team maintains a large web application written in TypeScript and Rust. \
    Requests arrive through a load balancer, pass an authentication layer, and reach a set of \
    services that talk to PostgreSQL and Redis. Recently latency at the 99th percentile doubled \
    after a deploy, although the median stayed flat. Explain, step by step, how you would find the \
    cause, which metrics and traces you would look at first, and what fixes you would consider.";

/// Median seconds of `f` over `n` runs.
fn median<F: FnMut()>(n: usize, mut f: F) -> f64 {
    let mut t: Vec<f64> = (0..n)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64()
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[n / 2]
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() == 3, "usage: embed_bench MODEL_DIR TABLE.bin");
    let enc = SentenceEncoder::load(Path::new(&args[1]))?;
    let table = StaticEmbedding::load(Path::new(&args[2]))?;
    let wp = table.tokenizer()?;

    let short = PAIRS[1].0;
    let long_enc = SentenceEncoder::load(Path::new(&args[1]))?.with_max_tokens(75);
    println!(
        "tokens: short {}, long {}",
        enc.encode_ids(short).len(),
        long_enc.encode_ids(LONG).len()
    );
    let t9 = median(51, || drop(black_box(enc.embed(black_box(short)))));
    let t75 = median(21, || drop(black_box(long_enc.embed(black_box(LONG)))));
    println!(
        "full encoder: 9 tokens {:.2} ms, 75 tokens {:.2} ms",
        t9 * 1e3,
        t75 * 1e3
    );

    let mut ids = Vec::new();
    let mut out = vec![0.0f32; table.dim()];
    let tok = median(10_001, || {
        ids.clear();
        wp.tokenize(black_box(short), &mut ids);
    });
    let emb = median(10_001, || table.embed_into(black_box(&ids), &mut out));
    let mut long_ids = Vec::new();
    wp.tokenize(LONG, &mut long_ids);
    let emb_long = median(10_001, || table.embed_into(black_box(&long_ids), &mut out));
    println!(
        "static: tokenise {:.2} µs + embed {:.3} µs ({} tokens); {} tokens embed {:.3} µs",
        tok * 1e6,
        emb * 1e6,
        ids.len(),
        long_ids.len(),
        emb_long * 1e6
    );

    let st = |t: &str| {
        let mut ids = Vec::new();
        wp.tokenize(t, &mut ids);
        table.embed(&ids)
    };
    let (mut sp, mut su, mut fp, mut fu) = (0.0, 0.0, 0.0, 0.0);
    println!(
        "{:>6} {:>6} {:>6} {:>6}  pair",
        "st-par", "st-unr", "fu-par", "fu-unr"
    );
    for (i, (a, b)) in PAIRS.iter().enumerate() {
        let other = PAIRS[(i + 3) % PAIRS.len()].1;
        let (s1, s2) = (cosine(&st(a), &st(b)), cosine(&st(a), &st(other)));
        let (f1, f2) = (
            cosine(&enc.embed(a), &enc.embed(b)),
            cosine(&enc.embed(a), &enc.embed(other)),
        );
        println!("{s1:>6.3} {s2:>6.3} {f1:>6.3} {f2:>6.3}  {a}");
        (sp, su, fp, fu) = (sp + s1, su + s2, fp + f1, fu + f2);
    }
    let n = PAIRS.len() as f32;
    println!(
        "mean cosine: static paraphrase {:.3} vs unrelated {:.3}; full {:.3} vs {:.3}",
        sp / n,
        su / n,
        fp / n,
        fu / n
    );
    Ok(())
}
