//! Request headers frugal reads (routing overrides, forwarded provider headers) and the
//! `x-frugal-*` headers it writes on every answer.

use axum::http::{header, HeaderMap, HeaderName, HeaderValue};
use rust_decimal::Decimal;

use crate::cost::format_usd;
use crate::error::{AttemptError, GatewayError, Result};
use crate::ledger::Meter;
use crate::pipeline::RouteContext;
use crate::types::Tier;

/// Routing overrides from `x-frugal-min-tier` and `x-frugal-route`.
pub fn route_context(h: &HeaderMap) -> Result<RouteContext> {
    let text = |name: &str| -> Result<Option<String>> {
        match h.get(name) {
            None => Ok(None),
            Some(v) => v
                .to_str()
                .map(|s| Some(s.trim().to_ascii_lowercase()))
                .map_err(|_| {
                    GatewayError::InvalidRequest(format!("header {name}: not valid text"))
                }),
        }
    };
    let min_tier = match text("x-frugal-min-tier")? {
        None => None,
        Some(t) => Some(Tier::parse(&t).ok_or_else(|| {
            GatewayError::InvalidRequest(format!(
                "header x-frugal-min-tier: `{t}` is not simple, medium, complex or frontier"
            ))
        })?),
    };
    let route_off = match text("x-frugal-route")?.as_deref() {
        None | Some("on") | Some("auto") => false,
        Some("off") => true,
        Some(other) => {
            return Err(GatewayError::InvalidRequest(format!(
                "header x-frugal-route: `{other}` is not `on` or `off`"
            )))
        }
    };
    let verify = match h.get("x-frugal-verify").map(|v| v.to_str().unwrap_or("?")) {
        None => None,
        Some("off") => Some(false),
        Some("on") => Some(true),
        Some(other) => {
            return Err(GatewayError::InvalidRequest(format!(
                "header x-frugal-verify: `{other}` is not `on` or `off`"
            )))
        }
    };
    Ok(RouteContext {
        min_tier,
        route_off,
        session_floor: None,
        judge: None,
        warm: None,
        lambda: None,
        may_explore: false,
        verify,
    })
}

/// Client headers forwarded upstream when the formats match.
pub fn passthrough(h: &HeaderMap) -> Vec<(String, String)> {
    ["anthropic-beta"]
        .iter()
        .filter_map(|n| {
            h.get(*n)
                .and_then(|v| v.to_str().ok())
                .map(|v| (n.to_string(), v.to_string()))
        })
        .collect()
}

/// `x-frugal-verify` (trusted / escalated / escalation_failed), the first answer's
/// confidence, the calls made and how long verification held the answer back.
pub fn write_verification(h: &mut HeaderMap, v: &crate::ledger::Verification) {
    h.insert("x-frugal-verify", HeaderValue::from_static(v.outcome));
    if let Some(c) = v.confidence {
        if let Ok(val) = HeaderValue::from_str(&format!("{c:.3}")) {
            h.insert("x-frugal-verify-confidence", val);
        }
    }
    h.insert("x-frugal-verify-calls", HeaderValue::from(v.calls.len()));
    if let Ok(val) = HeaderValue::from_str(&format!("{:.1}", v.delay.as_secs_f64() * 1e3)) {
        h.insert("x-frugal-verify-delay-ms", val);
    }
}

/// What goes into the `x-frugal-*` answer headers.
pub struct AnswerInfo<'a> {
    pub request_id: &'a str,
    pub model: Option<&'a str>,
    pub tier: Option<Tier>,
    /// The request's one metering value (the ledger row holds the same numbers).
    pub meter: Option<Meter>,
    /// True when the meter is the plan's estimate (streams: headers precede usage).
    pub cost_estimated: bool,
    pub overhead_ms: f64,
    /// Candidates that failed before the one that answered.
    pub failed: &'a [AttemptError],
}

pub fn write(h: &mut HeaderMap, info: &AnswerInfo<'_>) {
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            h.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-frugal-request-id", info.request_id.to_string());
    if let Some(m) = info.model {
        set("x-frugal-model", m.to_string());
    }
    if let Some(t) = info.tier {
        set("x-frugal-tier", t.to_string());
    }
    if let Some(m) = info.meter {
        set("x-frugal-cost-usd", format_usd(m.cost));
        set("x-frugal-baseline-cost-usd", format_usd(m.baseline_cost));
        if info.cost_estimated {
            set("x-frugal-cost-estimated", "true".into());
        } else {
            write_savings(&mut set, m.savings);
        }
    }
    if !info.failed.is_empty() {
        // `provider/model:status` per failed candidate, in the order they were tried.
        let attempts: Vec<String> = info
            .failed
            .iter()
            .map(|a| {
                let status = a.status.map_or("-".to_string(), |s| s.to_string());
                format!("{}/{}:{status}", a.provider, a.model)
            })
            .collect();
        set("x-frugal-fallbacks", attempts.join(", "));
    }
    set("x-frugal-overhead-ms", format!("{:.3}", info.overhead_ms));
}

/// `retry-after` on a 429, so SDKs that honour it back off for as long as the upstream
/// asked (or a second).
pub fn write_retry_after(h: &mut HeaderMap, e: &GatewayError) {
    if let Some(secs) = e.retry_after_secs() {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    // A spent budget resets in hours: the SDKs' automatic retries would only repeat it.
    if let GatewayError::Limited(r) = e {
        if !r.retryable() {
            h.insert(
                HeaderName::from_static("x-should-retry"),
                HeaderValue::from_static("false"),
            );
        }
    }
}

/// `x-frugal-budget-warning`: a budget of the key or project is past its soft limit.
pub fn write_budget_warning(h: &mut HeaderMap, warning: Option<&str>) {
    if let Some(v) = warning.and_then(|w| HeaderValue::from_str(w).ok()) {
        h.insert(HeaderName::from_static("x-frugal-budget-warning"), v);
    }
}

/// `x-frugal-score` and `x-frugal-stage`: why a routed request got its tier.
pub fn write_classification(h: &mut HeaderMap, c: &crate::pipeline::Classification) {
    if let Ok(v) = HeaderValue::from_str(&format!("{:.4}", c.score)) {
        h.insert(HeaderName::from_static("x-frugal-score"), v);
    }
    h.insert(
        HeaderName::from_static("x-frugal-stage"),
        HeaderValue::from_static(c.stage.as_str()),
    );
}

/// `x-frugal-savings-{routing,caching,compression}-usd`: what each source saved against
/// the baseline (complete answers; a stream's usage arrives after its headers).
fn write_savings(set: &mut impl FnMut(&'static str, String), s: [Decimal; 3]) {
    let names = [
        "x-frugal-savings-routing-usd",
        "x-frugal-savings-caching-usd",
        "x-frugal-savings-compression-usd",
    ];
    for (name, v) in names.into_iter().zip(s) {
        set(name, format_usd(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides() {
        let mut h = HeaderMap::new();
        h.insert("x-frugal-min-tier", HeaderValue::from_static("Complex"));
        h.insert("x-frugal-route", HeaderValue::from_static("off"));
        let ctx = route_context(&h).expect("valid");
        assert_eq!(ctx.min_tier, Some(Tier::Complex));
        assert!(ctx.route_off);
        h.insert("x-frugal-min-tier", HeaderValue::from_static("huge"));
        assert!(route_context(&h).is_err());
    }
}
