//! Who sent a request, read once from its headers: the presented API key (the one parser
//! that authentication, key policy, the ledger and feedback ownership all use), its
//! recognised key (`[keys.*]` or `frugal keys create`, looked up in the key registry),
//! the project and the session. Never keeps the key itself.

use std::sync::Arc;

use http::HeaderMap;
use sha2::{Digest, Sha256};

use crate::config::Config;
use crate::error::GatewayError;
use crate::limits::{KeyPolicy, KeyRegistry};
use crate::types::Tier;

/// Longest header value kept for a project or session name.
const MAX_NAME: usize = 128;

/// Claude Code names its conversation on every request; without it a session would be
/// told by a fingerprint of the system prompt, which a mid-conversation system message
/// changes.
const CLAUDE_CODE_SESSION: &str = "x-claude-code-session-id";

/// The caller of one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Caller {
    /// `key_hash` of the presented key; empty when none was presented.
    pub key_hash: String,
    /// True when the presented key is one of `[keys.*]`.
    pub recognised: bool,
    /// The tier the key's policy never routes below.
    pub key_min_tier: Option<Tier>,
    /// The key's price of quality (model-aware choice), when it sets one.
    pub key_lambda: Option<f64>,
    /// Whether the key turns verified answers on or off, when it says.
    pub key_verify: Option<bool>,
    /// The recognised key: its name, allowed models and tiers, budgets, limits.
    pub key: Option<Arc<KeyPolicy>>,
    /// The recognised key's project (budgets are counted there, so a header cannot move
    /// a key's spend elsewhere), else `x-frugal-project`, else empty.
    pub project: String,
    /// `x-session-id` (or `x-frugal-session`), when the client names its session, else the
    /// session id Claude Code sends of its own accord (`x-claude-code-session-id`).
    pub session_id: Option<String>,
}

impl Caller {
    /// Read the caller from the request headers.
    pub fn identify(h: &HeaderMap, keys: &KeyRegistry) -> Caller {
        let presented = presented_key(h);
        let key = presented.and_then(|k| keys.lookup(k));
        let project = key
            .as_ref()
            .map(|k| k.project.clone())
            .filter(|p| !p.is_empty())
            .or_else(|| header(h, "x-frugal-project"))
            .unwrap_or_default();
        Caller {
            key_hash: presented.map(key_hash).unwrap_or_default(),
            recognised: key.is_some(),
            key_min_tier: key.as_ref().and_then(|k| k.rules.min_tier),
            key_lambda: key.as_ref().and_then(|k| k.rules.lambda),
            key_verify: key.as_ref().and_then(|k| k.rules.verify),
            key,
            project,
            session_id: header(h, "x-session-id")
                .or_else(|| header(h, "x-frugal-session"))
                .or_else(|| header(h, CLAUDE_CODE_SESSION)),
        }
    }

    /// Refuse the request when the gateway requires a recognised key and this is not one.
    pub fn authorize(&self, config: &Config) -> Result<(), GatewayError> {
        if config.require_key && !self.recognised {
            return Err(GatewayError::Unauthorized);
        }
        Ok(())
    }

    /// Whether a ledger row with this `key_hash` was made by this caller: feedback is only
    /// taken on one's own requests (same presented key, or both without one).
    pub fn owns(&self, record_key_hash: &str) -> bool {
        self.key_hash == record_key_hash
    }
}

/// The API key the client presented: `Authorization: Bearer …` (what the OpenAI SDK sends),
/// else `x-api-key` (the Anthropic SDK).
pub fn presented_key(h: &HeaderMap) -> Option<&str> {
    let bearer = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|k| !k.is_empty());
    bearer.or_else(|| {
        h.get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
    })
}

/// `k_` + 12 hex digits of SHA-256: enough to tell keys apart in a report, useless to an
/// attacker. The key itself never leaves this function.
pub fn key_hash(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    format!("k_{}", crate::hashing::hex(&digest[..6]))
}

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().chars().take(MAX_NAME).collect::<String>())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn config(require_key: bool) -> Config {
        let mut c =
            crate::config::Config::load(None, &crate::config::ProcessEnv).expect("built-in config");
        c.require_key = require_key;
        c
    }

    fn keys(c: &Config) -> KeyRegistry {
        KeyRegistry::from_config(c)
    }

    #[test]
    fn one_parser_for_both_sdks() {
        let c = config(false);
        let mut h = HeaderMap::new();
        h.insert("x-api-key", HeaderValue::from_static("sk-ant-user-1"));
        let anthropic = Caller::identify(&h, &keys(&c));
        assert_eq!(anthropic.key_hash, key_hash("sk-ant-user-1"));
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-user-2"),
        );
        assert_eq!(
            Caller::identify(&h, &keys(&c)).key_hash,
            key_hash("sk-user-2")
        );
        assert_eq!(Caller::identify(&HeaderMap::new(), &keys(&c)).key_hash, "");
    }

    #[test]
    fn unrecognised_key_refused_only_when_required() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer nope"));
        assert!(Caller::identify(&h, &keys(&config(false)))
            .authorize(&config(false))
            .is_ok());
        let c = config(true);
        assert!(matches!(
            Caller::identify(&h, &keys(&c)).authorize(&c),
            Err(GatewayError::Unauthorized)
        ));
    }

    #[test]
    fn session_named_by_the_client_else_by_claude_code() {
        let c = config(false);
        let mut h = HeaderMap::new();
        assert_eq!(Caller::identify(&h, &keys(&c)).session_id, None);
        h.insert(
            "x-claude-code-session-id",
            HeaderValue::from_static("638af361-43f2-4dde-b33e-75cb5380b944"),
        );
        assert_eq!(
            Caller::identify(&h, &keys(&c)).session_id.as_deref(),
            Some("638af361-43f2-4dde-b33e-75cb5380b944")
        );
        h.insert("x-session-id", HeaderValue::from_static("mine"));
        assert_eq!(
            Caller::identify(&h, &keys(&c)).session_id.as_deref(),
            Some("mine")
        );
    }

    #[test]
    fn ownership_is_the_same_key() {
        let mut h = HeaderMap::new();
        h.insert("authorization", HeaderValue::from_static("Bearer a-key"));
        let c = Caller::identify(&h, &keys(&config(false)));
        assert!(c.owns(&key_hash("a-key")));
        assert!(!c.owns(&key_hash("b-key")));
        assert!(!c.owns(""));
    }
}
