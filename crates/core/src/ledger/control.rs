//! The feedback loop as it runs in the server: every `interval_secs`, read the shared
//! boundaries and recent controller events from the store (so replicas agree on both the
//! boundaries and the cool-downs), estimate per-tier quality from the feedback window, take
//! one controller step, store the events and boundaries, and publish them to the pipeline.
//! Also the starved-tier probe ([`Controller::step_with_probe`]), which `step` alone lacks.

use std::time::Duration;

use anyhow::Result;

use std::collections::BTreeMap;

use super::blended::{Blended, ControllerKind};
use super::quality::{estimate, Controller, LoopConfig, TierQuality};
use super::{Ledger, LoopEvent};
use crate::pipeline::LiveBoundaries;
use crate::types::Tier;

/// Gap kept between neighbouring boundaries (as in `Controller::step`).
const PROBE_GAP: f64 = 0.01;
const PROBE_GAIN: f64 = 0.5;
const PROBE_MIN_STEP: f64 = 0.005;

impl Controller {
    /// Adopt the cool-downs of moves made by any replica (from the events table).
    pub fn observe(&mut self, events: &[LoopEvent]) {
        for e in events.iter().filter(|e| !e.dry_run) {
            let dir = if e.new_value < e.old_value { -1 } else { 1 };
            self.record_move(e.boundary as usize, e.ts_ms, dir);
        }
    }

    /// [`Controller::step`], then the starved-tier probe. `step` judges boundary *i* only
    /// by tier *i*'s own feedback, so a tier that receives no traffic (boundaries collapsed,
    /// e.g. everything routed to the frontier) never produces the evidence that would open
    /// it: the loop is stuck however much quality the tiers above have to spare. The probe:
    /// when tier *i* has fewer than `min_samples` and tier *i*+1 is confidently above the
    /// ceiling, boundary *i* moves up (half the excess, bounded by `max_step`), so tier *i*
    /// starts receiving the easiest of tier *i*+1's requests and can be measured. Boundaries
    /// are probed top-down so a chain of empty tiers opens one at a time. A probe waits
    /// twice the cool-down after any move of that boundary (its direction is not known
    /// here), and is an event like any other move.
    pub fn step_with_probe(
        &mut self,
        now_ms: i64,
        boundaries: [f64; 3],
        quality: &BTreeMap<Tier, TierQuality>,
    ) -> ([f64; 3], Vec<LoopEvent>) {
        let (mut b, mut events) = self.step(now_ms, boundaries, quality);
        for i in (0..3).rev() {
            if events.iter().any(|e| e.boundary == i as i64) {
                continue;
            }
            if let Some(e) = self.probe(i, now_ms, &b, quality) {
                if !e.dry_run {
                    b[i] = e.new_value;
                    self.record_move(i, now_ms, 1);
                }
                events.push(e);
            }
        }
        events.sort_by_key(|e| e.boundary);
        (b, events)
    }

    fn probe(
        &self,
        i: usize,
        now_ms: i64,
        b: &[f64; 3],
        quality: &BTreeMap<Tier, TierQuality>,
    ) -> Option<LoopEvent> {
        let c = &self.config;
        let (tier, above) = (*Tier::ALL.get(i)?, *Tier::ALL.get(i + 1)?);
        let own = quality.get(&tier).map_or(0, |q| q.samples);
        let q = quality.get(&above)?;
        if own >= c.min_samples || q.samples < c.min_samples || q.lower <= c.ceiling {
            return None;
        }
        let at = self.since(now_ms).get(&tier).copied().unwrap_or(i64::MIN);
        if now_ms.saturating_sub(at) < 2 * c.cooldown_secs as i64 * 1000 {
            return None;
        }
        let hi = if i == 2 { 1.0 } else { b[i + 1] - PROBE_GAP };
        let step = (PROBE_GAIN * (q.mean - c.ceiling)).clamp(PROBE_MIN_STEP, c.max_step);
        let new = (b[i] + step).min(hi.max(b[i]));
        if new - b[i] < 1e-9 {
            return None;
        }
        Some(LoopEvent {
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
                "{tier} has {own} samples (< {}) while {above} quality {:.3} [{:.3}, {:.3}] over {} samples is above the ceiling ({}): probe boundary {i} up {:.3} → {:.3}",
                c.min_samples, q.mean, q.lower, q.upper, q.samples, c.ceiling, b[i], new
            ),
            dry_run: c.dry_run,
        })
    }
}

