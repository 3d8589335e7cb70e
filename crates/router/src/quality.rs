//! The quality store: labelled requests and the per-model quality estimate for a new one.
//!
//! For a request with unit embedding e and a model m, over the (at most) `k` rows labelled
//! for m that are most similar to e (cosine c_i):
//!
//! ```text
//! w_i = exp((c_i − 1) / τ)                      absolute kernel: Σw is the evidence, so a
//!                                               request unlike anything labelled keeps its prior
//! q̂_m = (a·p_m + Σ w_i·s_i,m) / (a + Σ w_i)      p_m: the prior the caller gives (the model's
//!                                               mean label, or its tier's prior when cold)
//! σ_m = √(q̂_m (1 − q̂_m) / (a + Σ w_i + 1))       the spread of a Beta posterior
//! ```
//!
//! Defaults (k = 100, τ = 0.1, a = 5) were chosen by cross-validation on the shared routing
//! data (research/routing/FINDINGS.md: results are flat for k in 50–100 and a in 0–20).

use anyhow::{bail, Context};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::index::{cosine_i8, Ivf, Rows};
use crate::vectors::{normalized, quantize};

/// Knobs of the estimate.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Neighbours per model.
    pub k: usize,
    /// Kernel width in cosine units.
    pub tau: f32,
    /// Pseudo-count of the prior.
    pub prior_strength: f32,
}

impl Default for Params {
    fn default() -> Params {
        Params {
            k: 100,
            tau: 0.1,
            prior_strength: 5.0,
        }
    }
}

/// Rows below this kernel weight are not worth reading (cosine under ≈ 1 − 0.92τ·10).
const MIN_WEIGHT: f32 = 1e-4;

/// One model's estimated quality for one request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Estimate {
    /// Expected quality of the model's answer, 0–1.
    pub q: f64,
    /// Its uncertainty (standard deviation).
    pub sigma: f64,
    /// Σ kernel weights of the neighbours used: 0 = the prior alone.
    pub evidence: f64,
    /// Labelled neighbours used.
    pub neighbours: usize,
    /// The prior the estimate was shrunk towards.
    pub prior: f64,
}

/// What the caller asks about one model: its index in the store (`None`: the store has no
/// label for it) and the prior to shrink towards.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ask {
    pub model: Option<usize>,
    pub prior: f64,
}

/// Labelled requests and their index.
#[derive(Debug, Clone, PartialEq)]
pub struct QualityStore {
    pub params: Params,
    /// Which embedding the vectors come from (a store only answers queries embedded alike).
    embedding: String,
    dim: usize,
    models: Vec<String>,
    /// Per model: Σ scores and number of labels (its mean is the default prior).
    sums: Vec<f64>,
    counts: Vec<u64>,
    vectors: Vec<i8>,
    scales: Vec<f32>,
    /// Row r's labels are `label_models/label_scores[offsets[r]..offsets[r + 1]]`.
    offsets: Vec<u32>,
    label_models: Vec<u16>,
    label_scores: Vec<f32>,
    index: Ivf,
    /// Per model, `[intercept, slope]` of its score on the request's difficulty (the
    /// caller's classifier score): the prior for requests far from every labelled one,
    /// where neighbours say nothing but difficulty still does.
    difficulty: Vec<Option<[f64; 2]>>,
}

impl Rows for QualityStore {
    fn count(&self) -> usize {
        self.scales.len()
    }
    fn dim(&self) -> usize {
        self.dim
    }
    fn row(&self, i: usize) -> Vec<f32> {
        let s = self.scales[i];
        self.row_i8(i).iter().map(|v| f32::from(*v) * s).collect()
    }
    fn row_i8(&self, i: usize) -> &[i8] {
        &self.vectors[i * self.dim..(i + 1) * self.dim]
    }
}

impl QualityStore {
    pub fn new(embedding: &str, dim: usize, params: Params) -> QualityStore {
        QualityStore {
            params,
            embedding: embedding.to_string(),
            dim,
            models: vec![],
            sums: vec![],
            counts: vec![],
            vectors: vec![],
            scales: vec![],
            offsets: vec![0],
            label_models: vec![],
            label_scores: vec![],
            index: Ivf::flat(dim),
            difficulty: vec![],
        }
    }

