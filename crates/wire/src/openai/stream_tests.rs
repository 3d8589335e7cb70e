//! Tests for the OpenAI stream decoder and renderer.

use super::*;
use crate::error::WireError;

fn sse(data: &str) -> SseEvent {
    SseEvent {
        event: None,
        data: data.to_string(),
    }
}

fn decode_all(chunks: &[Value]) -> Vec<StreamEvent> {
    let mut d = StreamDecoder::new();
    chunks
        .iter()
        .flat_map(|c| d.decode(&sse(&c.to_string())).unwrap())
        .collect()
}

fn chunk(delta: Value, finish: Value) -> Value {
    json!({"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o",
        "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}], "usage": null})
}

#[test]
fn decodes_text_finish_usage_done() {
    let mut d = StreamDecoder::new();
    let mut events = decode_all(&[
        chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ),
        chunk(json!({"content": "Hel"}), Value::Null),
        chunk(json!({"content": "lo"}), Value::Null),
        chunk(json!({}), json!("length")),
        json!({"id": "chatcmpl-1", "choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2,
            "prompt_tokens_details": {"cached_tokens": 4}}}),
    ]);
    events.extend(d.decode(&sse("[DONE]")).unwrap());
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "chatcmpl-1".into(),
                model: "gpt-4o".into(),
                usage: Usage::default()
            },
            StreamEvent::TextDelta { text: "Hel".into() },
            StreamEvent::TextDelta { text: "lo".into() },
            StreamEvent::Finish {
                stop_reason: StopReason::MaxTokens,
                stop_sequence: None
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: 9,
                    output_tokens: 2,
                    cache_read_tokens: 4,
                    cache_write_tokens: 0
                }
            },
            StreamEvent::Done,
        ]
    );
}

#[test]
fn decodes_parallel_tool_calls() {
    let events = decode_all(&[
        chunk(
            json!({"role": "assistant", "content": null, "tool_calls": [
            {"index": 0, "id": "call_a", "type": "function", "function": {"name": "get", "arguments": ""}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "{\"q\":"}}]}),
            Value::Null,
        ),
        chunk(
            json!({"tool_calls": [{"index": 0, "function": {"arguments": "1}"}}]}),
            Value::Null,
        ),
        // Some compatible servers send a whole call in one chunk.
        chunk(
            json!({"tool_calls": [{"index": 1, "id": "call_b", "type": "function",
            "function": {"name": "put", "arguments": "{}"}}]}),
            Value::Null,
        ),
        chunk(json!({}), json!("tool_calls")),
    ]);
    assert_eq!(
        events[1..],
        [
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_a".into(),
                name: "get".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{\"q\":".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "1}".into()
            },
            StreamEvent::ToolCallStart {
                index: 1,
                id: "call_b".into(),
                name: "put".into()
            },
            StreamEvent::ToolCallDelta {
                index: 1,
                arguments: "{}".into()
            },
            StreamEvent::Finish {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None
            },
        ]
    );
}

#[test]
fn decodes_refusal_error_and_skips_noise() {
    let events = decode_all(&[
        json!({"id": "", "choices": [], "prompt_filter_results": []}),
        chunk(json!({"refusal": "No."}), Value::Null),
        chunk(json!({}), json!("stop")),
        json!({"error": {"message": "boom", "type": "server_error"}}),
    ]);
    assert_eq!(
        events[1..],
        [
            StreamEvent::TextDelta { text: "No.".into() },
            StreamEvent::Finish {
                stop_reason: StopReason::Refusal,
                stop_sequence: None
            },
            StreamEvent::Error {
                kind: "server_error".into(),
                message: "boom".into()
            },
        ]
    );
    let mut d = StreamDecoder::new();
    assert_eq!(d.decode(&sse("")).unwrap(), vec![]);
    assert!(
        matches!(d.decode(&sse("{nope")), Err(WireError::Internal(m)) if m.starts_with("malformed openai response: stream chunk: invalid JSON"))
    );
    assert!(matches!(d.decode(&sse("[1]")), Err(WireError::Internal(_))));
}

