//! Wire formats ⇄ the internal model (`types`): OpenAI Chat Completions, Anthropic
//! Messages and OpenAI Responses, requests, responses and streams, plus the SSE codec. Pure conversions: no
//! network, no routing, no metering.
//!
//! Each format module offers the same functions. Client side: `parse_request`,
//! `untranslatable_fields`, `render_response`, `StreamRenderer`. Provider side:
//! `build_request`, `parse_response`, `parse_usage`, `StreamDecoder`. The dispatch below
//! (and [`StreamDecoder`] / [`StreamRenderer`]) is the one place that matches on the format.
//!
//! `untranslatable_fields` names what cannot leave the client's wire for *another* one; the
//! lists are written against the strictest target (Anthropic for both OpenAI wires), so a
//! Responses request to a Chat-Completions-only model is held to the same list.
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
//! | OpenAI `finish_reason`            | internal `StopReason`                    | Anthropic `stop_reason`  | Responses `status` (3)                       |
//! |-----------------------------------|------------------------------------------|--------------------------|----------------------------------------------|
//! | `stop`                            | `EndTurn`                                | `end_turn`               | `completed`                                  |
//! | `stop` (1)                        | `StopSequence`                           | `stop_sequence`          | `completed` (no stop sequences: refused in)  |
//! | `length`                          | `MaxTokens`                              | `max_tokens`             | `incomplete` + `max_output_tokens`           |
//! | `tool_calls` (`function_call` in) | `ToolUse`                                | `tool_use`               | `completed` with `function_call` items       |
//! | `content_filter`                  | `ContentFilter`                          | `refusal`                | `incomplete` + `content_filter`              |
//! | `stop` + `message.refusal` (2)    | `Refusal`                                | `refusal`                | `completed` with a `refusal` part            |
//! | `length`                          | `Other("model_context_window_exceeded")` | verbatim                 | `incomplete` + `max_output_tokens`           |
//! | `stop`                            | `Other("pause_turn")`                    | verbatim                 | `completed`                                  |
//! | verbatim                          | `Other(x)`                               | verbatim                 | `completed` (in: other statuses, verbatim)   |
//!
//! (1) OpenAI does not say whether a stop sequence matched, so OpenAI `stop` always parses
//! as `EndTurn`: an Anthropic client routed to OpenAI sees `end_turn` and a null
//! `stop_sequence` even when one of its stop sequences ended the answer.
//! (2) An OpenAI `message.refusal` (or streamed `delta.refusal`) parses as text plus
//! `Refusal`. A non-streamed `Refusal` with text renders as OpenAI's `message.refusal`
//! (content null, `finish_reason: "stop"`), exactly how OpenAI reports a refusal; with no
//! text, or in a stream (where the text has already gone out as content), it renders as
//! `content_filter`.
//! (3) The Responses API has no finish reason: a `completed` response holding a
//! `function_call` item parses as `ToolUse`, one holding a `refusal` part as `Refusal`
//! (rendered back as a refusal part when not streamed; a stream's text has already gone out
//! as `output_text`). `incomplete_details.reason` tells the two `incomplete` cases apart.
//!
//! ## Usage
//!
//! Internal `Usage.input_tokens` counts every prompt token. OpenAI `prompt_tokens` already
//! does (its `prompt_tokens_details.cached_tokens` is a subset) and maps 1:1; cache writes
//! are 0. Responses `input_tokens` likewise (`input_tokens_details.cached_tokens` and
//! `cache_write_tokens` are subsets), and its `output_tokens` include
//! `output_tokens_details.reasoning_tokens` (billed as output either way; rendered as 0
//! when the answer came from another wire). Anthropic `input_tokens` excludes
//! `cache_read_input_tokens` and `cache_creation_input_tokens`: parsing adds both,
//! rendering subtracts both (`Usage::uncached_input_tokens`).
//!
//! | internal              | Chat Completions                        | Anthropic Messages                       | Responses                                 |
//! |-----------------------|-----------------------------------------|------------------------------------------|-------------------------------------------|
//! | `input_tokens`        | `prompt_tokens`                         | `input_tokens` + cache read + cache write | `input_tokens`                           |
//! | `cache_read_tokens`   | `prompt_tokens_details.cached_tokens`   | `cache_read_input_tokens`                | `input_tokens_details.cached_tokens`      |
//! | `cache_write_tokens`  | 0                                       | `cache_creation_input_tokens`            | `input_tokens_details.cache_write_tokens` |
//! | `output_tokens`       | `completion_tokens`                     | `output_tokens`                          | `output_tokens` (reasoning included)      |
//!
//! ## Deliberate losses (no effect on the answer)
//!
//! `cache_control` only steers prompt caching: OpenAI caches automatically, so it is
//! dropped going there; on Anthropic images and tool_use blocks it is dropped, and on a
//! tool_result it moves to the result's last text block. OpenAI `developer` messages
//! become `system` (OpenAI treats them alike). Thinking blocks in Anthropic answers are
//! skipped (frugal does not carry them; see `anthropic::StreamDecoder::skipped_blocks`).
//! Reasoning items in Responses answers are skipped likewise; in Responses *requests* they
//! are untranslatable (forwarded only to OpenAI).

