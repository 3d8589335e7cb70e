//! Gateway keys: what a key may do (`Rules`: allowed models and tiers, routing policy,
//! budgets, rate limits) and the registry the request path looks keys up in. Keys come
//! from `[keys.*]` in the configuration and from the database (`frugal keys create`);
//! both are held by their SHA-256 only, in memory, refreshed from the database every few
//! seconds, so authenticating a request costs a hash and a map lookup, never a query.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::store::StoredKey;
use crate::config::Config;
use crate::types::Tier;

/// Spending limits in USD per UTC day, per UTC calendar month and in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Budgets {
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub day_usd: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub month_usd: Option<Decimal>,
    #[serde(default, with = "rust_decimal::serde::str_option")]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_usd: Option<Decimal>,
}

impl Budgets {
    pub fn is_empty(&self) -> bool {
        self.day_usd.is_none() && self.month_usd.is_none() && self.total_usd.is_none()
    }
}

/// What one key may do. Empty lists allow everything.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    /// Model names and aliases (`auto`, `frugal/eco`, a catalogue model) the key may ask for.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
    /// Tiers whose models may serve the key's requests (other candidates are dropped).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tiers: Vec<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_tier: Option<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lambda: Option<f64>,
    /// Verified answers for the key's routed requests, on or off, whatever the alias says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<bool>,
    #[serde(default)]
    pub budget: Budgets,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requests_per_min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_per_min: Option<u64>,
}

/// A recognised key, as the request path sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPolicy {
    pub name: String,
    pub project: String,
    pub rules: Rules,
    /// Declared in the configuration (not manageable with `frugal keys`).
    pub from_config: bool,
}

/// The hex SHA-256 a key is stored and looked up by. Keys are 256 random bits, so a fast
/// hash is enough: there is nothing to brute-force.
pub fn secret_sha256(key: &str) -> String {
    crate::hashing::hex(&Sha256::digest(key.as_bytes()))
}

