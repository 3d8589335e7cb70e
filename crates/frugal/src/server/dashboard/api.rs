//! The dashboard's JSON endpoints (docs/dashboard.md). Aggregates come from the database
//! (`ledger::dashboard`); these handlers parse parameters, pick the rows and shape the
//! answer. Bad parameters get a 400 in OpenAI's error format naming the parameter.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{explain, Dash};
use crate::ledger::dashboard::{self as store, views, HOUR_MS};
use crate::ledger::now_ms;

pub(super) type Params = Query<HashMap<String, String>>;

/// The longest range any view covers.
const MAX_DAYS: i64 = 400;
/// Hourly buckets beyond this many days would be thousands of points: refused.
const MAX_HOURLY_DAYS: i64 = 31;
/// A playground prompt is typed by a person.
const ROUTE_MAX_BYTES: usize = 256 * 1024;

fn error(status: StatusCode, message: String) -> Response {
    let kind = match status {
        StatusCode::INTERNAL_SERVER_ERROR | StatusCode::SERVICE_UNAVAILABLE => "server_error",
        _ => "invalid_request_error",
    };
    let code = match status {
        StatusCode::NOT_FOUND => Some("not_found"),
        StatusCode::SERVICE_UNAVAILABLE => Some("ledger_disabled"),
        _ => None,
    };
    let body =
        json!({ "error": { "message": message, "type": kind, "param": null, "code": code } });
    (status, Json(body)).into_response()
}

fn bad(message: String) -> Response {
    error(StatusCode::BAD_REQUEST, message)
}

pub(super) fn internal(e: anyhow::Error) -> Response {
    if e.to_string().contains("the ledger is disabled") {
        return disabled();
    }
    tracing::error!(error = format!("{e:#}"), "dashboard query failed");
    error(StatusCode::INTERNAL_SERVER_ERROR, "internal error".into())
}

fn disabled() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "the ledger is disabled ([ledger] enabled = false): the dashboard has nothing to show"
            .into(),
    )
}

/// A parameter that is out of range or malformed: a 400 naming it.
pub(super) struct BadParam(String);

impl IntoResponse for BadParam {
    fn into_response(self) -> Response {
        bad(self.0)
    }
}

/// An integer parameter within bounds, or its default when absent.
fn int(q: &Params, name: &str, default: i64, min: i64, max: i64) -> Result<i64, BadParam> {
    match q.get(name) {
        None => Ok(default),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(BadParam(format!(
                "{name}: `{s}` is not a whole number from {min} to {max}"
            ))),
        },
    }
}

pub(super) fn days(q: &Params) -> Result<i64, BadParam> {
    int(q, "days", 30, 1, MAX_DAYS)
}

fn bucket(q: &Params, days: i64) -> Result<views::Bucket, BadParam> {
    let b = match q.get("bucket").map(String::as_str) {
        None => views::Bucket::Day,
        Some(s) => views::Bucket::parse(s)
            .ok_or_else(|| BadParam(format!("bucket: `{s}` is not `day` or `hour`")))?,
    };
    if b == views::Bucket::Hour && days > MAX_HOURLY_DAYS {
        return Err(BadParam(format!(
            "bucket: hourly buckets cover at most {MAX_HOURLY_DAYS} days (days = {days})"
        )));
    }
    Ok(b)
}

