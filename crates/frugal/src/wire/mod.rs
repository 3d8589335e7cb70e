//! Wire formats ⇄ the internal model (`types`): OpenAI Chat Completions and Anthropic
//! Messages, requests, responses and streams, plus the SSE codec. Pure conversions: no
//! network, no routing, no metering.
//!
//! Each format module offers the same functions. Client side: `parse_request`,
//! `untranslatable_fields`, `render_response`, `StreamRenderer`. Provider side:
//! `build_request`, `parse_response`, `parse_usage`, `StreamDecoder`.
//!
//! ## Leniency contract
//!
//! `parse_request` accepts every valid request of its format, including features the
//! internal model cannot carry (audio parts, document blocks, thinking blocks, `seed`...):
//! when the client and provider formats match, the gateway forwards the client's body
//! itself, so those features still reach the provider. Such features are skipped in the
//! [`ChatRequest`](crate::types::ChatRequest), and `untranslatable_fields` names every one
//! of them, so a request crossing formats is refused rather than silently degraded.
//!
//! ## Stop reasons
//!
//! | OpenAI `finish_reason`            | internal `StopReason`                    | Anthropic `stop_reason`  |
//! |-----------------------------------|------------------------------------------|--------------------------|
//! | `stop`                            | `EndTurn`                                | `end_turn`               |
//! | `stop` (1)                        | `StopSequence`                           | `stop_sequence`          |
//! | `length`                          | `MaxTokens`                              | `max_tokens`             |
//! | `tool_calls` (`function_call` in) | `ToolUse`                                | `tool_use`               |
//! | `content_filter`                  | `ContentFilter`                          | `refusal`                |
//! | `stop` + `message.refusal` (2)    | `Refusal`                                | `refusal`                |
//! | `length`                          | `Other("model_context_window_exceeded")` | verbatim                 |
//! | `stop`                            | `Other("pause_turn")`                    | verbatim                 |
//! | verbatim                          | `Other(x)`                               | verbatim                 |
//!
//! (1) OpenAI does not say whether a stop sequence matched, so OpenAI `stop` always parses
//! as `EndTurn`: an Anthropic client routed to OpenAI sees `end_turn` and a null
//! `stop_sequence` even when one of its stop sequences ended the answer.
//! (2) An OpenAI `message.refusal` (or streamed `delta.refusal`) parses as text plus
//! `Refusal`. A non-streamed `Refusal` with text renders as OpenAI's `message.refusal`
//! (content null, `finish_reason: "stop"`), exactly how OpenAI reports a refusal; with no
//! text, or in a stream (where the text has already gone out as content), it renders as
//! `content_filter`.
//!
//! ## Usage
//!
//! Internal `Usage.input_tokens` counts every prompt token. OpenAI `prompt_tokens` already
//! does (its `prompt_tokens_details.cached_tokens` is a subset) and maps 1:1; cache writes
//! are 0. Anthropic `input_tokens` excludes `cache_read_input_tokens` and
//! `cache_creation_input_tokens`: parsing adds both, rendering subtracts both
//! (`Usage::uncached_input_tokens`).
//!
//! ## Deliberate losses (no effect on the answer)
//!
//! `cache_control` only steers prompt caching: OpenAI caches automatically, so it is
//! dropped going there; on Anthropic images and tool_use blocks it is dropped, and on a
//! tool_result it moves to the result's last text block. OpenAI `developer` messages
//! become `system` (OpenAI treats them alike). Thinking blocks in Anthropic answers are
//! skipped (frugal does not carry them; see `anthropic::StreamDecoder::skipped_blocks`).

pub mod anthropic;
mod check;
pub mod openai;
mod shared;
pub mod sse;

pub use sse::{SseDecoder, SseEvent};

use serde_json::Value;

use crate::error::Result;
use crate::types::{ChatRequest, ChatResponse, Format, Part, StreamEvent};

// The one dispatch on the wire format: callers name the format, never match on it.