fn text(frames: &[Bytes]) -> String {
    frames
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

fn datas(frames: &[Bytes]) -> Vec<Value> {
    text(frames)
        .split("\n\n")
        .filter(|f| !f.is_empty())
        .map(|f| {
            let d = f.strip_prefix("data: ").unwrap();
            if d == "[DONE]" {
                json!("[DONE]")
            } else {
                serde_json::from_str(d).unwrap()
            }
        })
        .collect()
}

fn render_all(r: &mut StreamRenderer, events: &[StreamEvent]) -> Vec<Bytes> {
    events.iter().flat_map(|e| r.render(e)).collect()
}

fn start() -> StreamEvent {
    StreamEvent::Start {
        id: "msg_1".into(),
        model: "claude".into(),
        usage: Usage {
            input_tokens: 10,
            ..Usage::default()
        },
    }
}

#[test]
fn renders_usage_chunk_only_when_asked() {
    let events = [
        start(),
        StreamEvent::TextDelta { text: "hi".into() },
        StreamEvent::Finish {
            stop_reason: StopReason::EndTurn,
            stop_sequence: None,
        },
        StreamEvent::Usage {
            usage: Usage {
                output_tokens: 3,
                ..Usage::default()
            },
        },
        StreamEvent::Done,
    ];
    let with = datas(&render_all(
        &mut StreamRenderer::new(true).with_created(7),
        &events,
    ));
    assert_eq!(with.len(), 5);
    assert_eq!(
        with[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    assert_eq!(with[0]["usage"], Value::Null);
    assert_eq!(with[0]["created"], 7);
    assert_eq!(with[1]["choices"][0]["delta"], json!({"content": "hi"}));
    assert_eq!(with[2]["choices"][0]["finish_reason"], "stop");
    assert_eq!(with[3]["choices"], json!([]));
    assert_eq!(with[3]["usage"]["prompt_tokens"], 10);
    assert_eq!(with[3]["usage"]["completion_tokens"], 3);
    assert_eq!(with[4], "[DONE]");
    let without = datas(&render_all(&mut StreamRenderer::new(false), &events));
    assert_eq!(without.len(), 4);
    assert!(without[0].get("usage").is_none());
    assert_eq!(without[3], "[DONE]");
}

#[test]
fn renders_tool_calls_and_bare_finish() {
    let events = [
        StreamEvent::Finish {
            stop_reason: StopReason::ToolUse,
            stop_sequence: None,
        },
        StreamEvent::Done,
    ];
    let frames = datas(&render_all(&mut StreamRenderer::new(false), &events));
    assert_eq!(frames.len(), 3, "role chunk is emitted even without Start");
    assert_eq!(frames[1]["choices"][0]["finish_reason"], "tool_calls");
    let events = [
        start(),
        StreamEvent::ToolCallStart {
            index: 0,
            id: "toolu_1".into(),
            name: "f".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{}".into(),
        },
    ];
    let frames = datas(&render_all(&mut StreamRenderer::new(false), &events));
    assert_eq!(
        frames[1]["choices"][0]["delta"],
        json!({"tool_calls": [{"index": 0, "id": "toolu_1", "type": "function", "function": {"name": "f", "arguments": ""}}]})
    );
    assert_eq!(
        frames[2]["choices"][0]["delta"],
        json!({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]})
    );
}

#[test]
fn error_ends_the_stream() {
    let mut r = StreamRenderer::new(true);
    let frames = render_all(
        &mut r,
        &[
            start(),
            StreamEvent::Error {
                kind: "overloaded_error".into(),
                message: "Overloaded".into(),
            },
            StreamEvent::Done,
        ],
    );
    let all = datas(&frames);
    assert_eq!(all.len(), 2);
    assert_eq!(
        all[1],
        json!({"error": {"message": "Overloaded", "type": "server_error", "param": null, "code": null}})
    );
    assert_eq!(error_type("rate_limit_error"), "rate_limit_error");
    assert_eq!(error_type("not_found_error"), "invalid_request_error");
}
