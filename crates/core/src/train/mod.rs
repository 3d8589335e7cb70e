//! `frugal train`: learn the router's stage-1 (features) and stage-2 (features ‖ embedding)
//! heads from rows with per-model scores and from frugal's own ledger with its feedback,
//! and `frugal crossval`: measure a router trained on some task groups on the groups it
//! never saw, fold by fold.

pub mod crossval;
pub mod labels;
pub mod ledger;
pub mod ridge;

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};

use crate::eval::{load_rows, PriceTable, Row};
use crate::pipeline::classify::embedder::Embedder;
use crate::pipeline::classify::features::{self, NAMES};
use crate::pipeline::classify::model::{LinearHead, Provenance, RouterModel, FORMAT};
use crate::pipeline::classify::text::{request_texts, Signals};
use crate::types::ChatRequest;
use labels::LabelOverrides;

/// Ridge strengths tried; the one with the lowest grouped-CV error wins.
const ALPHAS: [f64; 6] = [1.0, 10.0, 100.0, 1_000.0, 10_000.0, 100_000.0];
/// Group-to-fold assignments the strength is chosen over.
const ALPHA_SEEDS: u64 = 3;
/// Stage 1 abstains within this distance (in calibrated score) of a tier boundary.
pub const DEFAULT_ABSTAIN_MARGIN: f64 = 0.08;

#[derive(Debug, Clone, clap::Args)]
pub struct TrainArgs {
    /// Routing data files (JSONL rows with per-model `scores`).
    #[arg(long = "data", required_unless_present = "ledger")]
    pub data: Vec<PathBuf>,
    /// Also learn from this ledger (SQLite file or postgres:// URL): routed-down requests
    /// whose conversation was stored (`[ledger] store_prompts = true`) and that got feedback.
    #[arg(long)]
    pub ledger: Option<String>,
    /// How far back to read the ledger: 30m, 12h, 7d, 4w, or "all".
    #[arg(long, default_value = "all", requires = "ledger")]
    pub since: String,
    /// Where to write the router model (JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Prices (models.json shape) used to tell cheap models from strong ones.
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Use this model as "strong" in every file (default: each file's best model).
    #[arg(long)]
    pub strong: Option<String>,
    /// Use these models as "cheap" in every file (default: priced near each file's cheapest).
    #[arg(long, value_delimiter = ',')]
    pub cheap: Vec<String>,
    /// Also train stage 2 on this sentence embedding: `builtin` (the shipped static table)
    /// or a sentence-transformers model folder.
    #[arg(long)]
    pub embedding: Option<String>,
}

/// The embedder named by `--embedding`.
pub fn embedder(spec: Option<&str>) -> Result<Option<Embedder>> {
    match spec {
        None => Ok(None),
        Some("builtin") => Ok(Some(Embedder::builtin()?)),
        Some(dir) => Ok(Some(Embedder::full(Path::new(dir))?)),
    }
}

/// One training example: the classifier's inputs and its label.
#[derive(Debug, Clone)]
pub struct Example {
    pub x: Vec<f64>,
    /// Stage-2 inputs (features ‖ embedding), when training with an embedding.
    pub x2: Option<Vec<f64>>,
    pub y: f64,
    pub group: String,
}

/// A row's stage-1 inputs and, with an embedder, its stage-2 inputs.
pub type Inputs = (Vec<f64>, Option<Vec<f64>>);

/// Stage-1 and (with an embedder) stage-2 inputs of rows, exactly as the serving
/// classifier computes them.
pub fn featurize(
    rows: &[Row],
    signals: &Signals,
    embedder: Option<&Embedder>,
) -> Result<Vec<Inputs>> {
    rows.iter()
        .map(|r| {
            Ok(featurize_request(
                &r.to_chat_request("auto")?,
                signals,
                embedder,
            ))
        })
        .collect()
}

/// One request's stage-1 and (with an embedder) stage-2 inputs.
pub fn featurize_request(
    req: &ChatRequest,
    signals: &Signals,
    embedder: Option<&Embedder>,
) -> Inputs {
    let texts = request_texts(req);
    let text = texts.scored().text;
    let x = features::extract(text, signals.vocab()).to_vec();
    let x2 = embedder.map(|e| {
        let mut v = x.clone();
        v.extend(e.embed(text).iter().map(|f| f64::from(*f)));
        v
    });
    (x, x2)
}

/// What turns rows into examples: label overrides, lexical resources, optional embedder.
pub struct Featurizer<'a> {
    pub overrides: &'a LabelOverrides,
    pub signals: &'a Signals,
    pub embedder: Option<&'a Embedder>,
}

