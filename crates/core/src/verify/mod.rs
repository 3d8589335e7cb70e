//! Verified answers. Offline: replay a cascade over a ladder of models on rows that carry
//! every model's recorded answer (`"responses": {model: text}`), and measure it.
//!
//! `answer` reduces answers to comparable forms and scores agreement, `flags` finds the red
//! flags that always escalate, `cascade` walks a request up the ladder and accounts for
//! every call, `report` turns the outcomes into quality / cost figures. This module holds
//! the data loading and `frugal verify`. No network: the answers are the recorded ones.
//!
//! Serving (pure parts; the server makes the calls): `ladder` says who answers, who checks
//! and where a doubtful answer escalates; `live` turns a live answer into evidence and a
//! confidence; `threshold` is the escalation threshold the feedback loop moves.
//! docs/verify.md describes the method, the CLI contract and the measured figures.

pub mod answer;
pub mod cascade;
pub mod flags;
pub mod ladder;
pub mod live;
pub mod report;
#[cfg(test)]
mod tests;
pub mod threshold;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

use crate::eval::Row;
pub use cascade::{trace, Outcome, Trace};
use report::{Point, Scored};

/// A routing row with the models' recorded answers (unknown fields are ignored, as for
/// [`Row`]). Answers in RouterBench's Python-list form are unwrapped on load.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RecordedRow {
    #[serde(flatten)]
    pub row: Row,
    /// Each model's answer text.
    #[serde(default)]
    pub responses: BTreeMap<String, String>,
}

/// Reads a JSONL file of rows with recorded answers; a bad line is an error naming it.
pub fn load_recorded(path: &Path) -> Result<Vec<RecordedRow>> {
    let mut rows: Vec<RecordedRow> = crate::eval::data::load_jsonl(path)?;
    for row in &mut rows {
        for text in row.responses.values_mut() {
            *text = answer::unwrap_recorded(text);
        }
    }
    Ok(rows)
}

/// `frugal verify`: replay the verified cascade on recorded answers.
#[derive(Debug, Clone, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub config: crate::config::ConfigArg,
    /// Rows with per-model recorded answers (`responses`), scores and `cost_usd` (JSONL).
    #[arg(long)]
    pub batch: PathBuf,
    /// The ladder, cheapest first, comma-separated; the last rung is always trusted.
    #[arg(long, value_delimiter = ',', required = true)]
    pub ladder: Vec<String>,
    /// Where each row starts on the ladder. Without it, at the bottom. A router file from
    /// `frugal train` (with per-model quality data), or `cv` for out-of-fold estimates from
    /// the built-in embedding trained on the other folds of this file: the row starts at the
    /// rung with the best predicted quality − 0.1 × cost share (its mean cost over the file
    /// divided by the top rung's; the lowest such rung on ties). Rungs below are not called.
    #[arg(long)]
    pub router: Option<String>,
    /// Escalate when confidence < T; repeat or comma-separate for a sweep. Default 0.5
    /// (per-row output) or 0, 0.05, …, 1, 1.01 (--report).
    #[arg(long, value_delimiter = ',')]
    pub threshold: Vec<f64>,
    /// The model whose answer checks the first rung's (default: the second rung).
    #[arg(long)]
    pub checker: Option<String>,
    /// Print the evaluation (quality vs cost share over the thresholds, APGR-equivalent,
    /// escalation, calls, random routing, oracle, cross-validated operating point) instead
    /// of one line per row and threshold.
    #[arg(long)]
    pub report: bool,
    /// With --report: one JSON object instead of text.
    #[arg(long, requires = "report")]
    pub json: bool,
    /// Cost shares are relative to this model answering alone (default: the top rung).
    #[arg(long)]
    pub reference: Option<String>,
    /// With --report: the cost share the cross-validated operating point must stay within.
    #[arg(long, default_value_t = 0.30)]
    pub budget: f64,
    /// Folds of the cross-validation by row (threshold choice, and `--router cv`).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
}

impl VerifyArgs {
    /// The evaluation report for `ladder` on `batch`, every other setting at its default
    /// (`frugal eval --cascade`).
    pub fn report(
        config: crate::config::ConfigArg,
        batch: PathBuf,
        ladder: Vec<String>,
        router: Option<String>,
        json: bool,
    ) -> VerifyArgs {
        VerifyArgs {
            config,
            batch,
            ladder,
            router,
            threshold: vec![],
            checker: None,
            report: true,
            json,
            reference: None,
            budget: 0.30,
            folds: 5,
        }
    }
}

