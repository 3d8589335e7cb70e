//! Read-only endpoints: `GET /health` (with what the model-aware router has learned),
//! `GET /v1/models` (routing aliases first, then
//! every catalogue model), and the 404 / 405 for unknown paths and methods, in the
//! route's own error format.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::AppState;

pub async fn health(State(app): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let usable: Vec<&str> = app
        .config
        .providers
        .values()
        .filter(|p| p.usable())
        .map(|p| p.name.as_str())
        .collect();
    let router = app.pipeline.router().info.clone();
    // What the model-aware router knows: labels per model and their mean, as they move.
    let quality = app.pipeline.quality();
    let models: Vec<serde_json::Value> = quality
        .summary()
        .into_iter()
        .map(|(model, labels, mean)| json!({ "model": model, "labels": labels, "mean": mean }))
        .collect();
    Json(json!({
        "status": "ok",
        "providers": usable,
        "router": router,
        "quality": { "learning": quality.learning(), "labelled_rows": quality.rows(), "models": models },
        "verify": app.verify_threshold.info(),
    }))
}

pub async fn models(State(app): State<Arc<AppState>>) -> Json<serde_json::Value> {
    let mut data: Vec<serde_json::Value> = app
        .pipeline
        .aliases()
        .into_iter()
        .map(|a| json!({ "id": a, "object": "model", "created": 0, "owned_by": "frugal" }))
        .collect();
    for m in app.config.models.values().filter(|m| m.enabled) {
        data.push(json!({
            "id": m.name,
            "object": "model",
            "created": 0,
            "owned_by": m.provider,
            "frugal": {
                "tier": m.tier,
                "available": app.config.routable(m),
                "context_window": m.context_window,
                "max_output": m.max_output,
                "tools": m.tools,
                "vision": m.vision,
                "usd_per_mtok": {
                    "input": m.prices.input.to_string(),
                    "output": m.prices.output.to_string(),
                    "cached_input": m.prices.cached_input.to_string(),
                    "cache_write": m.prices.cache_write.to_string(),
                },
            },
        }));
    }
    Json(json!({ "object": "list", "data": data }))
}

pub async fn not_found(uri: Uri) -> Response {
    let body = json!({ "error": {
        "message": format!("no route for {}; frugal serves /v1/chat/completions, /v1/messages, /v1/responses, /v1/models, /health", uri.path()),
        "type": "invalid_request_error", "param": null, "code": "not_found" } });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Everything under `/v1/responses/` (retrieve, delete, cancel, input items, input-token
/// counts, compaction) needs responses kept on the server, which a stateless gateway
/// does not have: a 404 in OpenAI's format that says what to do instead.
pub async fn responses_state(method: axum::http::Method, uri: Uri) -> Response {
    let body = json!({ "error": {
        "message": format!("{method} {} is not supported: frugal is a stateless gateway and keeps no \
            responses; only POST /v1/responses is served. Send the whole conversation in `input` \
            on every request, with `store: false`", uri.path()),
        "type": "invalid_request_error", "param": null, "code": "not_found" } });
    (StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// 405 in the format of the route that was called: Anthropic's on `/v1/messages…`,
/// OpenAI's elsewhere (frugal's own endpoints use the same OpenAI shape).
pub async fn method_not_allowed(method: axum::http::Method, uri: Uri) -> Response {
    let message = format!("{method} is not allowed on {}", uri.path());
    let body = if uri.path().starts_with("/v1/messages") {
        json!({ "type": "error", "error": { "type": "invalid_request_error", "message": message } })
    } else {
        json!({ "error": { "message": message, "type": "invalid_request_error", "param": null,
                           "code": "method_not_allowed" } })
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
