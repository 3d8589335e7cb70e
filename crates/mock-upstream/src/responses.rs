//! OpenAI Responses wire format: reading `/v1/responses` requests and answering with the
//! `response` object or its typed SSE events (`response.created`, `response.in_progress`,
//! `response.output_item.added`, `response.content_part.added`, `response.output_text.delta`,
//! …, `response.completed`), shaped after the official SDK's types. The answer comes from
//! `answer.rs`, or from the scripted agent (`agent_responses.rs`) for models named `…agent…`.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::answer::{self, Answer, Finish, Prompt, ToolChoice, ToolSpec, Usage};
use crate::faults::{self, Delivery, Outcome, FAULT_HEADER};
use crate::openai::{auth_rejection, error_body, failure_response, invalid_json};
use crate::wire::{self, Frames};
use crate::MockState;

const PATH: &str = "/v1/responses";
const REQUEST_ID_HEADER: &str = "x-request-id";

pub(crate) async fn responses(
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
    if let Some(response) = auth_rejection(&headers) {
        return response;
    }
    let request = match parsed {
        Ok(v) if v.is_object() => v,
        _ => return invalid_json(rid),
    };
    let missing = |param: &str, message: &str| {
        let body = error_body(
            message,
            "invalid_request_error",
            Some(param),
            Some("missing_required_parameter"),
        );
        wire::error_response(StatusCode::BAD_REQUEST, &body, rid)
    };
    if model.is_empty() {
        return missing("model", "Missing required parameter: 'model'.");
    }
    if request.get("input").is_none_or(Value::is_null) {
        return missing("input", "Missing required parameter: 'input'.");
    }
    let stream = request.get("stream").and_then(Value::as_bool) == Some(true);
    if let Some(echo) = crate::echo::parse(&model, wire::header_str(&headers, FAULT_HEADER)) {
        return crate::echo::respond(
            echo,
            crate::echo::Style::Responses,
            &headers,
            &model,
            stream,
        );
    }
    let fault = faults::parse_fault(&model, wire::header_str(&headers, FAULT_HEADER));
    let delivery = match faults::resolve(fault, &state, &model).await {
        Outcome::Fail(failure) => return failure_response(failure, &model, rid),
        Outcome::Answer(delivery) => delivery,
    };
    let answer = match crate::agent_responses::script(&model, &request) {
        Some(answer) => answer,
        None => answer::answer(&prompt_from(&request, &model)),
    };
    let reply = Reply::new(&request, &model, &headers, answer);
    if stream {
        reply.stream(delivery).into_response(delivery, rid)
    } else {
        wire::json_response(&reply.object("completed"), delivery, rid)
    }
}

/// The text of a message's `content` or a tool output's `output`: a string, or the `text`
/// of its parts.
pub(crate) fn text_of(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

/// The request's input items (a string input is one user message).
pub(crate) fn items(request: &Value) -> Vec<Value> {
    match request.get("input") {
        Some(Value::String(s)) => vec![json!({"type": "message", "role": "user", "content": s})],
        Some(Value::Array(items)) => items.clone(),
        _ => Vec::new(),
    }
}

fn item_type(item: &Value) -> &str {
    item.get("type")
        .and_then(Value::as_str)
        .unwrap_or("message")
}

/// Reads the parts of a Responses request that decide the answer.
fn prompt_from(request: &Value, model: &str) -> Prompt {
    let items = items(request);
    let tool_result = items
        .last()
        .filter(|i| item_type(i) == "function_call_output")
        .map(|i| text_of(i.get("output")));
    let last_user_text = items
        .iter()
        .rev()
        .find(|i| {
            item_type(i) == "message" && i.get("role").and_then(Value::as_str) == Some("user")
        })
        .map(|i| text_of(i.get("content")))
        .unwrap_or_default();
    let tools = request
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.get("type").and_then(Value::as_str) == Some("function"))
        .filter_map(|t| {
            Some(ToolSpec {
                name: t.get("name")?.as_str()?.to_string(),
                schema: t.get("parameters").cloned().unwrap_or(Value::Null),
            })
        })
        .collect();
    let tool_choice = match request.get("tool_choice") {
        Some(Value::String(s)) if s == "none" => ToolChoice::None,
        Some(Value::String(s)) if s == "required" => ToolChoice::Any,
        Some(Value::Object(o)) => o
            .get("name")
            .and_then(Value::as_str)
            .map_or(ToolChoice::Auto, |name| ToolChoice::Named(name.to_string())),
        _ => ToolChoice::Auto,
    };
    Prompt {
        model: model.to_string(),
        last_user_text,
        tool_result,
        tools,
        tool_choice,
        max_tokens: request.get("max_output_tokens").and_then(Value::as_u64),
        stop: Vec::new(),
    }
}

