//! Tests of `compress_body` on both formats: what changes, what must not, and the
//! idempotence / prefix-stability properties on generated conversations.

use proptest::prelude::*;
use serde_json::{json, Value};

use super::check::check;
use super::*;

fn cfg() -> CompressConfig {
    CompressConfig {
        count_tokens: true,
        ..CompressConfig::default()
    }
}

#[test]
fn openai_body_tool_results_and_arguments_are_minified() {
    let mut body = json!({
        "model": "auto",
        "messages": [
            {"role": "system", "content": "Be  brief.\n\n\n\nThanks.  "},
            {"role": "user", "content": [{"type": "text", "text": "find  it"}]},
            {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function",
                "function": {"name": "f", "arguments": "{\"q\": \"a  b\", \"n\": 1.50}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "{\"r\": [1, 2], \"s\": \"x  y\"}"},
            {"role": "tool", "tool_call_id": "c2", "content": "col1   col2  \nv1     v2"}
        ],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}],
        "unknown_field": {"keep": "  as  is  "}
    });
    let original = body.clone();
    let rep = compress_body(Format::OpenAi, &mut body, &cfg());
    assert_eq!(body["messages"][0]["content"], "Be brief.\n\nThanks.");
    assert_eq!(body["messages"][1]["content"][0]["text"], "find it");
    assert_eq!(
        body["messages"][2]["tool_calls"][0]["function"]["arguments"],
        "{\"q\":\"a  b\",\"n\":1.50}"
    );
    assert_eq!(
        body["messages"][3]["content"],
        "{\"r\":[1,2],\"s\":\"x  y\"}"
    );
    assert_eq!(body["messages"][4]["content"], "col1   col2\nv1     v2");
    assert_eq!(body["unknown_field"], original["unknown_field"]);
    assert_eq!(body["tools"], original["tools"]);
    assert_eq!(rep.json_minify.changed, 2);
    assert_eq!(rep.whitespace.changed, 3);
    assert!(rep.tokens_saved() > 0);
    let c = check(Format::OpenAi, &original, &body, &cfg());
    assert!(c.ok(), "{:?}", c.problems);
    assert_eq!(c.json_parts, 2);
}

#[test]
fn anthropic_body_tool_results_and_text_blocks() {
    let mut body = json!({
        "model": "claude-sonnet-4-5", "max_tokens": 100,
        "system": [{"type": "text", "text": "sys  tem", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "hi  there"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {"a": " x  "}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "t1", "content": "[1, 2,\n 3]"},
                {"type": "tool_result", "tool_use_id": "t2", "content": [{"type": "text", "text": "{\"a\": 1}"}]},
                {"type": "text", "text": "```\ncode  \n```\nnext  "}
            ]}
        ]
    });
    let original = body.clone();
    compress_body(Format::Anthropic, &mut body, &cfg());
    assert_eq!(body["system"][0]["text"], "sys tem");
    assert_eq!(
        body["system"][0]["cache_control"],
        json!({"type": "ephemeral"})
    );
    assert_eq!(body["messages"][0]["content"], "hi there");
    assert_eq!(body["messages"][1], original["messages"][1]);
    assert_eq!(body["messages"][2]["content"][0]["content"], "[1,2,3]");
    assert_eq!(
        body["messages"][2]["content"][1]["content"][0]["text"],
        "{\"a\":1}"
    );
    assert_eq!(
        body["messages"][2]["content"][2]["text"],
        "```\ncode  \n```\nnext"
    );
    let c = check(Format::Anthropic, &original, &body, &cfg());
    assert!(c.ok(), "{:?}", c.problems);
    assert_eq!(c.fences, 1);
}

#[test]
fn disabled_passes_change_nothing() {
    let body = json!({"model": "m", "messages": [
        {"role": "user", "content": "a  b"},
        {"role": "tool", "tool_call_id": "x", "content": "[1, 2]"}
    ]});
    for off in [
        CompressConfig {
            enabled: false,
            ..cfg()
        },
        CompressConfig {
            json_minify: false,
            whitespace: false,
            ..cfg()
        },
    ] {
        let mut b = body.clone();
        let rep = compress_body(Format::OpenAi, &mut b, &off);
        assert_eq!(b, body);
        assert_eq!(rep, CompressReport::default());
    }
}

#[test]
fn dedup_replaces_only_later_repeats_of_tool_results() {
    let big = format!("{{\"rows\": [{}]}}", vec!["\"r\""; 100].join(", "));
    let mut body = json!({"model": "m", "messages": [
        {"role": "tool", "tool_call_id": "a", "content": big},
        {"role": "user", "content": big},
        {"role": "tool", "tool_call_id": "b", "content": big}
    ]});
    let original = body.clone();
    let on = CompressConfig {
        dedup: true,
        ..cfg()
    };
    let rep = compress_body(Format::OpenAi, &mut body, &on);
    assert_eq!(rep.dedup.changed, 1);
    assert_eq!(
        body["messages"][1]["content"],
        original["messages"][1]["content"]
    );
    assert_eq!(body["messages"][2]["content"], dedup::reference("a"));
    let c = check(Format::OpenAi, &original, &body, &on);
    assert!(c.ok(), "{:?}", c.problems);
}

fn arb_text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop_oneof![
            Just("```\n".to_string()),
            Just("    ".to_string()),
            Just("\n\n\n".to_string()),
            Just("  ".to_string()),
            Just("| x |".to_string()),
            Just("{\"k\": [1, 2.0, \"a  b\"]}".to_string()),
            "[a-z]{1,6}",
        ],
        0..12,
    )
    .prop_map(|v| v.concat())
}

fn arb_openai_messages() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(
        (0..4u8, arb_text()).prop_map(|(role, text)| match role {
            0 => json!({"role": "user", "content": text}),
            1 => json!({"role": "assistant", "content": text}),
            2 => json!({"role": "tool", "tool_call_id": "c", "content": text}),
            _ => json!({"role": "assistant", "content": null, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": text}}]}),
        }),
        1..8,
    )
}

proptest! {
    #[test]
    fn lossless_idempotent_and_prefix_stable(msgs in arb_openai_messages(), dedup in any::<bool>()) {
        let original = json!({"model": "m", "messages": msgs});
        let cfg = CompressConfig { dedup, count_tokens: false, ..CompressConfig::default() };
        let mut body = original.clone();
        compress_body(Format::OpenAi, &mut body, &cfg);
        let c = check(Format::OpenAi, &original, &body, &cfg);
        prop_assert!(c.ok(), "{:?}", c.problems);
    }
}