/// One loop iteration; returns the events it produced.
pub async fn tick(
    ledger: &Ledger,
    live: &LiveBoundaries,
    controller: &mut Controller,
    now_ms: i64,
) -> Result<Vec<LoopEvent>> {
    let Some(store) = ledger.store() else {
        return Ok(vec![]);
    };
    let window_ms = controller.config.window_secs as i64 * 1000;
    if let Some(b) = store.load_boundaries().await? {
        live.set(b);
    }
    controller.observe(&store.events_since(now_ms - window_ms).await?);
    let feedback = store.feedback_since(now_ms - window_ms).await?;
    let quality = estimate(&feedback, &controller.since(now_ms));
    let (next, events) = controller.step_with_probe(now_ms, live.get(), &quality);
    for e in &events {
        tracing::info!(tier = %e.tier, boundary = e.boundary, old = e.old_value, new = e.new_value,
            dry_run = e.dry_run, reason = %e.reason, "routing boundary event");
        store.save_event(e, next).await?;
    }
    live.set(next);
    Ok(events)
}

/// One iteration of the blended controller (`[feedback] controller = "blended"`): adopt
/// the stored boundaries (another replica may have moved them), step, store, publish.
pub async fn tick_blended(
    ledger: &Ledger,
    live: &LiveBoundaries,
    blended: &mut Blended,
    now_ms: i64,
) -> Result<Vec<LoopEvent>> {
    let Some(store) = ledger.store() else {
        return Ok(vec![]);
    };
    if let Some(b) = store.load_boundaries().await? {
        if b != blended.boundaries() {
            blended.adopt(b);
        }
        live.set(b);
    }
    let window_ms = blended.window_ms();
    let feedback = store.feedback_since(now_ms - window_ms).await?;
    let quality = estimate(&feedback, &blended.since(now_ms));
    let (next, events) = blended.step(now_ms, &quality);
    for e in &events {
        tracing::info!(old = e.old_value, new = e.new_value, dry_run = e.dry_run, reason = %e.reason,
            "routing boundary shift");
        store.save_event(e, next).await?;
    }
    live.set(next);
    Ok(events)
}

/// Start the loop when `[feedback] enabled = true`; otherwise only adopt the boundaries a
/// loop elsewhere has stored.
pub fn spawn(
    ledger: Ledger,
    live: LiveBoundaries,
    config: LoopConfig,
) -> Option<tokio::task::JoinHandle<()>> {
    ledger.store()?;
    Some(tokio::spawn(async move {
        let mut controller = Controller::new(config.clone());
        let mut blended = Blended::new(config.clone(), live.get(), live.get());
        let mut every = tokio::time::interval(Duration::from_secs(config.interval_secs));
        loop {
            every.tick().await;
            let result = if config.enabled && config.controller == ControllerKind::Blended {
                tick_blended(&ledger, &live, &mut blended, super::now_ms())
                    .await
                    .map(|_| ())
            } else if config.enabled {
                tick(&ledger, &live, &mut controller, super::now_ms())
                    .await
                    .map(|_| ())
            } else {
                adopt(&ledger, &live).await
            };
            if let Err(e) = result {
                tracing::warn!(error = %e, "feedback loop iteration failed");
            }
        }
    }))
}

async fn adopt(ledger: &Ledger, live: &LiveBoundaries) -> Result<()> {
    if let Some(store) = ledger.store() {
        if let Some(b) = store.load_boundaries().await? {
            live.set(b);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::quality::TierQuality;

    fn q(samples: u64, mean: f64) -> TierQuality {
        let (lower, upper) = crate::ledger::quality::wilson(mean * samples as f64, samples as f64);
        TierQuality {
            samples,
            mean,
            lower,
            upper,
        }
    }

    fn controller() -> Controller {
        Controller::new(LoopConfig {
            enabled: true,
            floor: 0.7,
            ceiling: 0.75,
            min_samples: 50,
            ..LoopConfig::default()
        })
    }

    #[test]
    fn an_empty_tier_below_a_good_one_is_probed_open_top_down() {
        let mut c = controller();
        let quality = BTreeMap::from([(Tier::Frontier, q(500, 0.9))]);
        let now = 10_000_000;
        let (b, ev) = c.step_with_probe(now, [0.0, 0.0, 0.0], &quality);
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert!(
            ev[0].reason.contains("probe boundary 2 up"),
            "{}",
            ev[0].reason
        );
        assert!(
            b[2] > 0.0 && b[2] <= 0.05 + 1e-9 && b[0] == 0.0 && b[1] == 0.0,
            "{b:?}"
        );
        // Right after: cool-down, no second probe.
        let (b2, ev) = c.step_with_probe(now + 60_000, b, &quality);
        assert!(ev.is_empty() && b2 == b);
    }

    #[test]
    fn no_probe_when_the_tier_has_evidence_or_the_tier_above_is_not_above_the_ceiling() {
        let mut c = controller();
        let now = 10_000_000;
        let fed = BTreeMap::from([(Tier::Complex, q(200, 0.72)), (Tier::Frontier, q(500, 0.9))]);
        assert!(c.step_with_probe(now, [0.0, 0.0, 0.5], &fed).1.is_empty());
        let mediocre = BTreeMap::from([(Tier::Frontier, q(500, 0.74))]);
        assert!(c
            .step_with_probe(now, [0.0, 0.0, 0.0], &mediocre)
            .1
            .is_empty());
    }
}
