//! Per-model cool-downs: a 429 with `retry-after` keeps that model out of rotation until
//! the time the provider asked for has passed, so later requests go straight to a fallback.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Longest cool-down honoured; a provider asking for more is treated as "a while", and the
/// model comes back after this to be probed again.
const MAX_COOLDOWN: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Cooldowns {
    until: Mutex<HashMap<String, Instant>>,
}

impl Cooldowns {
    pub fn set(&self, model: &str, wait: Duration) {
        let until = Instant::now() + wait.min(MAX_COOLDOWN);
        if let Ok(mut map) = self.until.lock() {
            let e = map.entry(model.to_string()).or_insert(until);
            *e = (*e).max(until);
        }
    }

    /// Time left before `model` may be tried again, if it is cooling down.
    pub fn remaining(&self, model: &str) -> Option<Duration> {
        let mut map = self.until.lock().ok()?;
        let until = *map.get(model)?;
        let now = Instant::now();
        if until <= now {
            map.remove(model);
            return None;
        }
        Some(until - now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires() {
        let c = Cooldowns::default();
        c.set("m", Duration::from_millis(30));
        assert!(c.remaining("m").is_some());
        assert!(c.remaining("other").is_none());
        std::thread::sleep(Duration::from_millis(40));
        assert!(c.remaining("m").is_none());
    }
}
