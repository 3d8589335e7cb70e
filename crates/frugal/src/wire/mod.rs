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
//! | OpenAI `finish_reason`          | internal `StopReason`   | Anthropic `stop_reason`            |
//! |---------------------------------|-------------------------|------------------------------------|
//! | `stop`                          | `EndTurn`               | `end_turn`                         |
//! | `stop` (OpenAI can't tell)      | `StopSequence`          | `stop_sequence` (+`stop_sequence`) |
//! | `length`                        | `MaxTokens`             | `max_tokens`                       |
//! | `tool_calls` / `function_call`  | `ToolUse`               | `tool_use`                         |
//! | `content_filter`                | `ContentFilter`         | `refusal`                          |
//! | `stop` + `message.refusal`  (1) | `Refusal`               | `refusal`                          |
//! | `length`                        | `Other("model_context_window_exceeded")` | verbatim          |
//! | `stop`                          | `Other("pause_turn")`   | verbatim                           |
//! | verbatim                        | `Other(x)`              | verbatim                           |
//!
//! (1) A non-streamed `Refusal` with text renders as OpenAI's `message.refusal` (content
//! null, `finish_reason: "stop"`), exactly how OpenAI reports a refusal; with no text, or in
//! a stream (where the text has already gone out as content), it renders as
//! `content_filter`. OpenAI `stop` never becomes `StopSequence`: OpenAI does not say
//! whether a stop sequence matched, so an Anthropic client routed to OpenAI sees `end_turn`.
//!
//! ## Usage
//!
//! Internal `Usage.input_tokens` counts every prompt token. OpenAI `prompt_tokens` already
//! does (its `prompt_tokens_details.cached_tokens` is a subset) and maps 1:1; cache writes
//! are 0. Anthropic `input_tokens` excludes `cache_read_input_tokens` and
//! `cache_creation_input_tokens`: parsing adds both, rendering subtracts both.

pub mod anthropic;
mod check;
pub mod openai;
mod shared;
pub mod sse;

pub use sse::{SseDecoder, SseEvent};

/// Provider-side knobs for `build_request` that depend on the chosen model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildOptions {
    /// Used as `max_tokens` when the request sets none and the provider requires one
    /// (Anthropic): the chosen model's output limit.
    pub default_max_tokens: u32,
}
