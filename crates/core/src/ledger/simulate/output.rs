//! The simulation report for people: a table of windows with the verdict, and an SVG of
//! quality (with the floor), cost and boundaries over time, three stacked panels drawn by
//! the evaluator's hand-written chart code.

use std::fmt::Write as _;

use super::run::{rolling_quality, SimReport};
use crate::eval::plot::{render_svg, Chart, Series, Style};

/// At most this many window rows in the table (evenly spaced, plus every window with a move).
const TABLE_ROWS: usize = 40;

pub fn render_table(r: &SimReport) -> String {
    let a = &r.analysis;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "data {}  rows {}  rounds {}  window {} requests  seed {}  start {:?} {:?}",
        r.data, r.rows, r.rounds, r.window, r.seed, r.start, r.start_boundaries
    );
    let _ = writeln!(
        s,
        "floor {}  ceiling {}  min_samples {}  cool-down {} windows  costs from {}",
        a.floor, r.ceiling, r.min_samples, r.cooldown_windows, r.tier_models.cost_source
    );
    for (i, m) in r.tier_models.models.iter().enumerate() {
        let _ = writeln!(
            s,
            "  tier {i} → {m}  (mean quality {:.3}, mean cost ${:.6})",
            r.tier_models
                .mean_quality
                .get(i)
                .copied()
                .unwrap_or(f64::NAN),
            r.tier_models
                .mean_cost_usd
                .get(i)
                .copied()
                .unwrap_or(f64::NAN)
        );
    }
    let _ = writeln!(
        s,
        "\n{:>6} {:>5} {:>8} {:>8} {:>11} {:>21} {:>19}  events",
        "window", "reqs", "quality", "rolling", "cost $", "boundaries", "tier mix %"
    );
    let rolling = rolling_quality(&r.windows);
    let every = r.windows.len().div_ceil(TABLE_ROWS).max(1);
    for (j, w) in r.windows.iter().enumerate() {
        let last = j + 1 == r.windows.len();
        if j % every != 0 && w.events.is_empty() && !last {
            continue;
        }
        let pct = |n: usize| 100.0 * n as f64 / w.requests.max(1) as f64;
        let _ = writeln!(
            s,
            "{:>6} {:>5} {:>8.3} {:>8.3} {:>11.7} {:>6.3} {:>6.3} {:>6.3} {:>4.0} {:>4.0} {:>4.0} {:>4.0}  {}",
            w.window, w.requests, w.quality, rolling[j], w.cost_usd,
            w.boundaries[0], w.boundaries[1], w.boundaries[2],
            pct(w.tier_mix[0]), pct(w.tier_mix[1]), pct(w.tier_mix[2]), pct(w.tier_mix[3]),
            w.events.len()
        );
        for e in &w.events {
            let _ = writeln!(s, "{:>8}{e}", "");
        }
    }
    let _ = writeln!(
        s,
        "\nall cheapest tier: quality {:.3}, cost ${:.7}; all top tier: quality {:.3}, cost ${:.7}",
        a.all_cheap_quality, a.all_cheap_cost_usd, a.all_top_quality, a.all_top_cost_usd
    );
    let _ = writeln!(
        s,
        "final (last quarter): quality {:.3} (floor {} ± {}), cost ${:.7} = {:.1} % of all-top; boundaries {:.3?}",
        a.final_quality, a.floor, a.tolerance, a.final_cost_usd, 100.0 * a.cost_vs_top, r.final_boundaries
    );
    let _ = writeln!(
        s,
        "converged: {}; reversals after convergence per boundary {:?} → oscillation check {}",
        a.converged_at
            .map_or("no".to_string(), |w| format!("from window {w}")),
        a.reversals,
        if a.oscillates {
            "FAILED"
        } else {
            "passed (≤ 1 each)"
        }
    );
    let _ = writeln!(
        s,
        "target (within {} of the floor, cheaper than all-top, no oscillation): {}",
        a.tolerance,
        if a.meets_target { "MET" } else { "MISSED" }
    );
    s
}

fn line(name: &str, points: Vec<(f64, f64)>, style: Style) -> Series {
    Series {
        name: name.into(),
        points,
        style,
    }
}

/// Three panels (quality, cost, boundaries) stacked in one SVG document.
pub fn render_plot(r: &SimReport) -> String {
    let a = &r.analysis;
    let x = |j: usize| j as f64;
    let last = r.windows.len().saturating_sub(1) as f64;
    let flat = |y: f64| vec![(0.0, y), (last, y)];
    let rolling = rolling_quality(&r.windows);
    let title = format!(
        "{} — start {:?}, floor {}",
        std::path::Path::new(&r.data)
            .file_name()
            .map_or(r.data.clone(), |f| f.to_string_lossy().into_owned()),
        r.start,
        a.floor
    );
    let quality = Chart {
        title: format!("{title}: quality per window"),
        x_label: format!("window ({} requests each)", r.window),
        y_label: "mean quality".into(),
        series: vec![
            line(
                "window",
                r.windows.iter().map(|w| (x(w.window), w.quality)).collect(),
                Style::Markers,
            ),
            line(
                "rolling mean",
                rolling
                    .iter()
                    .enumerate()
                    .map(|(j, q)| (x(j), *q))
                    .collect(),
                Style::Line,
            ),
            line("floor", flat(a.floor), Style::Dashed),
            line("floor ± 0.02", flat(a.floor - a.tolerance), Style::Dashed),
            line("floor + 0.02", flat(a.floor + a.tolerance), Style::Dashed),
        ],
        log_x: false,
    };
    let cost = Chart {
        title: "cost per request".into(),
        x_label: "window".into(),
        y_label: "mean cost (USD)".into(),
        series: vec![
            line(
                "window",
                r.windows
                    .iter()
                    .map(|w| (x(w.window), w.cost_usd))
                    .collect(),
                Style::Line,
            ),
            line("all top tier", flat(a.all_top_cost_usd), Style::Dashed),
            line(
                "all cheapest tier",
                flat(a.all_cheap_cost_usd),
                Style::Dashed,
            ),
        ],
        log_x: false,
    };
    let bounds = Chart {
        title: "tier boundaries".into(),
        x_label: "window".into(),
        y_label: "boundary".into(),
        series: (0..3)
            .map(|b| {
                line(
                    &format!("b{b}"),
                    r.windows
                        .iter()
                        .map(|w| (x(w.window), w.boundaries[b]))
                        .collect(),
                    Style::Line,
                )
            })
            .collect(),
        log_x: false,
    };
    let panels = [quality, cost, bounds].map(|c| render_svg(&c));
    let (w, h) = (840.0, 480.0);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{}\" viewBox=\"0 0 {w} {}\">\n",
        3.0 * h,
        3.0 * h
    );
    for (i, p) in panels.iter().enumerate() {
        s.push_str(&p.replacen("<svg ", &format!("<svg y=\"{}\" ", i as f64 * h), 1));
    }
    s.push_str("</svg>\n");
    s
}
