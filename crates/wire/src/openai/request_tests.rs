//! Tests for OpenAI `parse_request`: conversions and every validation error.

use serde_json::json;

use super::*;
use crate::types::ImageSource;

fn parse(body: Value) -> ChatRequest {
    match parse_request(&body) {
        Ok(r) => r,
        Err(e) => panic!("{body}: {e}"),
    }
}

fn with_messages(messages: Value) -> Value {
    json!({"model": "gpt-4o", "messages": messages})
}

#[test]
fn system_developer_and_late_system() {
    let req = parse(with_messages(json!([
        {"role": "system", "content": "one"},
        {"role": "developer", "content": [{"type": "text", "text": "two"}, {"type": "text", "text": "three"}]},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "late"}
    ])));
    let texts: Vec<&str> = req.system.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(texts, ["one", "two", "three"]);
    assert_eq!(
        req.messages[0],
        Message {
            role: Role::User,
            content: vec![Part::text("hi")]
        }
    );
    assert_eq!(
        req.messages[1],
        Message {
            role: Role::System,
            content: vec![Part::text("late")]
        }
    );
}

#[test]
fn tool_messages_merge_with_following_user() {
    let req = parse(with_messages(json!([
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "a", "type": "function", "function": {"name": "w", "arguments": "{\"city\":\"Paris\"}"}},
            {"id": "b", "type": "function", "function": {"name": "w", "arguments": "not json"}}
        ]},
        {"role": "tool", "tool_call_id": "a", "content": "sunny"},
        {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "rain"}]},
        {"role": "user", "content": "and tomorrow?"},
        {"role": "user", "content": "separate"}
    ])));
    assert_eq!(req.messages.len(), 4);
    assert_eq!(
        req.messages[1].content,
        vec![
            Part::ToolUse {
                id: "a".into(),
                name: "w".into(),
                input: json!({"city": "Paris"})
            },
            Part::ToolUse {
                id: "b".into(),
                name: "w".into(),
                input: json!("not json")
            },
        ]
    );
    let result = |id: &str, text: &str| Part::ToolResult {
        tool_use_id: id.into(),
        content: vec![Part::text(text)],
        is_error: false,
    };
    assert_eq!(
        req.messages[2],
        Message {
            role: Role::User,
            content: vec![
                result("a", "sunny"),
                result("b", "rain"),
                Part::text("and tomorrow?")
            ]
        }
    );
    assert_eq!(req.messages[3].content, vec![Part::text("separate")]);
}

#[test]
fn tool_results_before_assistant_stand_alone() {
    let req = parse(with_messages(json!([
        {"role": "tool", "tool_call_id": "a", "content": "x"},
        {"role": "assistant", "content": "ok"}
    ])));
    assert_eq!(req.messages.len(), 2);
    assert_eq!(req.messages[0].role, Role::User);
}

#[test]
fn parts_images_and_scalars() {
    let req = parse(json!({
        "model": "m",
        "messages": [{"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "https://e.com/a.png", "detail": "high"}},
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/", "detail": "auto"}},
            {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}}
        ]}],
        "max_tokens": 50, "max_completion_tokens": 60, "temperature": 2, "top_p": 0.5, "stop": "END",
        "stream": true, "stream_options": {"include_usage": true}, "safety_identifier": "sid",
        "parallel_tool_calls": false, "tool_choice": {"type": "function", "function": {"name": "f"}},
        "tools": [{"type": "function", "function": {"name": "f", "description": "d"}}]
    }));
    assert_eq!(
        req.messages[0].content,
        vec![
            Part::text("look"),
            Part::Image {
                source: ImageSource::Url {
                    url: "https://e.com/a.png".into()
                },
                detail: Some("high".into())
            },
            Part::Image {
                source: ImageSource::Base64 {
                    media_type: "image/jpeg".into(),
                    data: "/9j/".into()
                },
                detail: None
            },
        ]
    );
    assert_eq!(req.max_tokens, Some(60));
    assert_eq!(req.temperature, Some(2.0));
    assert_eq!(req.stop, ["END"]);
    assert!(req.stream && req.stream_include_usage);
    assert_eq!(req.user.as_deref(), Some("sid"));
    assert_eq!(req.parallel_tool_calls, Some(false));
    assert_eq!(req.tool_choice, Some(ToolChoice::Tool { name: "f".into() }));
    assert_eq!(
        req.tools[0].parameters,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(req.tools[0].description.as_deref(), Some("d"));
}

