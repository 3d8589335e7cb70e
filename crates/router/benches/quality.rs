//! Decision cost of the quality model at scale: estimates for 8 candidate models over a
//! store of 10k / 100k / 1M labelled rows (random unit vectors in 128 dimensions, clustered
//! like real prompts), flat scan against the inverted-file index, with the index's build
//! time and the store's memory. `cargo bench -p frugal-router --bench quality`.

use std::time::Instant;

use frugal_router::{Ask, Params, QualityStore};

const DIM: usize = 128;
const MODELS: usize = 8;

/// xorshift: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32 - 0.5
    }
}

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![10_000, 100_000, 1_000_000]
    } else {
        sizes
    };
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // 2,000 topic centres; each row is a centre plus noise.
    let centres: Vec<Vec<f32>> = (0..2_000)
        .map(|_| (0..DIM).map(|_| rng.next()).collect())
        .collect();
    println!("rows | index | build s | store MB | p50 µs | p99 µs | max µs | mean |q̂ − exact|");
    for &n in &sizes {
        let mut store = QualityStore::new("bench", DIM, Params::default());
        let models: Vec<usize> = (0..MODELS)
            .map(|m| store.ensure_model(&format!("m{m}")))
            .collect();
        for i in 0..n {
            let c = &centres[i % centres.len()];
            let v: Vec<f32> = c.iter().map(|x| x + 0.3 * rng.next()).collect();
            let labels: Vec<(usize, f32)> = models
                .iter()
                .map(|&m| (m, if rng.next() > 0.0 { 1.0 } else { 0.0 }))
                .collect();
            store.add(&v, &labels).expect("add");
        }
        let t = Instant::now();
        store.build_index();
        let build = t.elapsed().as_secs_f64();
        let index = if store.index().is_flat() {
            "flat".to_string()
        } else {
            format!("ivf {}", store.index().lists())
        };
        let mb = (store.rows() * (DIM + 4 + 4) + store.rows() * MODELS * 6) as f64 / 1e6;
        let asks: Vec<Ask> = models
            .iter()
            .map(|&m| Ask {
                model: Some(m),
                prior: 0.5,
            })
            .collect();
        let mut times: Vec<f64> = (0..2_000)
            .map(|i| {
                let c = &centres[(i * 7919) % centres.len()];
                let q: Vec<f32> = c.iter().map(|x| x + 0.3 * rng.next()).collect();
                let t = Instant::now();
                let e = store.estimate(&q, &asks);
                std::hint::black_box(e);
                t.elapsed().as_secs_f64() * 1e6
            })
            .collect();
        times.sort_by(f64::total_cmp);
        // The inverted file's approximation: estimates against an exact scan.
        let mut gap = 0.0f64;
        if !store.index().is_flat() {
            let mut exact = store.clone();
            exact.use_flat_index();
            for i in 0..200 {
                let c = &centres[(i * 104_729) % centres.len()];
                let q: Vec<f32> = c.iter().map(|x| x + 0.3 * rng.next()).collect();
                let a = store.estimate(&q, &asks);
                let b = exact.estimate(&q, &asks);
                gap += a
                    .iter()
                    .zip(&b)
                    .map(|(x, y)| (x.q - y.q).abs())
                    .sum::<f64>()
                    / (200 * MODELS) as f64;
            }
        }
        let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
        println!(
            "{n} | {index} | {build:.2} | {mb:.0} | {:.0} | {:.0} | {:.0} | {gap:.4}",
            at(0.5),
            at(0.99),
            at(1.0)
        );
    }
}