/// Load files and turn them into labelled examples (rows lacking a needed score are skipped).
pub fn examples(
    paths: &[PathBuf],
    prices: Option<&PriceTable>,
    f: &Featurizer<'_>,
) -> Result<(Vec<Example>, Vec<String>)> {
    let (o, signals) = (f.overrides, f.signals);
    let mut out = vec![];
    let mut notes = vec![];
    for path in paths {
        let rows = load_rows(path)?;
        let spec =
            labels::choose(&rows, prices, o).with_context(|| format!("{}", path.display()))?;
        let gains = labels::gains(&rows, &spec);
        let xs = featurize(&rows, signals, f.embedder)?;
        let before = out.len();
        for ((row, (x, x2)), g) in rows.iter().zip(xs).zip(gains) {
            if let Some(y) = g {
                let group = format!(
                    "{}:{}",
                    file_name(path),
                    row.task.clone().unwrap_or_default()
                );
                out.push(Example { x, x2, y, group });
            }
        }
        notes.push(format!(
            "{} ({} rows; strong {}, cheap {})",
            file_name(path),
            out.len() - before,
            spec.strong,
            spec.cheap.join(" + ")
        ));
    }
    if out.is_empty() {
        bail!("no usable training rows");
    }
    Ok((out, notes))
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Squared error of ridge(`alpha`) predicting each fold of `folds` (5) from the others.
fn cv_error(x: &[Vec<f64>], y: &[f64], folds: &[usize], alpha: f64) -> Result<f64> {
    let mut sse = 0.0;
    for k in 0..5 {
        let (tr, te): (Vec<usize>, Vec<usize>) = (0..x.len()).partition(|i| folds[*i] != k);
        if tr.is_empty() || te.is_empty() {
            continue;
        }
        let xt: Vec<Vec<f64>> = tr.iter().map(|i| x[*i].clone()).collect();
        let yt: Vec<f64> = tr.iter().map(|i| y[*i]).collect();
        let (mu, sd) = ridge::standardiser(&xt);
        let w = ridge::fit(&xt, &yt, &mu, &sd, alpha)?;
        let y_mean = yt.iter().sum::<f64>() / yt.len() as f64;
        let xs: Vec<Vec<f64>> = te.iter().map(|i| x[*i].clone()).collect();
        for (p, i) in ridge::predict(&xs, &mu, &sd, &w).iter().zip(&te) {
            sse += (p + y_mean - y[*i]).powi(2);
        }
    }
    Ok(sse)
}

/// The ridge strength with the lowest grouped cross-validation error, summed over several
/// group-to-fold assignments: with one, the choice flipped between neighbouring strengths
/// with the assignment (which hashes the group names, file names included).
fn choose_alpha<'a>(
    x: &[Vec<f64>],
    y: &[f64],
    groups: impl Iterator<Item = &'a str> + Clone,
) -> Result<f64> {
    let assignments: Vec<Vec<usize>> = (0..ALPHA_SEEDS)
        .map(|seed| crossval::group_folds(groups.clone(), 5, seed))
        .collect();
    let mut best = (f64::INFINITY, ALPHAS[0]);
    for alpha in ALPHAS {
        let mut sse = 0.0;
        for folds in &assignments {
            sse += cv_error(x, y, folds, alpha)?;
        }
        if sse < best.0 {
            best = (sse, alpha);
        }
    }
    Ok(best.1)
}

/// Fit a head on stage-1 (`stage2 = false`) or stage-2 inputs: alpha by grouped
/// cross-validation (mean squared error), then on all rows.
pub fn fit_head(ex: &[Example], stage2: bool) -> Result<(LinearHead, f64)> {
    let x: Vec<Vec<f64>> = ex
        .iter()
        .map(|e| {
            if stage2 {
                e.x2.clone().unwrap_or_default()
            } else {
                e.x.clone()
            }
        })
        .collect();
    let y: Vec<f64> = ex.iter().map(|e| e.y).collect();
    let alpha = choose_alpha(&x, &y, ex.iter().map(|e| e.group.as_str()))?;
    let (mu, sd) = ridge::standardiser(&x);
    let w = ridge::fit(&x, &y, &mu, &sd, alpha)?;
    let quantiles = ridge::percentiles(&ridge::predict(&x, &mu, &sd, &w));
    Ok((
        LinearHead {
            mu,
            sd,
            w,
            quantiles,
        },
        alpha,
    ))
}

/// Train a router model from examples; with stage-2 inputs, `embedding_id` names them.
pub fn train_model(
    ex: &[Example],
    files: Vec<String>,
    embedding_id: Option<String>,
) -> Result<RouterModel> {
    let (stage1, alpha) = fit_head(ex, false)?;
    let stage2 = match (&embedding_id, ex.first().is_some_and(|e| e.x2.is_some())) {
        (Some(_), true) => Some(fit_head(ex, true)?.0),
        _ => None,
    };
    Ok(RouterModel {
        format: FORMAT,
        features: NAMES.iter().map(|s| s.to_string()).collect(),
        stage1,
        abstain_margin: DEFAULT_ABSTAIN_MARGIN,
        stage2,
        embedding_id,
        provenance: Provenance {
            files,
            rows: ex.len(),
            label: "gain = strong − mean(cheap)".into(),
            alpha,
        },
        quality: None,
    })
}

