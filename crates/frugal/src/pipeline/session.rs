//! Session stickiness: within a session the routed tier may rise but does not fall for a
//! configured time, so a conversation that needed a strong model is not handed to a
//! weaker one mid-way (and its prompt cache stays warm). State lives here; the pipeline
//! itself stays a pure function of its inputs (`RouteContext::session_floor`).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::types::{ChatRequest, Part, Role, Tier};

/// Sessions remembered at most; beyond this, expired entries are swept, then the oldest go.
const MAX_SESSIONS: usize = 100_000;

/// Identify a session: the caller's `x-session-id`, else a fingerprint of the first system
/// and first user message (stable across the turns of one conversation).
pub fn session_key(header: Option<&str>, req: &ChatRequest) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    match header {
        Some(id) => ("header", id).hash(&mut h),
        None => {
            "fingerprint".hash(&mut h);
            for b in &req.system {
                b.text.hash(&mut h);
            }
            if let Some(first) = req.messages.iter().find(|m| m.role == Role::User) {
                for p in &first.content {
                    if let Part::Text { text, .. } = p {
                        text.hash(&mut h);
                    }
                }
            }
        }
    }
    h.finish()
}

/// Whether a request continues an earlier exchange of its session. A conversation whose
/// only turns are user turns starts a session: it takes no floor, because a fingerprint of a
/// short opening ("hi") is shared by unrelated conversations. A caller-named session
/// always continues.
pub fn continues_session(header: Option<&str>, req: &ChatRequest) -> bool {
    header.is_some() || req.messages.iter().any(|m| m.role == Role::Assistant)
}

/// Remembers the highest tier each live session has been routed to.
pub struct SessionTracker {
    ttl: Duration,
    sessions: Mutex<HashMap<u64, (Tier, Instant)>>,
}

impl SessionTracker {
    pub fn new(ttl: Duration) -> SessionTracker {
        SessionTracker {
            ttl,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// The tier this session may not fall below, if it is live.
    pub fn floor(&self, key: u64) -> Option<Tier> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.sessions.lock().ok()?;
        map.get(&key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(t, _)| *t)
    }

    /// Record that the session was routed to `tier` now (the floor only rises; every
    /// request refreshes the session's lifetime).
    pub fn record(&self, key: u64, tier: Tier) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut map) = self.sessions.lock() else {
            return;
        };
        let now = Instant::now();
        let entry = map.entry(key).or_insert((tier, now));
        if entry.1.elapsed() >= self.ttl {
            entry.0 = tier;
        }
        *entry = (entry.0.max(tier), now);
        if map.len() > MAX_SESSIONS {
            let ttl = self.ttl;
            map.retain(|_, (_, at)| at.elapsed() < ttl);
            if map.len() > MAX_SESSIONS {
                // Still full of live sessions: drop the oldest tenth.
                let mut ages: Vec<(u64, Instant)> =
                    map.iter().map(|(k, (_, at))| (*k, *at)).collect();
                ages.sort_by_key(|(_, at)| *at);
                for (k, _) in ages.iter().take(MAX_SESSIONS / 10) {
                    map.remove(k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TextBlock;

    fn conv(system: &str, turns: &[&str]) -> ChatRequest {
        ChatRequest {
            system: vec![TextBlock {
                text: system.into(),
                cache_control: None,
            }],
            ..ChatRequest::from_turns(turns)
        }
    }

    #[test]
    fn fingerprint_is_stable_across_turns() {
        let a = session_key(None, &conv("sys", &["design a database"]));
        let b = session_key(
            None,
            &conv("sys", &["design a database", "ok", "now commit it"]),
        );
        assert_eq!(a, b);
        assert_ne!(a, session_key(None, &conv("sys", &["hello"])));
        assert_ne!(
            a,
            session_key(Some("s1"), &conv("sys", &["design a database"]))
        );
    }

    #[test]
    fn tier_rises_but_does_not_fall_until_expiry() {
        let t = SessionTracker::new(Duration::from_millis(50));
        assert_eq!(t.floor(1), None);
        t.record(1, Tier::Complex);
        t.record(1, Tier::Simple);
        assert_eq!(t.floor(1), Some(Tier::Complex));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(t.floor(1), None);
        t.record(1, Tier::Simple);
        assert_eq!(t.floor(1), Some(Tier::Simple));
    }

    #[test]
    fn only_follow_ups_continue_a_fingerprinted_session() {
        assert!(!continues_session(None, &conv("sys", &["hi"])));
        assert!(continues_session(
            None,
            &conv("sys", &["hi", "hello", "now commit it"])
        ));
        assert!(continues_session(Some("s"), &conv("sys", &["hi"])));
    }

    #[test]
    fn zero_ttl_disables() {
        let t = SessionTracker::new(Duration::ZERO);
        t.record(1, Tier::Frontier);
        assert_eq!(t.floor(1), None);
    }
}
