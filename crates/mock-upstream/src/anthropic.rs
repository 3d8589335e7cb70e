//! Anthropic Messages wire format: reading `/v1/messages` requests and answering with
//! Anthropic's JSON, SSE events and error bodies. The answer itself comes from `answer.rs`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::answer::{self, Answer, Finish, Prompt, ToolChoice, ToolSpec, Usage};
use crate::faults::{self, Delivery, Failure, Outcome, FAULT_HEADER};
use crate::wire::{self, Frames};
use crate::MockState;

const PATH: &str = "/v1/messages";
const COUNT_TOKENS_PATH: &str = "/v1/messages/count_tokens";
const REQUEST_ID_HEADER: &str = "request-id";

pub(crate) async fn messages(
    State(state): State<MockState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let wire::Received {
        request_id,
        parsed,
        model,
    } = wire::receive(&state, PATH, &headers, &body, 24);
    let rid = (REQUEST_ID_HEADER, request_id.as_str());
    let request = match admit(&headers, parsed, rid) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    // Field checks in the order the real API reports them, with its `field: Field required`.
    for (field, ok) in [
        (
            "max_tokens",
            request.get("max_tokens").is_some_and(Value::is_u64),
        ),
        (
            "messages",
            request.get("messages").is_some_and(Value::is_array),
        ),
        ("model", !model.is_empty()),
    ] {
        if !ok {
            let message = format!("{field}: Field required");
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &message,
                rid,
            );
        }
    }

    if let Some(echo) = crate::echo::parse(&model, wire::header_str(&headers, FAULT_HEADER)) {
        let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
        return crate::echo::respond(
            echo,
            crate::echo::Style::Anthropic,
            &headers,
            &model,
            stream,
        );
    }
    let fault = faults::parse_fault(&model, wire::header_str(&headers, FAULT_HEADER));
    let delivery = match faults::resolve(fault, &state, &model).await {
        Outcome::Fail(failure) => return failure_response(failure, rid),
        Outcome::Answer(delivery) => delivery,
    };
    let agent = crate::agent_messages::selected(
        &model,
        wire::header_str(&headers, crate::agent_messages::AGENT_HEADER),
    );
    let reply = Reply::new(&request, &model, &headers, agent);
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        reply.stream(delivery).into_response(delivery, rid)
    } else {
        wire::json_response(&reply.message(), delivery, rid)
    }
}

/// `POST /v1/messages/count_tokens`: `{"input_tokens": N}`, N ≈ a quarter of the characters
/// of `system`, `messages` and `tools` as serialized (the input count `/v1/messages` reports
/// for the same body), so it is deterministic. Validation and fault modes (by model name
/// or header) as for `/v1/messages`; unlike it, `max_tokens` is not required.
pub(crate) async fn count_tokens(
    State(state): State<MockState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let wire::Received {
        request_id,
        parsed,
        model,
    } = wire::receive(&state, COUNT_TOKENS_PATH, &headers, &body, 24);
    let rid = (REQUEST_ID_HEADER, request_id.as_str());
    let request = match admit(&headers, parsed, rid) {
        Ok(v) => v,
        Err(response) => return *response,
    };
    for (field, ok) in [
        (
            "messages",
            request.get("messages").is_some_and(Value::is_array),
        ),
        ("model", !model.is_empty()),
    ] {
        if !ok {
            let message = format!("{field}: Field required");
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &message,
                rid,
            );
        }
    }
    let fault = faults::parse_fault(&model, wire::header_str(&headers, FAULT_HEADER));
    if let Outcome::Fail(failure) = faults::resolve(fault, &state, &model).await {
        return failure_response(failure, rid);
    }
    let input_chars = ["messages", "system", "tools"]
        .iter()
        .map(|k| answer::json_chars(request.get(*k).unwrap_or(&Value::Null)))
        .sum();
    let counted = json!({"input_tokens": answer::tokens_for_chars(input_chars)});
    wire::json_response(&counted, Delivery::Normal, rid)
}

