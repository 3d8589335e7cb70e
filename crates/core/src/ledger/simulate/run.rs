//! The replay itself: shuffled rows → `Pipeline::plan` → the tier's data-set score as
//! feedback → one controller step per window → `set_boundaries`; then the analysis of the
//! run (convergence to the floor, cost cut, oscillation check).

use std::collections::VecDeque;

use anyhow::{anyhow, Result};
use serde::Serialize;

use super::data::{SimRow, TierModels};
use super::Start;
use crate::ledger::blended::LoopController;
use crate::ledger::quality::{estimate, LoopConfig};
use crate::ledger::{Feedback, Signal};
use crate::pipeline::{Pipeline, RouteContext};
use crate::types::Tier;

/// Quality counts as converged within this distance of the floor.
pub const TOLERANCE: f64 = 0.02;
/// Windows in the rolling mean the convergence test uses (one window is too noisy).
pub const SMOOTH: usize = 10;

#[derive(Debug, Clone)]
pub struct SimOptions {
    pub loop_config: LoopConfig,
    pub start: [f64; 3],
    pub rounds: u32,
    /// Requests per controller step.
    pub window: usize,
    pub seed: u64,
    pub controller: crate::ledger::blended::ControllerKind,
    /// The configured boundaries (the blended controller shifts these).
    pub base: [f64; 3],
}

/// One window: the boundaries in force while it was served, what it got, and the
/// controller's events at its end.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WindowStats {
    pub window: usize,
    pub requests: usize,
    pub quality: f64,
    pub cost_usd: f64,
    pub boundaries: [f64; 3],
    pub tier_mix: [usize; 4],
    pub events: Vec<String>,
    /// Per boundary: +1 moved up, -1 down, 0 stayed (at the end of this window).
    pub moves: [i8; 3],
}

/// The verdict on a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub floor: f64,
    pub tolerance: f64,
    /// Mean quality and cost over the last quarter of the windows.
    pub final_quality: f64,
    pub final_cost_usd: f64,
    /// First window from which the rolling quality stays within `tolerance` of the floor.
    pub converged_at: Option<usize>,
    /// Direction reversals per boundary after convergence (or in the second half when the
    /// run never converged); oscillation = more than one.
    pub reversals: [usize; 3],
    pub oscillates: bool,
    pub all_cheap_quality: f64,
    pub all_cheap_cost_usd: f64,
    pub all_top_quality: f64,
    pub all_top_cost_usd: f64,
    /// Final cost as a fraction of routing everything to the top tier.
    pub cost_vs_top: f64,
    /// Converged, cheaper than all-top, and no oscillation.
    pub meets_target: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    pub data: String,
    pub start: Start,
    pub start_boundaries: [f64; 3],
    pub rows: usize,
    pub rounds: u32,
    pub window: usize,
    pub seed: u64,
    pub ceiling: f64,
    pub min_samples: u64,
    pub cooldown_windows: f64,
    pub tier_models: TierModels,
    pub final_boundaries: [f64; 3],
    pub analysis: Analysis,
    pub windows: Vec<WindowStats>,
}

