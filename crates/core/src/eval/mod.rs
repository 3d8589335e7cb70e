//! Router evaluation (`frugal eval`, `frugal route --batch`): measures how well a router's
//! scores trade cost for quality on public per-prompt quality data, exactly as RouteLLM
//! scores a router, and beside fixed baselines. It never calls an upstream model.
//!
//! The core takes router scores as plain data (`&[f64]` aligned with rows, higher = needs
//! a stronger model), so it is tested without the pipeline; `OfflineRouter` plugs the
//! real pipeline in for the CLI.

pub mod aware;
mod baselines;
mod batch;
pub mod data;
mod evaluate;
pub mod metrics;
pub mod multi;
pub mod plot;
pub mod report;
pub mod tiers;

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

pub use baselines::{length_scores, random_scores};
pub use batch::{run_route_batch, BatchStats, OfflineRouter, RouteDecision};
pub use data::{load_rows, PriceTable, Row};
pub use evaluate::{
    all_models, eval_multi, eval_pair, rows_with_scores, AwarePredictions, Pricing, Setup,
};
pub use report::EvalReport;

/// `frugal eval`: score a router on a routing data set.
#[derive(Debug, Clone, clap::Args)]
pub struct EvalArgs {
    #[command(flatten)]
    pub config: crate::config::ConfigArg,
    /// Routing data (JSONL: `id`, `prompt`, per-model `scores`, optional `cost_usd`).
    #[arg(long)]
    pub data: PathBuf,
    /// Strong model of a RouteLLM-style pair (with --weak).
    #[arg(long, requires = "weak", conflicts_with = "models")]
    pub strong: Option<String>,
    /// Weak model of the pair (with --strong).
    #[arg(long, requires = "strong")]
    pub weak: Option<String>,
    /// Multi-model mode: comma-separated models, or `all` for every model in the data.
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Tier-accuracy mode: models standing for the tiers, cheapest first; a row's tier is
    /// the first that answers it (score ≥ 0.5).
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["strong", "models", "scores", "plot"])]
    pub tiers: Vec<String>,
    /// Prices file shaped like models.json (per-model input/output or blended $/Mtok);
    /// wins over rows' `cost_usd` and the catalogue.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Output tokens assumed per answer when costing from per-token prices.
    #[arg(long, default_value_t = 256)]
    pub output_tokens: u32,
    /// Budgets for "quality at budget", as fractions of the best single model's cost.
    #[arg(long, value_delimiter = ',', default_value = "0.2,0.5,0.8")]
    pub budgets: Vec<f64>,
    /// Read the router's scores from this JSONL (`id`, `score`; e.g. `route --batch`
    /// output) instead of running the pipeline.
    #[arg(long)]
    pub scores: Option<PathBuf>,
    /// Label of the evaluated router in tables and plots.
    #[arg(long, default_value = "frugal")]
    pub name: String,
    /// Quantile bins of the threshold sweep (RouteLLM uses 10: 11 points, 0..100 %).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub bins: u16,
    /// Seeds averaged for the random baseline.
    #[arg(long, default_value_t = 10)]
    pub seeds: u64,
    /// Print the report as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the curves as an SVG chart to this file.
    #[arg(long)]
    pub plot: Option<PathBuf>,
    /// A router file from `frugal train` (overrides routing.router_model): its per-model
    /// quality store is the model-aware router when it knows the data's models.
    #[arg(long)]
    pub router: Option<PathBuf>,
    /// Without such a store, how the model-aware router is cross-validated on the data:
    /// by row (tasks seen in training) or by task (each task held out).
    #[arg(long, value_enum, default_value = "row")]
    pub cv: crate::quality::Folds,
    /// Verified answers on recorded answers (rows with `responses`): the ladder, cheapest
    /// first, comma-separated. Prints what `frugal verify --batch DATA --ladder LADDER
    /// --report` prints (quality against cost share over the thresholds, APGR-equivalent,
    /// escalation share, calls per request, beside random routing and the oracle); `--router`
    /// chooses where each row starts on the ladder, `--json` as elsewhere. docs/verify.md.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["strong", "models", "tiers", "scores"])]
    pub cascade: Vec<String>,
}

impl EvalArgs {
    /// Defaults for programmatic use (tests, scripts): pair or multi mode is set after.
    pub fn new(data: PathBuf) -> EvalArgs {
        EvalArgs {
            config: crate::config::ConfigArg::default(),
            data,
            strong: None,
            weak: None,
            models: Vec::new(),
            tiers: Vec::new(),
            prices: None,
            output_tokens: 256,
            budgets: vec![0.2, 0.5, 0.8],
            scores: None,
            name: "frugal".into(),
            bins: 10,
            seeds: 10,
            json: false,
            plot: None,
            router: None,
            cv: crate::quality::Folds::Row,
            cascade: Vec::new(),
        }
    }
}