#[test]
fn include_usage_needs_stream() {
    let req = parse(
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}],
        "stream_options": {"include_usage": true}}),
    );
    assert!(!req.stream_include_usage);
}

#[test]
fn tool_choice_strings() {
    for (s, want) in [
        ("auto", ToolChoice::Auto),
        ("none", ToolChoice::None),
        ("required", ToolChoice::Required),
    ] {
        let req = parse(
            json!({"model": "m", "messages": [{"role": "user", "content": "x"}], "tool_choice": s}),
        );
        assert_eq!(req.tool_choice, Some(want));
    }
}

#[test]
fn invalid_requests_name_the_field() {
    let user = json!([{"role": "user", "content": "x"}]);
    let cases: Vec<(Value, &str)> = vec![
        (json!([]), "the request body must be a JSON object"),
        (json!({"messages": user}), "model: is required"),
        (json!({"model": 3, "messages": user}), "model: expected a string, got a number"),
        (json!({"model": "m"}), "messages: is required"),
        (json!({"model": "m", "messages": []}), "messages: must contain at least one message"),
        (json!({"model": "m", "messages": {}}), "messages: expected an array, got an object"),
        (with_messages(json!(["hi"])), "messages[0]: expected an object, got a string"),
        (with_messages(json!([{"content": "x"}])), "messages[0].role: is required"),
        (
            with_messages(json!([{"role": "bot", "content": "x"}])),
            "messages[0].role: unknown role `bot`; expected system, developer, user, assistant or tool",
        ),
        (with_messages(json!([{"role": "user"}])), "messages[0].content: is required"),
        (
            with_messages(json!([{"role": "user", "content": 5}])),
            "messages[0].content: expected a string or an array of content parts, got a number",
        ),
        (
            with_messages(json!([{"role": "user", "content": [{"type": "foo"}]}])),
            "messages[0].content[0].type: unknown content type `foo`; expected text, image_url, input_audio or file",
        ),
        (with_messages(json!([{"role": "user", "content": [{"type": "text"}]}])), "messages[0].content[0].text: is required"),
        (
            with_messages(json!([{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "u", "detail": "max"}}]}])),
            "messages[0].content[0].image_url.detail: unknown detail `max`; expected auto, low or high",
        ),
        (
            with_messages(json!([{"role": "user", "content": [{"type": "image_url", "image_url": "u"}]}])),
            "messages[0].content[0].image_url: expected an object, got a string",
        ),
        (
            with_messages(json!([{"role": "system", "content": [{"type": "image_url"}]}])),
            "messages[0].content[0].type: content type `image_url` is not allowed here; expected `text`",
        ),
        (with_messages(json!([{"role": "tool", "content": "x"}])), "messages[0].tool_call_id: is required"),
        (with_messages(json!([{"role": "assistant"}])), "messages[0].content: is required unless `tool_calls` is set"),
        (
            with_messages(json!([{"role": "assistant", "content": [{"type": "image_url"}]}])),
            "messages[0].content[0].type: unknown content type `image_url`; expected text or refusal",
        ),
        (
            with_messages(json!([{"role": "assistant", "tool_calls": [{"id": "a", "type": "function", "function": {"name": "f"}}]}])),
            "messages[0].tool_calls[0].function.arguments: is required",
        ),
        (
            with_messages(json!([{"role": "assistant", "tool_calls": [{"id": "a", "type": "x"}]}])),
            "messages[0].tool_calls[0].type: unknown tool call type `x`; expected function",
        ),
        (with_messages(json!([{"role": "user", "name": 1, "content": "x"}])), "messages[0].name: expected a string"),
    ];
    for (body, want) in cases {
        match parse_request(&body) {
            Err(WireError::InvalidRequest(m)) => assert_eq!(m, want, "{body}"),
            other => panic!("{body}: {other:?}"),
        }
    }
}

