use serde_json::json;

use super::*;
use crate::error::WireError;
use crate::types::ImageSource;

fn parse(v: Value) -> ChatRequest {
    match parse_request(&v) {
        Ok(r) => r,
        Err(e) => panic!("{v}: {e}"),
    }
}

fn error(v: Value) -> String {
    match parse_request(&v) {
        Ok(r) => panic!("{v} parsed: {r:?}"),
        Err(e) => {
            assert!(matches!(e, WireError::InvalidRequest(_)), "{e:?}");
            e.to_string()
        }
    }
}

#[test]
fn string_input_and_instructions() {
    let req = parse(
        json!({"model": "auto", "instructions": "Be brief.", "input": "Hi",
        "max_output_tokens": 50, "temperature": 0.5, "top_p": 0.9, "stream": true,
        "safety_identifier": "u1"}),
    );
    assert_eq!(req.model, "auto");
    assert_eq!(req.system[0].text, "Be brief.");
    assert_eq!(
        req.messages,
        vec![Message {
            role: Role::User,
            content: vec![Part::text("Hi")]
        }]
    );
    assert_eq!(req.max_tokens, Some(50));
    assert_eq!((req.temperature, req.top_p), (Some(0.5), Some(0.9)));
    assert!(req.stream && req.stream_include_usage);
    assert_eq!(req.user.as_deref(), Some("u1"));
}

#[test]
fn agent_turns_become_messages() {
    let req = parse(json!({"model": "m", "input": [
        {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "ctx"}]},
        {"role": "user", "content": [
            {"type": "input_text", "text": "look"},
            {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "high"}]},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "x"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Two calls."}]},
        {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{\"x\":1}"},
        {"type": "function_call", "call_id": "b", "name": "g", "arguments": ""},
        {"type": "function_call_output", "call_id": "a", "output": "one"},
        {"type": "function_call_output", "call_id": "b", "output": [{"type": "input_text", "text": "two"}]},
        {"role": "user", "content": "next"},
        {"role": "system", "content": "late rule"}
    ]}));
    assert_eq!(req.system.len(), 1);
    assert_eq!(req.system[0].text, "ctx");
    let result = |id: &str, text: &str| Part::ToolResult {
        tool_use_id: id.into(),
        content: vec![Part::text(text)],
        is_error: false,
    };
    assert_eq!(
        req.messages,
        vec![
            Message {
                role: Role::User,
                content: vec![
                    Part::text("look"),
                    Part::Image {
                        source: ImageSource::Base64 {
                            media_type: "image/png".into(),
                            data: "AA".into()
                        },
                        detail: Some("high".into())
                    }
                ]
            },
            Message {
                role: Role::Assistant,
                content: vec![
                    Part::text("Two calls."),
                    Part::ToolUse {
                        id: "a".into(),
                        name: "f".into(),
                        input: json!({"x": 1})
                    },
                    Part::ToolUse {
                        id: "b".into(),
                        name: "g".into(),
                        input: json!({})
                    },
                ]
            },
            Message {
                role: Role::User,
                content: vec![result("a", "one"), result("b", "two"), Part::text("next")]
            },
            Message {
                role: Role::System,
                content: vec![Part::text("late rule")]
            },
        ]
    );
}

#[test]
fn tools_and_tool_choice() {
    let req = parse(
        json!({"model": "m", "input": "x", "parallel_tool_calls": false,
        "tools": [
            {"type": "function", "name": "f", "description": "does f", "strict": true,
             "parameters": {"type": "object", "properties": {"a": {"type": "string"}}}},
            {"type": "function", "name": "g"},
            {"type": "web_search"}
        ],
        "tool_choice": {"type": "function", "name": "f"}}),
    );
    assert_eq!(req.tools.len(), 2);
    assert_eq!(req.tools[0].description.as_deref(), Some("does f"));
    assert_eq!(
        req.tools[1].parameters,
        json!({"type": "object", "properties": {}})
    );
    assert_eq!(req.tool_choice, Some(ToolChoice::Tool { name: "f".into() }));
    assert_eq!(req.parallel_tool_calls, Some(false));
    for (choice, want) in [
        ("auto", ToolChoice::Auto),
        ("none", ToolChoice::None),
        ("required", ToolChoice::Required),
    ] {
        let req = parse(json!({"model": "m", "input": "x", "tool_choice": choice}));
        assert_eq!(req.tool_choice, Some(want));
    }
}

#[test]
fn stateful_requests_are_refused() {
    for (field, value) in [
        ("previous_response_id", json!("resp_1")),
        ("conversation", json!("conv_1")),
        ("background", json!(true)),
    ] {
        let mut body = json!({"model": "m", "input": "x"});
        body[field] = value;
        let msg = error(body);
        assert!(
            msg.starts_with(&format!(
                "{field}: is not supported: frugal is a stateless gateway"
            )),
            "{msg}"
        );
        assert!(msg.contains("store: false"), "{msg}");
    }
}

#[test]
fn invalid_requests_name_the_field() {
    let cases = [
        (json!({"input": "x"}), "model: is required"),
        (json!({"model": "m"}), "input: is required"),
        (
            json!({"model": "m", "input": 3}),
            "input: expected a string or an array of items, got a number",
        ),
        (
            json!({"model": "m", "input": [{"content": "x"}]}),
            "input[0].type: is required (or `role` for a message)",
        ),
        (
            json!({"model": "m", "input": [{"role": "tool", "content": "x"}]}),
            "input[0].role: unknown role `tool`; expected user, assistant, system or developer",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call", "name": "f", "arguments": "{}"}]}),
            "input[0].call_id: is required",
        ),
        (
            json!({"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]}),
            "input[0].output: is required",
        ),
        (
            json!({"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]}),
            "input[0].content[0].image_url: is required unless `file_id` is set",
        ),
        (
            json!({"model": "m", "input": "x", "temperature": 3}),
            "temperature: 3 is out of range; expected 0 to 2",
        ),
        (
            json!({"model": "m", "input": "x", "tool_choice": "sometimes"}),
            "tool_choice: unknown value `sometimes`; expected none, auto or required",
        ),
        (
            json!({"model": "m", "input": "x", "tools": [{"type": "function"}]}),
            "tools[0].name: is required",
        ),
    ];
    for (body, want) in cases {
        assert_eq!(error(body), want);
    }
}