    /// Fit each model's score as a line in `difficulty` (one value per row, in row order;
    /// the slope shrunk by `ridge` pseudo-observations at zero slope).
    pub fn fit_difficulty(&mut self, difficulty: &[f64], ridge: f64) -> anyhow::Result<()> {
        if difficulty.len() != self.rows() {
            bail!("{} difficulties for {} rows", difficulty.len(), self.rows());
        }
        let m = self.models.len();
        // Per model: n, Σd, Σs, Σd², Σds over its labels.
        let mut acc = vec![[0.0f64; 5]; m];
        for (r, &d) in difficulty.iter().enumerate() {
            let (lo, hi) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
            for (model, s) in self.label_models[lo..hi]
                .iter()
                .zip(&self.label_scores[lo..hi])
            {
                let a = &mut acc[usize::from(*model)];
                let s = f64::from(*s);
                a[0] += 1.0;
                a[1] += d;
                a[2] += s;
                a[3] += d * d;
                a[4] += d * s;
            }
        }
        self.difficulty = acc
            .iter()
            .map(|&[n, sd, ss, sdd, sds]| {
                if n < 2.0 {
                    return None;
                }
                let (md, ms) = (sd / n, ss / n);
                let var = sdd / n - md * md;
                let cov = sds / n - md * ms;
                let slope = cov * n / (var * n + ridge).max(1e-12);
                Some([ms - slope * md, slope])
            })
            .collect();
        Ok(())
    }

    /// Model `m`'s prior at difficulty `d`, when fitted.
    pub fn difficulty_prior(&self, m: usize, d: f64) -> Option<f64> {
        let [a, b] = self.difficulty.get(m).copied().flatten()?;
        Some((a + b * d).clamp(0.0, 1.0))
    }