/// SplitMix64, for a shuffle that is the same on every platform and version.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn shuffled(n: usize, seed: u64, round: u32) -> Vec<usize> {
    let mut rng = Rng(seed ^ u64::from(round).wrapping_mul(0xA24B_AED4_963E_E407));
    let mut v: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = (rng.next() % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

fn tier_index(t: Tier) -> usize {
    Tier::ALL.iter().position(|x| *x == t).unwrap_or(3)
}

/// Accumulates one window.
#[derive(Default)]
struct Acc {
    n: usize,
    quality: f64,
    cost: f64,
    mix: [usize; 4],
}

/// Replays `rows` for `opts.rounds` shuffled rounds through `pipeline` and the loop.
/// `tick` is called once per request (progress).
pub fn simulate(
    pipeline: &Pipeline,
    rows: &[SimRow],
    opts: &SimOptions,
    tick: &dyn Fn(),
) -> Result<SimReport> {
    let c = &opts.loop_config;
    let interval_ms = c.interval_secs as i64 * 1000;
    let window_ms = c.window_secs as i64 * 1000;
    let per = opts.window.max(1);
    pipeline.set_boundaries(opts.start);
    let mut controller = LoopController::new(opts.controller, c.clone(), opts.base, opts.start);
    let mut feedback: VecDeque<Feedback> = VecDeque::new();
    let mut windows = Vec::new();
    let mut acc = Acc::default();
    let order = (0..opts.rounds).flat_map(|r| shuffled(rows.len(), opts.seed, r));
    let total = rows.len() * opts.rounds as usize;
    for (n, i) in order.enumerate() {
        let r = &rows[i];
        let k = windows.len() as i64;
        let ts = k * interval_ms + (acc.n as i64 * interval_ms) / per as i64;
        let req = r.row.to_chat_request("auto")?;
        let plan = pipeline
            .plan(&req, &RouteContext::default())
            .map_err(|e| anyhow!("planning row {}: {e}", r.row.id))?;
        let t = tier_index(plan.tier);
        acc.n += 1;
        acc.quality += r.score[t];
        acc.cost += r.cost[t];
        acc.mix[t] += 1;
        feedback.push_back(Feedback {
            request_id: format!("sim-{n}"),
            ts_ms: ts,
            tier: Some(plan.tier.as_str().into()),
            model: None,
            score: r.score[t],
            source: Signal::Simulated,
            comment: None,
        });
        tick();
        if acc.n == per || n + 1 == total {
            let now = (k + 1) * interval_ms;
            while feedback.front().is_some_and(|f| f.ts_ms < now - window_ms) {
                feedback.pop_front();
            }
            let quality = estimate(feedback.make_contiguous(), &controller.since(now));
            let before = pipeline.boundaries().get();
            let (next, events) = controller.step(now, before, &quality);
            pipeline.set_boundaries(next);
            let mut moves = [0i8; 3];
            for (m, (a, b)) in moves.iter_mut().zip(before.iter().zip(next.iter())) {
                *m = if b > a {
                    1
                } else if b < a {
                    -1
                } else {
                    0
                };
            }
            let a = std::mem::take(&mut acc);
            windows.push(WindowStats {
                window: windows.len(),
                requests: a.n,
                quality: a.quality / a.n as f64,
                cost_usd: a.cost / a.n as f64,
                boundaries: before,
                tier_mix: a.mix,
                events: events.into_iter().map(|e| e.reason).collect(),
                moves,
            });
        }
    }
    let analysis = analyse(rows, &windows, c.floor);
    Ok(SimReport {
        data: String::new(),
        start: Start::Config,
        start_boundaries: opts.start,
        rows: rows.len(),
        rounds: opts.rounds,
        window: per,
        seed: opts.seed,
        ceiling: c.ceiling,
        min_samples: c.min_samples,
        cooldown_windows: c.cooldown_secs as f64 / c.interval_secs.max(1) as f64,
        tier_models: TierModels::default(),
        final_boundaries: pipeline.boundaries().get(),
        analysis,
        windows,
    })
}

/// Request-weighted mean quality and cost of `w`.
fn mean(w: &[WindowStats]) -> (f64, f64) {
    let n: usize = w.iter().map(|x| x.requests).sum();
    let n = n.max(1) as f64;
    let q = w.iter().map(|x| x.quality * x.requests as f64).sum::<f64>() / n;
    let c = w
        .iter()
        .map(|x| x.cost_usd * x.requests as f64)
        .sum::<f64>()
        / n;
    (q, c)
}

/// Rolling quality (over up to `SMOOTH` windows ending at each window).
pub fn rolling_quality(w: &[WindowStats]) -> Vec<f64> {
    (0..w.len())
        .map(|j| mean(&w[(j + 1).saturating_sub(SMOOTH)..=j]).0)
        .collect()
}

pub fn analyse(rows: &[SimRow], w: &[WindowStats], floor: f64) -> Analysis {
    let n = rows.len().max(1) as f64;
    let col = |f: &dyn Fn(&SimRow) -> f64| rows.iter().map(f).sum::<f64>() / n;
    let tail = w.len().div_ceil(4).max(1).min(w.len());
    let (final_quality, final_cost_usd) = mean(&w[w.len() - tail..]);
    let rolling = rolling_quality(w);
    let mut converged_at = None;
    for j in (SMOOTH.min(w.len())..w.len()).rev() {
        if (rolling[j] - floor).abs() <= TOLERANCE {
            converged_at = Some(j);
        } else {
            break;
        }
    }
    let from = converged_at.unwrap_or(w.len() / 2);
    let mut reversals = [0usize; 3];
    for (b, rev) in reversals.iter_mut().enumerate() {
        let dirs: Vec<i8> = w[from..]
            .iter()
            .map(|x| x.moves[b])
            .filter(|d| *d != 0)
            .collect();
        *rev = dirs.windows(2).filter(|p| p[0] != p[1]).count();
    }
    let oscillates = reversals.iter().any(|r| *r > 1);
    let all_top_cost_usd = col(&|r| r.cost[3]);
    Analysis {
        floor,
        tolerance: TOLERANCE,
        final_quality,
        final_cost_usd,
        converged_at,
        reversals,
        oscillates,
        all_cheap_quality: col(&|r| r.score[0]),
        all_cheap_cost_usd: col(&|r| r.cost[0]),
        all_top_quality: col(&|r| r.score[3]),
        all_top_cost_usd,
        cost_vs_top: final_cost_usd / all_top_cost_usd.max(f64::MIN_POSITIVE),
        meets_target: converged_at.is_some() && !oscillates && final_cost_usd < all_top_cost_usd,
    }
}
