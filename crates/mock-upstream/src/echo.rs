//! `echo-key-*` fault modes: a provider that quotes the credential it was sent back to the
//! caller in every form it can — inside `api_key=…`, `(key=…)`, `credential=…`, after a line
//! break, as a Bearer header, percent-encoded, base64 (of `user:key` and of `Bearer key`),
//! hex — in a JSON error (400, 429, 500), a text/plain 500, an SSE error event after the
//! stream began, and a 200 answer's own text. Tests use it to prove the gateway never lets
//! a key it holds reach a client or a log.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::{json, Value};

use crate::wire::{self, Frames};

/// Which way the key is echoed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Echo {
    /// The provider's JSON error with this status (400, 429 or 500).
    Json(u16),
    /// A text/plain 500.
    Text,
    /// A stream that starts, then ends with an error event quoting the key.
    StreamError,
    /// A normal 200 answer (or stream) whose text is the echo.
    Answer,
}

/// The wire formats, for the error and stream shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    OpenAi,
    Anthropic,
    Responses,
}

const MODES: [(&str, Echo); 6] = [
    ("echo-key-400", Echo::Json(400)),
    ("echo-key-429", Echo::Json(429)),
    ("echo-key-500", Echo::Json(500)),
    ("echo-key-text", Echo::Text),
    ("echo-key-stream", Echo::StreamError),
    ("echo-key-answer", Echo::Answer),
];

/// The echo mode named by the fault header (exactly) or anywhere in the model name.
pub fn parse(model: &str, header: Option<&str>) -> Option<Echo> {
    if let Some(h) = header.map(str::trim) {
        if let Some((_, e)) = MODES.iter().find(|(name, _)| *name == h) {
            return Some(*e);
        }
    }
    MODES
        .iter()
        .find(|(name, _)| model.contains(name))
        .map(|(_, e)| *e)
}

/// The credential the request carried (`Authorization: Bearer` or `x-api-key`).
fn credential(headers: &HeaderMap) -> String {
    let bearer = wire::header_str(headers, "authorization").and_then(|v| v.strip_prefix("Bearer "));
    bearer
        .or_else(|| wire::header_str(headers, "x-api-key"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Every form of the key in one message.
pub fn echo_text(key: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let percent: String = key.bytes().map(|b| format!("%{b:02X}")).collect();
    let hex: String = key.bytes().map(|b| format!("{b:02x}")).collect();
    format!(
        "Invalid request for api_key={key}; (key={key}); credential={key}. key:\n{key}\n\
         Authorization: Bearer {key} url=https://mock.invalid/v1?key={percent} \
         basic={} bearer64={} hex={hex}",
        b64(&format!("user:{key}")),
        b64(&format!("Bearer {key}")),
    )
}

/// The response for an echo mode.
pub fn respond(
    echo: Echo,
    style: Style,
    headers: &HeaderMap,
    model: &str,
    stream: bool,
) -> Response {
    let text = echo_text(&credential(headers));
    let rid = ("x-request-id", "req_echo");
    match echo {
        Echo::Json(status) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut r = wire::error_response(status, &error_json(style, &text), rid);
            if status == StatusCode::TOO_MANY_REQUESTS {
                wire::set_header(&mut r, "retry-after", "1");
            }
            r
        }
        Echo::Text => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            format!("upstream proxy error: {text}"),
        )
            .into_response(),
        Echo::StreamError if !stream => respond(Echo::Json(500), style, headers, model, false),
        Echo::StreamError => stream_frames(style, model, "partial answer", Some(&text))
            .into_response(crate::faults::Delivery::Normal, rid),
        Echo::Answer if stream => stream_frames(style, model, &text, None)
            .into_response(crate::faults::Delivery::Normal, rid),
        Echo::Answer => wire::json_response(
            &answer_json(style, model, &text),
            crate::faults::Delivery::Normal,
            rid,
        ),
    }
}

fn error_json(style: Style, text: &str) -> Value {
    match style {
        Style::OpenAi | Style::Responses => {
            json!({"error": {"message": text, "type": "server_error", "param": null, "code": null}})
        }
        Style::Anthropic => {
            json!({"type": "error", "error": {"type": "api_error", "message": text}})
        }
    }
}

fn answer_json(style: Style, model: &str, text: &str) -> Value {
    match style {
        Style::Responses => crate::responses::Reply::text(model, text).object("completed"),
        Style::OpenAi => json!({
            "id": "chatcmpl-echo", "object": "chat.completion", "created": wire::unix_now(),
            "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "logprobs": null, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 20, "total_tokens": 30}
        }),
        Style::Anthropic => json!({
            "id": "msg_echo", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn", "stop_sequence": null,
            "usage": {"input_tokens": 10, "output_tokens": 20}
        }),
    }
}

/// A stream carrying `content`, then either a normal end or an error event with `error`.
fn stream_frames(style: Style, model: &str, content: &str, error: Option<&str>) -> Frames {
    let mut f = Frames::default();
    match style {
        Style::Responses => {
            return crate::responses::Reply::text(model, content)
                .stream_with(crate::faults::Delivery::Normal, error);
        }
        Style::OpenAi => {
            let chunk = |delta: Value, finish: Option<&str>| {
                json!({"id": "chatcmpl-echo", "object": "chat.completion.chunk",
                       "created": wire::unix_now(), "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
            };
            f.push(
                None,
                &chunk(json!({"role": "assistant", "content": ""}), None),
            );
            f.push(None, &chunk(json!({"content": content}), None));
            match error {
                Some(e) => f.push(None, &error_json(style, e)),
                None => {
                    f.push(None, &chunk(json!({}), Some("stop")));
                    f.push_raw(None, "[DONE]");
                }
            }
        }
        Style::Anthropic => {
            f.push(
                Some("message_start"),
                &json!({"type": "message_start", "message": {
                "id": "msg_echo", "type": "message", "role": "assistant", "model": model,
                "content": [], "stop_reason": null, "stop_sequence": null,
                "usage": {"input_tokens": 10, "output_tokens": 1}}}),
            );
            f.push(
                Some("content_block_start"),
                &json!({"type": "content_block_start", "index": 0,
                "content_block": {"type": "text", "text": ""}}),
            );
            f.push(
                Some("content_block_delta"),
                &json!({"type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": content}}),
            );
            match error {
                Some(e) => f.push(Some("error"), &error_json(style, e)),
                None => {
                    f.push(
                        Some("content_block_stop"),
                        &json!({"type": "content_block_stop", "index": 0}),
                    );
                    f.push(
                        Some("message_delta"),
                        &json!({"type": "message_delta",
                        "delta": {"stop_reason": "end_turn", "stop_sequence": null},
                        "usage": {"output_tokens": 20}}),
                    );
                    f.push(Some("message_stop"), &json!({"type": "message_stop"}));
                }
            }
        }
    }
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_forms() {
        assert_eq!(parse("gpt-echo-key-429", None), Some(Echo::Json(429)));
        assert_eq!(parse("gpt", Some("echo-key-text")), Some(Echo::Text));
        assert_eq!(parse("gpt", None), None);
        let t = echo_text("sk-abc-123456");
        assert!(t.contains("api_key=sk-abc-123456;"));
        assert!(t.contains("key:\nsk-abc-123456"));
        assert!(
            t.contains(&base64::engine::general_purpose::STANDARD.encode("Bearer sk-abc-123456"))
        );
    }
}