/// A client body of `format` → the internal request.
pub fn parse_request(format: Format, body: &Value) -> Result<ChatRequest> {
    match format {
        Format::OpenAi => openai::parse_request(body),
        Format::Anthropic => anthropic::parse_request(body),
    }
}

/// Fields of a client body of `format` that the other format cannot express.
pub fn untranslatable_fields(format: Format, body: &Value) -> Vec<String> {
    match format {
        Format::OpenAi => openai::untranslatable_fields(body),
        Format::Anthropic => anthropic::untranslatable_fields(body),
    }
}

/// The internal request → a provider body of `format`.
pub fn build_request(
    format: Format,
    req: &ChatRequest,
    model: &str,
    opts: &BuildOptions,
) -> Result<Value> {
    match format {
        Format::OpenAi => openai::build_request(req, model, opts),
        Format::Anthropic => anthropic::build_request(req, model, opts),
    }
}

/// A provider answer of `format` → the internal response.
pub fn parse_response(format: Format, body: &Value) -> Result<ChatResponse> {
    match format {
        Format::OpenAi => openai::parse_response(body),
        Format::Anthropic => anthropic::parse_response(body),
    }
}

/// The internal response → an answer in the client's `format`.
pub fn render_response(format: Format, resp: &ChatResponse) -> Value {
    match format {
        Format::OpenAi => openai::render_response(resp),
        Format::Anthropic => anthropic::render_response(resp),
    }
}

/// A whole answer as the events a stream of it would have carried: start, the text and
/// tool calls in order, finish, usage, done.
pub fn events_of(resp: &ChatResponse) -> Vec<StreamEvent> {
    let mut events = vec![StreamEvent::Start {
        id: resp.id.clone(),
        model: resp.model.clone(),
        usage: crate::types::Usage {
            output_tokens: 0,
            ..resp.usage
        },
    }];
    let mut index = 0u32;
    for part in &resp.content {
        match part {
            Part::Text { text, .. } => events.push(StreamEvent::TextDelta { text: text.clone() }),
            Part::ToolUse { id, name, input } => {
                events.push(StreamEvent::ToolCallStart {
                    index,
                    id: id.clone(),
                    name: name.clone(),
                });
                events.push(StreamEvent::ToolCallDelta {
                    index,
                    arguments: serde_json::to_string(input).unwrap_or_else(|_| "{}".into()),
                });
                index += 1;
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    events.push(StreamEvent::Finish {
        stop_reason: resp
            .stop_reason
            .clone()
            .unwrap_or(crate::types::StopReason::EndTurn),
        stop_sequence: resp.stop_sequence.clone(),
    });
    events.push(StreamEvent::Usage { usage: resp.usage });
    events.push(StreamEvent::Done);
    events
}

/// A whole answer as the client's SSE frames (a verified answer is streamed once checked).
/// `include_usage`: the OpenAI client's `stream_options.include_usage`.
pub fn render_as_stream(
    format: Format,
    resp: &ChatResponse,
    include_usage: bool,
) -> Vec<bytes::Bytes> {
    let events = events_of(resp);
    match format {
        Format::OpenAi => {
            let mut r = openai::StreamRenderer::new(include_usage);
            events.iter().flat_map(|e| r.render(e)).collect()
        }
        Format::Anthropic => {
            let mut r = anthropic::StreamRenderer::new();
            events.iter().flat_map(|e| r.render(e)).collect()
        }
    }
}

/// Provider-side knobs for `build_request` that depend on the chosen model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// The chosen model's output limit. Used as `max_tokens` when the request sets none
    /// and the provider requires one (Anthropic), and caps a larger request (both
    /// providers reject a `max_tokens` above the model's limit, and the model cannot write
    /// more anyway). 0 means "unknown": no cap.
    pub default_max_tokens: u32,
}

impl BuildOptions {
    /// The request's `max_tokens`, capped at the model's limit when that is known.
    pub(crate) fn cap(&self, requested: Option<u32>) -> Option<u32> {
        match requested {
            Some(n) if self.default_max_tokens > 0 => Some(n.min(self.default_max_tokens)),
            other => other,
        }
    }
}
