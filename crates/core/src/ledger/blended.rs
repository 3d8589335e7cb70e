//! The blended controller: steers the quality of *all* routed traffic to just above the
//! floor by moving the three boundaries together (one shift added to the configured
//! boundaries), and halves its step each time it reverses direction — a bisection, so it
//! settles instead of oscillating. It waits until the feedback gathered since its last
//! move is confidently below the floor, or confidently more than `TOLERANCE` above it.
//!
//! Why a second controller: the per-tier rule (each tier's own quality above the floor)
//! closes the cheap tiers whenever the router ranks difficulty weakly, leaving blended
//! quality far above the floor and the money on the table (docs/simulation.md).

use std::collections::BTreeMap;

use super::quality::{wilson, LoopConfig, TierQuality};
use super::LoopEvent;
use crate::types::Tier;

/// Blended quality is held within this distance above the floor.
pub const TOLERANCE: f64 = 0.02;
/// First step of the shift, and the smallest it halves to.
const FIRST_STEP: f64 = 0.2;
const MIN_STEP: f64 = 0.005;

pub struct Blended {
    config: LoopConfig,
    /// The configured boundaries the shift is added to.
    base: [f64; 3],
    shift: f64,
    step: f64,
    /// When and in which direction the shift last moved.
    last: Option<(i64, i8)>,
}

impl Blended {
    /// Start from the boundaries in force (`current`), read as `base` + one shift.
    pub fn new(config: LoopConfig, base: [f64; 3], current: [f64; 3]) -> Blended {
        let shift = (current[1] - base[1]).clamp(-1.0, 1.0);
        Blended {
            config,
            base,
            shift,
            step: FIRST_STEP,
            last: None,
        }
    }

    /// Feedback counts from this time on (per tier): since the last move, within the window.
    pub fn since(&self, now_ms: i64) -> BTreeMap<Tier, i64> {
        let window = now_ms - self.config.window_secs as i64 * 1000;
        let from = self.last.map_or(window, |(at, _)| window.max(at));
        Tier::ALL.iter().map(|t| (*t, from)).collect()
    }

    /// Take over boundaries another replica stored (read as `base` + one shift).
    pub fn adopt(&mut self, current: [f64; 3]) {
        self.shift = (current[1] - self.base[1]).clamp(-1.0, 1.0);
    }

    pub fn window_ms(&self) -> i64 {
        self.config.window_secs as i64 * 1000
    }

    pub fn boundaries(&self) -> [f64; 3] {
        self.base.map(|b| (b + self.shift).clamp(0.0, 1.0))
    }

