//! Tests for the Anthropic stream decoder and renderer.

use super::*;
use crate::error::WireError;

fn sse(name: &str, data: Value) -> SseEvent {
    SseEvent {
        event: Some(name.to_string()),
        data: data.to_string(),
    }
}

fn decode_all(events: &[(&str, Value)]) -> (Vec<StreamEvent>, StreamDecoder) {
    let mut d = StreamDecoder::new();
    let out = events
        .iter()
        .flat_map(|(n, v)| d.decode(&sse(n, v.clone())).unwrap())
        .collect();
    (out, d)
}

#[test]
fn decodes_a_full_stream() {
    let (events, d) = decode_all(&[
        (
            "message_start",
            json!({"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
            "content": [], "model": "claude-x", "stop_reason": null, "stop_sequence": null,
            "usage": {"input_tokens": 5, "cache_creation_input_tokens": 10, "cache_read_input_tokens": 100, "output_tokens": 1}}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "thinking", "thinking": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "hm"}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "s"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
        ),
        ("ping", json!({"type": "ping"})),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Hi"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 2, "content_block": {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}}),
        ),
        (
            "content_block_delta",
            json!({"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": "{\"a\":1}"}}),
        ),
        (
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 2}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null}, "usage": {"output_tokens": 12}}),
        ),
        ("message_stop", json!({"type": "message_stop"})),
    ]);
    assert!(d.skipped_blocks());
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "msg_1".into(),
                model: "claude-x".into(),
                usage: Usage {
                    input_tokens: 115,
                    output_tokens: 1,
                    cache_read_tokens: 100,
                    cache_write_tokens: 10
                }
            },
            StreamEvent::TextDelta { text: "Hi".into() },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "toolu_1".into(),
                name: "f".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"a\":1}".into()
            },
            StreamEvent::Finish {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None
            },
            StreamEvent::Usage {
                usage: Usage {
                    output_tokens: 12,
                    ..Usage::default()
                }
            },
            StreamEvent::Done,
        ]
    );
}

#[test]
fn decodes_errors_and_rejects_garbage() {
    let (events, _) = decode_all(&[
        (
            "error",
            json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
        ),
        (
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": "pre"}}),
        ),
        (
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": "stop_sequence", "stop_sequence": "###"}}),
        ),
    ]);
    assert_eq!(
        events,
        vec![
            StreamEvent::Error {
                kind: "overloaded_error".into(),
                message: "Overloaded".into()
            },
            StreamEvent::TextDelta { text: "pre".into() },
            StreamEvent::Finish {
                stop_reason: StopReason::StopSequence,
                stop_sequence: Some("###".into())
            },
        ]
    );
    let mut d = StreamDecoder::new();
    let bad = SseEvent {
        event: None,
        data: "{".into(),
    };
    assert!(
        matches!(d.decode(&bad), Err(WireError::Internal(m)) if m.starts_with("malformed anthropic response: stream event: invalid JSON"))
    );
    let no_index = sse(
        "content_block_start",
        json!({"type": "content_block_start", "content_block": {"type": "text"}}),
    );
    assert!(
        matches!(d.decode(&no_index), Err(WireError::Internal(m)) if m.ends_with("stream event.index: is required"))
    );
}

/// (event name, data) pairs of rendered frames.
fn frames(r: &mut StreamRenderer, events: &[StreamEvent]) -> Vec<(String, Value)> {
    let text: String = events
        .iter()
        .flat_map(|e| r.render(e))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .collect();
    let mut d = crate::sse::SseDecoder::new();
    d.push(text.as_bytes())
        .into_iter()
        .map(|e| {
            (
                e.event.unwrap_or_default(),
                serde_json::from_str(&e.data).unwrap(),
            )
        })
        .collect()
}

fn names(f: &[(String, Value)]) -> Vec<&str> {
    f.iter().map(|(n, _)| n.as_str()).collect()
}

#[test]
fn renders_text_then_tools_with_usage_after_finish() {
    let mut r = StreamRenderer::new();
    let f = frames(
        &mut r,
        &[
            StreamEvent::Start {
                id: "chatcmpl-1".into(),
                model: "gpt-4o".into(),
                usage: Usage::default(),
            },
            StreamEvent::TextDelta { text: "".into() },
            StreamEvent::TextDelta {
                text: "Let me look.".into(),
            },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_a".into(),
                name: "f".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"x\":".into(),
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_b".into(),
                name: "g".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "1}".into(),
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                arguments: "{}".into(),
            },
            StreamEvent::Finish {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None,
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: 50,
                    output_tokens: 9,
                    cache_read_tokens: 20,
                    cache_write_tokens: 0,
                },
            },
            StreamEvent::Done,
            StreamEvent::TextDelta {
                text: "ignored".into(),
            },
        ],
    );
    assert_eq!(
        names(&f),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_stop",
            "content_block_start",
            "content_block_delta",
            "content_block_delta",
            "content_block_stop",
            "message_delta",
            "message_stop"
        ]
    );
    assert_eq!(f[0].1["message"]["usage"]["input_tokens"], 0);
    assert_eq!(
        f[4].1["content_block"],
        json!({"type": "tool_use", "id": "call_a", "name": "f", "input": {}})
    );
    assert_eq!(f[7].1["index"], 2);
    // A late delta for an already closed block still goes to that block's index.
    assert_eq!(f[8].1["index"], 1);
    assert_eq!(
        f[11].1,
        json!({"type": "message_delta", "delta": {"stop_reason": "tool_use", "stop_sequence": null},
            "usage": {"input_tokens": 30, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 20, "output_tokens": 9}})
    );
}

#[test]
fn finish_without_content_is_well_formed() {
    let f = frames(
        &mut StreamRenderer::new(),
        &[
            StreamEvent::Finish {
                stop_reason: StopReason::MaxTokens,
                stop_sequence: None,
            },
            StreamEvent::Done,
        ],
    );
    assert_eq!(
        names(&f),
        ["message_start", "message_delta", "message_stop"]
    );
    assert_eq!(f[1].1["delta"]["stop_reason"], "max_tokens");
}

#[test]
fn error_frame_ends_the_stream() {
    let f = frames(
        &mut StreamRenderer::new(),
        &[
            StreamEvent::TextDelta { text: "par".into() },
            StreamEvent::Error {
                kind: "server_error".into(),
                message: "upstream died".into(),
            },
            StreamEvent::Done,
        ],
    );
    assert_eq!(
        names(&f),
        [
            "message_start",
            "content_block_start",
            "content_block_delta",
            "error"
        ]
    );
    assert_eq!(
        f[3].1,
        json!({"type": "error", "error": {"type": "api_error", "message": "upstream died"}})
    );
    assert_eq!(error_type("overloaded_error"), "overloaded_error");
    assert_eq!(error_type("rate_limit_error"), "rate_limit_error");
}
