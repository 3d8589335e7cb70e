//! Where `role: "system"` messages (Claude Code's mid-conversation system turns) go in the
//! body forwarded to an Anthropic model. Only Claude Opus 4.8 accepts them inside
//! `messages`; every other Claude model answers 400 "role 'system' is not supported on
//! this model", and frugal may route a Claude Code request to any of them.
//!
//! The placement must keep every earlier byte of the prompt where it was, turn after turn:
//! the provider caches the prompt in the order tools → system → messages, so text added to
//! the top-level `system` when a reminder appears late in a conversation would change the
//! prefix in front of every message and make the whole conversation a cache miss (the
//! agent-session replay measured 89 % cache-eligible input with one reminder every five
//! turns when all were moved to `system`, against 95 % offered by the client).
//!
//! So: system messages before the first assistant message (the conversation's opening,
//! which never changes afterwards) join the top-level `system` as text blocks; later ones
//! stay where they are as `user` messages with the same content (consecutive user turns are
//! merged by the API), except that one right after an assistant's tool calls goes after the
//! user message carrying the tool results, which must come immediately.

use serde_json::{json, Value};

fn role(m: &Value) -> Option<&str> {
    m.get("role").and_then(Value::as_str)
}

fn is_system(m: &Value) -> bool {
    role(m) == Some("system")
}

/// A system message that can be moved: string content or text blocks only.
fn well_formed(m: &Value) -> bool {
    match m.get("content") {
        Some(Value::String(_)) => true,
        Some(Value::Array(blocks)) => blocks.iter().all(|b| {
            b.get("type").and_then(Value::as_str) == Some("text")
                && b.get("text").is_some_and(Value::is_string)
        }),
        _ => false,
    }
}

/// The non-empty text blocks of a system message (the API refuses empty text blocks).
fn text_blocks(m: &Value) -> Vec<Value> {
    match m.get("content") {
        Some(Value::String(s)) if !s.is_empty() => vec![json!({"type": "text", "text": s})],
        Some(Value::Array(b)) => b
            .iter()
            .filter(|b| {
                b.get("text")
                    .and_then(Value::as_str)
                    .is_some_and(|t| !t.is_empty())
            })
            .cloned()
            .collect(),
        _ => Vec::new(),
    }
}

/// The same text as a user message in block form; `None` when it has no text. Always
/// blocks: a string would become a block the turn a cache breakpoint lands on it
/// (`pipeline/cache.rs` marks the newest message) and a string again the next turn,
/// changing bytes the provider had cached.
fn as_user(m: &Value) -> Option<Value> {
    let blocks = text_blocks(m);
    (!blocks.is_empty()).then(|| json!({"role": "user", "content": blocks}))
}