    /// One step: the new boundaries and, when they moved, the event saying why.
    pub fn step(
        &mut self,
        now_ms: i64,
        quality: &BTreeMap<Tier, TierQuality>,
    ) -> ([f64; 3], Vec<LoopEvent>) {
        let c = &self.config;
        let n: u64 = quality.values().map(|q| q.samples).sum();
        let before = self.boundaries();
        if n < c.min_samples {
            return (before, vec![]);
        }
        let mean = quality
            .values()
            .map(|q| q.mean * q.samples as f64)
            .sum::<f64>()
            / n as f64;
        let (lower, upper) = wilson(mean * n as f64, n as f64);
        let dir: i8 = if upper < c.floor {
            -1
        } else if lower > c.floor + TOLERANCE {
            1
        } else {
            return (before, vec![]);
        };
        if self.last.is_some_and(|(_, d)| d != dir) {
            self.step = (self.step / 2.0).max(MIN_STEP);
        }
        let old_shift = self.shift;
        let new_shift = (self.shift + f64::from(dir) * self.step).clamp(-1.0, 1.0);
        if (new_shift - old_shift).abs() < 1e-12 {
            return (before, vec![]);
        }
        let event = LoopEvent {
            ts_ms: now_ms,
            tier: "all".into(),
            boundary: -1,
            old_value: old_shift,
            new_value: new_shift,
            quality: mean,
            lower,
            upper,
            samples: n as i64,
            reason: format!(
                "blended quality {mean:.3} [{lower:.3}, {upper:.3}] over {n} samples is {} the floor {}: shift {old_shift:+.3} → {new_shift:+.3} (step {:.3})",
                if dir < 0 { "below" } else { "more than 0.02 above" },
                c.floor,
                self.step
            ),
            dry_run: c.dry_run,
        };
        if c.dry_run {
            return (before, vec![event]);
        }
        self.shift = new_shift;
        self.last = Some((now_ms, dir));
        (self.boundaries(), vec![event])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(samples: u64, mean: f64) -> BTreeMap<Tier, TierQuality> {
        let (lower, upper) = wilson(mean * samples as f64, samples as f64);
        BTreeMap::from([(
            Tier::Simple,
            TierQuality {
                samples,
                mean,
                lower,
                upper,
            },
        )])
    }

    fn cfg() -> LoopConfig {
        LoopConfig {
            enabled: true,
            min_samples: 50,
            ..LoopConfig::default()
        }
    }

    #[test]
    fn moves_toward_the_floor_and_halves_on_reversal() {
        let base = [0.3, 0.55, 0.8];
        let mut b = Blended::new(cfg(), base, [1.0, 1.0, 1.0]);
        // Everything cheap and quality far below the floor: shift down by the first step.
        let (nb, ev) = b.step(1, &q(500, 0.5));
        assert_eq!(ev.len(), 1);
        assert!(
            nb[1] < 1.0 && (b.shift - 0.25).abs() < 1e-9,
            "{nb:?} {}",
            b.shift
        );
        // Far above now: reverse with half the step.
        b.step(2, &q(500, 0.95));
        assert!((b.shift - 0.35).abs() < 1e-9, "{}", b.shift);
        // Inside [floor, floor + tolerance]: hold.
        assert!(b.step(3, &q(5000, 0.71)).1.is_empty());
        // Too few samples: hold.
        assert!(b.step(4, &q(10, 0.1)).1.is_empty());
    }

    #[test]
    fn adopts_boundaries_another_replica_stored() {
        let mut b = Blended::new(cfg(), [0.3, 0.55, 0.8], [0.3, 0.55, 0.8]);
        b.adopt([0.4, 0.65, 0.9]);
        assert_eq!(
            b.boundaries().map(|x| (x * 100.0).round()),
            [40.0, 65.0, 90.0]
        );
    }

    #[test]
    fn bisection_settles_on_a_monotone_quality_curve() {
        // Quality falls linearly as the shift rises; the floor 0.7 is met at shift 0.2.
        let quality_at = |s: f64| 0.8 - 0.5 * s;
        let mut b = Blended::new(cfg(), [0.3, 0.55, 0.8], [0.0; 3]);
        let mut shifts = vec![];
        for t in 0..200 {
            b.step(t, &q(2000, quality_at(b.shift)));
            shifts.push(b.shift);
        }
        let last = *shifts.last().expect("ran");
        assert!(
            (quality_at(last) - 0.7) >= -0.01 && quality_at(last) - 0.7 <= TOLERANCE + 0.01,
            "{last}"
        );
        let tail = &shifts[150..];
        assert!(
            tail.windows(2).all(|w| (w[0] - w[1]).abs() < 1e-12),
            "settled: {tail:?}"
        );
    }
}

/// Which rule moves the boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ControllerKind {
    /// Each tier's own quality held between floor and ceiling (with the starved-tier probe).
    PerTier,
    /// The quality of all traffic held just above the floor (one shift, bisection steps).
    Blended,
}

/// Either controller behind one interface.
pub enum LoopController {
    PerTier(super::quality::Controller),
    Blended(Blended),
}

impl LoopController {
    /// `base`: the configured boundaries; `current`: those in force now.
    pub fn new(
        kind: ControllerKind,
        config: LoopConfig,
        base: [f64; 3],
        current: [f64; 3],
    ) -> LoopController {
        match kind {
            ControllerKind::PerTier => {
                LoopController::PerTier(super::quality::Controller::new(config))
            }
            ControllerKind::Blended => LoopController::Blended(Blended::new(config, base, current)),
        }
    }

    pub fn since(&self, now_ms: i64) -> BTreeMap<Tier, i64> {
        match self {
            LoopController::PerTier(c) => c.since(now_ms),
            LoopController::Blended(b) => b.since(now_ms),
        }
    }

    pub fn step(
        &mut self,
        now_ms: i64,
        boundaries: [f64; 3],
        quality: &BTreeMap<Tier, TierQuality>,
    ) -> ([f64; 3], Vec<LoopEvent>) {
        match self {
            LoopController::PerTier(c) => c.step_with_probe(now_ms, boundaries, quality),
            LoopController::Blended(b) => b.step(now_ms, quality),
        }
    }
}
