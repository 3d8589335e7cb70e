//! Tests for Anthropic `parse_request`: conversions and every validation error.

use serde_json::json;

use super::*;
use crate::anthropic::place_system_messages;

fn parse(body: Value) -> ChatRequest {
    match parse_request(&body) {
        Ok(r) => r,
        Err(e) => panic!("{body}: {e}"),
    }
}

fn with_messages(messages: Value) -> Value {
    json!({"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": messages})
}

#[test]
fn full_request() {
    let cc = json!({"type": "ephemeral"});
    let req = parse(json!({
        "model": "claude-sonnet-4-5", "max_tokens": 1024,
        "system": [{"type": "text", "text": "You are terse.", "cache_control": cc}],
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "what is this?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"}},
                {"type": "image", "source": {"type": "url", "url": "https://e.com/a.jpg"}, "cache_control": cc}
            ]},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hmm", "signature": "sig"},
                {"type": "text", "text": "Let me check."},
                {"type": "tool_use", "id": "toolu_1", "name": "look", "input": {"q": 1}}
            ]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a cat", "is_error": true, "cache_control": cc},
                {"type": "tool_result", "tool_use_id": "toolu_2"}
            ]}
        ],
        "temperature": 0.2, "top_p": 0.9, "top_k": 40, "stop_sequences": ["###"], "stream": true,
        "metadata": {"user_id": "user-7"}, "thinking": {"type": "disabled"},
        "tools": [
            {"name": "look", "description": "Look", "input_schema": {"type": "object"}, "cache_control": cc},
            {"type": "web_search_20250305", "name": "web_search", "max_uses": 2}
        ],
        "tool_choice": {"type": "any", "disable_parallel_tool_use": true}
    }));
    assert_eq!(
        req.system,
        vec![TextBlock {
            text: "You are terse.".into(),
            cache_control: Some(cc.clone())
        }]
    );
    assert_eq!(req.messages.len(), 3);
    assert_eq!(
        req.messages[0].content[1],
        Part::Image {
            source: ImageSource::Base64 {
                media_type: "image/png".into(),
                data: "iVBOR".into()
            },
            detail: None
        }
    );
    assert_eq!(
        req.messages[1].content,
        vec![
            Part::text("Let me check."),
            Part::ToolUse {
                id: "toolu_1".into(),
                name: "look".into(),
                input: json!({"q": 1})
            }
        ]
    );
    assert_eq!(
        req.messages[2].content,
        vec![
            Part::ToolResult {
                tool_use_id: "toolu_1".into(),
                content: vec![Part::Text {
                    text: "a cat".into(),
                    cache_control: Some(cc.clone())
                }],
                is_error: true
            },
            Part::ToolResult {
                tool_use_id: "toolu_2".into(),
                content: vec![],
                is_error: false
            },
        ]
    );
    assert_eq!(req.max_tokens, Some(1024));
    assert_eq!(req.stop, ["###"]);
    assert!(req.stream && !req.stream_include_usage);
    assert_eq!(req.user.as_deref(), Some("user-7"));
    assert_eq!(req.tools.len(), 1);
    assert_eq!(req.tools[0].cache_control, Some(cc));
    assert_eq!(req.tool_choice, Some(ToolChoice::Required));
    assert_eq!(req.parallel_tool_calls, Some(false));
}

#[test]
fn string_forms_and_tool_choices() {
    let req = parse(json!({"model": "m", "max_tokens": 1, "system": "sys",
        "messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": "tool", "name": "f"}}));
    assert_eq!(req.system[0].text, "sys");
    assert_eq!(req.messages[0].content, vec![Part::text("hi")]);
    assert_eq!(req.tool_choice, Some(ToolChoice::Tool { name: "f".into() }));
    assert_eq!(req.parallel_tool_calls, None);
    for (t, want) in [("auto", ToolChoice::Auto), ("none", ToolChoice::None)] {
        let mut body = with_messages(json!([{"role": "user", "content": "x"}]));
        body["tool_choice"] = json!({"type": t, "disable_parallel_tool_use": false});
        assert_eq!(parse(body).tool_choice, Some(want));
    }
}