/// One answer rendered as a `response` object or its event stream, sharing ids and usage.
pub(crate) struct Reply {
    id: String,
    created_at: u64,
    model: String,
    answer: Answer,
    usage: Usage,
}

impl Reply {
    fn new(request: &Value, model: &str, headers: &HeaderMap, answer: Answer) -> Self {
        let input_chars = answer::json_chars(request.get("input").unwrap_or(&Value::Null))
            + answer::json_chars(request.get("instructions").unwrap_or(&Value::Null))
            + answer::json_chars(request.get("tools").unwrap_or(&Value::Null));
        let input = answer::tokens_for_chars(input_chars);
        Self::with_usage(model, answer, input, wire::cached_tokens_header(headers))
    }

    fn with_usage(model: &str, answer: Answer, input: u64, cached: Option<u64>) -> Self {
        let output = match &answer {
            Answer::Text { text, .. } => answer::output_tokens(text),
            Answer::ToolCall {
                name, arguments, ..
            } => answer::output_tokens(&format!("{name}{arguments}")),
        };
        Self {
            id: format!("resp_{}", wire::random_id(48)),
            created_at: wire::unix_now(),
            model: model.to_string(),
            answer,
            usage: Usage {
                input,
                cached: answer::cached_tokens(input, cached, false),
                output,
            },
        }
    }

    /// A plain text reply (the echo modes).
    pub(crate) fn text(model: &str, text: &str) -> Self {
        let answer = Answer::Text {
            text: text.to_string(),
            finish: Finish::Complete,
        };
        Self::with_usage(model, answer, 10, None)
    }

    fn suffix(&self) -> &str {
        self.id.strip_prefix("resp_").unwrap_or(&self.id)
    }

    fn status(&self) -> (&'static str, Value) {
        match &self.answer {
            Answer::Text {
                finish: Finish::Length,
                ..
            } => ("incomplete", json!({"reason": "max_output_tokens"})),
            _ => ("completed", Value::Null),
        }
    }

    /// The one output item, finished or still `in_progress` (then empty, as when added).
    fn item(&self, done: bool) -> Value {
        let status = if done { "completed" } else { "in_progress" };
        match &self.answer {
            Answer::Text { text, .. } => {
                let content = if done {
                    json!([{"type": "output_text", "annotations": [], "logprobs": [], "text": text}])
                } else {
                    json!([])
                };
                json!({"id": format!("msg_{}", self.suffix()), "type": "message", "status": status,
                    "content": content, "role": "assistant"})
            }
            Answer::ToolCall {
                name, arguments, ..
            } => json!({
                "id": format!("fc_{}", self.suffix()), "type": "function_call", "status": status,
                "arguments": if done { arguments.to_string() } else { String::new() },
                "call_id": format!("call_{}", &self.suffix()[..24.min(self.suffix().len())]),
                "name": name
            }),
        }
    }

    fn usage_json(&self) -> Value {
        let u = self.usage;
        json!({
            "input_tokens": u.input,
            "input_tokens_details": {"cached_tokens": u.cached},
            "output_tokens": u.output,
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": u.input + u.output
        })
    }

    /// The `response` object in state `status` ("in_progress" has no output or usage yet).
    pub(crate) fn object(&self, status: &str) -> Value {
        let finished = status != "in_progress";
        let (final_status, incomplete) = self.status();
        json!({
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": if finished { final_status } else { status },
            "background": false,
            "error": null,
            "incomplete_details": if finished { incomplete } else { Value::Null },
            "instructions": null,
            "max_output_tokens": null,
            "model": self.model,
            "output": if finished { json!([self.item(true)]) } else { json!([]) },
            "parallel_tool_calls": true,
            "previous_response_id": null,
            "reasoning": {"effort": null, "summary": null},
            "service_tier": "default",
            "store": false,
            "temperature": 1.0,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": if finished { self.usage_json() } else { Value::Null },
            "user": null,
            "metadata": {}
        })
    }

