//! `frugal simulate`: replay a routing data set through the real pipeline and the real
//! feedback loop, in-process (no upstream, no mock server, no database): the "answer" to a
//! row is its data-set score for the model of the tier the router chose, fed back as
//! explicit feedback; after every window of rows the controller takes one step, exactly as
//! the server's loop does every `interval_secs`, and its boundaries are applied at once.

mod data;
mod output;
mod run;
#[cfg(test)]
mod tests;

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;

pub use data::{tier_models, SimRow, TierModels};
pub use output::{render_plot, render_table};
pub use run::{simulate, Analysis, SimOptions, SimReport, WindowStats};

use crate::pipeline::Pipeline;

/// Where the boundaries start.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start {
    /// Everything to the cheapest tier: boundaries [1, 1, 1].
    Cheap,
    /// Everything to the top tier: boundaries [0, 0, 0].
    Top,
    /// The configured `routing.boundaries`.
    Config,
}

#[derive(Args, Debug)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub config: crate::config::ConfigArg,
    /// Routing data set (JSONL rows with per-model `scores`).
    #[arg(long)]
    pub data: PathBuf,
    /// Prices file shaped like models.json; wins over rows' `cost_usd`.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Starting boundaries (cheap and top are the deliberately bad ones).
    #[arg(long, value_enum, default_value = "cheap")]
    pub start: Start,
    /// Quality floor (default: `[feedback] floor`).
    #[arg(long)]
    pub floor: Option<f64>,
    /// Quality ceiling (default: `[feedback] ceiling`).
    #[arg(long)]
    pub ceiling: Option<f64>,
    /// Passes over the data set (reshuffled each round).
    #[arg(long, default_value_t = 10)]
    pub rounds: u32,
    /// Requests per window; one window = one controller step (`interval_secs`).
    #[arg(long, default_value_t = 100)]
    pub window: usize,
    /// Seed of the shuffle.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Data-set models for the four tiers, cheapest first (default: four models spread
    /// over the price-sorted, quality-Pareto models of the data set).
    #[arg(long, value_delimiter = ',')]
    pub tier_models: Vec<String>,
    /// Output tokens assumed per answer when costing from per-token prices.
    #[arg(long, default_value_t = 256)]
    pub output_tokens: u32,
    /// Write quality, cost and boundaries over time as an SVG chart.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// Print the report as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Which feedback rule moves the boundaries.
    #[arg(long, value_enum, default_value = "per-tier")]
    pub controller: crate::ledger::blended::ControllerKind,
}

/// The real pipeline, planning offline: every provider counts as usable without keys.
pub fn offline_pipeline(mut config: crate::config::Config) -> Result<Pipeline> {
    for p in config.providers.values_mut() {
        p.keyless = true;
    }
    Pipeline::new(Arc::new(config))
}

pub fn simulate_command(args: &SimulateArgs) -> Result<()> {
    let config = args.config.load()?;
    let mut loop_config = config.feedback.clone();
    loop_config.enabled = true;
    loop_config.dry_run = false;
    loop_config.floor = args.floor.unwrap_or(loop_config.floor);
    loop_config.ceiling = args.ceiling.unwrap_or(loop_config.ceiling);
    if !(0.0..1.0).contains(&loop_config.floor)
        || loop_config.ceiling <= loop_config.floor
        || loop_config.ceiling > 1.0
    {
        bail!(
            "need 0 <= floor < ceiling <= 1, got {} and {}",
            loop_config.floor,
            loop_config.ceiling
        );
    }
    if args.window == 0 || args.rounds == 0 {
        bail!("--window and --rounds must be at least 1");
    }
    let start = match args.start {
        Start::Cheap => [1.0; 3],
        Start::Top => [0.0; 3],
        Start::Config => config.routing.boundaries,
    };
    let rows = crate::eval::load_rows(&args.data)?;
    let prices = args
        .prices
        .as_deref()
        .map(crate::eval::PriceTable::load)
        .transpose()?;
    let tiers = tier_models(
        &rows,
        prices.as_ref(),
        &args.tier_models,
        f64::from(args.output_tokens),
    )?;
    let sim_rows = data::sim_rows(
        &rows,
        &tiers,
        prices.as_ref(),
        f64::from(args.output_tokens),
    )?;
    let base = config.routing.boundaries;
    let pipeline = offline_pipeline(config)?;
    let opts = SimOptions {
        loop_config,
        start,
        rounds: args.rounds,
        window: args.window,
        seed: args.seed,
        controller: args.controller,
        base,
    };
    let bar = crate::eval::progress_bar(Some(sim_rows.len() * args.rounds as usize), "simulating");
    let mut report = simulate(&pipeline, &sim_rows, &opts, &|| bar.inc(1))?;
    bar.finish_and_clear();
    report.data = args.data.display().to_string();
    report.tier_models = tiers;
    report.start = args.start;
    if let Some(path) = &args.plot {
        std::fs::write(path, render_plot(&report))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_table(&report));
    }
    Ok(())
}