/// One line of the per-row output, fields in the contract's order.
#[derive(Debug, Serialize)]
struct Line<'a> {
    id: &'a str,
    threshold: f64,
    calls: &'a [String],
    answered_by: &'a str,
}

/// `frugal verify`.
pub fn verify_command(args: &VerifyArgs) -> Result<()> {
    if args.ladder.is_empty() || args.ladder.iter().any(|m| m.trim().is_empty()) {
        bail!("--ladder needs at least one model name");
    }
    if args.folds < 2 {
        bail!("--folds must be at least 2");
    }
    if let Some(t) = args.threshold.iter().find(|t| !t.is_finite()) {
        bail!("--threshold {t} is not a number");
    }
    let rows = load_recorded(&args.batch)?;
    let starts = start_rungs(args, &rows)?;
    let traces: Vec<Trace> = rows
        .iter()
        .zip(&starts)
        .map(|(r, s)| {
            trace(
                &r.row.prompt,
                &args.ladder,
                *s,
                args.checker.as_deref(),
                |m| r.responses.get(m).map(String::as_str),
            )
        })
        .collect();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    if args.report {
        let text = report_text(args, &rows, &traces, &starts)?;
        out.write_all(text.as_bytes())?;
        out.flush()?;
        return Ok(());
    }
    let thresholds = if args.threshold.is_empty() {
        vec![0.5]
    } else {
        args.threshold.clone()
    };
    for (r, tr) in rows.iter().zip(&traces) {
        for t in &thresholds {
            let o = tr.decide(*t);
            let line = Line {
                id: &r.row.id,
                threshold: *t,
                calls: &o.calls,
                answered_by: &o.answered_by,
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
    }
    out.flush()?;
    Ok(())
}

/// The rung each row starts on (see `--router`).
fn start_rungs(args: &VerifyArgs, rows: &[RecordedRow]) -> Result<Vec<usize>> {
    let Some(router) = &args.router else {
        return Ok(vec![0; rows.len()]);
    };
    let plain: Vec<&Row> = rows.iter().map(|r| &r.row).collect();
    let preds = if router == "cv" {
        let embedder = crate::pipeline::classify::embedder::Embedder::builtin()?;
        crate::quality::cross_validate(
            &plain,
            &args.ladder,
            &embedder,
            args.folds,
            crate::quality::Folds::Row,
        )?
    } else {
        let cfg = args.config.load()?;
        let model = crate::pipeline::classify::model::RouterModel::load(Path::new(router))?;
        let store = model.quality.ok_or_else(|| {
            anyhow::anyhow!("{router}: this router has no per-model quality data (train one with `frugal train`)")
        })?;
        let embedder =
            crate::quality::embedder_for(&store, cfg.routing.embedding_model.as_deref())?;
        crate::quality::predict_rows(&store, &plain, &args.ladder, &embedder)?
    };
    let shares = mean_cost_shares(rows, &args.ladder);
    Ok((0..rows.len())
        .map(|i| {
            let mut best = 0;
            let mut best_u = f64::NEG_INFINITY;
            for (j, share) in shares.iter().enumerate() {
                let u = preds.q[j][i] - 0.1 * share;
                if u > best_u + 1e-12 {
                    best = j;
                    best_u = u;
                }
            }
            best
        })
        .collect())
}

/// Each rung's mean recorded cost over the rows that priced it, divided by the top rung's.
fn mean_cost_shares(rows: &[RecordedRow], ladder: &[String]) -> Vec<f64> {
    let mean = |m: &String| {
        let v: Vec<f64> = rows
            .iter()
            .filter_map(|r| r.row.cost_usd.get(m).copied())
            .collect();
        crate::eval::metrics::mean(&v)
    };
    let top = ladder.last().map_or(0.0, mean);
    ladder
        .iter()
        .map(|m| if top > 0.0 { mean(m) / top } else { 0.0 })
        .collect()
}

/// Everything `--report` prints, as one serialisable value.
#[derive(Debug, Serialize)]
struct Report {
    file: String,
    rows: usize,
    skipped: usize,
    ladder: Vec<String>,
    checker: Option<String>,
    reference: String,
    start: String,
    sweep: Vec<Point>,
    bottom_alone: (f64, f64),
    top_alone: (f64, f64),
    /// Served by the start rung, no check (only with --router).
    router_alone: Option<(f64, f64)>,
    pair: report::Pair,
    apgr_eq: f64,
    apgr_eq_normalised: f64,
    apgr_by_strong_calls: f64,
    random_apgr_eq: (f64, f64),
    oracle_apgr_eq: (f64, f64),
    oracle: (f64, f64),
    cross_validated: report::CrossValidated,
}

fn report_text(
    args: &VerifyArgs,
    rows: &[RecordedRow],
    traces: &[Trace],
    starts: &[usize],
) -> Result<String> {
    let ladder = &args.ladder;
    let (bottom, top) = match (ladder.first(), ladder.last()) {
        (Some(b), Some(t)) => (b.clone(), t.clone()),
        _ => bail!("--ladder needs at least one model name"),
    };
    let reference = args.reference.clone().unwrap_or_else(|| top.clone());
    let checker = cascade::effective_checker(ladder, 0, args.checker.as_deref());
    let mut needed: Vec<String> = ladder.clone();
    needed.extend(checker.iter().cloned());
    needed.push(reference.clone());
    needed.sort();
    needed.dedup();
    let mut scored = Vec::new();
    let mut router_alone = (0.0, 0.0);
    for ((r, tr), s) in rows.iter().zip(traces).zip(starts) {
        let models: Option<Vec<(String, f64, f64)>> = needed
            .iter()
            .map(|m| Some((m.clone(), *r.row.scores.get(m)?, *r.row.cost_usd.get(m)?)))
            .collect();
        let Some(models) = models else { continue };
        let fold = (crate::hashing::fnv1a(r.row.id.as_bytes()) % args.folds as u64) as usize;
        let start = &ladder[(*s).min(ladder.len() - 1)];
        let pick = |m: &str| {
            models
                .iter()
                .find(|x| x.0 == m)
                .map_or((0.0, 0.0), |x| (x.1, x.2))
        };
        router_alone.0 += pick(start).0;
        router_alone.1 += pick(start).1;
        scored.push(Scored {
            trace: tr.clone(),
            fold,
            models,
        });
    }
    if scored.is_empty() {
        bail!(
            "no row has scores and cost_usd for every model of the ladder, the checker and the reference ({})",
            needed.join(", ")
        );
    }
    let thresholds = if args.threshold.is_empty() {
        let mut t: Vec<f64> = (0..=20).map(|i| f64::from(i) / 20.0).collect();
        t.push(1.01);
        t
    } else {
        args.threshold.clone()
    };
    let all: Vec<&Scored> = scored.iter().collect();
    let ref_cost: f64 = scored.iter().map(|s| s.account(&alone(&reference)).1).sum();
    let sweep: Vec<Point> = thresholds
        .iter()
        .map(|t| point_of(&all, *t, ref_cost, &top))
        .collect();
    let alone_point = |m: &str| {
        let (q, c) = scored
            .iter()
            .map(|s| s.account(&alone(m)))
            .fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1));
        (
            q / scored.len() as f64,
            if ref_cost > 0.0 { c / ref_cost } else { 0.0 },
        )
    };
    let pair = report::pair(&scored, &bottom, &top);
    let curve: Vec<(f64, f64)> = scored_curve(&scored, &thresholds, &top);
    let (apgr_eq, apgr_eq_normalised) = report::apgr_equivalent(&curve, &pair);
    let rep = Report {
        file: args.batch.display().to_string(),
        rows: scored.len(),
        skipped: rows.len() - scored.len(),
        ladder: ladder.clone(),
        checker,
        reference: reference.clone(),
        start: args
            .router
            .clone()
            .map_or("bottom rung".into(), |r| format!("router {r}")),
        bottom_alone: alone_point(&bottom),
        top_alone: alone_point(&top),
        router_alone: args.router.as_ref().map(|_| {
            let n = scored.len() as f64;
            (
                router_alone.0 / n,
                if ref_cost > 0.0 {
                    router_alone.1 / ref_cost
                } else {
                    0.0
                },
            )
        }),
        pair,
        apgr_eq,
        apgr_eq_normalised,
        apgr_by_strong_calls: report::apgr_by_strong_calls(&sweep, &pair),
        random_apgr_eq: ((1.0 - pair.weak_cost_share) / 2.0, 0.5),
        oracle_apgr_eq: report::oracle_apgr(&scored, &bottom, &top),
        oracle: report::oracle(&scored, ladder, &reference),
        cross_validated: report::cross_validate(
            &scored,
            &thresholds,
            args.folds,
            args.budget,
            &reference,
            &top,
        ),
        sweep,
    };
    if args.json {
        return Ok(serde_json::to_string_pretty(&rep)? + "\n");
    }
    Ok(render(&rep))
}

