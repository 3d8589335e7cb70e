//! The three chat endpoints (Chat Completions, Messages, Responses), one lifecycle for all
//! formats: authenticate → parse → decide →
//! send → meter → answer in the client's format with `x-frugal-*` headers. Errors are
//! rendered in that format too, and every request leaves exactly one ledger row.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio_stream::wrappers::ReceiverStream;

use super::headers::{self, AnswerInfo};
use super::AppState;
use crate::caller::Caller;
use crate::config::StreamVerify;
use crate::error::{GatewayError, Result};
use crate::ledger::{Draft, Meter, Metered, Verification};
use crate::pipeline::classify::JudgeOutcome;
use crate::pipeline::compress::{compress_body_deferred, CompressConfig, Pending};
use crate::pipeline::session::{continues_session, session_key, WarmCache};
use crate::pipeline::{Decision, Plan};
use crate::providers::{ClientRequest, Reply, Served, StreamReply};
use crate::types::{ChatRequest, ChatResponse, Format};
use crate::verify::live::Expect;
use crate::wire;

pub async fn openai(State(app): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    run(app, Format::OpenAi, h, body).await
}

pub async fn anthropic(State(app): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    run(app, Format::Anthropic, h, body).await
}

pub async fn responses(State(app): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    run(app, Format::Responses, h, body).await
}

/// One request as it arrived (its body is read once the caller is authenticated).
struct Incoming {
    format: Format,
    headers: HeaderMap,
    request_id: String,
    started: Instant,
}

/// The lifecycle runs in a task of its own: a client that disconnects cancels only its
/// wait, not an upstream call already made (and billed), which is finished and metered.
async fn run(app: Arc<AppState>, format: Format, headers: HeaderMap, body: Body) -> Response {
    let incoming = Incoming {
        format,
        headers,
        request_id: format!("frg_{}", uuid::Uuid::new_v4().simple()),
        started: Instant::now(),
    };
    let (request_id, started) = (incoming.request_id.clone(), incoming.started);
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        let response = lifecycle(app, incoming, body, &tx).await;
        // The client is gone when this fails; its row already says so.
        let _ = tx.send(response);
    });
    match rx.await {
        Ok(response) => response,
        Err(_) => {
            // The task panicked; its ledger row was written as abandoned.
            let e = GatewayError::Internal("request task failed".into());
            super::reply::error(&e, format, &request_id, started)
        }
    }
}

async fn lifecycle(
    app: Arc<AppState>,
    incoming: Incoming,
    body: Body,
    client: &oneshot::Sender<Response>,
) -> Response {
    let caller = Caller::identify(&incoming.headers, app.limits.keys());
    let draft = Draft::start(&incoming.request_id, incoming.format, &caller);
    let mut metered = Metered::new(&app.ledger, draft);
    let result = match admit(&app, &incoming, body, &caller, &mut metered).await {
        Ok((body, held)) => {
            let answer = handle(&app, &incoming, &body, &caller, &mut metered).await;
            // The body's share of the memory budget is back once the request is done
            // with it (a stream's relay does not need it).
            drop(held);
            answer
        }
        Err(e) => Err(e),
    };
    let response = match result {
        Ok(Answer::Complete(response)) => response,
        Ok(Answer::Stream(response)) => return response,
        Err(e) => {
            metered.draft().error(&e);
            super::reply::error(&e, incoming.format, &incoming.request_id, incoming.started)
        }
    };
    if client.is_closed() {
        metered.draft().client_disconnected();
    }
    metered.finish();
    response
}

/// A response, and whether its ledger row is finished here or by the stream's task.
enum Answer {
    Complete(Response),
    Stream(Response),
}

impl Answer {
    fn headers_mut(&mut self) -> &mut HeaderMap {
        match self {
            Answer::Complete(r) | Answer::Stream(r) => r.headers_mut(),
        }
    }
}

