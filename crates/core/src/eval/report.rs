//! The evaluation report: the serialisable result (`--json`), its terminal tables and its
//! chart. Presentation only; every number is computed in metrics.rs / multi.rs.

use std::fmt::Write as _;

use serde::Serialize;

use super::metrics::{CurvePoint, PairMetrics};
use super::multi::{CostPoint, SingleModel};
use super::plot::{Chart, Series, Style};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum EvalReport {
    Pair(PairReport),
    Multi(MultiReport),
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataSummary {
    pub path: String,
    pub rows_total: usize,
    pub rows_used: usize,
    /// Rows without a score (or cost) for every evaluated model.
    pub rows_skipped: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelQuality {
    pub model: String,
    pub quality: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairRouter {
    pub name: String,
    pub metrics: PairMetrics,
    /// Sorted by strong share; 11 points for 10 bins.
    pub curve: Vec<CurvePoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PairReport {
    pub data: DataSummary,
    pub strong: ModelQuality,
    pub weak: ModelQuality,
    pub gap: f64,
    pub gap_standard_error: f64,
    pub bins: usize,
    pub random_seeds: usize,
    /// The evaluated router first, then prompt length, random (mean of seeds), oracle.
    pub routers: Vec<PairRouter>,
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultiRouter {
    pub name: String,
    /// In sweep order (cost rising along the ladder; the oracle's sorted by cost).
    pub curve: Vec<CostPoint>,
    /// Mean USD per query at which the router first matches the best single model.
    pub cost_to_match_best: Option<f64>,
    /// Aligned with `MultiReport::budgets`; `None` when the budget is below every point.
    pub quality_at_budgets: Vec<Option<f64>>,
    pub max_quality: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Budget {
    /// Fraction of the best single model's mean cost.
    pub fraction: f64,
    /// Mean USD per query.
    pub usd: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MultiReport {
    pub data: DataSummary,
    /// Every model, cheapest first; `on_ladder` marks the ones the sweep climbs.
    pub models: Vec<SingleModel>,
    /// Where each model's cost came from ("prices file", "row cost_usd", "catalogue").
    pub cost_sources: Vec<(String, String)>,
    pub best: SingleModel,
    pub budgets: Vec<Budget>,
    pub bins: usize,
    pub random_seeds: usize,
    /// The evaluated router first, then prompt length, random, oracle.
    pub routers: Vec<MultiRouter>,
    pub warnings: Vec<String>,
}

fn pct(x: f64) -> String {
    format!("{:.1}%", 100.0 * x)
}

/// Costs per query are tiny; per thousand queries they read as prices.
fn per_k(usd_per_query: f64) -> String {
    let v = usd_per_query * 1000.0;
    if v >= 1.0 {
        format!("${v:.3}")
    } else {
        format!("${v:.5}")
    }
}

/// The human-readable report.
pub fn render_table(report: &EvalReport) -> String {
    match report {
        EvalReport::Pair(r) => pair_table(r),
        EvalReport::Multi(r) => multi_table(r),
    }
}

fn header(out: &mut String, d: &DataSummary, warnings: &[String]) {
    let _ = writeln!(
        out,
        "data: {} ({} rows used of {}, {} skipped)",
        d.path, d.rows_used, d.rows_total, d.rows_skipped
    );
    for w in warnings {
        let _ = writeln!(out, "warning: {w}");
    }
}

fn pair_table(r: &PairReport) -> String {
    let mut out = String::new();
    header(&mut out, &r.data, &r.warnings);
    let _ = writeln!(
        out,
        "strong: {}  quality {}",
        r.strong.model,
        pct(r.strong.quality)
    );
    let _ = writeln!(
        out,
        "weak:   {}  quality {}",
        r.weak.model,
        pct(r.weak.quality)
    );
    let _ = writeln!(
        out,
        "gap:    {:.1} pp (standard error {:.1} pp); {} quantile bins, random = mean of {} seeds\n",
        100.0 * r.gap,
        100.0 * r.gap_standard_error,
        r.bins,
        r.random_seeds
    );
    let _ = writeln!(
        out,
        "{:<22} {:>6} {:>9} {:>9} {:>9}",
        "router", "APGR", "CPT(20%)", "CPT(50%)", "CPT(80%)"
    );
    for x in &r.routers {
        let m = &x.metrics;
        let _ = writeln!(
            out,
            "{:<22} {:>6.3} {:>9} {:>9} {:>9}",
            x.name,
            m.apgr,
            pct(m.cpt20),
            pct(m.cpt50),
            pct(m.cpt80)
        );
    }
    let _ = writeln!(
        out,
        "{:<22} {:>6} quality {} at 100% strong calls",
        "always-strong",
        "1",
        pct(r.strong.quality)
    );
    let _ = writeln!(
        out,
        "{:<22} {:>6} quality {} at 0% strong calls",
        "always-weak",
        "0",
        pct(r.weak.quality)
    );
    let _ = writeln!(out, "\nquality curve (strong calls → quality):");
    let _ = write!(out, "{:>5}", "point");
    for x in &r.routers {
        let _ = write!(out, "  {:>20}", truncate(&x.name, 20));
    }
    out.push('\n');
    let points = r.routers.iter().map(|x| x.curve.len()).max().unwrap_or(0);
    for i in 0..points {
        let _ = write!(out, "{i:>5}");
        for x in &r.routers {
            let cell = x
                .curve
                .get(i)
                .map(|p| format!("{} → {}", pct(p.strong_share), pct(p.quality)))
                .unwrap_or_default();
            let _ = write!(out, "  {cell:>20}");
        }
        out.push('\n');
    }
    out
}

fn multi_table(r: &MultiReport) -> String {
    let mut out = String::new();
    header(&mut out, &r.data, &r.warnings);
    let _ = writeln!(
        out,
        "\n{:<36} {:>14} {:>8}  ladder  cost from",
        "model (cheapest first)", "$/1k queries", "quality"
    );
    for m in &r.models {
        let source = r
            .cost_sources
            .iter()
            .find(|(n, _)| *n == m.model)
            .map_or("", |(_, s)| s.as_str());
        let _ = writeln!(
            out,
            "{:<36} {:>14} {:>8}  {:<6}  {}",
            truncate(&m.model, 36),
            per_k(m.cost),
            pct(m.quality),
            if m.on_ladder { "yes" } else { "-" },
            source
        );
    }
    let _ = writeln!(
        out,
        "best single model: {} ({} per 1k queries, quality {})\n",
        r.best.model,
        per_k(r.best.cost),
        pct(r.best.quality)
    );
    let _ = write!(out, "{:<22} {:>24}", "router", "cost to match best");
    for b in &r.budgets {
        let _ = write!(out, " {:>12}", format!("q@{:.0}% cost", 100.0 * b.fraction));
    }
    let _ = writeln!(out, " {:>9}", "max qual");
    for x in &r.routers {
        let matched = match x.cost_to_match_best {
            Some(c) => format!(
                "{} ({:.0}%)",
                per_k(c),
                100.0 * c / r.best.cost.max(f64::MIN_POSITIVE)
            ),
            None => "never".to_string(),
        };
        let _ = write!(out, "{:<22} {:>24}", x.name, matched);
        for q in &x.quality_at_budgets {
            let _ = write!(out, " {:>12}", q.map_or("-".to_string(), pct));
        }
        let _ = writeln!(out, " {:>9}", pct(x.max_quality));
    }
    let _ = writeln!(
        out,
        "(costs are mean USD per 1k queries; q@x% = best quality for x% of the best model's cost)"
    );
    out
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

/// The chart for `--plot`: quality vs strong share (pair) or vs cost (multi).
pub fn chart(report: &EvalReport) -> Chart {
    match report {
        EvalReport::Pair(r) => {
            let mut series: Vec<Series> = r
                .routers
                .iter()
                .map(|x| Series {
                    name: format!("{} (APGR {:.3})", x.name, x.metrics.apgr),
                    points: x
                        .curve
                        .iter()
                        .map(|p| (100.0 * p.strong_share, 100.0 * p.quality))
                        .collect(),
                    style: Style::Line,
                })
                .collect();
            for m in [&r.strong, &r.weak] {
                series.push(Series {
                    name: m.model.clone(),
                    points: vec![(0.0, 100.0 * m.quality), (100.0, 100.0 * m.quality)],
                    style: Style::Dashed,
                });
            }
            Chart {
                title: format!(
                    "{}: {} vs {}",
                    file_name(&r.data.path),
                    r.strong.model,
                    r.weak.model
                ),
                x_label: "strong model calls (%)".into(),
                y_label: "quality (%)".into(),
                series,
                log_x: false,
            }
        }
        EvalReport::Multi(r) => {
            let mut series: Vec<Series> = r
                .routers
                .iter()
                .map(|x| Series {
                    name: x.name.clone(),
                    points: x
                        .curve
                        .iter()
                        .map(|p| (1000.0 * p.cost, 100.0 * p.quality))
                        .collect(),
                    style: Style::Line,
                })
                .collect();
            series.push(Series {
                name: "single models".into(),
                points: r
                    .models
                    .iter()
                    .map(|m| (1000.0 * m.cost, 100.0 * m.quality))
                    .collect(),
                style: Style::Markers,
            });
            Chart {
                title: format!(
                    "{}: cost vs quality, {} models",
                    file_name(&r.data.path),
                    r.models.len()
                ),
                x_label: "mean cost per 1k queries (USD, log scale)".into(),
                y_label: "quality (%)".into(),
                series,
                log_x: true,
            }
        }
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}
