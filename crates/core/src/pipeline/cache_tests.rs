//! Breakpoint placement and prompt-cache-key tests.

use serde_json::{json, Value};

use super::*;

fn long(n: usize) -> String {
    "word ".repeat(n)
}

fn marked(body: &Value) -> Vec<String> {
    let mut out = vec![];
    for (j, t) in arr(body, "tools").iter().enumerate() {
        if t.get("cache_control").is_some() {
            out.push(format!("tools.{j}"));
        }
    }
    if let Some(Value::Array(bs)) = body.get("system") {
        for (j, b) in bs.iter().enumerate() {
            if b.get("cache_control").is_some() {
                out.push(format!("system.{j}"));
            }
        }
    }
    for (i, m) in arr(body, "messages").iter().enumerate() {
        if let Some(Value::Array(bs)) = m.get("content") {
            for (j, b) in bs.iter().enumerate() {
                if b.get("cache_control").is_some() {
                    out.push(format!("m{i}.{j}"));
                }
            }
        }
    }
    out
}

fn agent_body() -> Value {
    json!({
        "model": "claude-sonnet-4-5", "max_tokens": 100,
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "system": long(2000),
        "messages": [
            {"role": "user", "content": "book a flight"},
            {"role": "assistant", "content": [
                {"type": "thinking", "thinking": "hm", "signature": "s"},
                {"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": long(500)}]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t2", "name": "f", "input": {}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t2", "content": "ok"}]}
        ]
    })
}

#[test]
fn agent_loop_gets_whole_prompt_static_prefix_and_previous_turn() {
    let mut body = agent_body();
    let p = anthropic_breakpoints(&mut body, 1024);
    assert_eq!(p.existing, 0);
    assert_eq!(marked(&body), vec!["system.0", "m2.0", "m4.0"]);
    assert_eq!(body["system"][0]["text"], long(2000));
    // Idempotent: the markers count as existing and nothing moves.
    let again = body.clone();
    let p2 = anthropic_breakpoints(&mut body, 1024);
    assert_eq!(p2.existing, 3);
    assert_eq!(body, again.clone());
    assert_eq!(marked(&body), marked(&again));
}

#[test]
fn short_prompts_get_no_breakpoint() {
    let mut body = json!({"model": "m", "max_tokens": 10, "system": "short",
        "messages": [{"role": "user", "content": "hello"}]});
    let before = body.clone();
    let p = anthropic_breakpoints(&mut body, 1024);
    assert!(p.added.is_empty());
    assert_eq!(body, before);
}

#[test]
fn minimum_is_per_model() {
    let mut body = json!({"model": "m", "max_tokens": 10,
        "messages": [{"role": "user", "content": long(1500)}]});
    let mut haiku = body.clone();
    assert_eq!(anthropic_breakpoints(&mut body, 1024).added.len(), 1);
    assert_eq!(body["messages"][0]["content"][0]["text"], long(1500));
    assert!(anthropic_breakpoints(&mut haiku, 4096).added.is_empty());
}

#[test]
fn caller_breakpoints_are_kept_and_counted() {
    let mut body = agent_body();
    body["tools"][0]["cache_control"] = json!({"type": "ephemeral", "ttl": "1h"});
    body["messages"][0]["content"] =
        json!([{"type": "text", "text": "book", "cache_control": {"type": "ephemeral"}}]);
    body["messages"][2]["content"][0]["content"] =
        json!([{"type": "text", "text": long(500), "cache_control": {"type": "ephemeral"}}]);
    let p = anthropic_breakpoints(&mut body, 1024);
    assert_eq!(p.existing, 3);
    assert_eq!(p.added.len(), 1);
    assert_eq!(body["tools"][0]["cache_control"]["ttl"], "1h");
    assert_eq!(count_existing(&body), MAX_BREAKPOINTS);
    let full = body.clone();
    assert!(anthropic_breakpoints(&mut body, 1024).added.is_empty());
    assert_eq!(body, full);
}

#[test]
fn thinking_and_empty_text_blocks_are_never_marked() {
    let mut body = json!({"model": "m", "max_tokens": 10, "system": long(3000),
    "messages": [
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": [{"type": "text", "text": "a"}, {"type": "thinking", "thinking": "x"}]},
        {"role": "user", "content": [{"type": "text", "text": "q2"}, {"type": "text", "text": ""}]}
    ]});
    anthropic_breakpoints(&mut body, 1024);
    assert_eq!(marked(&body), vec!["system.0", "m0.0", "m2.0"]);
}

#[test]
fn prompt_cache_key_is_per_session_and_never_overwrites() {
    let turn1 = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}]});
    let mut turn2 = turn1.clone();
    turn2["messages"].as_array_mut().expect("array").extend([
        json!({"role": "assistant", "content": "yo"}),
        json!({"role": "user", "content": "more"}),
    ]);
    let mut other = json!({"model": "gpt-4o", "messages": [
        {"role": "system", "content": "sys"}, {"role": "user", "content": "bye"}]});
    let mut t1 = turn1.clone();
    let k1 = openai_cache_key(&mut t1);
    let k2 = openai_cache_key(&mut turn2);
    assert!(k1.is_some());
    assert_eq!(k1, k2);
    assert_ne!(k1, openai_cache_key(&mut other));
    assert_eq!(t1["prompt_cache_key"], json!(k1));
    let mut set = json!({"model": "m", "prompt_cache_key": "mine", "messages": [{"role": "user", "content": "x"}]});
    assert_eq!(openai_cache_key(&mut set), None);
    assert_eq!(set["prompt_cache_key"], "mine");
}

/// A breakpoint placed on the late system turn while it is the newest message, and
/// gone the next turn, changes nothing but the marker itself.
#[test]
fn a_late_system_message_keeps_its_bytes_under_a_moving_breakpoint() {
    let messages = json!([
        {"role": "user", "content": "task"},
        {"role": "assistant", "content": "ok"},
        {"role": "system", "content": "<system-reminder>r</system-reminder>"}
    ]);
    let mut newest = json!({"model": "m", "max_tokens": 1, "messages": messages});
    assert!(crate::wire::anthropic::place_system_messages(&mut newest));
    let unmarked = newest["messages"][2].to_string();
    crate::pipeline::cache::anthropic_breakpoints(&mut newest, 0);
    let marked = &mut newest["messages"][2];
    assert!(
        marked["content"][0].get("cache_control").is_some(),
        "{marked}"
    );
    if let Some(block) = marked["content"][0].as_object_mut() {
        block.remove("cache_control");
    }
    assert_eq!(marked.to_string(), unmarked);
}