/// Authenticate, take any feedback the request carries, then read its body within the
/// size, time and memory limits.
async fn admit(
    app: &AppState,
    incoming: &Incoming,
    body: Body,
    caller: &Caller,
    metered: &mut Metered,
) -> Result<(Bytes, super::body::Reserved)> {
    caller.authorize(&app.config)?;
    metered.on_finish(Box::new(app.limits.admit(caller)?));
    super::feedback::from_header(&app.ledger, &incoming.headers, caller);
    let limits = super::body::Limits {
        max_bytes: app.config.server.max_body_bytes,
        timeout: app.config.server.body_timeout,
    };
    super::body::read(body, &incoming.headers, limits, &app.bodies).await
}

async fn handle(
    app: &Arc<AppState>,
    incoming: &Incoming,
    body: &[u8],
    caller: &Caller,
    metered: &mut Metered,
) -> Result<Answer> {
    let (raw, req, compressed) = parse(incoming.format, body, &app.config.compression)?;
    // Token accounting of the compression runs beside the upstream call, off the request path.
    let compressed = tokio::task::spawn_blocking(move || compressed.finish());
    let store_prompts = app.ledger.config().store_prompts;
    metered.draft().request(&req, store_prompts);
    let mut decided = decide(app, &incoming.headers, caller, &req).await?;
    let budget_warning = reserve(app, caller, &req, &mut decided.plan, metered).await?;
    metered.draft().plan(&decided.plan);
    let sent = send_or_verify(app, incoming, (&raw, &req), &decided.plan, metered.draft()).await?;
    let (served, verification) = (sent.served, sent.verification);
    let elapsed = incoming.started.elapsed();
    let overhead = elapsed.saturating_sub(served.upstream_time);
    // The upstream call has given the background token count time to finish.
    let saved_tokens = compressed.await.unwrap_or_default().tokens_saved();
    let draft = metered.draft();
    draft.served(&served.model, &served.failed_attempts);
    draft.overhead(overhead);
    draft.compression(saved_tokens);
    remember(app, &incoming.request_id, &decided, &served.model);
    let done = Done {
        incoming,
        plan: &decided.plan,
        req: &req,
        overhead,
        saved_tokens,
        verification: verification.as_ref(),
    };
    let mut answer = respond(app, &done, served, metered);
    headers::write_budget_warning(answer.headers_mut(), budget_warning.as_deref());
    Ok(answer)
}

/// Reserves the request's budget (keys and projects with one), settled when its record
/// is finished; the soft-limit warning, when one applies.
async fn reserve(
    app: &AppState,
    caller: &Caller,
    req: &ChatRequest,
    plan: &mut Plan,
    metered: &mut Metered,
) -> Result<Option<String>> {
    let mut grant = app.limits.reserve(&app.config, caller, req, plan).await?;
    let warning = grant.warning.take();
    metered.on_finish(Box::new(grant));
    Ok(warning)
}

/// What answered, and what verifying it did (verified requests).
struct Sent {
    served: Served,
    verification: Option<Verification>,
}

/// A verified plan is answered up its ladder (as whole answers, a stream rendered from the
/// verified one); any other plan, or a verified stream with `streams = "skip"`, is sent.
async fn send_or_verify(
    app: &AppState,
    incoming: &Incoming,
    (raw, req): (&Value, &ChatRequest),
    plan: &Plan,
    draft: &mut Draft,
) -> Result<Sent> {
    let cfg = &app.config.routing.verify;
    let ladder = plan
        .verified
        .then(|| crate::verify::ladder::ladder(plan, cfg));
    match ladder {
        None => {}
        Some(None) => draft.unverified("unchecked"),
        Some(Some(_)) if req.stream && cfg.streams == StreamVerify::Skip => {
            draft.unverified("skipped")
        }
        Some(Some(ladder)) => {
            let (whole_req, whole_raw) = super::verified::unstreamed(req, raw);
            let passthrough_headers = headers::passthrough(&incoming.headers);
            let client = ClientRequest {
                format: incoming.format,
                req: &whole_req,
                raw: &whole_raw,
                passthrough_headers: &passthrough_headers,
            };
            let expect = Expect::of(req, raw);
            let v = super::verified::answer(app, &incoming.request_id, &client, &ladder, &expect)
                .await?;
            return Ok(Sent {
                served: v.served,
                verification: Some(v.verification),
            });
        }
    }
    let served = send(app, incoming, (raw, req), plan).await?;
    Ok(Sent {
        served,
        verification: None,
    })
}