/// `GET /api/summary?days=30`: totals for today, 7 days and `days` days.
pub async fn summary(State(d): State<Arc<Dash>>, q: Params) -> Response {
    let days = match days(&q) {
        Ok(n) => n,
        Err(r) => return r.into_response(),
    };
    let now = now_ms();
    match d.rollup(views::window_start(now, days)).await {
        Ok(rows) => Json(json!({
            "now_ms": now,
            "days": days,
            "backend": d.app.ledger.stats().backend,
            "windows": views::summary(&rows, now, days),
        }))
        .into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /api/timeseries?days=30&bucket=day|hour`: totals per bucket.
pub async fn timeseries(State(d): State<Arc<Dash>>, q: Params) -> Response {
    let (days, bucket) = match days(&q).and_then(|n| Ok((n, bucket(&q, n)?))) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let now = now_ms();
    let since = views::window_start(now, days);
    match d.rollup(since).await {
        Ok(rows) => Json(json!({
            "days": days,
            "bucket": bucket,
            "points": views::timeseries(&rows, bucket, since, now),
        }))
        .into_response(),
        Err(e) => internal(e),
    }
}

/// `GET /api/mix?days=30&bucket=day|hour`: requests per tier and per model over time.
pub async fn mix(State(d): State<Arc<Dash>>, q: Params) -> Response {
    let (days, bucket) = match days(&q).and_then(|n| Ok((n, bucket(&q, n)?))) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let now = now_ms();
    let since = views::window_start(now, days);
    match d.rollup(since).await {
        Ok(rows) => {
            let mix = views::mix(&rows, bucket, since, now);
            Json(json!({ "days": days, "bucket": bucket, "mix": mix })).into_response()
        }
        Err(e) => internal(e),
    }
}

/// `GET /api/quality?days=30`: feedback per tier and model, the router's labels, the live
/// boundaries and the feedback loop's moves.
pub async fn quality(State(d): State<Arc<Dash>>, q: Params) -> Response {
    let days = match days(&q) {
        Ok(n) => n,
        Err(r) => return r.into_response(),
    };
    let Some(st) = d.app.ledger.store() else {
        return disabled();
    };
    let since = now_ms() - days * 24 * HOUR_MS;
    let feedback = match store::quality(st.as_ref(), since).await {
        Ok(rows) => rows,
        Err(e) => return internal(e),
    };
    let mut events = match st.events_since(since).await {
        Ok(e) => e,
        Err(e) => return internal(e),
    };
    events.reverse();
    events.truncate(100);
    let feedback: Vec<Value> = feedback
        .iter()
        .map(|r| {
            let n = r.samples as f64;
            let (lower, upper) = crate::ledger::quality::wilson(r.score_sum, n);
            json!({
                "tier": r.tier, "model": r.model, "samples": r.samples,
                "mean": if n > 0.0 { r.score_sum / n } else { 0.0 },
                "lower": lower, "upper": upper,
            })
        })
        .collect();
    let quality = d.app.pipeline.quality();
    let labels: Vec<Value> = quality
        .summary()
        .into_iter()
        .map(|(model, labels, mean)| json!({ "model": model, "labels": labels, "mean": mean }))
        .collect();
    let fb = &d.app.config.feedback;
    Json(json!({
        "days": days,
        "feedback": feedback,
        "boundaries": {
            "live": d.app.pipeline.boundaries().get(),
            "configured": d.app.config.routing.boundaries,
        },
        "loop": { "enabled": fb.enabled, "dry_run": fb.dry_run, "floor": fb.floor, "ceiling": fb.ceiling },
        "events": events,
        "router": { "learning": quality.learning(), "labelled_rows": quality.rows(), "models": labels },
        "verify": d.app.verify_threshold.info(),
    }))
    .into_response()
}

/// `GET /api/requests?limit=50&before=SEQ`: the newest requests, newest first.
pub async fn requests(State(d): State<Arc<Dash>>, q: Params) -> Response {
    let limit = match int(&q, "limit", 50, 1, store::MAX_RECENT as i64) {
        Ok(n) => n as usize,
        Err(r) => return r.into_response(),
    };
    let before = match q.get("before") {
        None => None,
        Some(_) => match int(&q, "before", 0, 1, i64::MAX) {
            Ok(n) => Some(n),
            Err(r) => return r.into_response(),
        },
    };
    let Some(st) = d.app.ledger.store() else {
        return disabled();
    };
    match store::recent(st.as_ref(), limit, before).await {
        Ok(rows) => {
            let next = (rows.len() == limit).then(|| rows.last().map(|r| r.seq));
            Json(json!({ "requests": rows, "next_before": next.flatten() })).into_response()
        }
        Err(e) => internal(e),
    }
}

/// `GET /api/requests/{id}`: one request's row and the explanation of its decision. The
/// prompt is shown only while `store_prompts` is on.
pub async fn request(State(d): State<Arc<Dash>>, Path(id): Path<String>) -> Response {
    let Some(st) = d.app.ledger.store() else {
        return disabled();
    };
    // The store, not the ledger's cache of recent requests: that cache keeps only what
    // implicit feedback needs, not the whole row.
    let record = match st.lookup(&id).await {
        Ok(Some(r)) => r,
        Ok(None) => {
            return error(
                StatusCode::NOT_FOUND,
                format!("no request with id `{id}` in the ledger (rows are written within a second of the answer)"),
            )
        }
        Err(e) => return internal(e),
    };
    let explanation = explain::record(&record);
    let mut row = match serde_json::to_value(&record) {
        Ok(v) => v,
        Err(e) => return internal(e.into()),
    };
    if let Some(obj) = row.as_object_mut() {
        if !d.app.config.ledger.store_prompts {
            obj.remove("prompt");
        }
        // Calls are stored as JSON text: shown as JSON.
        if let Some(calls) = record.calls.as_deref() {
            if let Ok(v) = serde_json::from_str::<Value>(calls) {
                obj.insert("calls".into(), v);
            }
        }
    }
    Json(json!({ "request": row, "explanation": explanation })).into_response()
}

/// `POST /api/route {"prompt": "...", "model": "auto"}`: the decision for a prompt, planned
/// as a chat request with that one user message would be, without calling any model.
pub async fn route(State(d): State<Arc<Dash>>, h: HeaderMap, body: Body) -> Response {
    let limits = crate::server::body::Limits {
        max_bytes: ROUTE_MAX_BYTES,
        timeout: d.app.config.server.body_timeout,
    };
    let bytes = match crate::server::body::read(body, &h, limits, &d.app.bodies).await {
        Ok((b, _held)) => b,
        Err(e) => return error(e.status(), e.to_string()),
    };
    let input: Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => return bad(format!("request body is not valid JSON: {e}")),
    };
    let Some(prompt) = input.get("prompt").and_then(Value::as_str) else {
        return bad("prompt: missing (a string: the user message to route)".into());
    };
    let model = match input.get("model") {
        None | Some(Value::Null) => "auto",
        Some(Value::String(m)) => m.as_str(),
        Some(_) => return bad("model: must be a string (\"auto\", an alias or a model)".into()),
    };
    let req = crate::types::ChatRequest {
        model: model.to_string(),
        messages: vec![crate::types::Message {
            role: crate::types::Role::User,
            content: vec![crate::types::Part::text(prompt.to_string())],
        }],
        ..Default::default()
    };
    let plan = match d
        .app
        .pipeline
        .plan(&req, &crate::pipeline::RouteContext::default())
    {
        Ok(p) => p,
        Err(e) => {
            let body = e.body(crate::types::Format::OpenAi);
            return (e.status(), Json(body)).into_response();
        }
    };
    let explanation = explain::plan(&plan, &d.app.config);
    Json(json!({ "plan": plan, "explanation": explanation })).into_response()
}