#[test]
fn tool_result_blocks_keep_text_and_images() {
    let req = parse(with_messages(
        json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t",
        "content": [{"type": "text", "text": "see"}, {"type": "image", "source": {"type": "url", "url": "https://x"}},
                    {"type": "document", "source": {}}]}]}]),
    ));
    match &req.messages[0].content[0] {
        Part::ToolResult { content, .. } => assert_eq!(content.len(), 2),
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_requests_name_the_field() {
    let cases: Vec<(Value, &str)> = vec![
        (json!("x"), "the request body must be a JSON object"),
        (json!({"max_tokens": 1, "messages": []}), "model: is required"),
        (json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}), "max_tokens: is required"),
        (json!({"model": "m", "max_tokens": 0, "messages": []}), "max_tokens: 0 is below the minimum of 1"),
        (json!({"model": "m", "max_tokens": 1}), "messages: is required"),
        (json!({"model": "m", "max_tokens": 1, "messages": []}), "messages: must contain at least one message"),
        (with_messages(json!([{"role": "system", "content": "x"}])), "messages: must contain at least one user or assistant message"),
        (with_messages(json!([{"role": "tool", "content": "x"}])), "messages[0].role: unknown role `tool`; expected user or assistant"),
        (
            with_messages(json!([{"role": "user", "content": "x"}, {"role": "system", "content": [{"type": "image", "source": {}}]}])),
            "messages[1].content[0].type: a system message may contain only `text` blocks, got `image`",
        ),
        (
            with_messages(json!([{"role": "user", "content": "x"}, {"role": "system", "content": 3}])),
            "messages[1].content: expected a string or an array of text blocks, got a number",
        ),
        (with_messages(json!([{"role": "user"}])), "messages[0].content: is required"),
        (
            with_messages(json!([{"role": "user", "content": {"type": "text"}}])),
            "messages[0].content: expected a string or an array of content blocks, got an object",
        ),
        (with_messages(json!([{"role": "user", "content": [{"type": "foo"}]}])), "messages[0].content[0].type: unknown content type `foo`"),
        (with_messages(json!([{"role": "user", "content": [{"text": "x"}]}])), "messages[0].content[0].type: is required"),
        (
            with_messages(json!([{"role": "user", "content": [{"type": "image", "source": {"type": "ftp"}}]}])),
            "messages[0].content[0].source.type: unknown image source type `ftp`; expected base64, url or file",
        ),
        (
            with_messages(json!([{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": "x"}}]}])),
            "messages[0].content[0].source.media_type: is required",
        ),
        (
            with_messages(json!([{"role": "assistant", "content": [{"type": "tool_use", "id": "a", "name": "f", "input": "{}"}]}])),
            "messages[0].content[0].input: expected an object, got a string",
        ),
        (
            with_messages(json!([{"role": "user", "content": [{"type": "tool_result", "content": "x"}]}])),
            "messages[0].content[0].tool_use_id: is required",
        ),
        (
            with_messages(json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "tool_use"}]}]}])),
            "messages[0].content[0].content[0].type: content type `tool_use` is not allowed in a tool_result",
        ),
        (
            with_messages(json!([{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "is_error": "yes"}]}])),
            "messages[0].content[0].is_error: expected a boolean, got a string",
        ),
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
            json!({"temperature": 1.5}),
            "temperature: 1.5 is out of range; expected 0 to 1",
        ),
        (
            json!({"top_p": -0.1}),
            "top_p: -0.1 is out of range; expected 0 to 1",
        ),
        (
            json!({"top_k": -1}),
            "top_k: expected a non-negative integer, got a number",
        ),
        (
            json!({"stop_sequences": "x"}),
            "stop_sequences: expected an array, got a string",
        ),
        (
            json!({"stop_sequences": [1]}),
            "stop_sequences[0]: expected a string, got a number",
        ),
        (
            json!({"system": 1}),
            "system: expected a string or an array of text blocks, got a number",
        ),
        (
            json!({"system": [{"type": "image"}]}),
            "system[0].type: system blocks must be `text`, got `image`",
        ),
        (
            json!({"metadata": {"user_id": 5}}),
            "metadata.user_id: expected a string, got a number",
        ),
        (
            json!({"thinking": {"type": "enabled"}}),
            "thinking.budget_tokens: is required",
        ),
        (
            json!({"thinking": {"type": "on"}}),
            "thinking.type: unknown value `on`; expected enabled, adaptive or disabled",
        ),
        (
            json!({"output_config": "high"}),
            "output_config: expected an object, got a string",
        ),
        (
            json!({"context_management": []}),
            "context_management: expected an object, got an array",
        ),
        (
            json!({"tools": [{"name": "f"}]}),
            "tools[0].input_schema: is required",
        ),
        (
            json!({"tools": [{"input_schema": {}}]}),
            "tools[0].name: is required",
        ),
        (
            json!({"tools": [{"name": "f", "input_schema": "{}"}]}),
            "tools[0].input_schema: expected an object, got a string",
        ),
        (
            json!({"tool_choice": {"type": "required"}}),
            "tool_choice.type: unknown value `required`; expected auto, any, tool or none",
        ),
        (
            json!({"tool_choice": {"type": "tool"}}),
            "tool_choice.name: is required",
        ),
        (
            json!({"tool_choice": "auto"}),
            "tool_choice: expected an object, got a string",
        ),
        (
            json!({"stream": 1}),
            "stream: expected a boolean, got a number",
        ),
    ];
    for (extra, want) in cases {
        let mut body = with_messages(json!([{"role": "user", "content": "x"}]));
        for (k, v) in extra.as_object().into_iter().flatten() {
            body[k] = v.clone();
        }
        match parse_request(&body) {
            Err(WireError::InvalidRequest(m)) => assert_eq!(m, want, "{extra}"),
            other => panic!("{extra}: {other:?}"),
        }
    }
}

