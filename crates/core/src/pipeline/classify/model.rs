//! The trained router: linear heads (standardise, weigh, calibrate) for stage 1 (features)
//! and stage 2 (features ‖ sentence embedding), with what they were trained on. Written by
//! `frugal train`, loaded by `frugal serve`; the default one is embedded in the binary.
//! A file that does not load is an error, never a silent fallback.

use std::path::Path;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};

/// The file format this build reads and writes.
pub const FORMAT: u32 = 1;

/// The router shipped with frugal (trained by `frugal train`, see docs/classifier.md).
pub const DEFAULT_ROUTER: &str = include_str!("../../../assets/router.json");

/// score = Σ wᵢ (xᵢ − μᵢ) / σᵢ, then mapped to 0..1 by the training scores' distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LinearHead {
    pub mu: Vec<f64>,
    pub sd: Vec<f64>,
    pub w: Vec<f64>,
    /// Raw scores at the 0, 1, …, 100th percentile of the training rows (ascending).
    pub quantiles: Vec<f64>,
}

impl LinearHead {
    pub fn dims(&self) -> usize {
        self.w.len()
    }

    /// Per-input contributions wᵢ·zᵢ (their sum is the raw score).
    pub fn contributions(&self, x: &[f64]) -> Vec<f64> {
        x.iter()
            .zip(&self.mu)
            .zip(&self.sd)
            .zip(&self.w)
            .map(|(((x, m), s), w)| w * (x - m) / s)
            .collect()
    }

    pub fn raw(&self, x: &[f64]) -> f64 {
        x.iter()
            .zip(&self.mu)
            .zip(&self.sd)
            .zip(&self.w)
            .map(|(((x, m), s), w)| w * (x - m) / s)
            .sum()
    }

    /// The share of training rows scoring below `raw` (piecewise linear), in 0..1.
    pub fn calibrate(&self, raw: f64) -> f64 {
        let q = &self.quantiles;
        let n = q.len();
        if n < 2 || raw.is_nan() {
            return 0.5;
        }
        if raw <= q[0] {
            return 0.0;
        }
        if raw >= q[n - 1] {
            return 1.0;
        }
        let i = q.partition_point(|v| *v <= raw).clamp(1, n - 1);
        let (lo, hi) = (q[i - 1], q[i]);
        let frac = if hi > lo { (raw - lo) / (hi - lo) } else { 0.5 };
        ((i - 1) as f64 + frac) / (n - 1) as f64
    }

    pub fn score(&self, x: &[f64]) -> f64 {
        self.calibrate(self.raw(x))
    }

    fn check(&self, name: &str, dims: usize) -> anyhow::Result<()> {
        let lens = [self.mu.len(), self.sd.len(), self.w.len()];
        if lens.iter().any(|l| *l != dims) {
            bail!("{name}: expected {dims} inputs, mu/sd/w have {lens:?}");
        }
        if self.sd.iter().any(|s| !(s.is_finite() && *s > 0.0)) {
            bail!("{name}: standard deviations must be positive");
        }
        if self.quantiles.len() < 2 || self.quantiles.windows(2).any(|w| w[0] > w[1]) {
            bail!("{name}: quantiles must be ascending, at least 2");
        }
        Ok(())
    }
}

/// What a router was trained on, for `frugal route` and the docs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    pub files: Vec<String>,
    pub rows: usize,
    pub label: String,
    pub alpha: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouterModel {
    pub format: u32,
    pub features: Vec<String>,
    pub stage1: LinearHead,
    /// Stage 1 abstains when its calibrated score is within this distance of a boundary.
    pub abstain_margin: f64,
    /// Stage 2 over [features ‖ embedding], when trained with an embedding.
    pub stage2: Option<LinearHead>,
    /// Identifies the embedding stage 2 was trained with (its file's sha256).
    pub embedding_id: Option<String>,
    pub provenance: Provenance,
    /// Per-model quality labels for model-aware routing (`frugal train` builds it from the
    /// data files' per-model scores); absent in routers trained before it existed.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "quality_json"
    )]
    pub quality: Option<frugal_router::QualityStore>,
}

