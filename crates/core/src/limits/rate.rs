//! Per-key rate limits (requests and tokens per minute), decided locally and shared
//! through the database. Each replica counts in memory per key and minute; a background
//! sync (every `[limits] rate_sync_ms`) adds its new counts to the shared `rate_counters`
//! and reads everyone's totals back. A request is judged on a sliding minute (the
//! previous minute weighted by how much of it is still inside the last 60 s, plus the
//! current one) over shared totals + what this replica has not yet shared: no database
//! round trip on the request path, and other replicas' traffic is seen within one sync.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use super::store::RateDelta;

const MINUTE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Counts {
    requests: i64,
    tokens: i64,
}

impl Counts {
    fn add(&mut self, o: Counts) {
        self.requests += o.requests;
        self.tokens += o.tokens;
    }
    fn is_zero(&self) -> bool {
        self.requests == 0 && self.tokens == 0
    }
}

/// One key's counts in one minute.
#[derive(Debug, Default)]
struct Slot {
    /// Everyone's totals, as last read from the database (includes what we had shared).
    shared: Counts,
    /// Sent by a sync still under way.
    in_flight: Counts,
    /// Counted here since the last sync started.
    pending: Counts,
}

impl Slot {
    fn total(&self) -> Counts {
        let mut c = self.shared;
        c.add(self.in_flight);
        c.add(self.pending);
        c
    }
}

/// Which limit, for messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Measure {
    Requests,
    Tokens,
}

/// A refusal: which limit and how many seconds until the request would fit.
#[derive(Debug, Clone, PartialEq)]
pub struct Exceeded {
    pub measure: Measure,
    pub limit: u64,
    pub retry_after_secs: u64,
}

#[derive(Default)]
pub struct RateLimiter {
    keys: Mutex<HashMap<String, BTreeMap<i64, Slot>>>,
}

/// Seconds until a sliding-window count of `prev` (last minute) and `cur` (this minute),
/// `elapsed` ms into this minute, leaves room for `need` under `limit`.
fn wait_secs(prev: i64, cur: i64, elapsed: i64, need: i64, limit: i64) -> u64 {
    let ms = if cur + need > limit {
        // Not before the next minute; then the current minute decays as the previous one.
        let rest = MINUTE_MS - elapsed;
        if cur <= 0 {
            rest
        } else {
            let frac = 1.0 - (limit - need) as f64 / cur as f64;
            rest + (frac.clamp(0.0, 1.0) * MINUTE_MS as f64) as i64
        }
    } else if prev > 0 {
        let frac = 1.0 - (limit - cur - need) as f64 / prev as f64;
        ((frac.clamp(0.0, 1.0) * MINUTE_MS as f64) as i64 - elapsed).max(0)
    } else {
        0
    };
    u64::try_from(((ms + 999) / 1000).max(1)).unwrap_or(1)
}

impl RateLimiter {
    /// Count `need` of `measure` for `key` at `now_ms` if it fits under `limit` per minute.
    pub fn take(
        &self,
        key: &str,
        measure: Measure,
        need: u64,
        limit: u64,
        now_ms: i64,
    ) -> Result<(), Exceeded> {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let elapsed = now_ms.rem_euclid(MINUTE_MS);
        let need = i64::try_from(need).unwrap_or(i64::MAX);
        let lim = i64::try_from(limit).unwrap_or(i64::MAX);
        let Ok(mut keys) = self.keys.lock() else {
            // A poisoned lock only means another request panicked mid-count; admit.
            return Ok(());
        };
        let slots = keys.entry(key.to_string()).or_default();
        let pick = |c: Counts| match measure {
            Measure::Requests => c.requests,
            Measure::Tokens => c.tokens,
        };
        let prev = slots.get(&(minute - 1)).map_or(0, |s| pick(s.total()));
        let cur = slots.get(&minute).map_or(0, |s| pick(s.total()));
        // Rounded up: the previous minute's share never lets one more request through.
        let weighted = (prev * (MINUTE_MS - elapsed) + MINUTE_MS - 1) / MINUTE_MS + cur;
        if weighted + need > lim {
            return Err(Exceeded {
                measure,
                limit,
                retry_after_secs: wait_secs(prev, cur, elapsed, need, lim),
            });
        }
        let slot = slots.entry(minute).or_default();
        match measure {
            Measure::Requests => slot.pending.requests += need,
            Measure::Tokens => slot.pending.tokens += need,
        }
        Ok(())
    }

    /// Correct a minute's token count once the actual usage is known (may be negative).
    pub fn adjust_tokens(&self, key: &str, minute: i64, delta: i64) {
        if delta == 0 {
            return;
        }
        if let Ok(mut keys) = self.keys.lock() {
            if let Some(slot) = keys.get_mut(key).and_then(|s| s.get_mut(&minute)) {
                slot.pending.tokens += delta;
            }
        }
    }

