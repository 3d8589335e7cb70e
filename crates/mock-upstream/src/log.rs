//! The in-memory request log behind `/mock/requests`: bounded, with credentials redacted. It only
//! records; it never influences the answers.

use std::collections::VecDeque;
use std::sync::Mutex;

use axum::http::HeaderMap;
use serde::{Deserialize, Serialize};

/// Headers whose values are secrets: tests need to know they were sent, never what they were.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "cookie",
];

/// Stand-in value for a secret header.
pub const REDACTED: &str = "<redacted>";

/// One request as the mock received it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub path: String,
    /// The body's `model`, or "" when there is none (or the body is not JSON).
    pub model: String,
    /// The parsed body; a JSON string holding the raw text when the body is not valid JSON.
    pub body: serde_json::Value,
    /// Header names are lowercase, in arrival order; secrets read [`REDACTED`].
    pub headers: Vec<(String, String)>,
    /// The body exactly as received (lossy UTF-8), kept only when the mock was started with
    /// `--log-raw-bodies`: byte-level checks (is this turn's prompt a byte-identical
    /// extension of the last one?) need the bytes, not a re-serialization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_body: Option<String>,
}

impl RecordedRequest {
    pub(crate) fn new(
        path: &str,
        model: &str,
        body: serde_json::Value,
        headers: &HeaderMap,
    ) -> Self {
        let headers = headers
            .iter()
            .map(|(name, value)| {
                let name = name.as_str().to_ascii_lowercase();
                let value = if SECRET_HEADERS.contains(&name.as_str()) {
                    REDACTED.to_string()
                } else {
                    String::from_utf8_lossy(value.as_bytes()).into_owned()
                };
                (name, value)
            })
            .collect();
        Self {
            path: path.to_string(),
            model: model.to_string(),
            body,
            headers,
            raw_body: None,
        }
    }

    /// The same record, keeping the body's bytes too.
    pub(crate) fn with_raw(mut self, raw: &[u8]) -> Self {
        self.raw_body = Some(String::from_utf8_lossy(raw).into_owned());
        self
    }

    /// The first value of a header, by lowercase name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A ring buffer: a long benchmark must not grow the mock's memory without bound, so the oldest
/// entries are dropped once `capacity` is reached.
#[derive(Debug)]
pub(crate) struct RequestLog {
    entries: Mutex<VecDeque<RecordedRequest>>,
    capacity: usize,
}

impl RequestLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
            capacity: capacity.max(1),
        }
    }

    pub(crate) fn push(&self, request: RecordedRequest) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.pop_front();
        }
        entries.push_back(request);
    }

    pub(crate) fn snapshot(&self) -> Vec<RecordedRequest> {
        self.lock().iter().cloned().collect()
    }

    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<RecordedRequest>> {
        // A panic while holding the lock cannot leave the deque half-updated, so keep going.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn redacts_secrets_but_keeps_their_presence() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-secret"),
        );
        headers.insert("x-api-key", HeaderValue::from_static("sk-ant-secret"));
        headers.insert("anthropic-version", HeaderValue::from_static("2023-06-01"));
        let rec = RecordedRequest::new("/v1/messages", "m", serde_json::Value::Null, &headers);
        assert_eq!(rec.header("Authorization"), Some(REDACTED));
        assert_eq!(rec.header("x-api-key"), Some(REDACTED));
        assert_eq!(rec.header("anthropic-version"), Some("2023-06-01"));
        assert!(!format!("{rec:?}").contains("secret"));
    }

    #[test]
    fn ring_buffer_drops_oldest() {
        let log = RequestLog::new(2);
        for model in ["a", "b", "c"] {
            log.push(RecordedRequest::new(
                "/p",
                model,
                serde_json::Value::Null,
                &HeaderMap::new(),
            ));
        }
        let models: Vec<_> = log.snapshot().into_iter().map(|r| r.model).collect();
        assert_eq!(models, ["b", "c"]);
        log.clear();
        assert!(log.snapshot().is_empty());
    }
}
