//! Ledger endpoints: `POST /v1/feedback` (a score for an earlier answer), the
//! `x-frugal-feedback` request header, and `GET /metrics` (ledger counters as Prometheus
//! text). Thin: parsing and storage live in `ledger/`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;
use crate::caller::Caller;
use crate::ledger::feedback::{about, parse_body, parse_header, FeedbackInput};
use crate::ledger::{Ledger, Record, Signal};

fn error(status: StatusCode, message: String, code: Option<&str>) -> Response {
    let kind = match status {
        StatusCode::UNAUTHORIZED => "authentication_error",
        StatusCode::SERVICE_UNAVAILABLE | StatusCode::INTERNAL_SERVER_ERROR => "server_error",
        _ => "invalid_request_error",
    };
    let body =
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, Json(body)).into_response()
}

/// `POST /v1/feedback {request_id, score 0..1 | thumbs: "up"|"down", comment?}`.
/// A rating is a few hundred bytes; anything much larger is a mistake or an attack.
const FEEDBACK_MAX_BYTES: usize = 64 * 1024;

/// Only the key that made a request may rate it.
pub async fn submit(State(app): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    let (caller, input) = match accept(&app, &h, body).await {
        Ok(accepted) => accepted,
        Err(refusal) => return refusal,
    };
    let record = match owned_record(&app, &caller, &input.request_id).await {
        Ok(r) => r,
        Err(refusal) => return refusal,
    };
    let id = input.request_id.clone();
    let score = input.score;
    if !app.ledger.feedback(about(&record, input, Signal::Explicit)) {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the ledger is overloaded; feedback dropped".into(),
            Some("ledger_full"),
        );
    }
    (
        StatusCode::OK,
        Json(json!({ "object": "feedback", "request_id": id, "score": score, "recorded": true })),
    )
        .into_response()
}

/// The caller, authenticated first, and its rating, read within the size and time limits;
/// or the refusal to send.
async fn accept(
    app: &AppState,
    h: &HeaderMap,
    body: Body,
) -> std::result::Result<(Caller, FeedbackInput), Response> {
    let caller = Caller::identify(h, app.limits.keys());
    if caller.authorize(&app.config).is_err() {
        return Err(error(
            StatusCode::UNAUTHORIZED,
            "a recognised API key is required".into(),
            Some("unauthorized"),
        ));
    }
    let limits = super::body::Limits {
        max_bytes: FEEDBACK_MAX_BYTES,
        timeout: app.config.server.body_timeout,
    };
    let (body, _held) = super::body::read(body, h, limits, &app.bodies)
        .await
        .map_err(|e| error(e.status(), e.to_string(), None))?;
    let input = parse_body(&body).map_err(|msg| error(StatusCode::BAD_REQUEST, msg, None))?;
    if app.ledger.store().is_none() {
        return Err(error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the ledger is disabled ([ledger] enabled = false)".into(),
            Some("ledger_disabled"),
        ));
    }
    Ok((caller, input))
}

/// The ledger's record of `request_id`, when the caller's key made it. Someone else's
/// request is reported exactly like a missing one: ids don't leak.
async fn owned_record(
    app: &AppState,
    caller: &Caller,
    request_id: &str,
) -> std::result::Result<Record, Response> {
    match app.ledger.lookup(request_id).await {
        Ok(Some(r)) if caller.owns(&r.key_hash) => Ok(r),
        Ok(_) => Err(error(
            StatusCode::NOT_FOUND,
            format!("no request with id `{request_id}` in the ledger"),
            Some("not_found"),
        )),
        Err(e) => {
            tracing::error!(error = %e, "feedback lookup failed");
            Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal error".into(),
                None,
            ))
        }
    }
}

/// `x-frugal-feedback: <request_id>=<score>` on any chat request that passed
/// authentication: looked up and queued in the background (the request never waits), and
/// kept only for requests the same key made; a malformed header is logged and ignored.
pub fn from_header(ledger: &Ledger, h: &HeaderMap, caller: &Caller) {
    let Some(value) = h.get("x-frugal-feedback").and_then(|v| v.to_str().ok()) else {
        return;
    };
    let inputs = match parse_header(value) {
        Ok(v) => v,
        Err(e) => {
            tracing::info!(error = %e, "ignoring x-frugal-feedback");
            return;
        }
    };
    if ledger.store().is_none() {
        return;
    }
    let ledger = ledger.clone();
    let caller = caller.clone();
    tokio::spawn(async move {
        for input in inputs {
            submit_one(&ledger, &caller, input).await;
        }
    });
}

async fn submit_one(ledger: &Ledger, caller: &Caller, input: FeedbackInput) {
    match ledger.lookup(&input.request_id).await {
        Ok(Some(r)) if caller.owns(&r.key_hash) => {
            ledger.feedback(about(&r, input, Signal::Header));
        }
        Ok(Some(_)) => {
            tracing::info!(request_id = %input.request_id, "x-frugal-feedback: request made by another key; ignored")
        }
        Ok(None) => {
            tracing::info!(request_id = %input.request_id, "x-frugal-feedback: unknown request id")
        }
        Err(e) => tracing::warn!(error = %e, "x-frugal-feedback lookup failed"),
    }
}
