//! A fixed-bucket histogram of seconds, as Prometheus expects: cumulative `le` buckets,
//! a sum and a count.

/// Upper bounds in seconds: from half a millisecond (frugal's own overhead) to a minute
/// (long generations).
pub const BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0,
];

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Histogram {
    /// Observations at or below each bound (not cumulative; +Inf is `count` − their sum).
    pub counts: [u64; BUCKETS.len()],
    pub sum: f64,
    pub count: u64,
}

impl Histogram {
    pub fn observe(&mut self, seconds: f64) {
        if !seconds.is_finite() || seconds < 0.0 {
            return;
        }
        if let Some(i) = BUCKETS.iter().position(|b| seconds <= *b) {
            self.counts[i] += 1;
        }
        self.sum += seconds;
        self.count += 1;
    }

    /// (le, cumulative count) per bucket, then ("+Inf", count).
    pub fn cumulative(&self) -> Vec<(String, u64)> {
        let mut total = 0;
        let mut out: Vec<(String, u64)> = BUCKETS
            .iter()
            .zip(self.counts)
            .map(|(b, n)| {
                total += n;
                (b.to_string(), total)
            })
            .collect();
        out.push(("+Inf".into(), self.count));
        out
    }
}