/// A new key: `fk-` and 64 hex digits from two v4 UUIDs (the OS random source).
pub fn generate() -> String {
    format!(
        "fk-{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

struct Entry {
    policy: Arc<KeyPolicy>,
    /// A rotated-out key is accepted until then (ms since the epoch).
    valid_until_ms: Option<i64>,
}

/// Every key the gateway accepts, by SHA-256.
pub struct KeyRegistry {
    config_keys: Vec<(String, Arc<KeyPolicy>)>,
    map: RwLock<Arc<HashMap<String, Entry>>>,
}

impl KeyRegistry {
    /// The configuration's keys alone (the database's join at the first refresh).
    pub fn from_config(config: &Config) -> KeyRegistry {
        let config_keys: Vec<(String, Arc<KeyPolicy>)> = config
            .keys
            .iter()
            .map(|k| {
                let mut rules = k.rules.clone();
                rules.lambda = k.lambda;
                rules.min_tier = if k.never_route_down {
                    Some(Tier::Frontier)
                } else {
                    k.min_tier
                };
                let policy = KeyPolicy {
                    name: k.name.clone(),
                    project: k.project.clone(),
                    rules,
                    from_config: true,
                };
                (secret_sha256(k.key.expose()), Arc::new(policy))
            })
            .collect();
        let registry = KeyRegistry {
            config_keys,
            map: RwLock::new(Arc::new(HashMap::new())),
        };
        registry.replace_stored(&[]);
        registry
    }

    /// The policy of a presented key, if it is accepted now.
    pub fn lookup(&self, presented: &str) -> Option<Arc<KeyPolicy>> {
        let map = self.map.read().ok()?.clone();
        let e = map.get(&secret_sha256(presented))?;
        match e.valid_until_ms {
            Some(until) if crate::ledger::now_ms() >= until => None,
            _ => Some(e.policy.clone()),
        }
    }

    /// Whether any accepted key has a request or token rate.
    pub fn has_rate_limits(&self) -> bool {
        self.map.read().is_ok_and(|m| {
            m.values().any(|e| {
                e.policy.rules.requests_per_min.is_some() || e.policy.rules.tokens_per_min.is_some()
            })
        })
    }

    /// Whether any key at all is known (config or database).
    pub fn is_empty(&self) -> bool {
        self.map.read().map(|m| m.is_empty()).unwrap_or(true)
    }

    /// A key by name.
    pub fn by_name(&self, name: &str) -> Option<Arc<KeyPolicy>> {
        let map = self.map.read().ok()?.clone();
        let found = map.values().find(|e| e.policy.name == name);
        found.map(|e| e.policy.clone())
    }

    /// Rebuild from the configuration's keys and the database's enabled keys. A database
    /// key named like a configured one is ignored (the configuration wins).
    pub fn replace_stored(&self, stored: &[StoredKey]) {
        let mut map: HashMap<String, Entry> = HashMap::new();
        for (hash, p) in &self.config_keys {
            map.insert(
                hash.clone(),
                Entry {
                    policy: p.clone(),
                    valid_until_ms: None,
                },
            );
        }
        for k in stored.iter().filter(|k| k.disabled_ms.is_none()) {
            if self.config_keys.iter().any(|(_, p)| p.name == k.name) {
                continue;
            }
            let rules: Rules = match serde_json::from_str(&k.policy) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(key = %k.name, error = %e, "stored key has an unreadable policy: not accepted");
                    continue;
                }
            };
            let policy = Arc::new(KeyPolicy {
                name: k.name.clone(),
                project: k.project.clone(),
                rules,
                from_config: false,
            });
            if let (Some(prev), Some(until)) = (&k.prev_secret_sha256, k.prev_expires_ms) {
                map.insert(
                    prev.clone(),
                    Entry {
                        policy: policy.clone(),
                        valid_until_ms: Some(until),
                    },
                );
            }
            map.insert(
                k.secret_sha256.clone(),
                Entry {
                    policy,
                    valid_until_ms: None,
                },
            );
        }
        if let Ok(mut w) = self.map.write() {
            *w = Arc::new(map);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(name: &str, key: &str) -> StoredKey {
        StoredKey {
            name: name.into(),
            project: "p".into(),
            secret_sha256: secret_sha256(key),
            policy: r#"{"requests_per_min": 5, "budget": {"day_usd": "1.50"}}"#.into(),
            ..Default::default()
        }
    }

    #[test]
    fn stored_keys_rotation_and_disable() {
        let cfg = Config::load(None, &crate::config::ProcessEnv).expect("built-in config");
        let reg = KeyRegistry::from_config(&cfg);
        assert!(reg.lookup("fk-a").is_none());
        let mut k = stored("ci", "fk-a");
        reg.replace_stored(std::slice::from_ref(&k));
        let p = reg.lookup("fk-a").expect("accepted");
        assert_eq!(p.rules.requests_per_min, Some(5));
        assert_eq!(p.rules.budget.day_usd, Some(Decimal::new(150, 2)));
        // Rotated: both accepted during the grace period, then only the new one.
        k.prev_secret_sha256 = Some(k.secret_sha256.clone());
        k.secret_sha256 = secret_sha256("fk-b");
        k.prev_expires_ms = Some(crate::ledger::now_ms() + 60_000);
        reg.replace_stored(std::slice::from_ref(&k));
        assert!(reg.lookup("fk-a").is_some() && reg.lookup("fk-b").is_some());
        k.prev_expires_ms = Some(crate::ledger::now_ms() - 1);
        reg.replace_stored(std::slice::from_ref(&k));
        assert!(reg.lookup("fk-a").is_none() && reg.lookup("fk-b").is_some());
        k.disabled_ms = Some(1);
        reg.replace_stored(&[k]);
        assert!(reg.lookup("fk-b").is_none());
    }

    #[test]
    fn generated_keys_differ_and_hash_stably() {
        let (a, b) = (generate(), generate());
        assert_ne!(a, b);
        assert_eq!(a.len(), 67);
        assert_eq!(secret_sha256(&a), secret_sha256(&a));
        assert_eq!(secret_sha256(&a).len(), 64);
    }
}
