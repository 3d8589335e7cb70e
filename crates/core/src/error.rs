//! The gateway's one error type: each variant knows its HTTP status and how to render
//! itself in the client's wire format. Internal detail is logged once, never echoed.

use http::StatusCode;
use serde_json::{json, Value};

use crate::types::Format;

/// One failed upstream attempt, as reported to the client when every candidate failed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AttemptError {
    pub provider: String,
    pub model: String,
    /// Upstream HTTP status, when there was a response at all.
    pub status: Option<u16>,
    /// A short, secret-free description ("timeout", "connect error", the upstream message).
    pub reason: String,
    /// How long the upstream asked to wait (its `retry-after`), when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

impl AttemptError {
    /// A failed attempt on `model` of `provider`. Secrets in `reason` are removed where
    /// the error leaves the process (`GatewayError::body`, the log writer).
    pub fn new(
        provider: &str,
        model: &str,
        status: Option<u16>,
        reason: String,
        retry_after: Option<std::time::Duration>,
    ) -> AttemptError {
        AttemptError {
            provider: provider.to_string(),
            model: model.to_string(),
            status,
            reason,
            retry_after_ms: retry_after.map(|w| u64::try_from(w.as_millis()).unwrap_or(u64::MAX)),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    /// The request body is not valid for the format it claims (bad JSON, missing field...).
    #[error("{0}")]
    InvalidRequest(String),
    /// Valid, but uses something that cannot be expressed in the chosen provider's format.
    #[error("{0}")]
    Untranslatable(String),
    /// The caller named a model the catalogue does not know.
    #[error("model `{0}` is not in frugal's catalogue; see GET /v1/models")]
    UnknownModel(String),
    /// No configured model can serve the request (capabilities, context window, keys).
    #[error("{0}")]
    NoCandidate(String),
    /// The upstream rejected the request itself (a 4xx that retrying elsewhere won't fix).
    /// The upstream's status and message are passed on.
    #[error("upstream {provider} rejected the request ({status}): {message}")]
    UpstreamRejected {
        provider: String,
        status: u16,
        message: String,
    },
    /// Every candidate failed with a retryable error.
    #[error("all {} upstream attempts failed: {}", .0.len(), summarize(.0))]
    AllAttemptsFailed(Vec<AttemptError>),
    /// `auth.require_key` is on and the request's key is not one of `[keys.*]`.
    #[error(
        "missing or unrecognised API key: this gateway requires one of its configured client keys"
    )]
    Unauthorized,
    /// The key may not use this model or tier (`[keys.*] models` / `tiers`).
    #[error("{0}")]
    Forbidden(String),
    /// A budget, rate or concurrency limit refused the request (docs/keys.md): 429.
    #[error("{}", .0.message)]
    Limited(Box<crate::limits::Refusal>),
    #[error("not found: {0}")]
    NotFound(String),
    /// The body is larger than `server.max_body_bytes`.
    #[error("request body exceeds the {0}-byte limit (server.max_body_bytes)")]
    PayloadTooLarge(usize),
    /// The gateway is at a capacity limit (memory budget for bodies): retry shortly.
    #[error("{0}")]
    Overloaded(String),
    /// The client did not send its request in time.
    #[error("{0}")]
    RequestTimeout(String),
    /// A bug or an environment failure; details are logged, not returned.
    #[error("internal error")]
    Internal(String),
}

impl From<frugal_wire::error::WireError> for GatewayError {
    fn from(e: frugal_wire::error::WireError) -> Self {
        use frugal_wire::error::WireError;
        match e {
            WireError::InvalidRequest(m) => GatewayError::InvalidRequest(m),
            WireError::Untranslatable(m) => GatewayError::Untranslatable(m),
            WireError::Internal(m) => GatewayError::Internal(m),
        }
    }
}

