//! Which parts of an Anthropic request OpenAI Chat Completions cannot express. Read-only
//! over the client's body; must stay in step with what `parse_request` skips.

use serde_json::Value;

use super::request::SKIPPED_BLOCKS;
use crate::check::index;

/// Fields and features of an Anthropic request with no faithful Chat Completions
/// equivalent, each named by its path (`messages[1].content[0] (thinking)`). Empty when
/// the request can go to OpenAI as is. Fields that do map (model, messages, max_tokens,
/// system, `role: "system"` messages (system text), stream, temperature, top_p,
/// stop_sequences ≤ 4, custom tools, tool_choice incl. disable_parallel_tool_use,
/// metadata.user_id (OpenAI `user`), service_tier, thinking disabled, an empty
/// `context_management` or `output_config`, and `cache_control`, which only steers caching
/// and OpenAI caches automatically) are not listed. `thinking` (enabled or adaptive) is:
/// Chat Completions has no thinking budget nor thinking blocks to return, and dropping it
/// would silently change the answer.
pub fn untranslatable_fields(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(top) = body.as_object() else {
        return out;
    };
    let set = |k: &str| top.get(k).filter(|v| !v.is_null());
    if set("top_k").is_some() {
        out.push("top_k".into());
    }
    if let Some(t) = set("thinking") {
        let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
        if kind != "disabled" {
            out.push(format!("thinking (type `{kind}`)"));
        }
    }
    for key in ["mcp_servers", "container"] {
        if set(key).is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
            out.push(key.into());
        }
    }
    // Context editing (clearing old tool results or thinking server-side) has no OpenAI
    // counterpart; an object without edits asks for nothing.
    if let Some(cm) = set("context_management") {
        let no_edits = cm.as_object().is_some_and(|o| {
            o.iter().all(|(k, v)| {
                v.is_null() || (k == "edits" && v.as_array().is_some_and(Vec::is_empty))
            })
        });
        if !no_edits {
            out.push("context_management".into());
        }
    }
    // `effort` (reasoning effort) and `format` (structured output) both need request
    // fields the translated OpenAI request does not carry.
    match set("output_config") {
        Some(Value::Object(o)) => {
            for (k, v) in o {
                if !v.is_null() {
                    out.push(format!("output_config.{k}"));
                }
            }
        }
        Some(_) => out.push("output_config".into()),
        None => {}
    }
    if let Some(n) = set("stop_sequences")
        .and_then(Value::as_array)
        .map(Vec::len)
    {
        if n > 4 {
            out.push(format!(
                "stop_sequences (OpenAI accepts at most 4, got {n})"
            ));
        }
    }
    for (i, t) in set("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        if let Some(kind) = t
            .get("type")
            .and_then(Value::as_str)
            .filter(|k| *k != "custom")
        {
            out.push(format!("{} (type `{kind}`)", index("tools", i)));
        }
    }
    let messages = set("messages").and_then(Value::as_array);
    for (i, m) in messages.into_iter().flatten().enumerate() {
        let path = index("messages", i);
        for (j, b) in m
            .get("content")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            block_fields(b, &index(&format!("{path}.content"), j), &mut out);
        }
    }
    if let Some(last) = messages.and_then(|m| m.last()) {
        if last.get("role").and_then(Value::as_str) == Some("assistant") {
            out.push(format!(
                "{} (a final assistant message is a prefill, which OpenAI does not support)",
                index("messages", messages.map_or(0, Vec::len) - 1)
            ));
        }
    }
    out
}

fn block_fields(b: &Value, path: &str, out: &mut Vec<String>) {
    let kind = b.get("type").and_then(Value::as_str).unwrap_or("");
    match kind {
        t if SKIPPED_BLOCKS.contains(&t) => out.push(format!("{path} ({t})")),
        "text"
            if b.get("citations")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty()) =>
        {
            out.push(format!("{path}.citations"));
        }
        "image" if b.pointer("/source/type").and_then(Value::as_str) == Some("file") => {
            out.push(format!("{path}.source (Files API reference)"));
        }
        "tool_result" => {
            let inner = b.get("content").and_then(Value::as_array);
            for (k, c) in inner.into_iter().flatten().enumerate() {
                let t = c.get("type").and_then(Value::as_str).unwrap_or("");
                if t != "text" {
                    out.push(format!(
                        "{path}.content[{k}] ({t} in a tool result; OpenAI tool messages carry only text)"
                    ));
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn plain_request_translates() {
        let body = json!({
            "model": "claude-sonnet-4-5", "max_tokens": 100, "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
            "thinking": {"type": "disabled"}, "metadata": {"user_id": "u"}, "service_tier": "auto", "stop_sequences": ["a", "b"],
            "context_management": {"edits": []}, "output_config": {},
            "tools": [{"name": "f", "input_schema": {"type": "object"}}, {"type": "custom", "name": "g", "input_schema": {}}],
            "tool_choice": {"type": "any", "disable_parallel_tool_use": true},
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "hi", "citations": null}, {"type": "image", "source": {"type": "url", "url": "https://x"}}]},
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": "ok"}], "is_error": false}]},
                {"role": "system", "content": [{"type": "text", "text": "reminder"}]}
            ]
        });
        assert_eq!(untranslatable_fields(&body), Vec::<String>::new());
    }

    #[test]
    fn each_feature_is_named() {
        let body = json!({
            "top_k": 5, "thinking": {"type": "enabled", "budget_tokens": 1024}, "mcp_servers": [{"url": "x"}],
            "container": "c", "context_management": {"edits": [{"type": "clear_tool_uses_20250919"}]},
            "output_config": {"effort": "high", "format": {"type": "json_schema", "schema": {}}}, "stop_sequences": ["1", "2", "3", "4", "5"],
            "tools": [{"type": "web_search_20250305", "name": "web_search"}],
            "messages": [
                {"role": "user", "content": [
                    {"type": "document", "source": {}},
                    {"type": "image", "source": {"type": "file", "file_id": "f"}},
                    {"type": "text", "text": "x", "citations": [{"type": "char_location"}]},
                    {"type": "tool_result", "tool_use_id": "t", "is_error": true, "content": [
                        {"type": "text", "text": "a"}, {"type": "image", "source": {}}]}
                ]},
                {"role": "assistant", "content": [{"type": "thinking", "thinking": "", "signature": ""}, {"type": "text", "text": "Sure"}]}
            ]
        });
        assert_eq!(
            untranslatable_fields(&body),
            vec![
                "top_k",
                "thinking (type `enabled`)",
                "mcp_servers",
                "container",
                "context_management",
                "output_config.effort",
                "output_config.format",
                "stop_sequences (OpenAI accepts at most 4, got 5)",
                "tools[0] (type `web_search_20250305`)",
                "messages[0].content[0] (document)",
                "messages[0].content[1].source (Files API reference)",
                "messages[0].content[2].citations",
                "messages[0].content[3].content[1] (image in a tool result; OpenAI tool messages carry only text)",
                "messages[1].content[0] (thinking)",
                "messages[1] (a final assistant message is a prefill, which OpenAI does not support)",
            ]
        );
    }

    #[test]
    fn adaptive_thinking_is_named() {
        let body = json!({"thinking": {"type": "adaptive"}, "messages": []});
        assert_eq!(
            untranslatable_fields(&body),
            vec!["thinking (type `adaptive`)"]
        );
    }
}
