//! The feedback loop as it runs in the server: every `interval_secs`, read the shared
//! boundaries and recent controller events from the store (so replicas agree on both the
//! boundaries and the cool-downs), estimate per-tier quality from the feedback window, take
//! one controller step, store the events and boundaries, and publish them to the pipeline.

use std::time::Duration;

use anyhow::Result;

use super::quality::{estimate, Controller, LoopConfig};
use super::{Ledger, LoopEvent};
use crate::pipeline::LiveBoundaries;

impl Controller {
    /// Adopt the cool-downs of moves made by any replica (from the events table).
    pub fn observe(&mut self, events: &[LoopEvent]) {
        for e in events.iter().filter(|e| !e.dry_run) {
            let dir = if e.new_value < e.old_value { -1 } else { 1 };
            self.record_move(e.boundary as usize, e.ts_ms, dir);
        }
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
    let (next, events) = controller.step(now_ms, live.get(), &quality);
    for e in &events {
        tracing::info!(tier = %e.tier, boundary = e.boundary, old = e.old_value, new = e.new_value,
            dry_run = e.dry_run, reason = %e.reason, "routing boundary event");
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
        let mut every = tokio::time::interval(Duration::from_secs(config.interval_secs));
        loop {
            every.tick().await;
            let result = if config.enabled {
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
