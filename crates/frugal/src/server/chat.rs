//! The two chat endpoints. One flow for both formats: parse → plan → send → answer in
//! the client's format with `x-frugal-*` headers. Errors are rendered in that format too.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde_json::Value;
use tokio_stream::wrappers::ReceiverStream;

use super::headers::{self, AnswerInfo};
use super::AppState;
use crate::cost::{baseline_cost_usd, cost_usd};
use crate::error::{GatewayError, Result};
use crate::ledger::{Draft, StreamMeter};
use crate::pipeline::classify::JudgeOutcome;
use crate::pipeline::compress::{compress_body_deferred, CompressConfig, Pending};
use crate::pipeline::session::{continues_session, session_key, WarmCache};
use crate::pipeline::Decision;
use crate::providers::{ClientRequest, Reply, Served, StreamReply};
use crate::types::{ChatRequest, Format, Tier};
use crate::wire;

/// The body, or why it could not be read (too large, interrupted).
type BodyResult = std::result::Result<Bytes, BytesRejection>;

pub async fn openai(State(app): State<Arc<AppState>>, h: HeaderMap, body: BodyResult) -> Response {
    chat(app, Format::OpenAi, h, body).await
}

pub async fn anthropic(
    State(app): State<Arc<AppState>>,
    h: HeaderMap,
    body: BodyResult,
) -> Response {
    chat(app, Format::Anthropic, h, body).await
}

async fn chat(app: Arc<AppState>, format: Format, h: HeaderMap, body: BodyResult) -> Response {
    let started = Instant::now();
    let request_id = format!("frg_{}", uuid::Uuid::new_v4().simple());
    let mut draft = Draft::start(&request_id, format, &h);
    super::feedback::from_header(&app.ledger, &h);
    let body = match body {
        Ok(b) => b,
        Err(rejection) => {
            let e = if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                GatewayError::PayloadTooLarge(app.config.server.max_body_bytes)
            } else {
                GatewayError::InvalidRequest(format!(
                    "cannot read the request body: {}",
                    rejection.body_text()
                ))
            };
            draft.error(&e);
            app.ledger.finish(draft);
            return error_response(&e, format, &request_id, started);
        }
    };
    let incoming = Incoming {
        format,
        headers: &h,
        body: &body,
        request_id: &request_id,
        started,
    };
    let result = handle(&app, &incoming, &mut draft).await;
    if let Err(e) = &result {
        draft.error(e);
    }
    app.ledger.finish(draft);
    match result {
        Ok(resp) => resp,
        Err(e) => error_response(&e, format, &request_id, started),
    }
}

fn error_response(
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
        cost: None,
        baseline_cost: None,
        cost_estimated: false,
        overhead_ms: started.elapsed().as_secs_f64() * 1e3,
    };
    headers::write(resp.headers_mut(), &info);
    resp
}

fn parse(
    format: Format,
    body: &[u8],
    cc: &CompressConfig,
) -> Result<(Value, ChatRequest, Pending)> {
    let mut raw: Value = serde_json::from_slice(body).map_err(|e| {
        GatewayError::InvalidRequest(format!("request body is not valid JSON: {e}"))
    })?;
    if !raw.is_object() {
        return Err(GatewayError::InvalidRequest(
            "request body must be a JSON object".into(),
        ));
    }
    // Compress the raw body before parsing: the classifier and the provider see the same bytes.
    let compressed = compress_body_deferred(format, &mut raw, cc);
    let req = match format {
        Format::OpenAi => wire::openai::parse_request(&raw)?,
        Format::Anthropic => wire::anthropic::parse_request(&raw)?,
    };
    Ok((raw, req, compressed))
}

/// One request as it arrived.
#[derive(Clone, Copy)]
struct Incoming<'a> {
    format: Format,
    headers: &'a HeaderMap,
    body: &'a [u8],
    request_id: &'a str,
    started: Instant,
}

