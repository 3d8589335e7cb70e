//! Request headers frugal reads (routing overrides, forwarded provider headers) and the
//! `x-frugal-*` headers it writes on every answer.

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use rust_decimal::Decimal;

use crate::cost::format_usd;
use crate::error::{GatewayError, Result};
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
    Ok(RouteContext {
        min_tier,
        route_off,
        session_floor: None,
        judge: None,
        warm: None,
    })
}

/// The API key the client presented (`Authorization: Bearer …` or `x-api-key`).
pub fn presented_key(h: &HeaderMap) -> Option<&str> {
    let bearer = h
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        });
    bearer
        .or_else(|| h.get("x-api-key").and_then(|v| v.to_str().ok()))
        .map(str::trim)
        .filter(|k| !k.is_empty())
}

/// `x-session-id`, when the client names its session.
pub fn session_id(h: &HeaderMap) -> Option<&str> {
    h.get("x-session-id")
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
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

/// What goes into the `x-frugal-*` answer headers.
pub struct AnswerInfo<'a> {
    pub request_id: &'a str,
    pub model: Option<&'a str>,
    pub tier: Option<Tier>,
    pub cost: Option<Decimal>,
    pub baseline_cost: Option<Decimal>,
    /// True when the cost is the plan's estimate (streams: headers precede usage).
    pub cost_estimated: bool,
    pub overhead_ms: f64,
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
    if let Some(c) = info.cost {
        set("x-frugal-cost-usd", format_usd(c));
    }
    if let Some(c) = info.baseline_cost {
        set("x-frugal-baseline-cost-usd", format_usd(c));
    }
    if info.cost_estimated {
        set("x-frugal-cost-estimated", "true".into());
    }
    set("x-frugal-overhead-ms", format!("{:.3}", info.overhead_ms));
}

/// `x-frugal-score` and `x-frugal-stage`: why a routed request got its tier.
pub fn write_classification(h: &mut HeaderMap, c: &crate::pipeline::Classification) {
    if let Ok(v) = HeaderValue::from_str(&format!("{:.4}", c.score)) {
        h.insert(HeaderName::from_static("x-frugal-score"), v);
    }
    h.insert(
        HeaderName::from_static("x-frugal-stage"),
        HeaderValue::from_static(c.stage),
    );
}

/// `x-frugal-savings-{routing,caching,compression}-usd`: what each source saved against
/// the baseline (complete answers; a stream's usage arrives after its headers).
pub fn write_savings(h: &mut HeaderMap, s: [Decimal; 3]) {
    let names = [
        "x-frugal-savings-routing-usd",
        "x-frugal-savings-caching-usd",
        "x-frugal-savings-compression-usd",
    ];
    for (name, v) in names.into_iter().zip(s) {
        if let Ok(v) = HeaderValue::from_str(&format_usd(v)) {
            h.insert(HeaderName::from_static(name), v);
        }
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