    pub fn embedding(&self) -> &str {
        &self.embedding
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Labelled rows.
    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    pub fn models(&self) -> &[String] {
        &self.models
    }

    pub fn model_index(&self, name: &str) -> Option<usize> {
        self.models.iter().position(|m| m == name)
    }

    /// The index of `name`, added when new.
    pub fn ensure_model(&mut self, name: &str) -> usize {
        match self.model_index(name) {
            Some(i) => i,
            None => {
                self.models.push(name.to_string());
                self.sums.push(0.0);
                self.counts.push(0);
                self.models.len() - 1
            }
        }
    }

    /// Labels of model `m`, and their mean (None without labels).
    pub fn label_count(&self, m: usize) -> u64 {
        self.counts.get(m).copied().unwrap_or(0)
    }

    pub fn mean(&self, m: usize) -> Option<f64> {
        let n = self.label_count(m);
        (n > 0).then(|| self.sums[m] / n as f64)
    }

    /// Add one labelled request: its embedding and (model index, score 0–1) pairs. Scores
    /// outside 0–1 are clamped; a row without labels, or with a wrong dimension, is refused.
    pub fn add(&mut self, embedding: &[f32], labels: &[(usize, f32)]) -> anyhow::Result<()> {
        if embedding.len() != self.dim {
            bail!(
                "embedding has {} values, the store {}",
                embedding.len(),
                self.dim
            );
        }
        if labels.is_empty() {
            bail!("a labelled row needs at least one model's score");
        }
        let unit = normalized(embedding);
        let (q, s) = quantize(&unit);
        let row = self.scales.len() as u32;
        self.vectors.extend_from_slice(&q);
        self.scales.push(s);
        for &(m, score) in labels {
            if m >= self.models.len() || m > usize::from(u16::MAX) {
                bail!("unknown model index {m}");
            }
            let score = if score.is_finite() {
                score.clamp(0.0, 1.0)
            } else {
                0.0
            };
            self.label_models.push(m as u16);
            self.label_scores.push(score);
            self.sums[m] += f64::from(score);
            self.counts[m] += 1;
        }
        self.offsets.push(self.label_models.len() as u32);
        if !self.index.is_flat() {
            self.index.add(row, &unit);
        } else if self.rows() == crate::index::FLAT_LIMIT * 2 {
            // Grown online far past the flat limit: build the lists once.
            self.build_index();
        }
        Ok(())
    }

    /// (Re)build the neighbour index for the rows now in the store, storing each list's
    /// rows next to each other.
    pub fn build_index(&mut self) {
        let mut index = Ivf::build(self);
        if !index.is_flat() {
            let order = index.renumber();
            self.reorder(&order);
        }
        self.index = index;
    }

    /// Put the rows in `order` (old ids, one per new id).
    fn reorder(&mut self, order: &[u32]) {
        let dim = self.dim;
        let mut vectors = Vec::with_capacity(self.vectors.len());
        let mut scales = Vec::with_capacity(self.scales.len());
        let mut offsets = Vec::with_capacity(self.offsets.len());
        let mut label_models = Vec::with_capacity(self.label_models.len());
        let mut label_scores = Vec::with_capacity(self.label_scores.len());
        offsets.push(0u32);
        for &old in order {
            let i = old as usize;
            vectors.extend_from_slice(&self.vectors[i * dim..(i + 1) * dim]);
            scales.push(self.scales[i]);
            let (lo, hi) = (self.offsets[i] as usize, self.offsets[i + 1] as usize);
            label_models.extend_from_slice(&self.label_models[lo..hi]);
            label_scores.extend_from_slice(&self.label_scores[lo..hi]);
            offsets.push(label_models.len() as u32);
        }
        self.vectors = vectors;
        self.scales = scales;
        self.offsets = offsets;
        self.label_models = label_models;
        self.label_scores = label_scores;
    }

    pub fn index(&self) -> &Ivf {
        &self.index
    }

    /// Scan every row from now on (exact neighbours; benchmarks compare against it).
    pub fn use_flat_index(&mut self) {
        self.index = Ivf::flat(self.dim);
    }

    /// Estimates for `asks`, in order.
    pub fn estimate(&self, embedding: &[f32], asks: &[Ask]) -> Vec<Estimate> {
        let p = self.params;
        let a = f64::from(p.prior_strength);
        let mut acc = vec![(0.0f64, 0.0f64, 0usize); asks.len()];
        // Which ask each store model feeds (a model asked twice feeds the first).
        let mut slot = vec![usize::MAX; self.models.len()];
        for (i, ask) in asks.iter().enumerate() {
            if let Some(m) = ask.model.filter(|m| *m < slot.len()) {
                if slot[m] == usize::MAX {
                    slot[m] = i;
                }
            }
        }
        if embedding.len() == self.dim && self.rows() > 0 && slot.iter().any(|s| *s != usize::MAX) {
            self.accumulate(embedding, &slot, &mut acc);
        }
        asks.iter()
            .zip(acc)
            .map(|(ask, (sw, sws, n))| {
                let prior = ask.prior.clamp(0.0, 1.0);
                let q = ((a * prior + sws) / (a + sw)).clamp(0.0, 1.0);
                let sigma = (q * (1.0 - q)).max(1e-6).sqrt() / (a + sw + 1.0).sqrt();
                Estimate {
                    q,
                    sigma,
                    evidence: sw,
                    neighbours: n,
                    prior,
                }
            })
            .collect()
    }

    /// Σw, Σw·s and the neighbour count per ask, over each model's k nearest rows.
    fn accumulate(&self, embedding: &[f32], slot: &[usize], acc: &mut [(f64, f64, usize)]) {
        let p = self.params;
        let unit = normalized(embedding);
        let (q, qs) = quantize(&unit);
        let mut cand = Vec::new();
        self.index.candidates(&unit, self.rows(), &mut cand);
        let floor = 1.0 + p.tau * MIN_WEIGHT.ln();
        let mut sims: Vec<(f32, u32)> = cand
            .into_iter()
            .filter_map(|r| {
                let i = r as usize;
                let c = cosine_i8(
                    &q,
                    qs,
                    &self.vectors[i * self.dim..(i + 1) * self.dim],
                    self.scales[i],
                );
                (c > floor).then_some((c, r))
            })
            .collect();
        // Enough of the nearest rows for every asked model to find its k (rows may carry
        // one model's label only, as ledger rows do).
        let asked = slot.iter().filter(|s| **s != usize::MAX).count().max(1);
        let keep = p.k.saturating_mul(asked.max(8)).min(sims.len());
        if keep < sims.len() && keep > 0 {
            sims.select_nth_unstable_by(keep - 1, |x, y| y.0.total_cmp(&x.0));
            sims.truncate(keep);
        }
        sims.sort_unstable_by(|x, y| y.0.total_cmp(&x.0));
        for (c, r) in sims {
            let w = f64::from(((c - 1.0) / p.tau).exp());
            let r = r as usize;
            let (lo, hi) = (self.offsets[r] as usize, self.offsets[r + 1] as usize);
            for (m, s) in self.label_models[lo..hi]
                .iter()
                .zip(&self.label_scores[lo..hi])
            {
                let i = slot[usize::from(*m)];
                if i == usize::MAX || acc[i].2 >= p.k {
                    continue;
                }
                acc[i].0 += w;
                acc[i].1 += w * f64::from(*s);
                acc[i].2 += 1;
            }
        }
    }

    /// The store as JSON (vectors and labels base64-packed, little-endian).
    pub fn to_json(&self) -> serde_json::Value {
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
        let f32s = |v: &[f32]| b64(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>());
        let u32s = |v: &[u32]| b64(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>());
        let u16s = |v: &[u16]| b64(&v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<_>>());
        serde_json::json!({
            "version": 1,
            "embedding": self.embedding,
            "dim": self.dim,
            "params": self.params,
            "models": self.models,
            "rows": self.rows(),
            "vectors": b64(&self.vectors.iter().map(|v| *v as u8).collect::<Vec<_>>()),
            "scales": f32s(&self.scales),
            "offsets": u32s(&self.offsets),
            "label_models": u16s(&self.label_models),
            "label_scores": f32s(&self.label_scores),
            "index": self.index,
            "difficulty_prior": self.difficulty,
        })
    }

    /// Read a store written by `to_json`, checking every length.
    pub fn from_json(v: &serde_json::Value) -> anyhow::Result<QualityStore> {
        #[derive(Deserialize)]
        struct File {
            version: u32,
            embedding: String,
            dim: usize,
            params: Params,
            models: Vec<String>,
            rows: usize,
            vectors: String,
            scales: String,
            offsets: String,
            label_models: String,
            label_scores: String,
            index: Ivf,
            #[serde(default)]
            difficulty_prior: Vec<Option<[f64; 2]>>,
        }
        let f: File = serde_json::from_value(v.clone()).context("quality store")?;
        if f.version != 1 {
            bail!("quality store version {} is not supported (1)", f.version);
        }
        let bytes = |name: &str, s: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .with_context(|| format!("quality store: {name} is not base64"))
        };
        let chunks = |name: &str, s: &str, w: usize| -> anyhow::Result<Vec<[u8; 4]>> {
            let b = bytes(name, s)?;
            if b.len() % w != 0 {
                bail!("quality store: {name} has a partial value");
            }
            Ok(b.chunks_exact(w)
                .map(|c| {
                    let mut x = [0u8; 4];
                    x[..w].copy_from_slice(c);
                    x
                })
                .collect())
        };
        let vectors: Vec<i8> = bytes("vectors", &f.vectors)?
            .into_iter()
            .map(|b| b as i8)
            .collect();
        let scales: Vec<f32> = chunks("scales", &f.scales, 4)?
            .into_iter()
            .map(f32::from_le_bytes)
            .collect();
        let offsets: Vec<u32> = chunks("offsets", &f.offsets, 4)?
            .into_iter()
            .map(u32::from_le_bytes)
            .collect();
        let label_models: Vec<u16> = chunks("label_models", &f.label_models, 2)?
            .into_iter()
            .map(|x| u16::from_le_bytes([x[0], x[1]]))
            .collect();
        let label_scores: Vec<f32> = chunks("label_scores", &f.label_scores, 4)?
            .into_iter()
            .map(f32::from_le_bytes)
            .collect();
        let labels = label_models.len();
        if scales.len() != f.rows
            || vectors.len() != f.rows * f.dim
            || offsets.len() != f.rows + 1
            || label_scores.len() != labels
            || offsets.first() != Some(&0)
            || offsets.last().map(|o| *o as usize) != Some(labels)
            || offsets.windows(2).any(|w| w[0] > w[1])
            || label_models
                .iter()
                .any(|m| usize::from(*m) >= f.models.len())
        {
            bail!("quality store: rows, vectors and labels do not agree (a damaged file?)");
        }
        let mut sums = vec![0.0; f.models.len()];
        let mut counts = vec![0u64; f.models.len()];
        for (m, s) in label_models.iter().zip(&label_scores) {
            sums[usize::from(*m)] += f64::from(*s);
            counts[usize::from(*m)] += 1;
        }
        Ok(QualityStore {
            params: f.params,
            embedding: f.embedding,
            dim: f.dim,
            models: f.models,
            sums,
            counts,
            vectors,
            scales,
            offsets,
            label_models,
            label_scores,
            index: f.index,
            difficulty: f.difficulty_prior,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(x: f32, y: f32) -> Vec<f32> {
        vec![x, y, 0.0, 0.0]
    }

    fn store() -> QualityStore {
        let mut s = QualityStore::new("test", 4, Params::default());
        let cheap = s.ensure_model("cheap");
        let big = s.ensure_model("big");
        // Near (1, 0): the cheap model is as good as the big one; near (0, 1) it fails.
        for i in 0..50 {
            let d = i as f32 * 0.001;
            s.add(&v(1.0, d), &[(cheap, 1.0), (big, 1.0)]).expect("add");
            s.add(&v(d, 1.0), &[(cheap, 0.0), (big, 1.0)]).expect("add");
        }
        s
    }

    #[test]
    fn each_model_is_judged_on_its_neighbours() {
        let s = store();
        let asks = [
            Ask {
                model: Some(0),
                prior: 0.5,
            },
            Ask {
                model: Some(1),
                prior: 0.5,
            },
        ];
        let easy = s.estimate(&v(1.0, 0.02), &asks);
        let hard = s.estimate(&v(0.02, 1.0), &asks);
        assert!(easy[0].q > 0.85 && easy[1].q > 0.85, "{easy:?}");
        assert!(hard[0].q < 0.15 && hard[1].q > 0.85, "{hard:?}");
        assert!(easy[0].sigma < 0.1);
    }

    #[test]
    fn unknown_models_and_far_requests_keep_their_prior() {
        let s = store();
        let asks = [
            Ask {
                model: None,
                prior: 0.7,
            },
            Ask {
                model: Some(0),
                prior: 0.4,
            },
        ];
        let far = s.estimate(&[0.0, 0.0, 1.0, 0.0], &asks);
        assert_eq!(far[0].q, 0.7);
        assert!(
            (far[1].q - 0.4).abs() < 0.05 && far[1].evidence < 0.1,
            "{far:?}"
        );
        assert!(far[1].sigma > 0.15, "uncertain without evidence");
    }

    #[test]
    fn learning_online_moves_the_estimate() {
        let mut s = store();
        let ask = [Ask {
            model: Some(0),
            prior: 0.5,
        }];
        let before = s.estimate(&v(0.7, 0.7), &ask)[0].q;
        for _ in 0..30 {
            s.add(&v(0.7, 0.7), &[(0, 1.0)]).expect("add");
        }
        let after = s.estimate(&v(0.7, 0.7), &ask)[0];
        assert!(
            after.q > before + 0.2 && after.q > 0.85,
            "{before} -> {after:?}"
        );
        assert_eq!(after.neighbours, 100);
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let s = store();
        let j = s.to_json();
        let back = QualityStore::from_json(&j).expect("load");
        assert_eq!(back, s);
        let mut bad = j.clone();
        bad["rows"] = serde_json::json!(3);
        assert!(QualityStore::from_json(&bad).is_err());
        assert!(s.clone().add(&[1.0], &[(0, 1.0)]).is_err());
    }
}