/// Loads the data, scores the rows (from `--scores` or `scorer`) and evaluates them.
/// `catalog` prices models that neither `--prices` nor the rows price.
pub fn run_eval(
    args: &EvalArgs,
    scorer: &dyn Fn(&Row) -> Result<f64>,
    catalog: Option<&PriceTable>,
) -> Result<EvalReport> {
    run_eval_with(args, scorer, catalog, None)
}

/// Per-model estimates for the evaluated rows and models (the model-aware router).
pub type AwareFn<'a> = &'a dyn Fn(&[&Row], &[String]) -> Result<AwarePredictions>;

/// `run_eval`, with the model-aware router beside the others in multi-model mode.
pub fn run_eval_with(
    args: &EvalArgs,
    scorer: &dyn Fn(&Row) -> Result<f64>,
    catalog: Option<&PriceTable>,
    aware: Option<AwareFn<'_>>,
) -> Result<EvalReport> {
    let rows = load_rows(&args.data)?;
    let models = selected_models(args, &rows)?;
    let (used, skipped) = rows_with_scores(&rows, &models)?;
    let scores = score_rows(args, &used, scorer)?;
    let aware = match aware {
        Some(f) => Some(f(&used, &models)?),
        None => None,
    };
    let setup = Setup {
        data: report::DataSummary {
            path: args.data.display().to_string(),
            rows_total: rows.len(),
            rows_used: used.len(),
            rows_skipped: skipped,
        },
        router_name: &args.name,
        scores: &scores,
        bins: usize::from(args.bins),
        seeds: args.seeds,
        aware,
    };
    if let (Some(strong), Some(weak)) = (&args.strong, &args.weak) {
        return Ok(EvalReport::Pair(eval_pair(&setup, &used, strong, weak)?));
    }
    let prices = args.prices.as_deref().map(PriceTable::load).transpose()?;
    if let Some(bad) = args.budgets.iter().find(|b| !b.is_finite() || **b <= 0.0) {
        bail!("--budgets must be positive fractions of the best model's cost, got {bad}");
    }
    let pricing = Pricing {
        prices: prices.as_ref(),
        catalog,
        output_tokens: f64::from(args.output_tokens),
        budgets: &args.budgets,
    };
    Ok(EvalReport::Multi(eval_multi(
        &setup, &used, &models, &pricing,
    )?))
}

fn selected_models(args: &EvalArgs, rows: &[Row]) -> Result<Vec<String>> {
    if let (Some(s), Some(w)) = (&args.strong, &args.weak) {
        if s == w {
            bail!("--strong and --weak are the same model ({s})");
        }
        return Ok(vec![s.clone(), w.clone()]);
    }
    let models = if args.models.iter().any(|m| m == "all") {
        all_models(rows)
    } else {
        args.models.clone()
    };
    if models.len() < 2 {
        bail!(
            "choose --strong A --weak B, or --models a,b,... (at least two, or `all`); models in {}: {}",
            args.data.display(),
            evaluate::model_list(rows)
        );
    }
    Ok(models)
}

fn score_rows(
    args: &EvalArgs,
    rows: &[&Row],
    scorer: &dyn Fn(&Row) -> Result<f64>,
) -> Result<Vec<f64>> {
    let scores: Vec<f64> = match &args.scores {
        Some(path) => {
            let by_id = data::load_scores(path)?;
            let missing = rows.iter().filter(|r| !by_id.contains_key(&r.id)).count();
            if let Some(r) = rows.iter().find(|r| !by_id.contains_key(&r.id)) {
                bail!(
                    "{}: no score for {missing} rows, e.g. {}",
                    path.display(),
                    r.id
                );
            }
            rows.iter()
                .map(|r| by_id.get(&r.id).copied().unwrap_or(f64::NAN))
                .collect()
        }
        None => {
            let bar = progress_bar(Some(rows.len()), "scoring");
            let out = rows
                .iter()
                .map(|r| {
                    bar.inc(1);
                    scorer(r).with_context(|| format!("scoring row {}", r.id))
                })
                .collect::<Result<Vec<f64>>>();
            bar.finish_and_clear();
            out?
        }
    };
    if let Some(i) = scores.iter().position(|s| !s.is_finite()) {
        bail!(
            "router score of row {} is {} (scores must be finite)",
            rows[i].id,
            scores[i]
        );
    }
    Ok(scores)
}

