//! Where the text lives in a raw request body, per client format: visits every string
//! compression may rewrite (message texts, tool results, tool-call arguments) in prompt
//! order, telling the visitor what each one is. It never visits ids, names, tool schemas,
//! images or fields it does not know, so those always reach the provider untouched.

use serde_json::Value;

use crate::types::Format;

/// What a visited string is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotKind {
    /// System prompt (Anthropic `system`, OpenAI `system`/`developer` messages).
    System,
    UserText,
    AssistantText,
    /// A tool's output (OpenAI `tool` message, Anthropic `tool_result` content).
    ToolResult,
    /// The JSON arguments of an assistant tool call (OpenAI `function.arguments`).
    ToolArgs,
}

/// One visited string and where it sits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    pub kind: SlotKind,
    /// Index in `messages`; `None` for the Anthropic top-level `system`.
    pub message: Option<usize>,
    /// The tool call a result answers (`tool_call_id` / `tool_use_id`).
    pub call_id: Option<String>,
}

/// The visitor: gets each slot and may rewrite its text in place.
pub type Visitor<'f> = dyn FnMut(&Slot, &mut String) + 'f;

/// Visit every rewritable string of `body` in prompt order (system, then messages).
pub fn visit(format: Format, body: &mut Value, f: &mut Visitor<'_>) {
    match format {
        Format::OpenAi => visit_openai(body, f),
        Format::Anthropic => visit_anthropic(body, f),
        Format::Responses => visit_responses(body, f),
    }
}