/// The sweep's (cost share of the top model, quality) points.
fn scored_curve(scored: &[Scored], thresholds: &[f64], top: &str) -> Vec<(f64, f64)> {
    let all: Vec<&Scored> = scored.iter().collect();
    let top_cost: f64 = scored.iter().map(|s| s.account(&alone(top)).1).sum();
    thresholds
        .iter()
        .map(|t| {
            let p = point_of(&all, *t, top_cost, top);
            (p.cost_share, p.quality)
        })
        .collect()
}

fn point_of(rows: &[&Scored], t: f64, reference_cost: f64, top: &str) -> Point {
    report::point(rows, t, reference_cost, top)
}

/// A one-call outcome: `m` answering alone.
fn alone(m: &str) -> Outcome {
    Outcome {
        calls: vec![m.to_string()],
        answered_by: m.to_string(),
        escalated: false,
    }
}

fn render(r: &Report) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let pct = |x: f64| format!("{:.1} %", 100.0 * x);
    let _ = writeln!(
        s,
        "verify report: {} ({} rows used, {} skipped for a missing score or cost)",
        r.file, r.rows, r.skipped
    );
    let _ = writeln!(
        s,
        "ladder {}   checker {}   start: {}   cost share relative to {}",
        r.ladder.join(" → "),
        r.checker.as_deref().unwrap_or("none"),
        r.start,
        r.reference
    );
    let _ = writeln!(
        s,
        "\n{:>9} {:>9} {:>11} {:>10} {:>10} {:>10}",
        "threshold", "quality", "cost share", "escalated", "calls/req", "top calls"
    );
    for p in &r.sweep {
        let _ = writeln!(
            s,
            "{:>9.2} {:>9} {:>11} {:>10} {:>10.2} {:>10}",
            p.threshold,
            pct(p.quality),
            pct(p.cost_share),
            pct(p.escalation_share),
            p.calls_per_request,
            pct(p.top_share)
        );
    }
    let _ = writeln!(
        s,
        "\n{:<34} {:>9} {:>11}",
        "alone / baseline", "quality", "cost share"
    );
    let _ = writeln!(
        s,
        "{:<34} {:>9} {:>11}",
        format!("{} alone", r.ladder[0]),
        pct(r.bottom_alone.0),
        pct(r.bottom_alone.1)
    );
    let _ = writeln!(
        s,
        "{:<34} {:>9} {:>11}",
        format!("{} alone", r.ladder[r.ladder.len() - 1]),
        pct(r.top_alone.0),
        pct(r.top_alone.1)
    );
    if let Some((q, c)) = r.router_alone {
        let _ = writeln!(
            s,
            "{:<34} {:>9} {:>11}",
            "router's start rung, unchecked",
            pct(q),
            pct(c)
        );
    }
    let _ = writeln!(
        s,
        "{:<34} {:>9} {:>11}",
        "oracle over the ladder",
        pct(r.oracle.0),
        pct(r.oracle.1)
    );
    let _ = writeln!(
        s,
        "\nAPGR-equivalent ({} → {}, x = cost share of the top model, every call counted):",
        r.ladder[0],
        r.ladder[r.ladder.len() - 1]
    );
    let _ = writeln!(s, "  cascade {:.3}   (x normalised to (cost − weak)/(strong − weak): {:.3}; x = share of requests calling the top model: {:.3})", r.apgr_eq, r.apgr_eq_normalised, r.apgr_by_strong_calls);
    let _ = writeln!(
        s,
        "  random routing of the pair {:.3} ({:.3})   oracle {:.3} ({:.3})",
        r.random_apgr_eq.0, r.random_apgr_eq.1, r.oracle_apgr_eq.0, r.oracle_apgr_eq.1
    );
    let cv = &r.cross_validated;
    let ts: Vec<String> = cv.thresholds.iter().map(|t| format!("{t:.2}")).collect();
    let _ = writeln!(s, "\ncross-validated by row ({} folds; T chosen on the others for the best quality within cost share {}): T = [{}]", ts.len(), pct(cv.budget), ts.join(", "));
    let _ = writeln!(
        s,
        "  quality {}   cost share {}   escalated {}   calls/request {:.2}",
        pct(cv.quality),
        pct(cv.cost_share),
        pct(cv.escalation_share),
        cv.calls_per_request
    );
    s
}