/// The plan's candidates, tried in order, with the client's own body where formats match.
async fn send(
    app: &AppState,
    incoming: &Incoming,
    (raw, req): (&Value, &ChatRequest),
    plan: &Plan,
) -> Result<Served> {
    let passthrough_headers = headers::passthrough(&incoming.headers);
    let client = ClientRequest {
        format: incoming.format,
        req,
        raw,
        passthrough_headers: &passthrough_headers,
    };
    app.upstreams.send(plan, &client).await
}

/// What a routed answer leaves for later requests: the embedding its feedback will teach
/// the quality model with, and the session's warm prompt cache.
fn remember(app: &AppState, request_id: &str, decided: &Decided, model: &str) {
    if decided.plan.decision != Decision::Routed {
        return;
    }
    if let Some(e) = &decided.plan.embedding {
        app.pipeline.quality().remember(request_id, e.clone());
    }
    let warm = WarmCache {
        model: model.to_string(),
        prefix_tokens: decided.plan.est_input_tokens,
    };
    app.sessions.record_served(decided.session, warm);
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
    let req = wire::parse_request(format, &raw)?;
    Ok((raw, req, compressed))
}

/// The routing decision and the session it belongs to.
struct Decided {
    plan: Plan,
    session: u64,
}

/// Everything that decides the model: overrides, key policy, session floors, the plan,
/// and the LLM judge for the requests the local stages were unsure of.
async fn decide(
    app: &AppState,
    h: &HeaderMap,
    caller: &Caller,
    req: &ChatRequest,
) -> Result<Decided> {
    let mut ctx = headers::route_context(h)?;
    ctx.min_tier = ctx.min_tier.max(caller.key_min_tier);
    ctx.lambda = caller.key_lambda;
    // The request's header wins over the key's setting.
    ctx.verify = ctx.verify.or(caller.key_verify);
    ctx.may_explore = true;
    let session_id = caller.session_id.as_deref();
    let session = session_key(session_id, req);
    if continues_session(session_id, req) {
        ctx.session_floor = app.sessions.floor(session);
        ctx.warm = app.sessions.warm(session);
    }
    let mut plan = app.pipeline.plan(req, &ctx)?;
    let abstained = plan.classification.as_ref().is_some_and(|c| c.abstained);
    if let (Some(judge), true) = (&app.judge, abstained) {
        let outcome = match judge.rate(req).await {
            Ok(r) => JudgeOutcome::Rating(r),
            Err(e) => {
                tracing::warn!(error = %e, "judge failed; routing one tier up");
                JudgeOutcome::Failed
            }
        };
        plan = app.pipeline.replan_with_judge(req, &ctx, plan, outcome)?;
    }
    if plan.decision == Decision::Routed {
        app.sessions.record(session, plan.tier);
    }
    Ok(Decided { plan, session })
}

/// What the answer's headers need besides the upstream's reply.
struct Done<'a> {
    incoming: &'a Incoming,
    plan: &'a Plan,
    req: &'a ChatRequest,
    overhead: Duration,
    saved_tokens: u64,
    verification: Option<&'a Verification>,
}