/// Writes the report as a table or JSON to `out`, and the chart when `--plot` is given.
pub fn write_report(report: &EvalReport, args: &EvalArgs, out: &mut dyn Write) -> Result<()> {
    if args.json {
        serde_json::to_writer_pretty(&mut *out, report)?;
        writeln!(out)?;
    } else {
        write!(out, "{}", report::render_table(report))?;
    }
    if let Some(path) = &args.plot {
        let svg = plot::render_svg(&report::chart(report));
        std::fs::write(path, svg).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

/// A progress bar on stderr; indicatif draws nothing when stderr is not a terminal, so
/// piped runs and tests stay clean.
pub(crate) fn progress_bar(len: Option<usize>, what: &str) -> ProgressBar {
    let bar = match len {
        Some(n) => ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr()),
        None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
    };
    let template = match len {
        Some(_) => "{msg} {bar:40} {pos}/{len} rows ({per_sec}, eta {eta})",
        None => "{msg} {pos} rows ({per_sec})",
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        bar.set_style(style);
    }
    bar.set_message(what.to_string());
    bar
}

/// `frugal eval` as the CLI runs it: the real pipeline as the router (unless `--scores`),
/// catalogue prices from the configuration, report on stdout.
pub fn eval_command(args: &EvalArgs) -> Result<()> {
    if !args.cascade.is_empty() {
        return crate::verify::verify_command(&crate::verify::VerifyArgs::report(
            args.config.clone(),
            args.data.clone(),
            args.cascade.clone(),
            args.router.as_ref().map(|p| p.display().to_string()),
            args.json,
        ));
    }
    let mut config = args.config.load()?;
    if let Some(r) = &args.router {
        config.routing.router_model = Some(r.clone());
    }
    let router = OfflineRouter::new(config.clone(), "auto")?;
    if !args.tiers.is_empty() {
        let rows = load_rows(&args.data)?;
        let data = args.data.display().to_string();
        let report = tiers::evaluate(&data, &rows, &args.tiers, &router, args.seeds)?;
        let text = if args.json {
            serde_json::to_string_pretty(&report)? + "\n"
        } else {
            tiers::render_table(&report)
        };
        std::io::stdout().write_all(text.as_bytes())?;
        return Ok(());
    }
    let catalog = router.catalog_prices();
    let aware =
        |rows: &[&Row], models: &[String]| aware_predictions(&config, rows, models, args.cv);
    let report = run_eval_with(args, &|row| router.score(row), Some(&catalog), Some(&aware))?;
    let stdout = std::io::stdout();
    write_report(&report, args, &mut stdout.lock())
}

/// The model-aware router's estimates: from the configured router's quality store when it
/// knows at least two of the evaluated models (then the rows are held out only if it was
/// trained on other data), else cross-validated by row on the evaluated file (5 folds).
fn aware_predictions(
    config: &crate::config::Config,
    rows: &[&Row],
    models: &[String],
    cv: crate::quality::Folds,
) -> Result<AwarePredictions> {
    use crate::pipeline::classify::model::RouterModel;
    let model = match &config.routing.router_model {
        Some(p) => RouterModel::load(p)?,
        None => RouterModel::embedded()?,
    };
    let store = model
        .quality
        .filter(|s| models.iter().filter(|m| s.model_index(m).is_some()).count() >= 2);
    let (name, p) = match store {
        Some(store) => {
            let embedder =
                crate::quality::embedder_for(&store, config.routing.embedding_model.as_deref())?;
            let p = crate::quality::predict_rows(&store, rows, models, &embedder)?;
            ("model-aware (router's store)".to_string(), p)
        }
        None => {
            let embedder = crate::pipeline::classify::embedder::Embedder::builtin()?;
            let p = crate::quality::cross_validate(rows, models, &embedder, 5, cv)?;
            let by = match cv {
                crate::quality::Folds::Row => "row",
                crate::quality::Folds::Task => "task",
            };
            (format!("model-aware (5-fold CV by {by})"), p)
        }
    };
    Ok(AwarePredictions {
        name,
        q: p.q,
        sigma: p.sigma,
    })
}

/// `frugal route --batch IN.jsonl` as the CLI runs it: JSONL decisions on stdout, the
/// throughput on stderr.
pub fn route_batch_command(
    input: &std::path::Path,
    model: &str,
    config: crate::config::Config,
) -> Result<()> {
    let router = OfflineRouter::new(config, model)?;
    write_batch(input, &|row| router.decide(row), "routed")
}

/// Every row of `input` through `router`, JSONL on stdout, the throughput on stderr
/// (`routed` / `predicted` N rows in …).
pub fn write_batch<T: serde::Serialize>(
    input: &std::path::Path,
    router: &dyn Fn(&Row) -> Result<T>,
    verb: &str,
) -> Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let stats = match run_route_batch(input, router, &mut out) {
        Ok(stats) => stats,
        // `route --batch ... | head` closes the pipe early: that is the reader's choice,
        // not a failure worth an error message.
        Err(e) if is_broken_pipe(&e) => return Ok(()),
        Err(e) => return Err(e),
    };
    eprintln!(
        "{verb} {} rows in {:.2}s ({:.0} rows/s)",
        stats.rows,
        stats.seconds,
        stats.rows_per_second()
    );
    Ok(())
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    let broken = Some(std::io::ErrorKind::BrokenPipe);
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().map(std::io::Error::kind) == broken
            || c.downcast_ref::<serde_json::Error>()
                .and_then(serde_json::Error::io_error_kind)
                == broken
    })
}