/// What Claude Code sends: a top-level system, a mid-conversation `role: "system"` message,
/// `thinking`, `context_management`, `output_config` and `metadata`.
fn claude_code_body() -> Value {
    json!({
        "model": "auto", "max_tokens": 32000, "stream": true,
        "system": [{"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "list the files"}]},
            {"role": "system", "content": "MCP server instructions"},
            {"role": "assistant", "content": [{"type": "text", "text": "Sure."}]},
            {"role": "user", "content": "go on"},
            {"role": "system", "content": [{"type": "text", "text": "reminder"}, {"type": "text", "text": ""}]}
        ],
        "thinking": {"type": "adaptive"},
        "context_management": {"edits": [{"type": "clear_thinking_20251015", "keep": "all"}]},
        "output_config": {"effort": "high"},
        "metadata": {"user_id": "user_abc_session_1"}
    })
}

#[test]
fn system_role_messages_become_system_text_in_order() {
    let req = parse(claude_code_body());
    let texts: Vec<&str> = req.system.iter().map(|b| b.text.as_str()).collect();
    assert_eq!(
        texts,
        [
            "You are Claude Code.",
            "MCP server instructions",
            "reminder"
        ]
    );
    let roles: Vec<Role> = req.messages.iter().map(|m| m.role).collect();
    assert_eq!(roles, [Role::User, Role::Assistant, Role::User]);
    assert_eq!(req.user.as_deref(), Some("user_abc_session_1"));
    assert!(req.stream);
}

#[test]
fn opening_system_messages_join_the_top_level_system() {
    let mut body = claude_code_body();
    assert!(place_system_messages(&mut body));
    assert_eq!(
        body["system"],
        json!([
            {"type": "text", "text": "You are Claude Code.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "MCP server instructions"}
        ])
    );
    let roles: Vec<&str> = body["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["role"].as_str())
        .collect();
    // The late reminder stays in place as a user turn (system_messages.rs says why).
    assert_eq!(roles, ["user", "assistant", "user", "user"]);
    assert_eq!(
        body["messages"][3]["content"],
        json!([{"type": "text", "text": "reminder"}])
    );
    // Everything else is forwarded untouched, and the key order is kept.
    for key in [
        "thinking",
        "context_management",
        "output_config",
        "metadata",
    ] {
        assert_eq!(body[key], claude_code_body()[key], "{key}");
    }
    let keys: Vec<&String> = body
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    let original = claude_code_body();
    let want: Vec<&String> = original
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, want);
}

#[test]
fn hoisting_string_and_missing_system() {
    let mut body = with_messages(json!([
        {"role": "system", "content": "first"},
        {"role": "user", "content": "hi"}
    ]));
    body["system"] = json!("top");
    assert!(place_system_messages(&mut body));
    assert_eq!(
        body["system"],
        json!([{"type": "text", "text": "top"}, {"type": "text", "text": "first"}])
    );
    let mut body = with_messages(
        json!([{"role": "user", "content": "hi"}, {"role": "system", "content": "x"}]),
    );
    assert!(place_system_messages(&mut body));
    assert_eq!(body["system"], json!([{"type": "text", "text": "x"}]));
    assert_eq!(body["messages"], json!([{"role": "user", "content": "hi"}]));
}

#[test]
fn hoisting_leaves_plain_and_malformed_bodies_alone() {
    let plain = with_messages(json!([{"role": "user", "content": "hi"}]));
    let mut body = plain.clone();
    assert!(!place_system_messages(&mut body));
    assert_eq!(body, plain);
    let bad = with_messages(json!([
        {"role": "user", "content": "hi"},
        {"role": "system", "content": [{"type": "image", "source": {}}]}
    ]));
    let mut body = bad.clone();
    assert!(!place_system_messages(&mut body));
    assert_eq!(body, bad);
    let mut not_object = json!([1]);
    assert!(!place_system_messages(&mut not_object));
}