    /// The event stream; `error` ends it with an `error` event instead of completing.
    pub(crate) fn stream_with(&self, delivery: Delivery, error: Option<&str>) -> Frames {
        let mut events = Events::default();
        let mut frames = Frames::default();
        if delivery == Delivery::MalformedJson {
            let first = events.data(
                "response.created",
                json!({"response": self.object("in_progress")}),
            );
            let text = first.to_string();
            frames.push_raw(
                Some("response.created"),
                &format!("{}<<not json", answer::first_chars(&text, text.len() / 2)),
            );
            return frames;
        }
        let progress = json!({"response": self.object("in_progress")});
        events.push(&mut frames, "response.created", progress.clone());
        events.push(&mut frames, "response.in_progress", progress);
        let item = self.item(false);
        let item_id = item["id"].clone();
        events.push(
            &mut frames,
            "response.output_item.added",
            json!({"output_index": 0, "item": item}),
        );
        match &self.answer {
            Answer::Text { text, .. } => {
                let empty =
                    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": ""});
                let at = json!({"item_id": item_id, "output_index": 0, "content_index": 0});
                events.push(
                    &mut frames,
                    "response.content_part.added",
                    with(&at, "part", empty),
                );
                for piece in answer::word_pieces(text) {
                    let delta = with(&with(&at, "delta", json!(piece)), "logprobs", json!([]));
                    events.push_delta(&mut frames, "response.output_text.delta", delta);
                }
                if let Some(e) = error {
                    events.push(
                        &mut frames,
                        "error",
                        json!({"code": "server_error", "message": e, "param": null}),
                    );
                    return frames;
                }
                let done = with(&with(&at, "text", json!(text)), "logprobs", json!([]));
                events.push(&mut frames, "response.output_text.done", done);
                let part =
                    json!({"type": "output_text", "annotations": [], "logprobs": [], "text": text});
                events.push(
                    &mut frames,
                    "response.content_part.done",
                    with(&at, "part", part),
                );
            }
            Answer::ToolCall { arguments, .. } => {
                let at = json!({"item_id": item_id, "output_index": 0});
                let args = arguments.to_string();
                for piece in answer::json_pieces(&args) {
                    events.push_delta(
                        &mut frames,
                        "response.function_call_arguments.delta",
                        with(&at, "delta", json!(piece)),
                    );
                }
                events.push(
                    &mut frames,
                    "response.function_call_arguments.done",
                    with(&at, "arguments", json!(args)),
                );
            }
        }
        events.push(
            &mut frames,
            "response.output_item.done",
            json!({"output_index": 0, "item": self.item(true)}),
        );
        let (status, _) = self.status();
        let name = if status == "incomplete" {
            "response.incomplete"
        } else {
            "response.completed"
        };
        events.push(&mut frames, name, json!({"response": self.object(status)}));
        frames
    }

    fn stream(&self, delivery: Delivery) -> Frames {
        self.stream_with(delivery, None)
    }
}

/// `base` with one more field.
fn with(base: &Value, key: &str, value: Value) -> Value {
    let mut v = base.clone();
    if let Some(o) = v.as_object_mut() {
        o.insert(key.to_string(), value);
    }
    v
}

/// Numbers the events: `type` and `sequence_number` first, as the API sends them.
#[derive(Default)]
struct Events {
    sequence: u64,
}

impl Events {
    fn data(&mut self, name: &str, fields: Value) -> Value {
        let mut event = Map::new();
        event.insert("type".into(), json!(name));
        event.insert("sequence_number".into(), json!(self.sequence));
        if let Value::Object(f) = fields {
            event.extend(f);
        }
        self.sequence += 1;
        Value::Object(event)
    }

    fn push(&mut self, frames: &mut Frames, name: &str, fields: Value) {
        let data = self.data(name, fields);
        frames.push(Some(name), &data);
    }

    fn push_delta(&mut self, frames: &mut Frames, name: &str, fields: Value) {
        let data = self.data(name, fields);
        frames.push_delta(Some(name), &data);
    }
}
