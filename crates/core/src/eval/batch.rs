//! Offline routing of a whole data set (`frugal route --batch`): each row becomes a chat
//! request, the real pipeline plans it, one JSON line per row comes out. No upstream call
//! is ever made; only the plan is computed.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{anyhow, Context, Result};
use rust_decimal::prelude::ToPrimitive;
use serde::Serialize;

use super::data::{ModelPrice, PriceTable, Row};
use crate::config::Config;
use crate::pipeline::{Pipeline, RouteContext};

/// What the pipeline decided for one row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteDecision {
    /// Continuous complexity score, higher = needs a stronger model; `None` when the
    /// request named a concrete model and nothing was scored.
    pub score: Option<f64>,
    pub tier: String,
    /// Which classifier stage decided, or how the model was chosen without one.
    pub stage: String,
    pub model: String,
    pub est_cost_usd: f64,
}

#[derive(Serialize)]
struct OutLine<'a, T: Serialize> {
    id: &'a str,
    #[serde(flatten)]
    decision: &'a T,
}

/// Rows routed and how long it took.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BatchStats {
    pub rows: usize,
    pub seconds: f64,
}

impl BatchStats {
    pub fn rows_per_second(&self) -> f64 {
        self.rows as f64 / self.seconds.max(1e-9)
    }
}

/// Routes every row of `input` (JSONL, streamed) and writes `{"id", …}` lines to `out`, in
/// input order: the row's id, then the fields of what `router` says of it (a
/// `RouteDecision`: score, tier, stage, model, est_cost_usd; or per-model predictions).
pub fn run_route_batch<T: Serialize>(
    input: &Path,
    router: &dyn Fn(&Row) -> Result<T>,
    out: &mut dyn Write,
) -> Result<BatchStats> {
    let file = File::open(input).with_context(|| format!("cannot open {}", input.display()))?;
    let start = Instant::now();
    let bar = super::progress_bar(None, "routing");
    let mut rows = 0usize;
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line =
            line.with_context(|| format!("{}: cannot read line {}", input.display(), n + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(&line)
            .with_context(|| format!("{}:{}: not a routing row", input.display(), n + 1))?;
        let decision = router(&row).with_context(|| format!("routing row {}", row.id))?;
        serde_json::to_writer(
            &mut *out,
            &OutLine {
                id: &row.id,
                decision: &decision,
            },
        )?;
        out.write_all(b"\n")?;
        rows += 1;
        bar.inc(1);
    }
    out.flush()?;
    bar.finish_and_clear();
    Ok(BatchStats {
        rows,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// The real pipeline, set up for offline planning: every configured provider counts as
/// usable, so a plan shows what frugal *would* route to without API keys being present
/// (nothing is ever sent).
pub struct OfflineRouter {
    pipeline: Pipeline,
    /// The request's model field: "auto" or a profile such as "frugal/eco".
    model: String,
}

impl OfflineRouter {
    pub fn new(mut config: Config, model: &str) -> Result<OfflineRouter> {
        for p in config.providers.values_mut() {
            p.keyless = true;
        }
        Ok(OfflineRouter {
            pipeline: Pipeline::new(Arc::new(config))?,
            model: model.to_string(),
        })
    }

    pub fn decide(&self, row: &Row) -> Result<RouteDecision> {
        let req = row.to_chat_request(&self.model)?;
        let plan = self
            .pipeline
            .plan(&req, &RouteContext::default())
            .map_err(|e| anyhow!("{e}"))?;
        let first = plan
            .candidates
            .first()
            .ok_or_else(|| anyhow!("the plan has no candidate"))?;
        let stage = match &plan.classification {
            Some(c) => c.stage.to_string(),
            None => serde_json::to_value(plan.decision)?
                .as_str()
                .unwrap_or("unscored")
                .to_string(),
        };
        Ok(RouteDecision {
            score: plan.classification.as_ref().map(|c| c.score),
            tier: plan.tier.as_str().to_string(),
            stage,
            model: first.model.clone(),
            est_cost_usd: first.est_cost_usd.to_f64().unwrap_or(f64::NAN),
        })
    }

    /// The classifier, for measuring its stages one by one.
    pub fn classifier(&self) -> Arc<crate::pipeline::classify::Classifier> {
        self.pipeline.classifier()
    }

    /// The score alone, for `frugal eval`; an error when the pipeline did not score.
    pub fn score(&self, row: &Row) -> Result<f64> {
        self.decide(row)?.score.ok_or_else(|| {
            anyhow!(
                "the pipeline did not score row {}: route with a routing alias such as \"auto\"",
                row.id
            )
        })
    }

    /// Catalogue prices (USD per 1M tokens) of every configured model, for `--models`
    /// data sets that use catalogue model names.
    pub fn catalog_prices(&self) -> PriceTable {
        let mut t = PriceTable::default();
        for (name, m) in &self.pipeline.config().models {
            let (Some(i), Some(o)) = (m.prices.input.to_f64(), m.prices.output.to_f64()) else {
                continue;
            };
            t.models.insert(
                name.clone(),
                ModelPrice {
                    input_per_mtok: i,
                    output_per_mtok: o,
                },
            );
        }
        t
    }
}