fn calls_tools(m: &Value) -> bool {
    role(m) == Some("assistant")
        && m.get("content").and_then(Value::as_array).is_some_and(|b| {
            b.iter()
                .any(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        })
}

/// Places every `role: "system"` message of an Anthropic body as the module explains, in
/// place (the body's key order, and with it the forwarded bytes, stays put), and returns
/// whether anything moved. A malformed system message or `system` is left alone, so
/// `parse_request` refuses it naming the client's own fields.
pub fn place_system_messages(body: &mut Value) -> bool {
    let Some(messages) = body.get("messages").and_then(Value::as_array) else {
        return false;
    };
    let system = messages.iter().filter(|m| is_system(m));
    if system.clone().next().is_none() || !system.clone().all(well_formed) {
        return false;
    }
    if !matches!(
        body.get("system"),
        None | Some(Value::Null | Value::String(_) | Value::Array(_))
    ) {
        return false;
    }
    let Some(Value::Array(messages)) = body.get_mut("messages") else {
        return false;
    };
    let opening = messages
        .iter()
        .position(|m| role(m) == Some("assistant"))
        .unwrap_or(messages.len());
    let mut added = Vec::new();
    let mut kept: Vec<Value> = Vec::with_capacity(messages.len());
    // System turns waiting for the tool results they must not come before.
    let mut waiting: Vec<Value> = Vec::new();
    for (i, m) in std::mem::take(messages).into_iter().enumerate() {
        if is_system(&m) {
            if i < opening {
                added.extend(text_blocks(&m));
            } else if !waiting.is_empty() || kept.last().is_some_and(calls_tools) {
                waiting.extend(as_user(&m));
            } else {
                kept.extend(as_user(&m));
            }
            continue;
        }
        let user = role(&m) == Some("user");
        kept.push(m);
        if user {
            kept.append(&mut waiting);
        }
    }
    kept.append(&mut waiting);
    *messages = kept;
    if added.is_empty() {
        return true;
    }
    let Some(obj) = body.as_object_mut() else {
        return true;
    };
    let system = obj.entry("system").or_insert(Value::Null);
    let mut blocks = match std::mem::take(system) {
        Value::String(s) if !s.is_empty() => vec![json!({"type": "text", "text": s})],
        Value::Array(b) => b,
        _ => Vec::new(),
    };
    blocks.extend(added);
    *system = Value::Array(blocks);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roles(body: &Value) -> Vec<&str> {
        body["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(role)
            .collect()
    }

    fn tool_turn(id: &str) -> [Value; 2] {
        [
            json!({"role": "assistant", "content": [{"type": "tool_use", "id": id, "name": "Read", "input": {}}]}),
            json!({"role": "user", "content": [{"type": "tool_result", "tool_use_id": id, "content": "x"}]}),
        ]
    }

    /// Turn after turn, the forwarded prompt (system, then messages) of the earlier turn is
    /// a prefix of the next one's, whichever reminders arrive late.
    #[test]
    fn a_late_system_message_changes_no_earlier_byte() {
        let opening = vec![
            json!({"role": "user", "content": "task"}),
            json!({"role": "system", "content": "environment"}),
        ];
        let [a1, u1] = tool_turn("t1");
        let [a2, u2] = tool_turn("t2");
        let reminder = json!({"role": "system", "content": "<system-reminder>r</system-reminder>"});
        let turns: Vec<Vec<Value>> = vec![
            opening.clone(),
            [opening.clone(), vec![a1.clone(), u1.clone()]].concat(),
            [
                opening.clone(),
                vec![a1.clone(), u1.clone(), reminder.clone()],
            ]
            .concat(),
            [
                opening,
                vec![a1, u1, reminder.clone(), a2, reminder, u2.clone()],
            ]
            .concat(),
        ];
        let forwarded: Vec<String> = turns
            .into_iter()
            .map(|messages| {
                let mut body =
                    json!({"model": "m", "max_tokens": 1, "system": "s", "messages": messages});
                assert!(place_system_messages(&mut body));
                let m = body["messages"].to_string();
                format!("{}{}", body["system"], &m[..m.len() - 1])
            })
            .collect();
        for pair in forwarded.windows(2) {
            assert!(pair[1].starts_with(&pair[0]), "{}\n{}", pair[0], pair[1]);
        }
        // The opening's system message is system text; the late ones are user turns, and
        // the one after a tool call waits for its results.
        let mut last = json!({"model": "m", "max_tokens": 1, "messages": [
            {"role": "user", "content": "task"},
            {"role": "system", "content": "environment"},
            tool_turn("a")[0], {"role": "system", "content": [{"type": "text", "text": "late"}, {"type": "text", "text": ""}]},
            tool_turn("a")[1]
        ]});
        assert!(place_system_messages(&mut last));
        assert_eq!(
            last["system"],
            json!([{"type": "text", "text": "environment"}])
        );
        assert_eq!(roles(&last), ["user", "assistant", "user", "user"]);
        assert_eq!(last["messages"][2]["content"][0]["type"], "tool_result");
        assert_eq!(
            last["messages"][3],
            json!({"role": "user", "content": [{"type": "text", "text": "late"}]})
        );
    }

    #[test]
    fn empty_late_system_messages_vanish() {
        let mut body = json!({"model": "m", "max_tokens": 1, "messages": [
            {"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"},
            {"role": "system", "content": ""}, {"role": "user", "content": "go"}
        ]});
        assert!(place_system_messages(&mut body));
        assert_eq!(roles(&body), ["user", "assistant", "user"]);
        assert!(body.get("system").is_none());
    }
}