fn summarize(attempts: &[AttemptError]) -> String {
    attempts
        .iter()
        .map(|a| match a.status {
            Some(s) => format!("{}/{}: HTTP {} {}", a.provider, a.model, s, a.reason),
            None => format!("{}/{}: {}", a.provider, a.model, a.reason),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

impl GatewayError {
    pub fn status(&self) -> StatusCode {
        match self {
            GatewayError::InvalidRequest(_) | GatewayError::Untranslatable(_) => {
                StatusCode::BAD_REQUEST
            }
            GatewayError::UnknownModel(_) | GatewayError::NotFound(_) => StatusCode::NOT_FOUND,
            GatewayError::NoCandidate(_) => StatusCode::UNPROCESSABLE_ENTITY,
            GatewayError::Unauthorized => StatusCode::UNAUTHORIZED,
            GatewayError::Forbidden(_) => StatusCode::FORBIDDEN,
            GatewayError::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
            GatewayError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            GatewayError::UpstreamRejected { status, .. } => {
                StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            GatewayError::AllAttemptsFailed(attempts) => {
                // Every attempt rate-limited: tell the client to slow down, not that we broke.
                if !attempts.is_empty() && attempts.iter().all(|a| a.status == Some(429)) {
                    StatusCode::TOO_MANY_REQUESTS
                } else {
                    StatusCode::BAD_GATEWAY
                }
            }
            GatewayError::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            GatewayError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            GatewayError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The OpenAI `error.type` / Anthropic `error.type` for this error.
    fn kinds(&self) -> (&'static str, &'static str) {
        if let GatewayError::Limited(r) = self {
            if r.kind == crate::limits::RefusalKind::Budget {
                // OpenAI's own type for spend that ran out (its SDK raises RateLimitError).
                return ("insufficient_quota", "rate_limit_error");
            }
        }
        match self.status().as_u16() {
            400 => ("invalid_request_error", "invalid_request_error"),
            401 => ("authentication_error", "authentication_error"),
            403 => ("permission_error", "permission_error"),
            404 => ("invalid_request_error", "not_found_error"),
            413 => ("invalid_request_error", "request_too_large"),
            422 => ("invalid_request_error", "invalid_request_error"),
            408 => ("invalid_request_error", "timeout_error"),
            429 => ("rate_limit_error", "rate_limit_error"),
            503 => ("server_error", "overloaded_error"),
            529 => ("server_error", "overloaded_error"),
            _ => ("server_error", "api_error"),
        }
    }

    /// The error body in the client's own format. Any configured secret an upstream quoted
    /// is removed here too, whichever path built the message.
    pub fn body(&self, format: Format) -> Value {
        let (openai_type, anthropic_type) = self.kinds();
        let redactor = crate::secrets::current();
        let message = redactor.redact(&self.to_string()).into_owned();
        let attempts = |a: &[AttemptError]| -> Value {
            let clean: Vec<AttemptError> = a
                .iter()
                .map(|a| AttemptError {
                    reason: redactor.redact(&a.reason).into_owned(),
                    ..a.clone()
                })
                .collect();
            json!(clean)
        };
        match format {
            Format::OpenAi | Format::Responses => {
                let mut err = json!({
                    "message": message,
                    "type": openai_type,
                    "param": null,
                    "code": self.code(),
                });
                if let GatewayError::AllAttemptsFailed(a) = self {
                    err["attempts"] = attempts(a);
                }
                json!({ "error": err })
            }
            Format::Anthropic => {
                let mut err = json!({ "type": anthropic_type, "message": message });
                if let GatewayError::AllAttemptsFailed(a) = self {
                    err["attempts"] = attempts(a);
                }
                json!({ "type": "error", "error": err })
            }
        }
    }

    /// Seconds a client should wait before retrying: for a 429, the longest wait an
    /// upstream asked for, or one second when none said; one second when overloaded.
    pub fn retry_after_secs(&self) -> Option<u64> {
        if let GatewayError::Overloaded(_) = self {
            return Some(1);
        }
        if let GatewayError::Limited(r) = self {
            return r.retry_after_secs;
        }
        if self.status() != StatusCode::TOO_MANY_REQUESTS {
            return None;
        }
        let asked = match self {
            GatewayError::AllAttemptsFailed(a) => a.iter().filter_map(|a| a.retry_after_ms).max(),
            _ => None,
        };
        Some(asked.map_or(1, |ms| ms.div_ceil(1000).max(1)))
    }

    fn code(&self) -> Option<&'static str> {
        match self {
            GatewayError::UnknownModel(_) => Some("model_not_found"),
            GatewayError::Untranslatable(_) => Some("untranslatable"),
            GatewayError::NoCandidate(_) => Some("no_candidate_model"),
            GatewayError::AllAttemptsFailed(_) => Some("all_upstreams_failed"),
            GatewayError::Limited(r) => Some(r.code()),
            _ => None,
        }
    }
}

pub type Result<T, E = GatewayError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openai_body_shape() {
        let e = GatewayError::InvalidRequest("`messages` is required".into());
        let b = e.body(Format::OpenAi);
        assert_eq!(b["error"]["type"], "invalid_request_error");
        assert_eq!(b["error"]["message"], "`messages` is required");
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn anthropic_body_shape() {
        let e = GatewayError::UnknownModel("gpt-9".into());
        let b = e.body(Format::Anthropic);
        assert_eq!(b["type"], "error");
        assert_eq!(b["error"]["type"], "not_found_error");
    }

    #[test]
    fn all_rate_limited_is_429() {
        let a = AttemptError {
            provider: "openai".into(),
            model: "m".into(),
            status: Some(429),
            reason: "rate limited".into(),
            retry_after_ms: None,
        };
        let e = GatewayError::AllAttemptsFailed(vec![a.clone(), a]);
        assert_eq!(e.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(e.to_string().contains("openai/m: HTTP 429"));
    }
}