fn respond(app: &Arc<AppState>, done: &Done<'_>, served: Served, metered: &mut Metered) -> Answer {
    let Served {
        model,
        reply,
        failed_attempts,
        ..
    } = served;
    let request_id = done.incoming.request_id.as_str();
    let (mut resp, meter, streamed) = match reply {
        Reply::Complete { body, response } => {
            let resp = complete(app, done, (&model, &body, &response), metered);
            (resp, metered.draft().meter(), false)
        }
        Reply::Stream(stream) => {
            let meter = estimated_meter(done.plan);
            let resp = stream_response(
                app,
                stream,
                request_id.to_string(),
                model.clone(),
                metered.hand_over(),
            );
            (resp, Some(meter), true)
        }
    };
    let info = AnswerInfo {
        request_id,
        model: Some(&model),
        tier: Some(done.plan.tier),
        meter,
        cost_estimated: streamed,
        overhead_ms: done.overhead.as_secs_f64() * 1e3,
        failed: &failed_attempts,
    };
    headers::write(resp.headers_mut(), &info);
    if let Some(c) = &done.plan.classification {
        headers::write_classification(resp.headers_mut(), c);
    }
    if let Some(v) = done.verification {
        headers::write_verification(resp.headers_mut(), v);
    }
    resp.headers_mut().insert(
        "x-frugal-compression-saved-tokens",
        HeaderValue::from(done.saved_tokens),
    );
    if streamed {
        Answer::Stream(resp)
    } else {
        Answer::Complete(resp)
    }
}

/// A whole answer: priced, graded when sampled, fed to the token calibration, and sent as
/// JSON (or, for a verified stream, the checked answer rendered as the client's stream).
fn complete(
    app: &Arc<AppState>,
    done: &Done<'_>,
    (model, body, response): (&str, &Value, &ChatResponse),
    metered: &mut Metered,
) -> Response {
    metered.draft().usage(&app.config, &response.usage);
    if let Some(v) = done.verification {
        metered.draft().verification(&app.config, v);
    }
    let request_id = done.incoming.request_id.as_str();
    let answered = super::grade::Answered {
        request_id,
        model,
        req: done.req,
        response,
    };
    super::grade::maybe_grade(app, done.plan, &answered);
    super::calibrate::observe(app, model, done.req, &response.usage);
    tracing::info!(%request_id, %model, tier = %done.plan.tier,
        input_tokens = response.usage.input_tokens,
        output_tokens = response.usage.output_tokens, "answered");
    if !done.req.stream {
        return super::reply::json(body);
    }
    let frames = wire::render_as_stream(
        done.incoming.format,
        response,
        done.req.stream_include_usage,
    );
    sse_response(Body::from_stream(futures::stream::iter(
        frames.into_iter().map(Ok::<_, Infallible>),
    )))
}

/// A stream's headers precede its usage: the plan's estimates, on the same definition of
/// the baseline as the ledger (a request that named its model is its own baseline).
fn estimated_meter(plan: &Plan) -> Meter {
    let cost = plan.est_cost_usd();
    let baseline_cost = match plan.decision {
        Decision::Routed => plan.baseline_est_cost_usd.unwrap_or(cost),
        Decision::Explicit | Decision::RoutingOff => cost,
    };
    Meter {
        cost,
        baseline_cost,
        savings: [baseline_cost - cost, Default::default(), Default::default()],
    }
}

fn stream_response(
    app: &Arc<AppState>,
    stream: StreamReply,
    request_id: String,
    model: String,
    metered: Metered,
) -> Response {
    let StreamReply { frames, outcome } = stream;
    let config = app.config.clone();
    tokio::spawn(async move {
        let o = outcome.await.ok();
        if let Some(o) = &o {
            tracing::info!(%request_id, %model, input_tokens = o.usage.input_tokens,
                output_tokens = o.usage.output_tokens, completed = o.completed,
                error = o.error.as_deref().unwrap_or(""), "stream finished");
        }
        metered.finish_stream(&config, o.as_ref());
    });
    sse_response(Body::from_stream(
        ReceiverStream::new(frames).map(Ok::<_, Infallible>),
    ))
}

fn sse_response(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
