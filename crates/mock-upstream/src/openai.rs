//! OpenAI Chat Completions wire format: reading `/v1/chat/completions` requests and answering
//! with OpenAI's JSON, SSE chunks and error bodies. The answer itself comes from `answer.rs`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use crate::answer::{self, Answer, Finish, Prompt, ToolChoice, ToolSpec, Usage};
use crate::faults::{self, Delivery, Failure, Outcome, FAULT_HEADER};
use crate::wire::{self, Frames};
use crate::MockState;

const PATH: &str = "/v1/chat/completions";
const REQUEST_ID_HEADER: &str = "x-request-id";
const FINGERPRINT: &str = "fp_mock";

pub(crate) async fn chat_completions(
    State(state): State<MockState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let wire::Received {
        request_id,
        parsed,
        model,
    } = wire::receive(&state, PATH, &headers, &body, 32);
    let rid = (REQUEST_ID_HEADER, request_id.as_str());

    // Same order as the real API: credentials first, then the body.
    if let Some(response) = auth_rejection(&headers) {
        return response;
    }
    let request = match parsed {
        Ok(v) if v.is_object() => v,
        _ => return invalid_json(rid),
    };
    if model.is_empty() {
        let body = error_body(
            "you must provide a model parameter",
            "invalid_request_error",
            None,
            None,
        );
        return wire::error_response(StatusCode::BAD_REQUEST, &body, rid);
    }
    if !request.get("messages").is_some_and(Value::is_array) {
        let body = error_body(
            "Missing required parameter: 'messages'.",
            "invalid_request_error",
            Some("messages"),
            Some("missing_required_parameter"),
        );
        return wire::error_response(StatusCode::BAD_REQUEST, &body, rid);
    }

    if let Some(echo) = crate::echo::parse(&model, wire::header_str(&headers, FAULT_HEADER)) {
        let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
        return crate::echo::respond(echo, crate::echo::Style::OpenAi, &headers, &model, stream);
    }
    let fault = faults::parse_fault(&model, wire::header_str(&headers, FAULT_HEADER));
    let delivery = match faults::resolve(fault, &state, &model).await {
        Outcome::Fail(failure) => return failure_response(failure, &model, rid),
        Outcome::Answer(delivery) => delivery,
    };
    let reply = Reply::new(&request, &model, &headers);
    if request.get("stream").and_then(Value::as_bool) == Some(true) {
        let include_usage = request
            .pointer("/stream_options/include_usage")
            .and_then(Value::as_bool)
            == Some(true);
        reply
            .stream(include_usage, delivery)
            .into_response(delivery, rid)
    } else {
        wire::json_response(&reply.completion(), delivery, rid)
    }
}

/// `Authorization: Bearer <non-empty>` or a 401 like OpenAI's.
pub(crate) fn auth_rejection(headers: &HeaderMap) -> Option<Response> {
    let token = wire::header_str(headers, "authorization")
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if !token.is_empty() {
        return None;
    }
    let request_id = format!("req_{}", wire::random_id(32));
    let body = error_body(
        "You didn't provide an API key. You need to provide your API key in an Authorization \
         header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field \
         (with blank username) if you're accessing the API from your browser and are prompted for \
         a username and password. You can obtain an API key from \
         https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        None,
        None,
    );
    Some(wire::error_response(
        StatusCode::UNAUTHORIZED,
        &body,
        (REQUEST_ID_HEADER, &request_id),
    ))
}

pub(crate) fn error_body(
    message: &str,
    kind: &str,
    param: Option<&str>,
    code: Option<&str>,
) -> Value {
    json!({"error": {"message": message, "type": kind, "param": param, "code": code}})
}

