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

/// The model that last served a session, whose provider prompt cache is likely warm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmCache {
    pub model: String,
    /// Prompt tokens of that request: the prefix the next turn can read from cache.
    pub prefix_tokens: u64,
}

/// Remembers the highest tier each live session has been routed to, and which model's
/// cache it warmed.
pub struct SessionTracker {
    ttl: Duration,
    sessions: Mutex<HashMap<u64, (Tier, Instant)>>,
    warm: Mutex<HashMap<u64, (WarmCache, Instant)>>,
}

/// Keep a session map bounded: sweep expired entries, then drop the oldest tenth.
fn evict<V>(map: &mut HashMap<u64, (V, Instant)>, ttl: Duration) {
    if map.len() <= MAX_SESSIONS {
        return;
    }
    map.retain(|_, (_, at)| at.elapsed() < ttl);
    if map.len() > MAX_SESSIONS {
        let mut ages: Vec<(u64, Instant)> = map.iter().map(|(k, (_, at))| (*k, *at)).collect();
        ages.sort_by_key(|(_, at)| *at);
        for (k, _) in ages.iter().take(MAX_SESSIONS / 10) {
            map.remove(k);
        }
    }
}

impl SessionTracker {
    pub fn new(ttl: Duration) -> SessionTracker {
        SessionTracker {
            ttl,
            sessions: Mutex::new(HashMap::new()),
            warm: Mutex::new(HashMap::new()),
        }
    }

    /// The model whose cache this live session warmed last, if any.
    pub fn warm(&self, key: u64) -> Option<WarmCache> {
        if self.ttl.is_zero() {
            return None;
        }
        let map = self.warm.lock().ok()?;
        map.get(&key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(w, _)| w.clone())
    }

    /// Record the model that served the session and the prompt size it cached.
    pub fn record_served(&self, key: u64, warm: WarmCache) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.warm.lock() {
            map.insert(key, (warm, Instant::now()));
            evict(&mut map, self.ttl);
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
        evict(&mut map, self.ttl);
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
    fn warm_model_is_remembered_per_session() {
        let t = SessionTracker::new(Duration::from_secs(60));
        let w = WarmCache {
            model: "m".into(),
            prefix_tokens: 5000,
        };
        t.record_served(7, w.clone());
        assert_eq!(t.warm(7), Some(w));
        assert_eq!(t.warm(8), None);
    }

    #[test]
    fn zero_ttl_disables() {
        let t = SessionTracker::new(Duration::ZERO);
        t.record(1, Tier::Frontier);
        assert_eq!(t.floor(1), None);
    }
}
