//! `POST /v1/embeddings` (OpenAI format): passed through to the provider of the named
//! model with frugal's key, never routed (vectors of different models live in different
//! spaces, so frugal must not choose one), and metered: one ledger row with decision
//! `explicit`, `input_tokens` = the provider's `usage.prompt_tokens`, and its cost at the
//! model's catalogue price. Errors are in OpenAI's format.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use serde_json::Value;

use super::headers::{self, AnswerInfo};
use super::reply;
use super::AppState;
use crate::caller::Caller;
use crate::catalog::ModelInfo;
use crate::config::ProviderConfig;
use crate::error::{GatewayError, Result};
use crate::ledger::{Draft, Metered};
use crate::pipeline::estimate::Estimate;
use crate::pipeline::Plan;
use crate::types::{ChatRequest, Format, Usage};

const FORMAT: Format = Format::OpenAi;
/// Characters per token for the pre-call cost estimate (the row bills the real usage).
const CHARS_PER_TOKEN: u64 = 4;

/// The call runs in a task of its own, like chat: a client that hangs up does not cancel
/// an upstream call that is already billed, and its row is still written.
pub async fn create(State(app): State<Arc<AppState>>, h: HeaderMap, body: Body) -> Response {
    let started = Instant::now();
    let request_id = reply::request_id();
    let rid = request_id.clone();
    let task = tokio::spawn(async move {
        let caller = Caller::identify(&h, app.limits.keys());
        let mut metered = Metered::new(&app.ledger, Draft::start(&rid, FORMAT, &caller));
        let call = Call {
            h: &h,
            caller: &caller,
            request_id: &rid,
        };
        let response = match handle(&app, &call, body, &mut metered).await {
            Ok(response) => response,
            Err(e) => {
                metered.draft().error(&e);
                reply::error(&e, FORMAT, &rid, started)
            }
        };
        metered.finish();
        response
    });
    match task.await {
        Ok(response) => response,
        Err(_) => {
            let e = GatewayError::Internal("embeddings task failed".into());
            reply::error(&e, FORMAT, &request_id, started)
        }
    }
}

/// Who asked, for one embeddings call.
struct Call<'a> {
    h: &'a HeaderMap,
    caller: &'a Caller,
    request_id: &'a str,
}

async fn handle(
    app: &Arc<AppState>,
    call: &Call<'_>,
    body: Body,
    metered: &mut Metered,
) -> Result<Response> {
    let started = Instant::now();
    call.caller.authorize(&app.config)?;
    let (body, _held) = reply::read_json(app, call.h, body).await?;
    let (name, user) = parse(&body)?;
    let named = ChatRequest {
        model: name.clone(),
        user,
        ..Default::default()
    };
    metered.draft().request(&named, false);
    let (plan, model, provider) = plan(app, &name, &body)?;
    metered.draft().plan(&plan);
    let called = Instant::now();
    let answer = app
        .upstreams
        .embeddings(provider, model, &body)
        .await
        .map_err(|f| reply::upstream_error(provider, &model.name, f))?;
    let upstream_time = called.elapsed();
    let usage = Usage {
        input_tokens: answer
            .pointer("/usage/prompt_tokens")
            .and_then(Value::as_u64)
            .unwrap_or(0),
        ..Default::default()
    };
    let draft = metered.draft();
    draft.served(&model.name, &[]);
    draft.usage(&app.config, &usage);
    let request_id = call.request_id;
    tracing::info!(%request_id, model = %model.name, input_tokens = usage.input_tokens, "embedded");
    let mut resp = reply::json(&answer);
    let overhead = started.elapsed().saturating_sub(upstream_time);
    let info = AnswerInfo {
        request_id,
        model: Some(&model.name),
        tier: Some(plan.tier),
        meter: draft.meter(),
        cost_estimated: false,
        overhead_ms: overhead.as_secs_f64() * 1e3,
        failed: &[],
    };
    headers::write(resp.headers_mut(), &info);
    Ok(resp)
}