/// Responses: `instructions`, then the `input` items (a plain string input is one user
/// text); tool outputs are `function_call_output` items, arguments `function_call` items.
fn visit_responses(body: &mut Value, f: &mut Visitor<'_>) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    if let Some(Value::String(s)) = obj.get_mut("instructions") {
        let slot = Slot {
            kind: SlotKind::System,
            message: None,
            call_id: None,
        };
        f(&slot, s);
    }
    let items = match obj.get_mut("input") {
        Some(Value::String(s)) => {
            let slot = Slot {
                kind: SlotKind::UserText,
                message: Some(0),
                call_id: None,
            };
            f(&slot, s);
            return;
        }
        Some(Value::Array(items)) => items,
        _ => return,
    };
    for (i, item) in items.iter_mut().enumerate() {
        let call_id = item
            .get("call_id")
            .and_then(Value::as_str)
            .map(str::to_string);
        let kind = item
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("message");
        let role = item.get("role").and_then(Value::as_str).unwrap_or("");
        let (kind, key) = match (kind, role) {
            ("message", "system" | "developer") => (SlotKind::System, "content"),
            ("message", "user") => (SlotKind::UserText, "content"),
            ("message", "assistant") => (SlotKind::AssistantText, "content"),
            ("function_call_output", _) => (SlotKind::ToolResult, "output"),
            ("function_call", _) => (SlotKind::ToolArgs, "arguments"),
            _ => continue,
        };
        let slot = Slot {
            kind,
            message: Some(i),
            call_id,
        };
        match item.get_mut(key) {
            Some(Value::String(s)) => f(&slot, s),
            Some(Value::Array(parts)) if kind != SlotKind::ToolArgs => {
                for p in parts {
                    let t = p.get("type").and_then(Value::as_str);
                    if matches!(t, Some("input_text" | "output_text")) {
                        if let Some(Value::String(s)) = p.get_mut("text") {
                            f(&slot, s);
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

fn visit_openai(body: &mut Value, f: &mut Visitor<'_>) {
    let Some(messages) = body.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    for (i, m) in messages.iter_mut().enumerate() {
        let Some(obj) = m.as_object_mut() else {
            continue;
        };
        let role = obj.get("role").and_then(Value::as_str).unwrap_or("");
        let (kind, call_id) = match role {
            "system" | "developer" => (SlotKind::System, None),
            "user" => (SlotKind::UserText, None),
            "assistant" => (SlotKind::AssistantText, None),
            "tool" => (
                SlotKind::ToolResult,
                obj.get("tool_call_id")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            ),
            "function" => (
                SlotKind::ToolResult,
                obj.get("name").and_then(Value::as_str).map(str::to_string),
            ),
            _ => continue,
        };
        let slot = Slot {
            kind,
            message: Some(i),
            call_id,
        };
        if let Some(content) = obj.get_mut("content") {
            visit_openai_content(content, &slot, f);
        }
        if let Some(calls) = obj.get_mut("tool_calls").and_then(Value::as_array_mut) {
            for call in calls {
                let id = call.get("id").and_then(Value::as_str).map(str::to_string);
                let args = call
                    .get_mut("function")
                    .and_then(|fun| fun.get_mut("arguments"));
                if let Some(Value::String(s)) = args {
                    let slot = Slot {
                        kind: SlotKind::ToolArgs,
                        message: Some(i),
                        call_id: id,
                    };
                    f(&slot, s);
                }
            }
        }
    }
}

fn visit_openai_content(content: &mut Value, slot: &Slot, f: &mut Visitor<'_>) {
    match content {
        Value::String(s) => f(slot, s),
        Value::Array(parts) => {
            for p in parts {
                if p.get("type").and_then(Value::as_str) == Some("text") {
                    if let Some(Value::String(s)) = p.get_mut("text") {
                        f(slot, s);
                    }
                }
            }
        }
        _ => {}
    }
}

fn visit_anthropic(body: &mut Value, f: &mut Visitor<'_>) {
    let Some(obj) = body.as_object_mut() else {
        return;
    };
    if let Some(system) = obj.get_mut("system") {
        let slot = Slot {
            kind: SlotKind::System,
            message: None,
            call_id: None,
        };
        visit_anthropic_blocks(system, &slot, f);
    }
    let Some(messages) = obj.get_mut("messages").and_then(Value::as_array_mut) else {
        return;
    };
    for (i, m) in messages.iter_mut().enumerate() {
        let kind = match m.get("role").and_then(Value::as_str) {
            Some("user") => SlotKind::UserText,
            Some("assistant") => SlotKind::AssistantText,
            _ => continue,
        };
        let slot = Slot {
            kind,
            message: Some(i),
            call_id: None,
        };
        let Some(content) = m.get_mut("content") else {
            continue;
        };
        if let Value::Array(blocks) = content {
            for b in blocks {
                if b.get("type").and_then(Value::as_str) == Some("tool_result") {
                    let result = Slot {
                        kind: SlotKind::ToolResult,
                        message: Some(i),
                        call_id: b
                            .get("tool_use_id")
                            .and_then(Value::as_str)
                            .map(str::to_string),
                    };
                    if let Some(c) = b.get_mut("content") {
                        visit_anthropic_blocks(c, &result, f);
                    }
                } else {
                    visit_text_block(b, &slot, f);
                }
            }
        } else {
            visit_anthropic_blocks(content, &slot, f);
        }
    }
}

/// A string, or an array of blocks whose `text` blocks are visited.
fn visit_anthropic_blocks(v: &mut Value, slot: &Slot, f: &mut Visitor<'_>) {
    match v {
        Value::String(s) => f(slot, s),
        Value::Array(blocks) => {
            for b in blocks {
                visit_text_block(b, slot, f);
            }
        }
        _ => {}
    }
}

fn visit_text_block(b: &mut Value, slot: &Slot, f: &mut Visitor<'_>) {
    if b.get("type").and_then(Value::as_str) == Some("text") {
        if let Some(Value::String(s)) = b.get_mut("text") {
            f(slot, s);
        }
    }
}

/// Where a body of `format` keeps its conversation (`input` for Responses).
pub fn messages_key(format: Format) -> &'static str {
    match format {
        Format::Responses => "input",
        Format::OpenAi | Format::Anthropic => "messages",
    }
}

/// The length of a body's conversation list.
pub fn message_count(format: Format, body: &Value) -> usize {
    body.get(messages_key(format))
        .and_then(Value::as_array)
        .map_or(0, Vec::len)
}