/// Credentials first, then a JSON object body: the real API's order and words.
fn admit(
    headers: &HeaderMap,
    parsed: Result<Value, Value>,
    rid: (&'static str, &str),
) -> Result<Value, Box<Response>> {
    if let Some(response) = auth_rejection(headers) {
        return Err(Box::new(response));
    }
    match parsed {
        Ok(v) if v.is_object() => Ok(v),
        _ => {
            let message = "There was an error parsing the body of your request. Please make sure \
                           the body is valid JSON.";
            Err(Box::new(error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                message,
                rid,
            )))
        }
    }
}

/// A non-empty `x-api-key` (or an OAuth `Authorization: Bearer`, as Claude Code sends) plus an
/// `anthropic-version` header, else the real API's 401 / 400.
pub(crate) fn auth_rejection(headers: &HeaderMap) -> Option<Response> {
    let request_id = format!("req_{}", wire::random_id(24));
    let rid = (REQUEST_ID_HEADER, request_id.as_str());
    let api_key = wire::header_str(headers, "x-api-key").map(str::trim);
    let bearer = wire::header_str(headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    if api_key.or(bearer).is_none_or(str::is_empty) {
        let message = "x-api-key header is required";
        return Some(error(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            message,
            rid,
        ));
    }
    if wire::header_str(headers, "anthropic-version").is_none_or(|v| v.trim().is_empty()) {
        let message = "anthropic-version: header is required";
        return Some(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            message,
            rid,
        ));
    }
    None
}

fn error(status: StatusCode, kind: &str, message: &str, rid: (&'static str, &str)) -> Response {
    let body = json!({
        "type": "error",
        "error": {"type": kind, "message": message},
        "request_id": rid.1
    });
    wire::error_response(status, &body, rid)
}

fn failure_response(failure: Failure, rid: (&'static str, &str)) -> Response {
    let (status, kind, message) = match failure {
        Failure::BadRequest => (
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "prompt is too long: 200001 tokens > 200000 maximum".to_string(),
        ),
        Failure::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "invalid x-api-key".to_string(),
        ),
        Failure::RateLimited { retry_after_secs } => {
            let message = "This request would exceed the rate limit for your organization \
                           (org-mock) of 50 requests per minute. For details, refer to: \
                           https://docs.claude.com/en/api/rate-limits.";
            let mut response = error(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limit_error",
                message,
                rid,
            );
            wire::set_header(&mut response, "retry-after", &retry_after_secs.to_string());
            wire::set_header(&mut response, "anthropic-ratelimit-requests-remaining", "0");
            return response;
        }
        Failure::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "Internal server error".to_string(),
        ),
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            "api_error",
            "Service unavailable".to_string(),
        ),
        Failure::Overloaded => (
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            "overloaded_error",
            "Overloaded".to_string(),
        ),
    };
    error(status, kind, &message, rid)
}