/// The plan for a named embedding model, and the model and provider it names. A routing
/// alias is refused: vectors from different models cannot be compared.
fn plan<'a>(
    app: &'a AppState,
    name: &str,
    body: &Value,
) -> Result<(Plan, &'a ModelInfo, &'a ProviderConfig)> {
    if app.pipeline.aliases().iter().any(|a| a == name) {
        return Err(GatewayError::InvalidRequest(format!(
            "embeddings need a named model: `{name}` routes chat requests, and vectors from \
             different models cannot be compared, so frugal never chooses an embedding \
             model; name one, e.g. text-embedding-3-small"
        )));
    }
    let est = Estimate {
        input_tokens: input_chars(body.get("input")).div_ceil(CHARS_PER_TOKEN),
        output_tokens: 0,
    };
    let plan = crate::pipeline::select::explicit_plan(&app.config, name, &est)?;
    let model = app
        .config
        .model(name)
        .ok_or_else(|| GatewayError::UnknownModel(name.to_string()))?;
    let provider = app
        .config
        .provider_of(model)
        .ok_or_else(|| GatewayError::Internal(format!("model {name} has no provider")))?;
    Ok((plan, model, provider))
}

/// The model name and `user` of an embeddings request, validated like OpenAI does.
fn parse(body: &Value) -> Result<(String, Option<String>)> {
    let field = |msg: String| GatewayError::InvalidRequest(msg);
    let model = match body.get("model") {
        Some(Value::String(m)) if !m.trim().is_empty() => m.clone(),
        Some(Value::String(_)) => return Err(field("model: must not be empty".into())),
        None | Some(Value::Null) => return Err(field("model: is required".into())),
        Some(_) => return Err(field("model: expected a string".into())),
    };
    match body.get("input") {
        None | Some(Value::Null) => return Err(field("input: is required".into())),
        Some(Value::String(_)) => {}
        Some(Value::Array(items)) if items.is_empty() => {
            return Err(field("input: must not be empty".into()))
        }
        Some(Value::Array(items)) => {
            // Strings, token arrays, or arrays of token arrays.
            let ok = items.iter().all(|i| match i {
                Value::String(_) | Value::Number(_) => true,
                Value::Array(t) => t.iter().all(Value::is_number),
                _ => false,
            });
            if !ok {
                return Err(field(
                    "input: expected a string, an array of strings or an array of token arrays"
                        .into(),
                ));
            }
        }
        Some(_) => {
            return Err(field(
                "input: expected a string, an array of strings or an array of token arrays".into(),
            ))
        }
    }
    let user = match body.get("user") {
        None | Some(Value::Null) => None,
        Some(Value::String(u)) => Some(u.clone()),
        Some(_) => return Err(field("user: expected a string".into())),
    };
    Ok((model, user))
}

/// Characters of text input, and four per pre-tokenised token.
fn input_chars(input: Option<&Value>) -> u64 {
    match input {
        Some(Value::String(s)) => s.len() as u64,
        Some(Value::Number(_)) => CHARS_PER_TOKEN,
        Some(Value::Array(items)) => items.iter().map(|i| input_chars(Some(i))).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_and_validates() {
        let ok =
            parse(&json!({"model": "text-embedding-3-small", "input": ["a", "b"], "user": "u"}));
        assert_eq!(
            ok.ok(),
            Some(("text-embedding-3-small".to_string(), Some("u".to_string())))
        );
        assert!(parse(&json!({"model": "m", "input": [[1, 2], [3]]})).is_ok());
        for (body, want) in [
            (json!({"input": "x"}), "model: is required"),
            (
                json!({"model": " ", "input": "x"}),
                "model: must not be empty",
            ),
            (
                json!({"model": 3, "input": "x"}),
                "model: expected a string",
            ),
            (json!({"model": "m"}), "input: is required"),
            (
                json!({"model": "m", "input": []}),
                "input: must not be empty",
            ),
            (
                json!({"model": "m", "input": [{"text": "x"}]}),
                "input: expected a string, an array of strings or an array of token arrays",
            ),
            (
                json!({"model": "m", "input": "x", "user": 1}),
                "user: expected a string",
            ),
        ] {
            match parse(&body) {
                Err(GatewayError::InvalidRequest(m)) => assert_eq!(m, want, "{body}"),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn input_size_for_the_estimate() {
        assert_eq!(input_chars(Some(&json!("abcd"))), 4);
        assert_eq!(input_chars(Some(&json!(["ab", "cd", [1, 2]]))), 12);
        assert_eq!(input_chars(None), 0);
    }
}
