use serde_json::json;

use super::*;

fn sse(name: &str, data: Value) -> SseEvent {
    SseEvent {
        event: Some(name.to_string()),
        data: data.to_string(),
    }
}

fn decode_all(events: &[SseEvent]) -> Vec<StreamEvent> {
    let mut d = StreamDecoder::new();
    events
        .iter()
        .flat_map(|e| match d.decode(e) {
            Ok(v) => v,
            Err(e) => panic!("{e}"),
        })
        .collect()
}

/// Parsed `(event name, data)` pairs of rendered frames.
fn frames(out: &[Bytes]) -> Vec<(String, Value)> {
    let mut dec = crate::sse::SseDecoder::new();
    out.iter()
        .flat_map(|b| dec.push(b))
        .map(|e| {
            let data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
            (e.event.unwrap_or_default(), data)
        })
        .collect()
}

#[test]
fn decoder_reads_text_calls_and_usage() {
    let events = decode_all(&[
        sse(
            "response.created",
            json!({"type": "response.created", "response": {"id": "resp_1", "model": "gpt-5", "status": "in_progress"}}),
        ),
        sse(
            "response.in_progress",
            json!({"type": "response.in_progress", "response": {"id": "resp_1"}}),
        ),
        sse(
            "response.output_text.delta",
            json!({"type": "response.output_text.delta", "item_id": "m", "delta": "Hi"}),
        ),
        sse(
            "response.output_item.added",
            json!({"type": "response.output_item.added", "output_index": 1,
            "item": {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "f", "arguments": ""}}),
        ),
        sse(
            "response.function_call_arguments.delta",
            json!({"type": "response.function_call_arguments.delta", "item_id": "fc_1", "delta": "{}"}),
        ),
        sse(
            "response.function_call_arguments.done",
            json!({"type": "response.function_call_arguments.done", "item_id": "fc_1", "arguments": "{}"}),
        ),
        sse(
            "response.completed",
            json!({"type": "response.completed", "response": {"status": "completed",
            "usage": {"input_tokens": 10, "output_tokens": 4, "input_tokens_details": {"cached_tokens": 8}}}}),
        ),
    ]);
    assert_eq!(
        events,
        vec![
            StreamEvent::Start {
                id: "resp_1".into(),
                model: "gpt-5".into(),
                usage: Usage::default()
            },
            StreamEvent::TextDelta { text: "Hi".into() },
            StreamEvent::ToolCallStart {
                index: 0,
                id: "call_1".into(),
                name: "f".into()
            },
            StreamEvent::ToolCallDelta {
                index: 0,
                arguments: "{}".into()
            },
            StreamEvent::Usage {
                usage: Usage {
                    input_tokens: 10,
                    output_tokens: 4,
                    cache_read_tokens: 8,
                    cache_write_tokens: 0
                }
            },
            StreamEvent::Finish {
                stop_reason: StopReason::ToolUse,
                stop_sequence: None
            },
            StreamEvent::Done,
        ]
    );
}

#[test]
fn decoder_reports_failures() {
    let events = decode_all(&[
        sse(
            "response.created",
            json!({"type": "response.created", "response": {"id": "r"}}),
        ),
        sse(
            "response.failed",
            json!({"type": "response.failed", "response": {"status": "failed",
            "error": {"code": "server_error", "message": "boom"}}}),
        ),
    ]);
    assert_eq!(
        events[1],
        StreamEvent::Error {
            kind: "server_error".into(),
            message: "boom".into()
        }
    );
    let events = decode_all(&[sse(
        "error",
        json!({"type": "error", "code": "rate_limit_exceeded", "message": "slow down"}),
    )]);
    assert_eq!(
        events,
        vec![StreamEvent::Error {
            kind: "rate_limit_exceeded".into(),
            message: "slow down".into()
        }]
    );
    let mut d = StreamDecoder::new();
    assert!(d
        .decode(&SseEvent {
            event: None,
            data: "{oops".into()
        })
        .is_err());
}

#[test]
fn renderer_numbers_events_and_closes_items() {
    let mut r = StreamRenderer::new().with_created(7);
    let mut out = Vec::new();
    for ev in [
        StreamEvent::Start {
            id: "msg_1".into(),
            model: "claude".into(),
            usage: Usage::default(),
        },
        StreamEvent::TextDelta { text: "a".into() },
        StreamEvent::TextDelta { text: "b".into() },
        StreamEvent::ToolCallStart {
            index: 0,
            id: "t1".into(),
            name: "f".into(),
        },
        StreamEvent::ToolCallDelta {
            index: 0,
            arguments: "{}".into(),
        },
        StreamEvent::Finish {
            stop_reason: StopReason::ToolUse,
            stop_sequence: None,
        },
        StreamEvent::Usage {
            usage: Usage {
                input_tokens: 3,
                output_tokens: 2,
                ..Usage::default()
            },
        },
        StreamEvent::Done,
    ] {
        out.extend(r.render(&ev));
    }
    let got = frames(&out);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "response.created",
            "response.in_progress",
            "response.output_item.added",
            "response.content_part.added",
            "response.output_text.delta",
            "response.output_text.delta",
            "response.output_text.done",
            "response.content_part.done",
            "response.output_item.done",
            "response.output_item.added",
            "response.function_call_arguments.delta",
            "response.function_call_arguments.done",
            "response.output_item.done",
            "response.completed",
        ]
    );
    for (i, (name, data)) in got.iter().enumerate() {
        assert_eq!(data["type"], json!(name));
        assert_eq!(data["sequence_number"], json!(i));
    }
    let done = &got[13].1["response"];
    assert_eq!(done["id"], "resp_1");
    assert_eq!(done["created_at"], 7);
    assert_eq!(done["output"][0]["content"][0]["text"], "ab");
    assert_eq!(done["output"][1]["call_id"], "t1");
    assert_eq!(done["usage"]["total_tokens"], 5);
    assert!(r.render(&StreamEvent::Done).is_empty());
}

#[test]
fn renderer_failure_and_incomplete() {
    let mut r = StreamRenderer::new();
    let out = r.render(&StreamEvent::Error {
        kind: "overloaded_error".into(),
        message: "Overloaded".into(),
    });
    let got = frames(&out);
    assert_eq!(got.last().map(|(n, _)| n.as_str()), Some("response.failed"));
    assert_eq!(
        got[2].1["response"]["error"],
        json!({"code": "server_error", "message": "Overloaded"})
    );
    assert!(r
        .render(&StreamEvent::TextDelta { text: "x".into() })
        .is_empty());

    let mut r = StreamRenderer::new();
    r.render(&StreamEvent::TextDelta { text: "x".into() });
    r.render(&StreamEvent::Finish {
        stop_reason: StopReason::MaxTokens,
        stop_sequence: None,
    });
    let got = frames(&r.render(&StreamEvent::Done));
    let (name, data) = &got[got.len() - 1];
    assert_eq!(name, "response.incomplete");
    assert_eq!(
        data["response"]["incomplete_details"],
        json!({"reason": "max_output_tokens"})
    );
}