async fn handle(app: &AppState, incoming: &Incoming<'_>, draft: &mut Draft) -> Result<Response> {
    let Incoming {
        format,
        headers: h,
        body,
        request_id,
        started,
    } = *incoming;
    let (raw, req, compressed) = parse(format, body, &app.config.compression)?;
    // Token accounting of the compression runs beside the upstream call, off the request path.
    let compressed = tokio::task::spawn_blocking(move || compressed.finish());
    draft.request(&req, app.ledger.config().store_prompts);
    let mut ctx = headers::route_context(h)?;
    let client_key = headers::presented_key(h).and_then(|k| app.config.client_key(k));
    draft.key_project(client_key.map(|k| k.project.as_str()));
    if app.config.require_key && client_key.is_none() {
        return Err(GatewayError::Unauthorized);
    }
    if let Some(k) = client_key {
        let policy = if k.never_route_down {
            Some(Tier::Frontier)
        } else {
            k.min_tier
        };
        ctx.min_tier = ctx.min_tier.max(policy);
    }
    let session = session_key(headers::session_id(h), &req);
    if continues_session(headers::session_id(h), &req) {
        ctx.session_floor = app.sessions.floor(session);
        ctx.warm = app.sessions.warm(session);
    }
    let mut plan = app.pipeline.plan(&req, &ctx)?;
    // Stage 3: only the requests the local stages were unsure of reach the judge.
    if let (Some(judge), true) = (
        &app.judge,
        plan.classification.as_ref().is_some_and(|c| c.abstained),
    ) {
        ctx.judge = Some(match judge.rate(&req).await {
            Ok(r) => JudgeOutcome::Rating(r),
            Err(e) => {
                tracing::warn!(%request_id, error = %e, "judge failed; routing one tier up");
                JudgeOutcome::Failed
            }
        });
        plan = app.pipeline.plan(&req, &ctx)?;
    }
    draft.plan(&plan);
    if plan.decision == Decision::Routed {
        app.sessions.record(session, plan.tier);
    }
    let passthrough_headers = headers::passthrough(h);
    let client = ClientRequest {
        format,
        req: &req,
        raw: &raw,
        passthrough_headers: &passthrough_headers,
    };
    let served = app.upstreams.send(&plan, &client).await?;
    let overhead = started.elapsed().saturating_sub(served.upstream_time);
    let Served {
        model,
        reply,
        failed_attempts,
        ..
    } = served;
    draft.served(&model, &failed_attempts);
    if plan.decision == Decision::Routed {
        let warm = WarmCache {
            model: model.clone(),
            prefix_tokens: plan.est_input_tokens,
        };
        app.sessions.record_served(session, warm);
    }
    // The upstream call has given the background token count time to finish.
    let saved_tokens = compressed.await.unwrap_or_default().tokens_saved();
    draft.compression(saved_tokens);
    let info_model = app.config.model(&model).cloned();
    let baseline = app.config.baseline_model().cloned();

    let (mut resp, cost, baseline_cost, estimated) = match reply {
        Reply::Complete { body, response } => {
            let cost = info_model
                .as_ref()
                .map(|m| cost_usd(&m.prices, &response.usage));
            let base = baseline
                .as_ref()
                .map(|b| baseline_cost_usd(&b.prices, &response.usage));
            draft.usage(&app.config, &response.usage);
            let savings = draft.savings();
            let answered = super::grade::Answered {
                request_id,
                model: &model,
                req: &req,
                response: &response,
            };
            super::grade::maybe_grade(app, &plan, &answered);
            super::calibrate::observe(app, &model, &req, &response.usage);
            tracing::info!(%request_id, %model, tier = %plan.tier, input_tokens = response.usage.input_tokens,
                output_tokens = response.usage.output_tokens, fallbacks = failed_attempts.len(), "answered");
            let mut resp = (StatusCode::OK, axum::Json(body)).into_response();
            if let Some(s) = savings {
                headers::write_savings(resp.headers_mut(), s);
            }
            (resp, cost, base, false)
        }
        Reply::Stream(stream) => {
            let meter = StreamMeter::new(draft, &app.ledger, app.config.clone());
            let resp = stream_response(stream, request_id.to_string(), model.clone(), meter);
            (
                resp,
                Some(plan.est_cost_usd()),
                plan.baseline_est_cost_usd,
                true,
            )
        }
    };
    let info = AnswerInfo {
        request_id,
        model: Some(&model),
        tier: Some(plan.tier),
        cost,
        baseline_cost,
        cost_estimated: estimated,
        overhead_ms: overhead.as_secs_f64() * 1e3,
    };
    headers::write(resp.headers_mut(), &info);
    if let Some(c) = &plan.classification {
        headers::write_classification(resp.headers_mut(), c);
    }
    resp.headers_mut().insert(
        "x-frugal-compression-saved-tokens",
        HeaderValue::from(saved_tokens),
    );
    Ok(resp)
}

fn stream_response(
    stream: StreamReply,
    request_id: String,
    model: String,
    meter: StreamMeter,
) -> Response {
    let StreamReply { frames, outcome } = stream;
    tokio::spawn(async move {
        let o = outcome.await.ok();
        if let Some(o) = &o {
            tracing::info!(%request_id, %model, input_tokens = o.usage.input_tokens,
                output_tokens = o.usage.output_tokens, completed = o.completed,
                error = o.error.as_deref().unwrap_or(""), "stream finished");
        }
        meter.finish(o.as_ref());
    });
    let body = Body::from_stream(ReceiverStream::new(frames).map(Ok::<_, Infallible>));
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
