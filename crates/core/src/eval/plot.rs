//! A minimal hand-written SVG line chart (axes, ticks, legend, one polyline per series):
//! enough for cost/quality curves without pulling a plotting crate into the gateway.

use std::fmt::Write as _;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Solid polyline with small dots at the points.
    Line,
    /// Dashed polyline, no dots (reference lines such as "always strong").
    Dashed,
    /// Markers only (single models in the cost view).
    Markers,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
    pub style: Style,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// Logarithmic x axis: model costs span two orders of magnitude, and on a linear
    /// axis every cheap model piles up at the left edge. Ignored if any x is not > 0.
    pub log_x: bool,
}

const WIDTH: f64 = 840.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 290.0; // room for the legend
const TOP: f64 = 40.0;
const BOTTOM: f64 = 55.0;
const PALETTE: [&str; 10] = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
    "#bcbd22", "#17becf",
];

/// Renders the chart as a standalone SVG document.
pub fn render_svg(chart: &Chart) -> String {
    let xs = || {
        chart
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.0))
    };
    let log_x = chart.log_x && xs().all(|x| x > 0.0 && x.is_finite());
    let (x_ticks, x_range) = if log_x { log_axis(xs()) } else { axis(xs()) };
    let (y_ticks, y_range) = axis(
        chart
            .series
            .iter()
            .flat_map(|s| s.points.iter().map(|p| p.1)),
    );
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let tx = |x: f64| if log_x { x.log10() } else { x };
    let sx = |x: f64| LEFT + (tx(x) - tx(x_range.0)) / (tx(x_range.1) - tx(x_range.0)) * plot_w;
    let sy = |y: f64| TOP + plot_h - (y - y_range.0) / (y_range.1 - y_range.0) * plot_h;

    let mut svg = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"#,
        LEFT + plot_w / 2.0,
        escape(&chart.title)
    );
    for &t in &x_ticks.values {
        let x = sx(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{x:.1}" y1="{TOP}" x2="{x:.1}" y2="{:.1}" stroke="#eee"/><text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            TOP + plot_h,
            TOP + plot_h + 16.0,
            x_ticks.label(t)
        );
    }
    for &t in &y_ticks.values {
        let y = sy(t);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            LEFT + plot_w,
            LEFT - 6.0,
            y + 4.0,
            y_ticks.label(t)
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="black"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 12.0,
        escape(&chart.x_label)
    );
    let _ = writeln!(
        svg,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">{}</text>"#,
        TOP + plot_h / 2.0,
        escape(&chart.y_label)
    );
    for (i, s) in chart.series.iter().enumerate() {
        let color = PALETTE[i % PALETTE.len()];
        draw_series(&mut svg, s, color, (&sx, &sy));
        legend_entry(&mut svg, i, s, color);
    }
    svg.push_str("</svg>\n");
    svg
}

type Scales<'a> = (&'a dyn Fn(f64) -> f64, &'a dyn Fn(f64) -> f64);

fn draw_series(svg: &mut String, s: &Series, color: &str, (sx, sy): Scales<'_>) {
    let pts: Vec<String> = s
        .points
        .iter()
        .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
        .collect();
    match s.style {
        Style::Line | Style::Dashed => {
            let dash = if s.style == Style::Dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            };
            let _ = writeln!(
                svg,
                r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
                pts.join(" ")
            );
            if s.style == Style::Line {
                for &(x, y) in &s.points {
                    let _ = writeln!(
                        svg,
                        r#"<circle cx="{:.1}" cy="{:.1}" r="2.5" fill="{color}"/>"#,
                        sx(x),
                        sy(y)
                    );
                }
            }
        }
        Style::Markers => {
            for &(x, y) in &s.points {
                let _ = writeln!(
                    svg,
                    r#"<circle cx="{:.1}" cy="{:.1}" r="5" fill="none" stroke="{color}" stroke-width="2"/>"#,
                    sx(x),
                    sy(y)
                );
            }
        }
    }
}

fn legend_entry(svg: &mut String, i: usize, s: &Series, color: &str) {
    let x = WIDTH - RIGHT + 15.0;
    let y = TOP + 10.0 + 20.0 * i as f64;
    let mark = match s.style {
        Style::Markers => format!(
            r#"<circle cx="{:.1}" cy="{y:.1}" r="5" fill="none" stroke="{color}" stroke-width="2"/>"#,
            x + 12.0
        ),
        Style::Line | Style::Dashed => format!(
            r#"<line x1="{x:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="{color}" stroke-width="2"{}/>"#,
            x + 24.0,
            if s.style == Style::Dashed {
                r#" stroke-dasharray="6 4""#
            } else {
                ""
            }
        ),
    };
    let _ = writeln!(
        svg,
        r#"{mark}<text x="{:.1}" y="{:.1}">{}</text>"#,
        x + 30.0,
        y + 4.0,
        escape(&s.name)
    );
}