pub fn run(args: &TrainArgs) -> Result<()> {
    let spinner = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]")?);
    spinner.enable_steady_tick(std::time::Duration::from_millis(120));
    spinner.set_message("computing features and labels");
    let prices = args.prices.as_deref().map(PriceTable::load).transpose()?;
    let overrides = LabelOverrides {
        strong: args.strong.clone(),
        cheap: args.cheap.clone(),
    };
    let signals = Signals::builtin()?;
    let embedder = embedder(args.embedding.as_deref())?;
    let f = Featurizer {
        overrides: &overrides,
        signals: &signals,
        embedder: embedder.as_ref(),
    };
    // The difficulty heads need to know which models are cheap (prices); the per-model
    // quality store does not. Without prices, the store is still learned and the heads
    // are the built-in router's.
    let mut heads_from_builtin = None;
    let (mut ex, mut notes) = if args.data.is_empty() {
        (vec![], vec![])
    } else {
        match examples(&args.data, prices.as_ref(), &f) {
            Ok(x) => x,
            Err(e) if args.ledger.is_none() => {
                heads_from_builtin = Some(format!("{e:#}"));
                (vec![], vec![])
            }
            Err(e) => return Err(e),
        }
    };
    if let Some(target) = &args.ledger {
        spinner.set_message("reading the ledger");
        let since_ms = crate::ledger::now_ms()
            .saturating_sub(crate::ledger::report::parse_since(&args.since)?);
        let (more, note) = ledger::examples(target, since_ms, &signals, embedder.as_ref())?;
        ex.extend(more);
        notes.push(note);
        // Measured: on traffic unlike the data files, ledger rows made routing worse
        // (docs/benchmarks.md, "Learning from the ledger"); say so where it is used.
        eprintln!(
            "note: ledger labels take the baseline's average quality as the strong model's, so a \
             cheap model's failure on a question every model fails counts as gain; score the new \
             router with `frugal eval` on held-out data before serving it"
        );
        if args.data.is_empty() {
            // Scores are calibrated to the training rows' percentiles: here, to the traffic
            // that was routed down, so the same boundaries will route more requests up.
            eprintln!(
                "warning: trained on ledger rows only: scores are calibrated to your routed-down \
                 traffic, not to all of it, so tier boundaries mean something different; add \
                 --data files (the shipped recipe, docs/classifier.md) to keep them comparable"
            );
        }
    }
    spinner.set_message(format!("fitting on {} rows", ex.len()));
    let mut model = match &heads_from_builtin {
        None => train_model(
            &ex,
            notes.clone(),
            embedder.as_ref().map(|e| e.id().to_string()),
        )?,
        Some(why) => {
            eprintln!(
                "note: difficulty heads not trained ({why}); the router keeps the built-in heads \
                 and learns per-model quality from the files"
            );
            RouterModel::embedded()?
        }
    };
    spinner.finish_and_clear();
    if !args.data.is_empty() {
        // Per-model quality for model-aware routing, on the same embedding as stage 2 (the
        // built-in static table unless --embedding names another).
        let quality_embedder = match embedder {
            Some(e) => e,
            None => Embedder::builtin()?,
        };
        let mut rows = Vec::new();
        for path in &args.data {
            rows.extend(load_rows(path)?);
        }
        let refs: Vec<&Row> = rows.iter().collect();
        let store = crate::quality::store_from_rows(&refs, &quality_embedder)?;
        eprintln!(
            "quality store: {} labelled rows, {} models ({})",
            store.rows(),
            store.models().len(),
            store.models().join(", ")
        );
        model.quality = Some(store);
    }
    std::fs::write(&args.out, model.to_json()?)
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    if heads_from_builtin.is_none() {
        print_heads(&model, ex.len(), &notes);
    }
    eprintln!("wrote {}", args.out.display());
    Ok(())
}

fn print_heads(model: &RouterModel, rows: usize, notes: &[String]) {
    eprintln!(
        "trained on {rows} rows (ridge alpha {}):",
        model.provenance.alpha
    );
    for n in notes {
        eprintln!("  {n}");
    }
    let mut order: Vec<usize> = (0..NAMES.len()).collect();
    order.sort_by(|a, b| {
        model.stage1.w[*b]
            .abs()
            .total_cmp(&model.stage1.w[*a].abs())
    });
    eprintln!("stage-1 weights (per standard deviation):");
    for i in order {
        eprintln!("  {:<16} {:+.4}", NAMES[i], model.stage1.w[i]);
    }
}
