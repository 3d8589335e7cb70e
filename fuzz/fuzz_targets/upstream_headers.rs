//! Arbitrary upstream response headers → `providers::retry_after`.
//!
//! Input layout: a sequence of records `[selector, len, value bytes...]`; the selector's
//! low 2 bits name the header (`retry-after`, `retry-after-ms`, or, for 2 and 3, a name
//! taken from the next bytes). Invalid names and values are skipped, as `http` rejects
//! them before frugal sees them. Invariants: never panics; the result is at most
//! `MAX_RETRY_AFTER`.
#![no_main]
use std::time::Duration;

use frugal::providers::retry_after;
use http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;

/// `providers::outcome::MAX_RETRY_AFTER` (that module is private; keep the two in step).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

fn take<'a>(data: &mut &'a [u8]) -> Option<&'a [u8]> {
    let (&len, rest) = data.split_first()?;
    let len = usize::from(len).min(rest.len());
    let (v, rest) = rest.split_at(len);
    *data = rest;
    Some(v)
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let mut headers = HeaderMap::new();
    while let Some((&sel, rest)) = data.split_first() {
        data = rest;
        let name = match sel & 3 {
            0 => HeaderName::from_static("retry-after"),
            1 => HeaderName::from_static("retry-after-ms"),
            _ => match take(&mut data).map(HeaderName::from_bytes) {
                Some(Ok(n)) => n,
                Some(Err(_)) => continue,
                None => break,
            },
        };
        let Some(value) = take(&mut data) else { break };
        if let Ok(v) = HeaderValue::from_bytes(value) {
            headers.append(name, v);
        }
    }
    if let Some(d) = retry_after(&headers) {
        assert!(
            d <= MAX_RETRY_AFTER,
            "retry_after {d:?} above the cap for {headers:?}"
        );
    }
});
