//! Sending one upstream request and sorting what comes back into "answer", "the request
//! itself was rejected" (return it) and "this upstream failed" (try the next candidate).

use std::time::Duration;

use reqwest::header::HeaderMap;
use serde_json::Value;

use super::body::UpstreamRequest;

/// Why one attempt did not produce an answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// The request itself is at fault (400, 413, 422...): another model would fail too.
    Rejected { status: u16, message: String },
    /// This upstream failed (429, 5xx, timeout, connection, bad answer): try the next one.
    Retryable {
        status: Option<u16>,
        reason: String,
        retry_after: Option<Duration>,
    },
}

impl Failure {
    pub fn retryable(status: Option<u16>, reason: impl Into<String>) -> Failure {
        Failure::Retryable {
            status,
            reason: reason.into(),
            retry_after: None,
        }
    }
}

/// Whether an upstream HTTP status means "try another candidate".
/// 401/403/404 count as upstream failures: they mean this provider's key or model
/// configuration is wrong, which another provider can still cover.
pub fn classify_status(status: u16) -> bool {
    matches!(status, 401 | 403 | 404 | 408 | 409 | 429) || status >= 500
}

/// The longest cool-down an upstream can ask for: a provider that says "come back in a
/// year" (or sends u64::MAX) still gets retried within the hour.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// `retry-after` (seconds or HTTP date) or `retry-after-ms`, as a duration capped at
/// [`MAX_RETRY_AFTER`]. Any value an upstream sends is parsed fallibly: a negative, NaN,
/// huge or garbled one is ignored (or capped), never a panic.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds = |text: &str, scale: f64| -> Option<Duration> {
        let v = text.trim().parse::<f64>().ok()? / scale;
        if !v.is_finite() || v < 0.0 {
            return None;
        }
        Some(
            Duration::try_from_secs_f64(v.min(MAX_RETRY_AFTER.as_secs_f64()))
                .ok()?
                .min(MAX_RETRY_AFTER),
        )
    };
    if let Some(ms) = headers.get("retry-after-ms").and_then(|v| v.to_str().ok()) {
        if let Some(d) = seconds(ms, 1000.0) {
            return Some(d);
        }
    }
    let v = headers.get("retry-after")?.to_str().ok()?.trim();
    if v.bytes()
        .next()
        .is_some_and(|b| b.is_ascii_digit() || b == b'-' || b == b'.')
    {
        return seconds(v, 1.0);
    }
    // An HTTP date: only its presence matters for the cool-down; a minute is a safe reading.
    Some(Duration::from_secs(60))
}

/// A short description of a transport error without URLs (which may carry keys for some
/// OpenAI-compatible servers).
pub fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "response body interrupted".into()
    } else {
        "request failed".into()
    }
}

/// Replace anything that looks like an API key (`sk-...`, `sk_...`, long key-like tokens)
/// with `<redacted>`, so an upstream message quoting a key never reaches a client or a log.
/// Configured secrets are removed exactly (`secrets`); this also catches keys frugal does
/// not hold, such as a provider's masked echo (`sk-proj-abc1****wxyz`), whatever the
/// characters around them (`api_key=…`, `(key=…)`, a line break).
pub fn redact_keys(text: &str) -> String {
    let text = crate::secrets::current().redact(text).into_owned();
    let key_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*');
    let looks_like_key = |t: &str| {
        (t.starts_with("sk-") || t.starts_with("sk_") || t.starts_with("key-")) && t.len() >= 12
            || (t.len() >= 32
                && t.chars().any(|c| c.is_ascii_digit())
                && t.chars().any(|c| c.is_ascii_alphabetic()))
    };
    let mut out = String::with_capacity(text.len());
    let mut token = String::new();
    let flush = |token: &mut String, out: &mut String| {
        out.push_str(if looks_like_key(token) {
            crate::secrets::REDACTED
        } else {
            token
        });
        token.clear();
    };
    for c in text.chars() {
        if key_char(c) {
            token.push(c);
        } else {
            flush(&mut token, &mut out);
            out.push(c);
        }
    }
    flush(&mut token, &mut out);
    out
}

/// The error message inside a provider error body (both formats put it at error.message),
/// with key-like tokens redacted.
pub fn upstream_message(body: &[u8]) -> String {
    let (message, keep) = raw_upstream_message(body);
    redact_keys(&message).chars().take(keep).collect()
}