impl RouterModel {
    pub fn from_json(text: &str) -> anyhow::Result<RouterModel> {
        let m: RouterModel =
            serde_json::from_str(text).context("router model is not valid JSON")?;
        if m.format != FORMAT {
            bail!(
                "router model format {} is not supported (this build reads {FORMAT})",
                m.format
            );
        }
        let expected: Vec<&str> = super::features::NAMES.to_vec();
        if m.features != expected {
            bail!(
                "router model features {:?} differ from this build's {:?}",
                m.features,
                expected
            );
        }
        m.stage1.check("stage1", expected.len())?;
        if let Some(s2) = &m.stage2 {
            if s2.dims() <= expected.len() {
                bail!(
                    "stage2: expected features plus embedding dimensions, got {}",
                    s2.dims()
                );
            }
            s2.check("stage2", s2.dims())?;
        }
        if !(0.0..0.5).contains(&m.abstain_margin) {
            bail!("abstain_margin {} must be in 0..0.5", m.abstain_margin);
        }
        Ok(m)
    }

    pub fn load(path: &Path) -> anyhow::Result<RouterModel> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read router model {}", path.display()))?;
        RouterModel::from_json(&text).with_context(|| format!("router model {}", path.display()))
    }

    pub fn embedded() -> anyhow::Result<RouterModel> {
        RouterModel::from_json(DEFAULT_ROUTER).context("built-in router model")
    }

    /// The cascade's score once stage 2 has answered for a request stage 1 was unsure of
    /// (`s1` within the abstain margin of a boundary): stage 2 decides which side of that
    /// boundary, but may not move the score further than the margin from stage 1's. Its head
    /// learns topics from its training data, and on prompts unlike them (a blog-post request
    /// among exam questions) its score is far from stage 1's for no reason either can state;
    /// unbounded, it sent such a request from medium to frontier.
    pub fn resolve(&self, s1: f64, s2: f64) -> f64 {
        s2.clamp(s1 - self.abstain_margin, s1 + self.abstain_margin)
    }

    pub fn to_json(&self) -> anyhow::Result<String> {
        Ok(serde_json::to_string_pretty(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head() -> LinearHead {
        LinearHead {
            mu: vec![1.0],
            sd: vec![2.0],
            w: vec![0.5],
            quantiles: vec![-1.0, 0.0, 1.0],
        }
    }

    #[test]
    fn raw_and_calibration() {
        let h = head();
        assert!((h.raw(&[3.0]) - 0.5).abs() < 1e-12);
        assert_eq!(h.calibrate(-5.0), 0.0);
        assert_eq!(h.calibrate(5.0), 1.0);
        assert!((h.calibrate(0.0) - 0.5).abs() < 1e-12);
        assert!((h.calibrate(0.5) - 0.75).abs() < 1e-12);
    }

    #[test]
    fn stage2_decides_within_the_margin_of_stage1() {
        let m = RouterModel::embedded().expect("shipped router");
        let r = m.abstain_margin;
        assert_eq!(m.resolve(0.50, 0.52), 0.52, "close verdicts are kept");
        assert!((m.resolve(0.50, 0.95) - (0.50 + r)).abs() < 1e-12);
        assert!((m.resolve(0.50, 0.05) - (0.50 - r)).abs() < 1e-12);
    }

    #[test]
    fn embedded_router_loads() {
        let m = RouterModel::embedded().expect("shipped router");
        assert_eq!(m.stage1.dims(), super::super::features::COUNT);
    }
}

/// The quality store inside the router JSON (its own packed format, see frugal-router).
mod quality_json {
    use frugal_router::QualityStore;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(q: &Option<QualityStore>, s: S) -> Result<S::Ok, S::Error> {
        q.as_ref().map(QualityStore::to_json).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<QualityStore>, D::Error> {
        let v: Option<serde_json::Value> = Option::deserialize(d)?;
        v.map(|v| QualityStore::from_json(&v).map_err(serde::de::Error::custom))
            .transpose()
    }
}
