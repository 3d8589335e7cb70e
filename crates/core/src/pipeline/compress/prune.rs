//! LOSSY, off by default (`[compression] prune_tools = true`): offer only the tools
//! relevant to the conversation. Tools are ranked by how many distinct words of their
//! name, description and parameter names appear in the user's messages; the best
//! `prune_keep` stay, in their original order, together with every tool the conversation
//! already called or `tool_choice` names. Removing tools changes the request the model
//! sees (and, turn to turn, the cacheable prefix), which is why it is opt-in; its recall on
//! BFCL is measured by `cargo bench -p frugal-core --bench compression`.

use std::collections::HashSet;

use serde_json::Value;

use crate::types::Format;

/// Words too common to say anything about relevance.
const STOP: [&str; 24] = [
    "the", "a", "an", "of", "to", "and", "or", "in", "on", "for", "is", "it", "with", "by", "be",
    "this", "that", "as", "at", "from", "me", "my", "i", "you",
];

/// Lower-case word stems of a text, splitting snake_case, camelCase and dotted names.
fn words(text: &str, out: &mut HashSet<String>) {
    let mut w = String::new();
    let mut prev_lower = false;
    for c in text.chars() {
        let boundary = !c.is_alphanumeric() || (c.is_uppercase() && prev_lower);
        if boundary && !w.is_empty() {
            push(&mut w, out);
        }
        if c.is_alphanumeric() {
            w.extend(c.to_lowercase());
        }
        prev_lower = c.is_lowercase();
    }
    push(&mut w, out);
}

fn push(w: &mut String, out: &mut HashSet<String>) {
    if w.len() > 1 && !STOP.contains(&w.as_str()) {
        // A crude stem ("orders" ~ "order") widens matches at no cost.
        let stem = w.strip_suffix('s').filter(|s| s.len() > 2).unwrap_or(w);
        out.insert(stem.to_string());
    }
    w.clear();
}

fn tool_name(format: Format, tool: &Value) -> Option<&str> {
    match format {
        Format::OpenAi => tool.pointer("/function/name").and_then(Value::as_str),
        Format::Anthropic | Format::Responses => tool.get("name").and_then(Value::as_str),
    }
}

/// The words a tool is about: its name, description, parameter names and descriptions.
fn tool_words(format: Format, tool: &Value) -> HashSet<String> {
    let mut out = HashSet::new();
    let (desc, params) = match format {
        Format::OpenAi => (
            tool.pointer("/function/description"),
            tool.pointer("/function/parameters"),
        ),
        Format::Anthropic => (tool.get("description"), tool.get("input_schema")),
        Format::Responses => (tool.get("description"), tool.get("parameters")),
    };
    if let Some(n) = tool_name(format, tool) {
        words(n, &mut out);
    }
    if let Some(d) = desc.and_then(Value::as_str) {
        words(d, &mut out);
    }
    if let Some(props) = params
        .and_then(|p| p.get("properties"))
        .and_then(Value::as_object)
    {
        for (name, schema) in props {
            words(name, &mut out);
            if let Some(d) = schema.get("description").and_then(Value::as_str) {
                words(d, &mut out);
            }
        }
    }
    out
}

/// User text, and the names of tools already called or forced, from a raw request body
/// (both formats: OpenAI `tool_calls`, Anthropic `tool_use` blocks).
fn conversation(body: &Value) -> (HashSet<String>, HashSet<String>) {
    let mut text = HashSet::new();
    let mut protected = HashSet::new();
    let strings = |v: &Value, out: &mut HashSet<String>| match v {
        Value::String(s) => words(s, out),
        Value::Array(parts) => {
            for p in parts {
                if let Some(t) = p.get("text").and_then(Value::as_str) {
                    words(t, out);
                }
            }
        }
        _ => {}
    };
    // Responses keeps its conversation under `input`, tool calls as `function_call` items.
    for m in body
        .get("messages")
        .or_else(|| body.get("input"))
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        if m.get("type").and_then(Value::as_str) == Some("function_call") {
            if let Some(n) = m.get("name").and_then(Value::as_str) {
                protected.insert(n.to_string());
            }
        }
        if role == "user" {
            if let Some(c) = m.get("content") {
                strings(c, &mut text);
            }
        }
        for call in m
            .get("tool_calls")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(n) = call.pointer("/function/name").and_then(Value::as_str) {
                protected.insert(n.to_string());
            }
        }
        for block in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if block.get("type").and_then(Value::as_str) == Some("tool_use") {
                if let Some(n) = block.get("name").and_then(Value::as_str) {
                    protected.insert(n.to_string());
                }
            }
        }
    }
    let forced = body
        .pointer("/tool_choice/function/name")
        .or_else(|| body.pointer("/tool_choice/name"))
        .and_then(Value::as_str);
    if let Some(n) = forced {
        protected.insert(n.to_string());
    }
    (text, protected)
}

/// Keep the `keep` most relevant tools (plus protected ones); returns how many were removed.
pub fn prune_tools(format: Format, body: &mut Value, keep: usize) -> usize {
    let (text, protected) = conversation(body);
    let Some(tools) = body.get_mut("tools").and_then(Value::as_array_mut) else {
        return 0;
    };
    if tools.len() <= keep {
        return 0;
    }
    let mut ranked: Vec<(usize, usize)> = tools
        .iter()
        .enumerate()
        .map(|(i, t)| (i, tool_words(format, t).intersection(&text).count()))
        .collect();
    // Most shared words first; the original order breaks ties.
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut kept: HashSet<usize> = ranked.iter().take(keep).map(|(i, _)| *i).collect();
    for (i, t) in tools.iter().enumerate() {
        if tool_name(format, t).is_some_and(|n| protected.contains(n)) {
            kept.insert(i);
        }
    }
    let before = tools.len();
    let mut i = 0;
    tools.retain(|_| {
        let k = kept.contains(&i);
        i += 1;
        k
    });
    before - tools.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn tool(name: &str, desc: &str) -> Value {
        json!({"type": "function", "function": {"name": name, "description": desc, "parameters": {"type": "object", "properties": {}}}})
    }

    #[test]
    fn keeps_the_relevant_and_the_already_called() {
        let mut body = json!({
            "messages": [
                {"role": "user", "content": "What's the weather in Paris?"},
                {"role": "assistant", "tool_calls": [{"id": "c", "type": "function", "function": {"name": "send_email", "arguments": "{}"}}]}
            ],
            "tools": [tool("get_weather", "Current weather for a city"), tool("book_flight", "Book a flight"),
                      tool("send_email", "Send an email"), tool("convert_currency", "Convert money")]
        });
        assert_eq!(prune_tools(Format::OpenAi, &mut body, 1), 2);
        let names: Vec<&str> = body["tools"]
            .as_array()
            .expect("tools")
            .iter()
            .filter_map(|t| t.pointer("/function/name").and_then(Value::as_str))
            .collect();
        assert_eq!(names, vec!["get_weather", "send_email"]);
    }

    #[test]
    fn few_tools_are_left_alone_and_anthropic_shape_works() {
        let mut body = json!({"messages": [{"role": "user", "content": "hi"}],
            "tools": [{"name": "a", "input_schema": {}}, {"name": "b", "input_schema": {}}]});
        assert_eq!(prune_tools(Format::Anthropic, &mut body, 8), 0);
        assert_eq!(body["tools"].as_array().map(Vec::len), Some(2));
    }
}
