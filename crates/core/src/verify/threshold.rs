//! The escalation threshold in force, and how rated answers move it: a trusted answer
//! rated bad raises it, one rated good lowers it, by steps sized so that it settles where
//! the share of bad answers among trusted ones is `target_bad_rate` (a stochastic
//! approximation: at that share the expected step is zero). Escalated answers do not move
//! it: the strong model answered them, not the checked one.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

use serde::Serialize;

/// How far one rating moves the threshold (times `1 - target` up, `target` down).
const STEP: f64 = 0.02;
/// Trusted answers remembered until their rating arrives (the oldest forgotten first).
const REMEMBERED: usize = 100_000;
/// The threshold never leaves this range: 0 would trust every unflagged answer, 1 would
/// escalate everything short of exact agreement.
const RANGE: (f64, f64) = (0.05, 0.95);

/// The live threshold, shared by every request.
pub struct Threshold {
    state: Mutex<State>,
    learn: bool,
    target: f64,
}

struct State {
    value: f64,
    moves: u64,
    trusted: HashSet<String>,
    order: VecDeque<String>,
}

/// What `/health` shows of it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ThresholdInfo {
    pub threshold: f64,
    /// Ratings that moved it since the start.
    pub moves: u64,
    pub target_bad_rate: f64,
}

impl Threshold {
    pub fn new(cfg: &crate::config::VerifyConfig) -> Threshold {
        Threshold {
            state: Mutex::new(State {
                value: cfg.threshold,
                moves: 0,
                trusted: HashSet::new(),
                order: VecDeque::new(),
            }),
            learn: cfg.learn,
            target: cfg.target_bad_rate,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // The state stays valid whatever a panicking holder did (plain numbers and a map).
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn get(&self) -> f64 {
        self.lock().value
    }

    pub fn info(&self) -> ThresholdInfo {
        let s = self.lock();
        ThresholdInfo {
            threshold: s.value,
            moves: s.moves,
            target_bad_rate: self.target,
        }
    }

    /// A checked answer was trusted (served without escalation); its rating may come.
    pub fn remember_trusted(&self, request_id: &str) {
        if !self.learn {
            return;
        }
        let mut s = self.lock();
        if s.trusted.insert(request_id.to_string()) {
            s.order.push_back(request_id.to_string());
        }
        while s.order.len() > REMEMBERED {
            if let Some(old) = s.order.pop_front() {
                s.trusted.remove(&old);
            }
        }
    }

    /// A rating (0 bad ..= 1 good) arrived; returns the new threshold when it moved.
    pub fn learn(&self, request_id: &str, score: f64) -> Option<f64> {
        if !self.learn || !score.is_finite() {
            return None;
        }
        let mut s = self.lock();
        if !s.trusted.remove(request_id) {
            return None;
        }
        let bad = if score < 0.5 { 1.0 } else { 0.0 };
        let next = (s.value + STEP * (bad - self.target)).clamp(RANGE.0, RANGE.1);
        s.value = next;
        s.moves += 1;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::VerifyConfig;

    #[test]
    fn only_rated_trusted_answers_move_it_and_it_settles_at_the_target() {
        let t = Threshold::new(&VerifyConfig::default());
        assert_eq!(t.learn("unknown", 0.0), None);
        t.remember_trusted("a");
        let up = t.learn("a", 0.0).unwrap();
        assert!(up > 0.3);
        // Rated once: a second rating of the same answer does not count twice.
        assert_eq!(t.learn("a", 0.0), None);
        // Bad at exactly the target rate (1 in 10): no drift over a full cycle.
        let before = t.get();
        for i in 0..10 {
            let id = format!("r{i}");
            t.remember_trusted(&id);
            t.learn(&id, if i == 0 { 0.0 } else { 1.0 });
        }
        assert!((t.get() - before).abs() < 1e-9, "{} vs {before}", t.get());
        assert_eq!(t.info().moves, 11);
    }

    #[test]
    fn stays_in_range_and_is_still_when_learning_is_off() {
        let t = Threshold::new(&VerifyConfig::default());
        for i in 0..1000 {
            t.remember_trusted(&i.to_string());
            t.learn(&i.to_string(), 0.0);
        }
        assert_eq!(t.get(), RANGE.1);
        let off = Threshold::new(&VerifyConfig {
            learn: false,
            ..VerifyConfig::default()
        });
        off.remember_trusted("a");
        assert_eq!(off.learn("a", 0.0), None);
        assert_eq!(off.get(), 0.3);
    }
}