pub(crate) fn invalid_json(rid: (&'static str, &str)) -> Response {
    let body = error_body(
        "We could not parse the JSON body of your request. (HINT: This likely means you aren't \
         using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was \
         sent was not valid JSON. If you have trouble figuring out how to fix this, please \
         contact us through our help center at help.openai.com.)",
        "invalid_request_error",
        None,
        None,
    );
    wire::error_response(StatusCode::BAD_REQUEST, &body, rid)
}

pub(crate) fn failure_response(
    failure: Failure,
    model: &str,
    rid: (&'static str, &str),
) -> Response {
    let (status, body) = match failure {
        Failure::BadRequest => (
            StatusCode::BAD_REQUEST,
            error_body(
                "This model's maximum context length is 128000 tokens. However, your messages \
                 resulted in 128001 tokens. Please reduce the length of the messages.",
                "invalid_request_error",
                Some("messages"),
                Some("context_length_exceeded"),
            ),
        ),
        Failure::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            error_body(
                "Incorrect API key provided: sk-mock****. You can find your API key at \
                 https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                None,
                Some("invalid_api_key"),
            ),
        ),
        Failure::RateLimited { retry_after_secs } => {
            let message = format!(
                "Rate limit reached for {model} in organization org-mock on requests per min \
                 (RPM): Limit 3, Used 3, Requested 1. Please try again in {retry_after_secs}s."
            );
            let body = error_body(&message, "requests", None, Some("rate_limit_exceeded"));
            let mut response = wire::error_response(StatusCode::TOO_MANY_REQUESTS, &body, rid);
            wire::set_header(&mut response, "retry-after", &retry_after_secs.to_string());
            wire::set_header(&mut response, "x-ratelimit-remaining-requests", "0");
            let reset = format!("{retry_after_secs}s");
            wire::set_header(&mut response, "x-ratelimit-reset-requests", &reset);
            return response;
        }
        Failure::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            error_body(
                "The server had an error while processing your request. Sorry about that!",
                "server_error",
                None,
                None,
            ),
        ),
        Failure::Unavailable => (
            StatusCode::SERVICE_UNAVAILABLE,
            error_body(
                "The engine is currently overloaded, please try again later.",
                "server_error",
                None,
                None,
            ),
        ),
        Failure::Overloaded => (
            StatusCode::from_u16(529).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
            error_body("The server is overloaded.", "server_error", None, None),
        ),
    };
    wire::error_response(status, &body, rid)
}