/// Tick positions plus the decimals needed to print them distinctly.
#[derive(Debug, Clone, PartialEq)]
pub struct Ticks {
    pub values: Vec<f64>,
    pub decimals: usize,
}

impl Ticks {
    fn label(&self, v: f64) -> String {
        if self.decimals == usize::MAX {
            // Log axis: each tick needs its own precision (0.02, 0.5, 10).
            let d = if v >= 1.0 {
                0
            } else {
                (-v.log10().floor()) as usize
            };
            return format!("{v:.d$}");
        }
        format!("{v:.*}", self.decimals)
    }
}

/// 1-2-5 ticks per decade covering positive data, and the range they span.
fn log_axis(values: impl Iterator<Item = f64>) -> (Ticks, (f64, f64)) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    let (lo, hi) = if hi / lo < 1.5 {
        (lo / 1.5, hi * 1.5)
    } else {
        (lo, hi)
    };
    let mut values = Vec::new();
    for e in (lo.log10().floor() as i32)..=(hi.log10().ceil() as i32) {
        for m in [1.0, 2.0, 5.0] {
            let v = m * 10f64.powi(e);
            if v >= lo / 1.0001 && v <= hi * 1.0001 {
                values.push(v);
            }
        }
    }
    (
        Ticks {
            values,
            decimals: usize::MAX,
        },
        (lo, hi),
    )
}

/// "Nice" ticks (1, 2, 5 × 10^k) covering the data, and the axis range they span.
fn axis(values: impl Iterator<Item = f64>) -> (Ticks, (f64, f64)) {
    let (mut lo, mut hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    if hi - lo < 1e-12 {
        let pad = if lo.abs() > 1e-12 {
            lo.abs() * 0.1
        } else {
            1.0
        };
        (lo, hi) = (lo - pad, hi + pad);
    }
    let ticks = nice_ticks(lo, hi, 6);
    let first = ticks.values.first().copied().unwrap_or(lo).min(lo);
    let last = ticks.values.last().copied().unwrap_or(hi).max(hi);
    (ticks, (first, last))
}

pub fn nice_ticks(lo: f64, hi: f64, target: usize) -> Ticks {
    let raw = (hi - lo) / target.max(1) as f64;
    let exp = raw.log10().floor();
    let base = 10f64.powf(exp);
    let f = raw / base;
    let nice = if f < 1.5 {
        1.0
    } else if f < 3.0 {
        2.0
    } else if f < 7.0 {
        5.0
    } else {
        10.0
    };
    let step = nice * base;
    let start = (lo / step).floor() as i64;
    let end = (hi / step).ceil() as i64;
    let values = (start..=end).map(|k| k as f64 * step).collect();
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10().floor()) as usize
    };
    Ticks { values, decimals }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let t = nice_ticks(0.0, 100.0, 6);
        assert_eq!(t.values, vec![0.0, 20.0, 40.0, 60.0, 80.0, 100.0]);
        assert_eq!(t.decimals, 0);
        let t = nice_ticks(0.61, 0.87, 6);
        assert_eq!(t.decimals, 2);
        assert!(t.values[0] <= 0.61 && *t.values.last().unwrap() >= 0.87);
    }

    #[test]
    fn svg_has_one_polyline_per_line_series_and_a_legend() {
        let chart = Chart {
            title: "a < b".into(),
            x_label: "x".into(),
            y_label: "y".into(),
            series: vec![
                Series {
                    name: "r1".into(),
                    points: vec![(0.0, 1.0), (1.0, 2.0)],
                    style: Style::Line,
                },
                Series {
                    name: "r2".into(),
                    points: vec![(0.0, 2.0), (1.0, 2.0)],
                    style: Style::Dashed,
                },
                Series {
                    name: "m".into(),
                    points: vec![(0.5, 1.5)],
                    style: Style::Markers,
                },
            ],
            log_x: false,
        };
        let svg = render_svg(&chart);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(svg.contains("a &lt; b") && svg.contains(">r1<") && svg.contains(">m<"));
    }

    #[test]
    fn log_axis_ticks_per_decade() {
        let (t, range) = log_axis([0.03, 0.4, 5.0].into_iter());
        assert_eq!(range, (0.03, 5.0));
        assert_eq!(t.values.len(), 7, "{:?}", t.values); // .05 .1 .2 .5 1 2 5
        assert_eq!(t.label(0.05), "0.05");
        assert_eq!(t.label(2.0), "2");
    }
}
