//! Per-tier quality with its uncertainty, and the boundary controller that moves the
//! classifier's tier boundaries when measured quality leaves the [floor, ceiling] band.

/// 95% Wilson score interval for `successes` out of `n` (fractional successes allowed:
/// feedback scores are 0..1).
pub fn wilson(successes: f64, n: f64) -> (f64, f64) {
    if n <= 0.0 {
        return (0.0, 1.0);
    }
    let z = 1.96_f64;
    let p = (successes / n).clamp(0.0, 1.0);
    let denom = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / denom;
    let half = z * ((p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt()) / denom;
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

use std::collections::BTreeMap;

use super::{Feedback, LoopEvent};
use crate::types::Tier;

/// The controller's settings (`[feedback]` in frugal.toml).
#[derive(Debug, Clone, PartialEq)]
pub struct LoopConfig {
    /// Move boundaries at all (off: quality is measured and reported only).
    pub enabled: bool,
    /// Log the moves as events without applying them.
    pub dry_run: bool,
    /// Below this quality (confidently: the interval's upper end), more requests go up.
    pub floor: f64,
    /// Above this quality (confidently: the interval's lower end), more go down.
    pub ceiling: f64,
    /// Feedback needed in a tier since its boundary last moved.
    pub min_samples: u64,
    /// Largest move of one boundary in one step.
    pub max_step: f64,
    /// Feedback older than this is ignored.
    pub window_secs: u64,
    /// How often the controller runs in the server.
    pub interval_secs: u64,
    /// After a move, a boundary waits this long before moving again (twice as long to
    /// reverse direction): the hysteresis that prevents oscillation.
    pub cooldown_secs: u64,
    /// Which rule moves the boundaries.
    pub controller: super::blended::ControllerKind,
    /// Sampled LLM grading of routed-down answers, when configured.
    pub grading: Option<GradingConfig>,
}

/// `[feedback] grade_model`: a judge model grades a sample of routed-down answers.
#[derive(Debug, Clone, PartialEq)]
pub struct GradingConfig {
    pub model: String,
    /// Share of routed-down answers graded (0..1).
    pub rate: f64,
    /// Grading stops for the rest of the UTC day once this much was spent.
    pub daily_budget_usd: f64,
}

impl Default for LoopConfig {
    fn default() -> LoopConfig {
        LoopConfig {
            enabled: false,
            dry_run: false,
            floor: 0.7,
            ceiling: 0.95,
            min_samples: 50,
            max_step: 0.05,
            window_secs: 3_600,
            interval_secs: 60,
            cooldown_secs: 300,
            controller: super::blended::ControllerKind::PerTier,
            grading: None,
        }
    }
}

/// A tier's measured quality.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TierQuality {
    pub samples: u64,
    pub mean: f64,
    pub lower: f64,
    pub upper: f64,
}

/// Mean score and Wilson interval per tier of the feedback at or after `since_ms[tier]`.
pub fn estimate(
    feedback: &[Feedback],
    since_ms: &BTreeMap<Tier, i64>,
) -> BTreeMap<Tier, TierQuality> {
    let mut acc: BTreeMap<Tier, (u64, f64)> = BTreeMap::new();
    for f in feedback {
        let Some(tier) = f.tier.as_deref().and_then(Tier::parse) else {
            continue;
        };
        if f.ts_ms < since_ms.get(&tier).copied().unwrap_or(i64::MIN) {
            continue;
        }
        let e = acc.entry(tier).or_default();
        e.0 += 1;
        e.1 += f.score.clamp(0.0, 1.0);
    }
    acc.into_iter()
        .map(|(t, (n, sum))| {
            let (lower, upper) = wilson(sum, n as f64);
            (
                t,
                TierQuality {
                    samples: n,
                    mean: sum / n as f64,
                    lower,
                    upper,
                },
            )
        })
        .collect()
}

/// Smallest gap kept between neighbouring boundaries.
const MIN_GAP: f64 = 0.01;
/// Fraction of the distance to the band edge covered in one step.
const GAIN: f64 = 0.5;
const MIN_STEP: f64 = 0.005;

/// The boundary controller. Pure: it is given feedback and the time, and returns events;
/// the caller stores them and applies the new boundaries (unless dry run).
#[derive(Debug, Clone)]
pub struct Controller {
    pub config: LoopConfig,
    /// Per boundary: when it last moved and in which direction (+1 up, -1 down).
    last_move: [Option<(i64, i8)>; 3],
}

impl Controller {
    pub fn new(config: LoopConfig) -> Controller {
        Controller {
            config,
            last_move: [None; 3],
        }
    }

    /// Note a move of boundary `i` (keeps the latest).
    pub fn record_move(&mut self, i: usize, ts_ms: i64, dir: i8) {
        if let Some(slot) = self.last_move.get_mut(i) {
            if slot.is_none_or(|(t, _)| t <= ts_ms) {
                *slot = Some((ts_ms, dir));
            }
        }
    }

    /// Feedback counts for a tier only from after its boundary's last move: older answers
    /// were routed with other boundaries.
    pub fn since(&self, now_ms: i64) -> BTreeMap<Tier, i64> {
        let window = now_ms - self.config.window_secs as i64 * 1000;
        Tier::ALL
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let moved = self
                    .last_move
                    .get(i)
                    .copied()
                    .flatten()
                    .map_or(i64::MIN, |m| m.0);
                (*t, window.max(moved))
            })
            .collect()
    }

    /// One control step: at most one move per boundary. Returns the new boundaries and the
    /// events (moves, applied or dry-run).
    pub fn step(
        &mut self,
        now_ms: i64,
        boundaries: [f64; 3],
        quality: &BTreeMap<Tier, TierQuality>,
    ) -> ([f64; 3], Vec<LoopEvent>) {
        let c = &self.config;
        let mut b = boundaries;
        let mut events = vec![];
        // The boundary above tier i is boundaries[i]; the frontier tier has none.
        for (i, tier) in Tier::ALL.iter().take(3).enumerate() {
            let Some(q) = quality.get(tier) else { continue };
            if q.samples < c.min_samples {
                continue;
            }
            let (dir, target, why) = if q.upper < c.floor {
                (-1i8, c.floor, "below the floor")
            } else if q.lower > c.ceiling {
                (1i8, c.ceiling, "above the ceiling")
            } else {
                continue;
            };
            if let Some((at, last_dir)) = self.last_move[i] {
                let wait = c.cooldown_secs as i64 * 1000 * if last_dir == dir { 1 } else { 2 };
                if now_ms - at < wait {
                    continue;
                }
            }
            let step = (GAIN * (q.mean - target).abs()).clamp(MIN_STEP, c.max_step);
            let lo = if i == 0 { 0.0 } else { b[i - 1] + MIN_GAP };
            let hi = if i == 2 { 1.0 } else { b[i + 1] - MIN_GAP };
            let new = (b[i] + f64::from(dir) * step).clamp(lo.min(b[i]), hi.max(b[i]));
            if (new - b[i]).abs() < 1e-9 {
                continue;
            }
            events.push(LoopEvent {
                ts_ms: now_ms,
                tier: tier.as_str().into(),
                boundary: i as i64,
                old_value: b[i],
                new_value: new,
                quality: q.mean,
                lower: q.lower,
                upper: q.upper,
                samples: q.samples as i64,
                reason: format!(
                    "{tier} quality {:.3} [{:.3}, {:.3}] over {} samples is {why} ({}): boundary {} {} {:.3} → {:.3}",
                    q.mean, q.lower, q.upper, q.samples,
                    if dir < 0 { c.floor } else { c.ceiling },
                    i, if dir < 0 { "down" } else { "up" }, b[i], new
                ),
                dry_run: c.dry_run,
            });
            if !c.dry_run {
                b[i] = new;
                self.last_move[i] = Some((now_ms, dir));
            }
        }
        (b, events)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fb(tier: &str, score: f64, ts: i64) -> Feedback {
        Feedback {
            request_id: "r".into(),
            ts_ms: ts,
            tier: Some(tier.into()),
            model: None,
            score,
            source: super::super::Signal::Simulated,
            comment: None,
        }
    }

    #[test]
    fn wilson_is_narrower_with_more_samples() {
        let (a, b) = wilson(7.0, 10.0);
        let (c, d) = wilson(700.0, 1000.0);
        assert!(a < c && d < b && a < 0.7 && b > 0.7);
        assert_eq!(wilson(0.0, 0.0), (0.0, 1.0));
    }

    #[test]
    fn low_quality_moves_its_boundary_down_once_then_cools_down() {
        let cfg = LoopConfig {
            enabled: true,
            min_samples: 20,
            ..LoopConfig::default()
        };
        let mut c = Controller::new(cfg);
        let feedback: Vec<Feedback> = (0..100)
            .map(|i| fb("simple", if i % 2 == 0 { 1.0 } else { 0.0 }, 0))
            .collect();
        let q = estimate(&feedback, &c.since(1_000));
        let (b, ev) = c.step(1_000, [0.3, 0.55, 0.8], &q);
        assert_eq!(ev.len(), 1);
        assert!(b[0] < 0.3 && b[0] >= 0.3 - 0.05 && b[1] == 0.55, "{b:?}");
        assert!(ev[0].reason.contains("below the floor"), "{}", ev[0].reason);
        // Same evidence right after: no move (cool-down), and old feedback no longer counts.
        let q = estimate(&feedback, &c.since(2_000));
        assert!(!q.contains_key(&Tier::Simple));
        let (b2, ev) = c.step(2_000, b, &estimate(&feedback, &BTreeMap::new()));
        assert!(ev.is_empty() && b2 == b);
    }

    #[test]
    fn high_quality_moves_up_few_samples_do_nothing_and_dry_run_only_logs() {
        let good: Vec<Feedback> = (0..200).map(|_| fb("medium", 1.0, 0)).collect();
        let cfg = LoopConfig {
            min_samples: 50,
            dry_run: true,
            ..LoopConfig::default()
        };
        let mut c = Controller::new(cfg.clone());
        let (b, ev) = c.step(0, [0.3, 0.55, 0.8], &estimate(&good, &BTreeMap::new()));
        assert_eq!(b, [0.3, 0.55, 0.8]);
        assert!(ev.len() == 1 && ev[0].dry_run && ev[0].new_value > 0.55);
        let mut c = Controller::new(LoopConfig {
            dry_run: false,
            ..cfg
        });
        let few: Vec<Feedback> = good.iter().take(10).cloned().collect();
        assert!(c
            .step(0, [0.3, 0.55, 0.8], &estimate(&few, &BTreeMap::new()))
            .1
            .is_empty());
        // Boundaries stay ordered with a gap.
        let (b, _) = c.step(0, [0.3, 0.795, 0.8], &estimate(&good, &BTreeMap::new()));
        assert!(b[1] <= b[2] - MIN_GAP + 1e-9 || b[1] == 0.795, "{b:?}");
    }
}