/// Reads the parts of an OpenAI request that decide the answer.
fn prompt_from(request: &Value, model: &str) -> Prompt {
    let messages = request
        .get("messages")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    let role = |m: &Value| {
        m.get("role")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let content = |m: &Value| wire::content_text(m.get("content").unwrap_or(&Value::Null));
    let tool_result = messages.last().filter(|m| role(m) == "tool").map(content);
    let last_user_text = messages
        .iter()
        .rev()
        .find(|m| role(m) == "user")
        .map(content)
        .unwrap_or_default();
    let tools = request
        .get("tools")
        .and_then(Value::as_array)
        .map(|tools| {
            tools
                .iter()
                .filter_map(|t| t.get("function"))
                .filter_map(|f| {
                    Some(ToolSpec {
                        name: f.get("name")?.as_str()?.to_string(),
                        schema: f.get("parameters").cloned().unwrap_or(Value::Null),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let tool_choice = match request.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Any,
        Some(Value::Object(o)) => o
            .get("function")
            .and_then(|f| f.get("name"))
            .and_then(Value::as_str)
            .map_or(ToolChoice::Auto, |name| ToolChoice::Named(name.to_string())),
        _ => ToolChoice::Auto,
    };
    // `max_completion_tokens` replaced `max_tokens`; newer clients send only the former.
    let max_tokens = request
        .get("max_completion_tokens")
        .or_else(|| request.get("max_tokens"))
        .and_then(Value::as_u64);
    Prompt {
        model: model.to_string(),
        last_user_text,
        tool_result,
        tools,
        tool_choice,
        max_tokens,
        stop: wire::string_list(request.get("stop")),
    }
}

/// One answer rendered as either a completion or a chunk stream, sharing id, time and usage.
struct Reply {
    id: String,
    created: u64,
    model: String,
    answer: Answer,
    /// Forced calls to a named function finish with "stop" on the real API, not "tool_calls".
    named_tool_choice: bool,
    usage: Usage,
    /// Per-token log-probability, when the request asked for `logprobs`.
    logprob: Option<f64>,
}

impl Reply {
    fn new(request: &Value, model: &str, headers: &HeaderMap) -> Self {
        let prompt = prompt_from(request, model);
        let answer = answer::answer(&prompt);
        let logprob = (request.get("logprobs").and_then(Value::as_bool) == Some(true))
            .then(|| answer::token_logprob(&prompt));
        let input_chars = answer::json_chars(request.get("messages").unwrap_or(&Value::Null))
            + answer::json_chars(request.get("tools").unwrap_or(&Value::Null));
        let input = answer::tokens_for_chars(input_chars);
        let output = match &answer {
            Answer::Text { text, .. } => answer::output_tokens(text),
            Answer::ToolCall {
                name, arguments, ..
            } => answer::output_tokens(&format!("{name}{arguments}")),
        };
        Self {
            id: format!("chatcmpl-{}", wire::random_id(29)),
            created: wire::unix_now(),
            model: model.to_string(),
            named_tool_choice: matches!(prompt.tool_choice, ToolChoice::Named(_)),
            answer,
            logprob,
            usage: Usage {
                input,
                cached: answer::cached_tokens(input, wire::cached_tokens_header(headers), false),
                output,
            },
        }
    }

    fn finish_reason(&self) -> &'static str {
        match &self.answer {
            Answer::Text {
                finish: Finish::Length,
                ..
            } => "length",
            Answer::Text { .. } => "stop",
            Answer::ToolCall { .. } if self.named_tool_choice => "stop",
            Answer::ToolCall { .. } => "tool_calls",
        }
    }

    /// `choices[0].logprobs` as OpenAI returns it: one entry per token of the text.
    fn logprobs_json(&self) -> Value {
        let (Some(lp), Answer::Text { text, .. }) = (self.logprob, &self.answer) else {
            return Value::Null;
        };
        let content: Vec<Value> = text
            .split_inclusive(' ')
            .map(|t| json!({"token": t, "logprob": lp, "bytes": t.as_bytes(), "top_logprobs": []}))
            .collect();
        json!({"content": content, "refusal": null})
    }

    fn usage_json(&self) -> Value {
        let u = self.usage;
        json!({
            "prompt_tokens": u.input,
            "completion_tokens": u.output,
            "total_tokens": u.input + u.output,
            "prompt_tokens_details": {"cached_tokens": u.cached, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0
            }
        })
    }

    fn completion(&self) -> Value {
        let message = match &self.answer {
            Answer::Text { text, .. } => json!({
                "role": "assistant", "content": text, "refusal": null, "annotations": []
            }),
            Answer::ToolCall {
                name, arguments, ..
            } => json!({
                "role": "assistant",
                "content": null,
                "tool_calls": [{
                    "id": format!("call_{}", wire::random_id(24)),
                    "type": "function",
                    "function": {"name": name, "arguments": arguments.to_string()}
                }],
                "refusal": null,
                "annotations": []
            }),
        };
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [{
                "index": 0,
                "message": message,
                "logprobs": self.logprobs_json(),
                "finish_reason": self.finish_reason()
            }],
            "usage": self.usage_json(),
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT
        })
    }

    fn chunk(&self, choices: Value, usage: Option<Value>) -> Value {
        let mut chunk = json!({
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
            "choices": choices
        });
        // With include_usage every chunk carries `usage` (null until the last); without it the
        // field is absent, as on the real API.
        if let (Some(usage), Some(obj)) = (usage, chunk.as_object_mut()) {
            obj.insert("usage".to_string(), usage);
        }
        chunk
    }

    fn delta_chunk(&self, delta: Value, finish: Option<&str>, include_usage: bool) -> Value {
        let choices =
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]);
        self.chunk(choices, include_usage.then_some(Value::Null))
    }

    fn stream(&self, include_usage: bool, delivery: Delivery) -> Frames {
        let mut frames = Frames::default();
        if delivery == Delivery::MalformedJson {
            let first = self
                .delta_chunk(
                    json!({"role": "assistant", "content": ""}),
                    None,
                    include_usage,
                )
                .to_string();
            frames.push_raw(
                None,
                &format!("{}<<not json", answer::first_chars(&first, first.len() / 2)),
            );
            return frames;
        }
        match &self.answer {
            Answer::Text { text, .. } => {
                let role = json!({"role": "assistant", "content": "", "refusal": null});
                frames.push(None, &self.delta_chunk(role, None, include_usage));
                for piece in answer::word_pieces(text) {
                    let delta = self.delta_chunk(json!({"content": piece}), None, include_usage);
                    frames.push_delta(None, &delta);
                }
            }
            Answer::ToolCall {
                name, arguments, ..
            } => {
                // The real API announces the role together with the call's id and name.
                let head = json!({
                    "role": "assistant",
                    "content": null,
                    "tool_calls": [{
                        "index": 0,
                        "id": format!("call_{}", wire::random_id(24)),
                        "type": "function",
                        "function": {"name": name, "arguments": ""}
                    }],
                    "refusal": null
                });
                frames.push(None, &self.delta_chunk(head, None, include_usage));
                for piece in answer::json_pieces(&arguments.to_string()) {
                    let delta =
                        json!({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]});
                    frames.push_delta(None, &self.delta_chunk(delta, None, include_usage));
                }
            }
        }
        let last = self.delta_chunk(json!({}), Some(self.finish_reason()), include_usage);
        frames.push(None, &last);
        if include_usage {
            frames.push(None, &self.chunk(json!([]), Some(self.usage_json())));
        }
        frames.push_raw(None, "[DONE]");
        frames
    }
}
