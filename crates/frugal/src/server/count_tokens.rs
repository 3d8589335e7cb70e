//! `POST /v1/messages/count_tokens`, Anthropic's token counter (the SDK's
//! `client.messages.count_tokens`, which Claude Code calls before long turns). A model
//! served by an Anthropic provider is counted there, exactly, with frugal's key
//! (`x-frugal-token-count: exact`); a routing alias, a model of another provider, or an
//! Anthropic counter that fails is estimated offline with `tokens.rs`
//! (`x-frugal-token-count: estimated`). The answer is `{"input_tokens": N}` either way;
//! errors are in Anthropic's format. Counting is free and leaves no ledger row.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue};
use axum::response::Response;
use serde_json::{json, Value};

use super::reply;
use super::AppState;
use crate::caller::Caller;
use crate::catalog::ProviderKind;
use crate::error::{GatewayError, Result};
use crate::providers::Failure;
use crate::tokens::{self, Family};
use crate::types::{ChatRequest, Format, Part};

const FORMAT: Format = Format::Anthropic;
/// Tokens counted per image when estimating (both providers bill ~800–1,600 for a
/// mid-size image).
const TOKENS_PER_IMAGE: u64 = 1_000;
/// Framing tokens per message (role markers) when estimating.
const TOKENS_PER_MESSAGE: u64 = 3;

/// How a count was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Exact,
    Estimated,
}

pub async fn count(State(app): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let request_id = reply::request_id();
    match handle(&app, &h, body).await {
        Ok((answer, kind, model)) => {
            let mut resp = reply::json(&answer);
            let hv = resp.headers_mut();
            let kind = match kind {
                Kind::Exact => "exact",
                Kind::Estimated => "estimated",
            };
            hv.insert("x-frugal-token-count", HeaderValue::from_static(kind));
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                hv.insert("x-frugal-request-id", v);
            }
            if let Some(Ok(v)) = model.map(|m| HeaderValue::from_str(&m)) {
                hv.insert("x-frugal-model", v);
            }
            resp
        }
        Err(e) => reply::error(&e, FORMAT, &request_id, started),
    }
}

/// The answer, how it was counted, and the catalogue model it was counted for.
async fn handle(
    app: &Arc<AppState>,
    h: &HeaderMap,
    body: Body,
) -> Result<(Value, Kind, Option<String>)> {
    let caller = Caller::identify(h, app.limits.keys());
    caller.authorize(&app.config)?;
    let (body, _held) = reply::read_json(app, h, body).await?;
    let req = parse(&body)?;
    let estimate = |family| json!({ "input_tokens": estimate(&req, family) });
    if app.pipeline.aliases().contains(&req.model) {
        // The model is not chosen yet: Claude's count is the larger of the two families,
        // so a client that sizes its context on it stays within either.
        return Ok((estimate(Family::ClaudeEstimate), Kind::Estimated, None));
    }
    let model = app
        .config
        .model(&req.model)
        .ok_or_else(|| GatewayError::UnknownModel(req.model.clone()))?;
    let family = Family::of_model(&model.upstream_name);
    let provider = app
        .config
        .provider_of(model)
        .filter(|p| p.kind == ProviderKind::Anthropic && p.usable());
    let Some(provider) = provider else {
        return Ok((estimate(family), Kind::Estimated, Some(model.name.clone())));
    };
    let beta = h.get("anthropic-beta").and_then(|v| v.to_str().ok());
    match app
        .upstreams
        .count_tokens(provider, model, &body, beta)
        .await
    {
        Ok(answer) => Ok((answer, Kind::Exact, Some(model.name.clone()))),
        // The request itself is wrong: the provider's word is the answer.
        Err(f @ Failure::Rejected { .. }) => Err(reply::upstream_error(provider, &model.name, f)),
        Err(Failure::Retryable { status, reason, .. }) => {
            tracing::warn!(provider = %provider.name, model = %model.name, ?status,
                %reason,
                "count_tokens upstream failed; answering with an estimate");
            Ok((estimate(family), Kind::Estimated, Some(model.name.clone())))
        }
    }
}

/// Validate the body as a Messages request (which has `max_tokens`; a count request does
/// not), so a malformed one is refused naming its field, as by `/v1/messages`.
fn parse(body: &Value) -> Result<ChatRequest> {
    let mut probe = body.clone();
    if let Some(obj) = probe.as_object_mut() {
        obj.entry("max_tokens").or_insert(json!(1));
    }
    Ok(crate::wire::anthropic::parse_request(&probe)?)
}

/// The request's input tokens by `family`'s tokenizer: system text, every message part,
/// tool definitions, a fixed amount per image and per message.
fn estimate(req: &ChatRequest, family: Family) -> u64 {
    fn part(p: &Part, text: &mut String, images: &mut u64) {
        match p {
            Part::Text { text: t, .. } => text.push_str(t),
            Part::Image { .. } => *images += 1,
            Part::ToolUse { name, input, .. } => {
                text.push_str(name);
                text.push_str(&input.to_string());
            }
            Part::ToolResult { content, .. } => {
                content.iter().for_each(|c| part(c, text, images));
            }
        }
        text.push('\n');
    }
    let mut text = String::new();
    let mut images = 0u64;
    for b in &req.system {
        text.push_str(&b.text);
        text.push('\n');
    }
    for m in &req.messages {
        m.content
            .iter()
            .for_each(|p| part(p, &mut text, &mut images));
    }
    for t in &req.tools {
        text.push_str(&t.name);
        text.push_str(t.description.as_deref().unwrap_or(""));
        text.push_str(&t.parameters.to_string());
    }
    tokens::count(&text, family)
        + images * TOKENS_PER_IMAGE
        + req.messages.len() as u64 * TOKENS_PER_MESSAGE
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn count_requests_need_no_max_tokens() {
        let req = parse(&json!({"model": "auto", "messages": [{"role": "user", "content": "hi"}]}))
            .expect("valid");
        assert_eq!(req.model, "auto");
        let e = parse(&json!({"model": "auto", "messages": [{"role": "robot", "content": "x"}]}));
        assert!(
            matches!(&e, Err(GatewayError::InvalidRequest(m)) if m.starts_with("messages[0].role")),
            "{e:?}"
        );
        assert!(parse(&json!({"messages": []})).is_err());
    }

    #[test]
    fn estimate_counts_every_part_and_grows_with_text() {
        let body = |text: &str| {
            json!({"model": "m", "system": "be brief",
                "messages": [
                    {"role": "user", "content": text},
                    {"role": "system", "content": "a reminder"},
                    {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "read", "input": {"path": "a.rs"}}]},
                    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "fn main() {}"}]}
                ],
                "tools": [{"name": "read", "description": "Read a file", "input_schema": {"type": "object"}}]})
        };
        let short = parse(&body("hello")).expect("valid");
        let long = parse(&body(&"hello world ".repeat(100))).expect("valid");
        let (a, b) = (
            estimate(&short, Family::O200k),
            estimate(&long, Family::O200k),
        );
        assert!(a > 20 && b > a + 150, "{a} {b}");
        // Deterministic, and Claude's estimate is at least the o200k count.
        assert_eq!(a, estimate(&short, Family::O200k));
        assert!(estimate(&short, Family::ClaudeEstimate) >= a);
    }
}