    /// Move what was counted since the last sync to "in flight" and return it.
    pub fn take_pending(&self) -> Vec<RateDelta> {
        let Ok(mut keys) = self.keys.lock() else {
            return vec![];
        };
        let mut out = vec![];
        for (key, slots) in keys.iter_mut() {
            for (minute, slot) in slots.iter_mut() {
                if slot.pending.is_zero() {
                    continue;
                }
                out.push(RateDelta {
                    key: key.clone(),
                    minute: *minute,
                    requests: slot.pending.requests,
                    tokens: slot.pending.tokens,
                });
                slot.in_flight.add(slot.pending);
                slot.pending = Counts::default();
            }
        }
        out
    }

    /// A sync finished: `totals` (everyone's counts, including what was in flight) replace
    /// the shared counts; on failure (`None`) what was in flight is sent again next time.
    pub fn apply_sync(&self, totals: Option<Vec<RateDelta>>, now_ms: i64) {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let Ok(mut keys) = self.keys.lock() else {
            return;
        };
        match totals {
            Some(totals) => {
                for slots in keys.values_mut() {
                    for slot in slots.values_mut() {
                        slot.in_flight = Counts::default();
                        slot.shared = Counts::default();
                    }
                }
                for t in totals {
                    let slot = keys.entry(t.key).or_default().entry(t.minute).or_default();
                    slot.shared = Counts {
                        requests: t.requests,
                        tokens: t.tokens,
                    };
                }
            }
            None => {
                for slots in keys.values_mut() {
                    for slot in slots.values_mut() {
                        let back = slot.in_flight;
                        slot.pending.add(back);
                        slot.in_flight = Counts::default();
                    }
                }
            }
        }
        for slots in keys.values_mut() {
            slots.retain(|m, s| *m >= minute - 1 || !s.pending.is_zero());
        }
        keys.retain(|_, s| !s.is_empty());
    }

    /// This minute's and the previous minute's counts of `key` (for `frugal keys show`).
    pub fn counts(&self, key: &str, now_ms: i64) -> (i64, i64) {
        let minute = now_ms.div_euclid(MINUTE_MS);
        let Ok(keys) = self.keys.lock() else {
            return (0, 0);
        };
        keys.get(key)
            .and_then(|s| s.get(&minute))
            .map_or((0, 0), |s| (s.total().requests, s.total().tokens))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_000 * MINUTE_MS;

    #[test]
    fn requests_per_minute_then_retry_after() {
        let r = RateLimiter::default();
        for _ in 0..5 {
            assert!(r.take("k", Measure::Requests, 1, 5, T0 + 1_000).is_ok());
        }
        let e = r
            .take("k", Measure::Requests, 1, 5, T0 + 2_000)
            .expect_err("sixth refused");
        assert_eq!(e.measure, Measure::Requests);
        assert!(
            e.retry_after_secs >= 58 && e.retry_after_secs <= 120,
            "{e:?}"
        );
        // Another key is not affected.
        assert!(r.take("other", Measure::Requests, 1, 5, T0).is_ok());
        // Half-way through the next minute, half of the previous minute still counts.
        assert!(r
            .take("k", Measure::Requests, 1, 5, T0 + MINUTE_MS + 30_000)
            .is_ok());
        assert!(r
            .take("k", Measure::Requests, 1, 5, T0 + MINUTE_MS + 30_000)
            .is_ok());
        assert!(r
            .take("k", Measure::Requests, 1, 5, T0 + MINUTE_MS + 30_000)
            .is_err());
    }

    #[test]
    fn shared_totals_count_other_replicas() {
        let (a, b) = (RateLimiter::default(), RateLimiter::default());
        for _ in 0..3 {
            assert!(a.take("k", Measure::Tokens, 100, 500, T0).is_ok());
        }
        // The database after A's sync: A's 300 tokens plus B's earlier 150.
        let sent = a.take_pending();
        assert_eq!(sent.iter().map(|d| d.tokens).sum::<i64>(), 300);
        let totals = vec![RateDelta {
            key: "k".into(),
            minute: T0 / MINUTE_MS,
            requests: 0,
            tokens: 450,
        }];
        a.apply_sync(Some(totals.clone()), T0);
        b.apply_sync(Some(totals), T0);
        assert!(a.take("k", Measure::Tokens, 100, 500, T0).is_err());
        assert!(b.take("k", Measure::Tokens, 50, 500, T0).is_ok());
        assert!(b.take("k", Measure::Tokens, 1, 500, T0).is_err());
    }

    #[test]
    fn failed_sync_resends_and_adjustments_count() {
        let r = RateLimiter::default();
        assert!(r.take("k", Measure::Tokens, 400, 500, T0).is_ok());
        r.adjust_tokens("k", T0 / MINUTE_MS, -300);
        assert_eq!(r.take_pending()[0].tokens, 100);
        r.apply_sync(None, T0);
        assert_eq!(r.take_pending()[0].tokens, 100);
        assert!(r.take("k", Measure::Tokens, 400, 500, T0).is_ok());
    }
}
