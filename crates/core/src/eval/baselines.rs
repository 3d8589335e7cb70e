//! The reference routers printed beside every evaluated router: random (seeded, so runs
//! are reproducible), prompt length, and helpers to average several random runs. The
//! oracle and single-model baselines live with the math that defines them (metrics.rs,
//! multi.rs).

use super::data::Row;
use super::metrics::CurvePoint;

/// SplitMix64: tiny, seedable and good enough for uniform scores; a dependency on
/// `rand` would buy nothing here and could change its streams between versions.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits of precision.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
}

/// RouteLLM's random router: an independent uniform score per row.
pub fn random_scores(n: usize, seed: u64) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..n).map(|_| rng.next_f64()).collect()
}

/// Longer prompts are assumed harder: the README's strongest cheap baseline (APGR 0.551
/// on MMLU dev), so any classifier must beat it to earn its cost.
pub fn length_scores(rows: &[&Row]) -> Vec<f64> {
    rows.iter().map(|r| r.text_chars() as f64).collect()
}

/// Pointwise mean of curves with the same number of points (one per threshold index),
/// for "random, mean of N seeds".
pub fn average_curves(curves: &[Vec<CurvePoint>]) -> Vec<CurvePoint> {
    let Some(first) = curves.first() else {
        return Vec::new();
    };
    let k = curves.len() as f64;
    (0..first.len())
        .map(|i| {
            let (mut share, mut quality) = (0.0, 0.0);
            for c in curves {
                share += c[i].strong_share;
                quality += c[i].quality;
            }
            CurvePoint {
                threshold: None,
                strong_share: share / k,
                quality: quality / k,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_is_seeded_and_uniform() {
        assert_eq!(random_scores(5, 7), random_scores(5, 7));
        assert_ne!(random_scores(5, 7), random_scores(5, 8));
        let xs = random_scores(10_000, 1);
        let m = xs.iter().sum::<f64>() / xs.len() as f64;
        assert!((m - 0.5).abs() < 0.02, "{m}");
        assert!(xs.iter().all(|x| (0.0..1.0).contains(x)));
    }

    #[test]
    fn averages_pointwise() {
        let p = |s, q| CurvePoint {
            threshold: None,
            strong_share: s,
            quality: q,
        };
        let avg = average_curves(&[
            vec![p(0.0, 0.2), p(1.0, 0.6)],
            vec![p(0.0, 0.4), p(1.0, 0.8)],
        ]);
        assert_eq!(avg.len(), 2);
        assert!((avg[0].quality - 0.3).abs() < 1e-12 && (avg[1].quality - 0.7).abs() < 1e-12);
        assert_eq!((avg[0].strong_share, avg[1].strong_share), (0.0, 1.0));
    }
}