/// Redacted before it is shortened: cutting first could leave a key's first half behind.
fn raw_upstream_message(body: &[u8]) -> (String, usize) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let msg = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(Value::as_str)
        .map(str::to_string);
    match msg {
        Some(m) => (m, 500),
        None => (String::from_utf8_lossy(body).into_owned(), 300),
    }
}

/// Send `up` and return the response if its status is a success.
pub async fn send(
    http: &reqwest::Client,
    up: &UpstreamRequest,
    timeout: Duration,
) -> Result<reqwest::Response, Failure> {
    let mut rb = http.post(&up.url).json(&up.body);
    for (k, v) in &up.headers {
        rb = rb.header(*k, v);
    }
    let resp = tokio::time::timeout(timeout, rb.send())
        .await
        .map_err(|_| Failure::retryable(None, "timeout waiting for the response"))?
        .map_err(|e| Failure::retryable(None, describe(&e)))?;
    let status = resp.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(resp);
    }
    let wait = retry_after(resp.headers());
    let body = tokio::time::timeout(Duration::from_secs(10), resp.bytes())
        .await
        .ok()
        .and_then(Result::ok)
        .unwrap_or_default();
    // Providers echo a masked form of the key in auth errors: never pass those on.
    let message = if matches!(status, 401 | 403) {
        format!("the provider rejected frugal's credentials (HTTP {status}); check the API key configured for it")
    } else {
        upstream_message(&body)
    };
    if classify_status(status) {
        Err(Failure::Retryable {
            status: Some(status),
            reason: message,
            retry_after: wait,
        })
    } else {
        Err(Failure::Rejected { status, message })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses() {
        for s in [429, 500, 502, 503, 529, 401, 404, 408] {
            assert!(classify_status(s), "{s}");
        }
        for s in [400, 413, 422] {
            assert!(!classify_status(s), "{s}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().expect("hv"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert("retry-after-ms", "150".parse().expect("hv"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(150)));
        assert_eq!(retry_after(&HeaderMap::new()), None);
    }

    #[test]
    fn retry_after_never_panics_and_is_capped() {
        let huge = [
            ("retry-after", "18446744073709551615"),
            ("retry-after", "1e308"),
            ("retry-after", "inf"),
            ("retry-after-ms", "18446744073709551615000"),
            ("retry-after-ms", "1e400"),
        ];
        for (name, value) in huge {
            let mut h = HeaderMap::new();
            h.insert(name, value.parse().expect("hv"));
            let d = retry_after(&h);
            assert!(
                d.is_none_or(|d| d <= MAX_RETRY_AFTER),
                "{name}: {value} -> {d:?}"
            );
        }
        for bad in ["-5", "NaN", "-inf", "abc", ""] {
            let mut h = HeaderMap::new();
            h.insert("retry-after-ms", bad.parse().expect("hv"));
            assert!(
                retry_after(&h).is_none_or(|d| d <= MAX_RETRY_AFTER),
                "{bad}"
            );
        }
    }

    proptest::proptest! {
        #[test]
        fn retry_after_total(name in proptest::sample::select(vec!["retry-after", "retry-after-ms"]),
                             value in "[ -~]{0,40}") {
            let mut h = HeaderMap::new();
            if let Ok(v) = value.parse() {
                h.insert(name, v);
                let d = retry_after(&h);
                proptest::prop_assert!(d.is_none_or(|d| d <= MAX_RETRY_AFTER));
            }
        }
    }

    #[test]
    fn messages() {
        assert_eq!(
            upstream_message(br#"{"error":{"message":"bad thing"}}"#),
            "bad thing"
        );
        assert_eq!(upstream_message(b"oops"), "oops");
        assert_eq!(
            upstream_message(
                br#"{"error":{"message":"Incorrect API key provided: sk-proj-abc123****wxyz."}}"#
            ),
            "Incorrect API key provided: <redacted>."
        );
        // Unknown keys (not configured here) in any surrounding characters.
        for text in [
            "api_key=sk-proj-abcdef123456;",
            "(key=sk-proj-abcdef123456)",
            "credential=sk-proj-abcdef123456.",
            "key:\nsk-proj-abcdef123456",
        ] {
            let out = redact_keys(text);
            assert!(!out.contains("abcdef123456"), "{text:?} -> {out:?}");
        }
        assert_eq!(
            redact_keys("model gpt-4o-mini is busy"),
            "model gpt-4o-mini is busy"
        );
    }
}