/// Reads the parts of an Anthropic request that decide the answer.
fn prompt_from(request: &Value, model: &str) -> Prompt {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let is_user = |m: &&Value| m.get("role").and_then(Value::as_str) == Some("user");
    let tool_result = messages
        .last()
        .filter(is_user)
        .and_then(|m| m.get("content")?.as_array())
        .and_then(|blocks| {
            blocks
                .iter()
                .rev()
                .find(|b| b.get("type").and_then(Value::as_str) == Some("tool_result"))
        })
        .map(|b| wire::content_text(b.get("content").unwrap_or(&Value::Null)));
    let last_user_text = messages
        .iter()
        .rev()
        .find(is_user)
        .map(|m| wire::content_text(m.get("content").unwrap_or(&Value::Null)))
        .unwrap_or_default();
    let tools = request
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                // Server tools (web search, code execution...) run at Anthropic, never as tool_use.
                .filter(|t| {
                    t.get("type")
                        .and_then(Value::as_str)
                        .is_none_or(|ty| ty == "custom")
                })
                .filter_map(|t| {
                    Some(ToolSpec {
                        name: t.get("name")?.as_str()?.to_string(),
                        schema: t.get("input_schema").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let choice = request.get("tool_choice");
    let tool_choice = match choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        Some("none") => ToolChoice::None,
        Some("any") => ToolChoice::Any,
        Some("tool") => choice
            .and_then(|c| c.get("name"))
            .and_then(Value::as_str)
            .map_or(ToolChoice::Any, |n| ToolChoice::Named(n.to_string())),
        _ => ToolChoice::Auto,
    };
    Prompt {
        model: model.to_string(),
        last_user_text,
        tool_result,
        tools,
        tool_choice,
        max_tokens: request.get("max_tokens").and_then(Value::as_u64),
        stop: wire::string_list(request.get("stop_sequences")),
    }
}

/// Whether the request marks anything for prompt caching, at any depth.
fn has_cache_control(value: &Value) -> bool {
    match value {
        Value::Object(map) => {
            map.contains_key("cache_control") || map.values().any(has_cache_control)
        }
        Value::Array(items) => items.iter().any(has_cache_control),
        _ => false,
    }
}

/// A content block of the answer, in the order it is emitted.
enum Block {
    Text(String),
    ToolUse {
        id: String,
        name: String,
        input: Value,
    },
}

/// One answer rendered as either a message or an event stream, sharing id and usage.
struct Reply {
    id: String,
    model: String,
    blocks: Vec<Block>,
    stop_reason: &'static str,
    stop_sequence: Option<String>,
    usage: Usage,
}

impl Reply {
    /// `agent`: answer by the scripted agent mode (`agent_messages.rs`).
    fn new(request: &Value, model: &str, headers: &HeaderMap, agent: bool) -> Self {
        let prompt = prompt_from(request, model);
        let chosen = if agent {
            crate::agent_messages::answer(request, &prompt)
        } else {
            answer::answer(&prompt)
        };
        let (blocks, stop_reason, stop_sequence) = match chosen {
            Answer::Text { text, finish } => match finish {
                Finish::Complete => (vec![Block::Text(text)], "end_turn", None),
                Finish::Length => (vec![Block::Text(text)], "max_tokens", None),
                Finish::StopSequence(seq) => (vec![Block::Text(text)], "stop_sequence", Some(seq)),
            },
            Answer::ToolCall {
                name,
                arguments,
                forced,
            } => {
                let mut blocks = Vec::new();
                // Claude usually explains itself before an unforced call; a forced call is
                // prefilled by the API and starts directly with the tool_use block.
                if !forced {
                    blocks.push(Block::Text(format!(
                        "mock answer from {model}: calling {name}"
                    )));
                }
                blocks.push(Block::ToolUse {
                    id: format!("toolu_{}", wire::random_id(24)),
                    name,
                    input: arguments,
                });
                (blocks, "tool_use", None)
            }
        };
        let output_text: String = blocks
            .iter()
            .map(|b| match b {
                Block::Text(text) => text.clone(),
                Block::ToolUse { name, input, .. } => format!("{name}{input}"),
            })
            .collect();
        let input_chars = ["messages", "system", "tools"]
            .iter()
            .map(|k| answer::json_chars(request.get(*k).unwrap_or(&Value::Null)))
            .sum();
        let input = answer::tokens_for_chars(input_chars);
        let cached = answer::cached_tokens(
            input,
            wire::cached_tokens_header(headers),
            has_cache_control(request),
        );
        Self {
            id: format!("msg_{}", wire::random_id(24)),
            model: model.to_string(),
            blocks,
            stop_reason,
            stop_sequence,
            usage: Usage {
                input,
                cached,
                output: answer::output_tokens(&output_text),
            },
        }
    }

    /// Anthropic reports cache reads beside `input_tokens`, not inside it.
    fn usage_json(&self, output_tokens: u64) -> Value {
        json!({
            "input_tokens": self.usage.input - self.usage.cached,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": self.usage.cached,
            "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
            "output_tokens": output_tokens,
            "service_tier": "standard"
        })
    }

    fn envelope(
        &self,
        content: Value,
        stop_reason: Value,
        stop_sequence: Value,
        usage: Value,
    ) -> Value {
        json!({
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": stop_sequence,
            "usage": usage
        })
    }

    fn message(&self) -> Value {
        let content: Vec<Value> = self
            .blocks
            .iter()
            .map(|b| match b {
                Block::Text(text) => json!({"type": "text", "text": text}),
                Block::ToolUse { id, name, input } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": input})
                }
            })
            .collect();
        self.envelope(
            Value::Array(content),
            json!(self.stop_reason),
            json!(self.stop_sequence),
            self.usage_json(self.usage.output),
        )
    }

    fn stream(&self, delivery: Delivery) -> Frames {
        let mut frames = Frames::default();
        // The real API counts one output token before anything is generated.
        let start_usage = self.usage_json(1);
        let start = json!({
            "type": "message_start",
            "message": self.envelope(json!([]), Value::Null, Value::Null, start_usage)
        });
        if delivery == Delivery::MalformedJson {
            let start = start.to_string();
            let half = answer::first_chars(&start, start.len() / 2);
            frames.push_raw(Some("message_start"), &format!("{half}<<not json"));
            return frames;
        }
        frames.push(Some("message_start"), &start);
        for (index, block) in self.blocks.iter().enumerate() {
            let content_block = match block {
                Block::Text(_) => json!({"type": "text", "text": ""}),
                Block::ToolUse { id, name, .. } => {
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}})
                }
            };
            let start = json!({"type": "content_block_start", "index": index, "content_block": content_block});
            frames.push(Some("content_block_start"), &start);
            if index == 0 {
                frames.push(Some("ping"), &json!({"type": "ping"}));
            }
            let deltas: Vec<Value> = match block {
                Block::Text(text) => answer::word_pieces(text)
                    .into_iter()
                    .map(|piece| json!({"type": "text_delta", "text": piece}))
                    .collect(),
                // Like the real API, the first input_json_delta is empty.
                Block::ToolUse { input, .. } => std::iter::once(String::new())
                    .chain(answer::json_pieces(&input.to_string()))
                    .map(|piece| json!({"type": "input_json_delta", "partial_json": piece}))
                    .collect(),
            };
            for delta in deltas {
                let event = json!({"type": "content_block_delta", "index": index, "delta": delta});
                frames.push_delta(Some("content_block_delta"), &event);
            }
            let stop = json!({"type": "content_block_stop", "index": index});
            frames.push(Some("content_block_stop"), &stop);
        }
        // message_delta usage is cumulative and, on the current API, repeats the input counts.
        let mut usage = self.usage_json(self.usage.output);
        if let Some(obj) = usage.as_object_mut() {
            obj.remove("cache_creation");
            obj.remove("service_tier");
        }
        let delta = json!({
            "type": "message_delta",
            "delta": {"stop_reason": self.stop_reason, "stop_sequence": self.stop_sequence},
            "usage": usage
        });
        frames.push(Some("message_delta"), &delta);
        frames.push(Some("message_stop"), &json!({"type": "message_stop"}));
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn count_tokens_is_deterministic_and_needs_no_max_tokens() {
        let mut headers = HeaderMap::new();
        headers.insert("x-api-key", "k".parse().expect("hv"));
        headers.insert("anthropic-version", "2023-06-01".parse().expect("hv"));
        let body = Bytes::from_static(
            br#"{"model":"claude-x","system":"s","messages":[{"role":"user","content":"hello there"}]}"#,
        );
        let count = |body: Bytes| {
            let (state, headers) = (MockState::new(), headers.clone());
            async move {
                let r = count_tokens(State(state), headers, body).await;
                let status = r.status();
                let bytes = axum::body::to_bytes(r.into_body(), 1 << 20)
                    .await
                    .expect("body");
                let v: Value = serde_json::from_slice(&bytes).expect("json");
                (status, v)
            }
        };
        let (status, first) = count(body.clone()).await;
        assert_eq!(status, StatusCode::OK);
        let n = first["input_tokens"].as_u64().expect("count");
        assert!(n > 5, "{first}");
        assert_eq!(count(body).await.1, first);
        let (status, err) = count(Bytes::from_static(br#"{"model":"m"}"#)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(err["error"]["message"], "messages: Field required");
    }

    #[test]
    fn finds_cache_control_anywhere() {
        assert!(!has_cache_control(
            &json!({"messages": [{"content": "hi"}]})
        ));
        assert!(has_cache_control(&json!({"system": [
            {"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}
        ]})));
    }

    #[test]
    fn tool_result_text_comes_from_last_tool_result_block() {
        let request = json!({"messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "42"}]}
            ]}
        ]});
        assert_eq!(
            prompt_from(&request, "m").tool_result.as_deref(),
            Some("42")
        );
    }
}