pub mod anthropic;
mod check;
pub mod error;
pub mod openai;
pub mod responses;
mod shared;
pub mod sse;
pub mod types;

pub use sse::{SseDecoder, SseEvent};

use bytes::Bytes;
use serde_json::Value;

use crate::error::Result;
use crate::types::{ChatRequest, ChatResponse, Format, Part, StreamEvent};

// The one dispatch on the wire format: callers name the format, never match on it.

/// A client body of `format` → the internal request.
pub fn parse_request(format: Format, body: &Value) -> Result<ChatRequest> {
    match format {
        Format::OpenAi => openai::parse_request(body),
        Format::Anthropic => anthropic::parse_request(body),
        Format::Responses => responses::parse_request(body),
    }
}

/// Fields of a client body of `format` that the other format cannot express.
pub fn untranslatable_fields(format: Format, body: &Value) -> Vec<String> {
    match format {
        Format::OpenAi => openai::untranslatable_fields(body),
        Format::Anthropic => anthropic::untranslatable_fields(body),
        Format::Responses => responses::untranslatable_fields(body),
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
        Format::Responses => responses::build_request(req, model, opts),
    }
}

/// A provider answer of `format` → the internal response.
pub fn parse_response(format: Format, body: &Value) -> Result<ChatResponse> {
    match format {
        Format::OpenAi => openai::parse_response(body),
        Format::Anthropic => anthropic::parse_response(body),
        Format::Responses => responses::parse_response(body),
    }
}

/// The internal response → an answer in the client's `format`.
pub fn render_response(format: Format, resp: &ChatResponse) -> Value {
    match format {
        Format::OpenAi => openai::render_response(resp),
        Format::Anthropic => anthropic::render_response(resp),
        Format::Responses => responses::render_response(resp),
    }
}

/// A provider stream decoder of any format.
#[derive(Debug)]
pub enum StreamDecoder {
    OpenAi(openai::StreamDecoder),
    Anthropic(anthropic::StreamDecoder),
    Responses(responses::StreamDecoder),
}

impl StreamDecoder {
    /// A decoder for a provider stream of `format`.
    pub fn new(format: Format) -> StreamDecoder {
        match format {
            Format::OpenAi => StreamDecoder::OpenAi(openai::StreamDecoder::new()),
            Format::Anthropic => StreamDecoder::Anthropic(anthropic::StreamDecoder::new()),
            Format::Responses => StreamDecoder::Responses(responses::StreamDecoder::new()),
        }
    }

    /// Neutral events for one upstream SSE event.
    pub fn decode(&mut self, ev: &SseEvent) -> Result<Vec<StreamEvent>> {
        match self {
            StreamDecoder::OpenAi(d) => d.decode(ev),
            StreamDecoder::Anthropic(d) => d.decode(ev),
            StreamDecoder::Responses(d) => d.decode(ev),
        }
    }
}

/// A client stream renderer of any format.
#[derive(Debug)]
pub enum StreamRenderer {
    OpenAi(openai::StreamRenderer),
    Anthropic(anthropic::StreamRenderer),
    Responses(responses::StreamRenderer),
}

impl StreamRenderer {
    /// A renderer for a client of `format`; `include_usage` is the request's
    /// `stream_options.include_usage` (only Chat Completions makes usage optional).
    pub fn new(format: Format, include_usage: bool) -> StreamRenderer {
        match format {
            Format::OpenAi => StreamRenderer::OpenAi(openai::StreamRenderer::new(include_usage)),
            Format::Anthropic => StreamRenderer::Anthropic(anthropic::StreamRenderer::new()),
            Format::Responses => StreamRenderer::Responses(responses::StreamRenderer::new()),
        }
    }

    /// Fix the creation time stamped on frames (golden tests).
    pub fn with_created(self, created: u64) -> StreamRenderer {
        match self {
            StreamRenderer::OpenAi(r) => StreamRenderer::OpenAi(r.with_created(created)),
            StreamRenderer::Responses(r) => StreamRenderer::Responses(r.with_created(created)),
            other => other,
        }
    }

    /// The client frames for one neutral event.
    pub fn render(&mut self, ev: &StreamEvent) -> Vec<Bytes> {
        match self {
            StreamRenderer::OpenAi(r) => r.render(ev),
            StreamRenderer::Anthropic(r) => r.render(ev),
            StreamRenderer::Responses(r) => r.render(ev),
        }
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
    let mut r = StreamRenderer::new(format, include_usage);
    events_of(resp).iter().flat_map(|e| r.render(e)).collect()
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
