//! What the endpoints share (chat, `count_tokens.rs`, `embeddings.rs`):
//! reading a JSON body within the same limits as chat, turning an upstream `Failure` into
//! the gateway's error, and answering (JSON or error) in the client's format with the
//! `x-frugal-*` headers.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::headers::{self, AnswerInfo};
use super::AppState;
use crate::config::ProviderConfig;
use crate::error::{AttemptError, GatewayError, Result};
use crate::providers::Failure;
use crate::types::Format;

/// The request's JSON object body; the reservation on the body budget is held by the
/// caller until it is done with the bytes.
pub(super) async fn read_json(
    app: &Arc<AppState>,
    h: &HeaderMap,
    body: Body,
) -> Result<(Value, super::body::Reserved)> {
    let limits = super::body::Limits {
        max_bytes: app.config.server.max_body_bytes,
        timeout: app.config.server.body_timeout,
    };
    let (bytes, held) = super::body::read(body, h, limits, &app.bodies).await?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| {
        GatewayError::InvalidRequest(format!("request body is not valid JSON: {e}"))
    })?;
    if !value.is_object() {
        return Err(GatewayError::InvalidRequest(
            "request body must be a JSON object".into(),
        ));
    }
    Ok((value, held))
}

/// An upstream failure of a one-candidate call, as the client sees it: a rejection keeps
/// the provider's status and message; anything else is a failed attempt (502, or 429
/// with the provider's `retry-after`).
pub(super) fn upstream_error(provider: &ProviderConfig, model: &str, f: Failure) -> GatewayError {
    match f {
        Failure::Rejected { status, message } => GatewayError::UpstreamRejected {
            provider: provider.name.clone(),
            status,
            message,
        },
        Failure::Retryable {
            status,
            reason,
            retry_after,
        } => GatewayError::AllAttemptsFailed(vec![AttemptError::new(
            &provider.name,
            model,
            status,
            reason,
            retry_after,
        )]),
    }
}

/// A 200 JSON answer with any configured secret an upstream echoed removed.
pub(super) fn json(body: &Value) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let clean = crate::secrets::current().redact_bytes(&bytes).into_owned();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        clean,
    )
        .into_response()
}

/// `e` in the client's format, with the request id and overhead headers.
pub(super) fn error(
    e: &GatewayError,
    format: Format,
    request_id: &str,
    started: Instant,
) -> Response {
    match e {
        GatewayError::Internal(detail) => tracing::error!(%request_id, %detail, "internal error"),
        _ => {
            tracing::info!(%request_id, status = e.status().as_u16(), error = %e, "request failed")
        }
    }
    let mut resp = (e.status(), axum::Json(e.body(format))).into_response();
    let info = AnswerInfo {
        request_id,
        model: None,
        tier: None,
        meter: None,
        cost_estimated: false,
        overhead_ms: started.elapsed().as_secs_f64() * 1e3,
        failed: &[],
    };
    headers::write(resp.headers_mut(), &info);
    headers::write_retry_after(resp.headers_mut(), e);
    resp
}

/// A fresh request id, in the chat endpoints' form.
pub(super) fn request_id() -> String {
    format!("frg_{}", uuid::Uuid::new_v4().simple())
}