#[test]
fn invalid_scalars_name_the_field() {
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"max_tokens": 0}),
            "max_tokens: 0 is below the minimum of 1",
        ),
        (
            json!({"max_completion_tokens": -1}),
            "max_completion_tokens: expected a non-negative integer, got a number",
        ),
        (
            json!({"max_tokens": 5_000_000_000u64}),
            "max_tokens: 5000000000 is too large",
        ),
        (
            json!({"temperature": 2.5}),
            "temperature: 2.5 is out of range; expected 0 to 2",
        ),
        (
            json!({"top_p": "1"}),
            "top_p: expected a number, got a string",
        ),
        (json!({"n": 0}), "n: 0 is below the minimum of 1"),
        (
            json!({"stop": ["a", "b", "c", "d", "e"]}),
            "stop: at most 4 stop sequences are allowed, got 5",
        ),
        (
            json!({"stop": [1]}),
            "stop[0]: expected a string, got a number",
        ),
        (
            json!({"stop": 1}),
            "stop: expected a string or an array of strings, got a number",
        ),
        (
            json!({"stream": "yes"}),
            "stream: expected a boolean, got a string",
        ),
        (
            json!({"stream_options": []}),
            "stream_options: expected an object, got an array",
        ),
        (
            json!({"tools": [{"type": "function"}]}),
            "tools[0].function: is required",
        ),
        (
            json!({"tools": [{"function": {"name": "f"}}]}),
            "tools[0].type: is required",
        ),
        (
            json!({"tools": [{"type": "x"}]}),
            "tools[0].type: unknown tool type `x`; expected function or custom",
        ),
        (
            json!({"tools": [{"type": "function", "function": {"name": "f", "parameters": []}}]}),
            "tools[0].function.parameters: expected an object, got an array",
        ),
        (
            json!({"tool_choice": "any"}),
            "tool_choice: unknown value `any`; expected none, auto or required",
        ),
        (
            json!({"tool_choice": {"type": "function"}}),
            "tool_choice.function: is required",
        ),
        (
            json!({"tool_choice": {"type": "tool"}}),
            "tool_choice.type: unknown tool_choice type `tool`",
        ),
        (
            json!({"parallel_tool_calls": 1}),
            "parallel_tool_calls: expected a boolean, got a number",
        ),
        (json!({"user": 1}), "user: expected a string, got a number"),
    ];
    for (extra, want) in cases {
        let mut body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        match parse_request(&body) {
            Err(WireError::InvalidRequest(m)) => assert_eq!(m, want, "{extra}"),
            other => panic!("{extra}: {other:?}"),
        }
    }
}

#[test]
fn uncarried_features_parse_leniently() {
    // Valid OpenAI input that frugal skips; untranslatable_fields names each of them.
    let body = json!({"model": "m", "n": 2, "seed": 1, "logprobs": true,
    "tools": [{"type": "custom", "custom": {"name": "c"}}],
    "tool_choice": {"type": "allowed_tools", "allowed_tools": {"mode": "auto", "tools": []}},
    "messages": [
        {"role": "user", "content": [{"type": "file", "file": {"file_id": "f"}}]},
        {"role": "assistant", "audio": {"id": "a"}},
        {"role": "function", "name": "f", "content": "x"}
    ]});
    let req = parse(body);
    assert!(req.tools.is_empty() && req.tool_choice.is_none());
    assert_eq!(req.messages.len(), 2);
    assert!(req.messages.iter().all(|m| m.content.is_empty()));
}
