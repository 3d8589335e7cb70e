//! Which parts of an OpenAI request Anthropic's Messages API cannot express. Read-only
//! over the client's body; must stay in step with what `parse_request` skips.

use serde_json::Value;

use crate::check::index;
use crate::shared::{anthropic_image_problem, image_from_url, parse_arguments};

/// Top-level fields that have no Anthropic equivalent whenever they are set to anything
/// but their "off" value (see [`is_off`]).
const NO_EQUIVALENT: [&str; 12] = [
    "logprobs",
    "top_logprobs",
    "seed",
    "frequency_penalty",
    "presence_penalty",
    "logit_bias",
    "audio",
    "prediction",
    "reasoning_effort",
    "verbosity",
    "functions",
    "function_call",
];

/// Fields and features of an OpenAI request with no faithful Anthropic equivalent, each
/// named by its path (`messages[3].content[1] (input_audio)`). Empty when the request can
/// go to Anthropic as is. Fields that do map (model, messages, max_tokens,
/// max_completion_tokens, stream, stream_options, temperature ≤ 1, top_p, stop, tools,
/// tool_choice, parallel_tool_calls, user, safety_identifier, store=false, n=1,
/// service_tier auto/default, metadata without store, prompt_cache_key, which only steers
/// caching) are not listed.
pub fn untranslatable_fields(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(top) = body.as_object() else {
        return out;
    };
    let set = |k: &str| top.get(k).filter(|v| !is_off(v));
    for key in NO_EQUIVALENT {
        if set(key).is_some() {
            out.push(key.to_string());
        }
    }
    // Even `{}` turns web search on.
    if top.get("web_search_options").is_some_and(|v| !v.is_null()) {
        out.push("web_search_options".into());
    }
    if top.get("n").and_then(Value::as_u64).is_some_and(|n| n > 1) {
        out.push("n > 1".into());
    }
    // OpenAI answers system (or developer) messages alone; Anthropic refuses a request
    // without a user or assistant turn with a 400 no fallback gets past (found by fuzzing).
    let conversational = |m: &Value| {
        matches!(
            m.get("role").and_then(Value::as_str),
            Some("user" | "assistant" | "tool" | "function")
        )
    };
    if top
        .get("messages")
        .and_then(Value::as_array)
        .is_some_and(|ms| !ms.iter().any(conversational))
    {
        out.push("messages without a user or assistant turn".into());
    }
    if let Some(f) = set("response_format") {
        if f.get("type").and_then(Value::as_str) != Some("text") {
            out.push("response_format".into());
        }
    }
    if let Some(m) = set("modalities").and_then(Value::as_array) {
        if m.iter().any(|x| x.as_str() != Some("text")) {
            out.push("modalities".into());
        }
    }
    if top.get("store").and_then(Value::as_bool) == Some(true) {
        out.push("store".into());
    }
    if let Some(tier) = top.get("service_tier").and_then(Value::as_str) {
        if !matches!(tier, "auto" | "default") {
            out.push(format!("service_tier `{tier}`"));
        }
    }
    if top
        .get("temperature")
        .and_then(Value::as_f64)
        .is_some_and(|t| t > 1.0)
    {
        out.push("temperature > 1 (Anthropic's range is 0 to 1)".into());
    }
    tools(top.get("tools"), top.get("tool_choice"), &mut out);
    if let Some(messages) = top.get("messages").and_then(Value::as_array) {
        messages_fields(messages, &mut out);
    }
    out
}

/// The "not used" value of an optional field: null, false, 0, "", [] or {}.
fn is_off(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

fn tools(tools: Option<&Value>, choice: Option<&Value>, out: &mut Vec<String>) {
    for (i, t) in tools
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let path = index("tools", i);
        match t.get("type").and_then(Value::as_str) {
            Some("function") | None => {}
            Some(other) => out.push(format!("{path} (type `{other}`)")),
        }
        if t.pointer("/function/strict").and_then(Value::as_bool) == Some(true) {
            out.push(format!("{path}.function.strict"));
        }
    }
    if let Some(kind) = choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        if kind != "function" {
            out.push(format!("tool_choice (type `{kind}`)"));
        }
    }
}

fn messages_fields(messages: &[Value], out: &mut Vec<String>) {
    let mut started = false;
    for (i, m) in messages.iter().enumerate() {
        let path = index("messages", i);
        let role = m.get("role").and_then(Value::as_str).unwrap_or("");
        match role {
            "system" | "developer" if started => {
                out.push(format!(
                    "{path} (a {role} message after the conversation started)"
                ));
            }
            "system" | "developer" => {}
            "function" => out.push(format!("{path} (role `function`)")),
            _ => started = true,
        }
        if role != "function" && m.get("name").is_some_and(|n| !n.is_null()) {
            out.push(format!("{path}.name"));
        }
        for key in ["audio", "function_call"] {
            if m.get(key).is_some_and(|v| !v.is_null()) {
                out.push(format!("{path}.{key}"));
            }
        }
        content_fields(m.get("content"), &path, out);
        let calls = m.get("tool_calls").and_then(Value::as_array);
        for (k, call) in calls.into_iter().flatten().enumerate() {
            let cpath = index(&format!("{path}.tool_calls"), k);
            match call.get("type").and_then(Value::as_str) {
                Some("function") => {}
                other => out.push(format!("{cpath} (type `{}`)", other.unwrap_or("?"))),
            }
            if let Some(args) = call.pointer("/function/arguments").and_then(Value::as_str) {
                if !parse_arguments(args).is_object() {
                    out.push(format!("{cpath}.function.arguments (not a JSON object)"));
                }
            }
        }
    }
    if let Some(last) = messages.last() {
        let is_assistant = last.get("role").and_then(Value::as_str) == Some("assistant");
        if is_assistant && last.get("tool_calls").is_none_or(Value::is_null) {
            out.push(format!(
                "{} (a final assistant message would be continued as a prefill by Anthropic)",
                index("messages", messages.len() - 1)
            ));
        }
    }
}

fn content_fields(content: Option<&Value>, path: &str, out: &mut Vec<String>) {
    let parts = content.and_then(Value::as_array);
    for (j, p) in parts.into_iter().flatten().enumerate() {
        let ppath = index(&format!("{path}.content"), j);
        match p.get("type").and_then(Value::as_str) {
            Some(kind @ ("input_audio" | "file")) => out.push(format!("{ppath} ({kind})")),
            Some("image_url") => {
                let detail = p.pointer("/image_url/detail").and_then(Value::as_str);
                if let Some(d @ ("low" | "high")) = detail {
                    out.push(format!("{ppath}.image_url.detail `{d}`"));
                }
                if let Some(url) = p.pointer("/image_url/url").and_then(Value::as_str) {
                    if let Some(problem) = anthropic_image_problem(&image_from_url(url)) {
                        out.push(format!("{ppath}.image_url.url ({problem})"));
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(body: Value) -> Vec<String> {
        untranslatable_fields(&body)
    }

    #[test]
    fn plain_request_translates() {
        let body = json!({
            "model": "gpt-4o", "n": 1, "store": false, "service_tier": "auto", "seed": null,
            "frequency_penalty": 0, "presence_penalty": 0.0, "logprobs": false,
            "response_format": {"type": "text"}, "modalities": ["text"], "temperature": 1,
            "stream": true, "stream_options": {"include_usage": true}, "user": "u",
            "tools": [{"type": "function", "function": {"name": "f", "strict": false}}],
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "messages": [
                {"role": "developer", "content": "be brief"},
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "auto"}}]},
                {"role": "assistant", "content": null, "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
                {"role": "tool", "tool_call_id": "c", "content": "ok"}
            ]
        });
        assert_eq!(fields(body), Vec::<String>::new());
    }

    #[test]
    fn system_messages_alone_are_named() {
        let body = json!({"model": "m", "messages": [{"role": "system", "content": "x"}]});
        assert_eq!(
            fields(body),
            vec!["messages without a user or assistant turn"]
        );
    }

    #[test]
    fn each_feature_is_named() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"n": 2}), "n > 1"),
            (json!({"logprobs": true}), "logprobs"),
            (json!({"top_logprobs": 3}), "top_logprobs"),
            (
                json!({"response_format": {"type": "json_object"}}),
                "response_format",
            ),
            (json!({"seed": 7}), "seed"),
            (json!({"frequency_penalty": 0.5}), "frequency_penalty"),
            (json!({"presence_penalty": -1}), "presence_penalty"),
            (json!({"logit_bias": {"50256": -100}}), "logit_bias"),
            (json!({"audio": {"voice": "alloy"}}), "audio"),
            (json!({"modalities": ["text", "audio"]}), "modalities"),
            (json!({"prediction": {"type": "content"}}), "prediction"),
            (json!({"web_search_options": {}}), "web_search_options"),
            (json!({"reasoning_effort": "low"}), "reasoning_effort"),
            (json!({"store": true}), "store"),
            (json!({"service_tier": "flex"}), "service_tier `flex`"),
            (
                json!({"temperature": 1.5}),
                "temperature > 1 (Anthropic's range is 0 to 1)",
            ),
            (
                json!({"tools": [{"type": "custom", "custom": {"name": "x"}}]}),
                "tools[0] (type `custom`)",
            ),
            (
                json!({"tools": [{"type": "function", "function": {"name": "x", "strict": true}}]}),
                "tools[0].function.strict",
            ),
            (
                json!({"tool_choice": {"type": "allowed_tools"}}),
                "tool_choice (type `allowed_tools`)",
            ),
            (json!({"functions": [{"name": "f"}]}), "functions"),
        ];
        for (body, want) in cases {
            assert_eq!(fields(body.clone()), vec![want.to_string()], "{body}");
        }
    }

    #[test]
    fn message_features_are_named() {
        let body = json!({"messages": [
            {"role": "user", "name": "ann", "content": [
                {"type": "input_audio", "input_audio": {"data": "", "format": "wav"}},
                {"type": "file", "file": {"file_id": "f"}},
                {"type": "image_url", "image_url": {"url": "https://x/y.png", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "data:image/svg+xml,<svg/>"}}
            ]},
            {"role": "system", "content": "late"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "[1]"}},
                {"id": "b", "type": "function", "function": {"name": "f", "arguments": "{bad"}}
            ]},
            {"role": "function", "name": "f", "content": "x"},
            {"role": "assistant", "content": "prefill"}
        ]});
        assert_eq!(
            fields(body),
            vec![
                "messages[0].name",
                "messages[0].content[0] (input_audio)",
                "messages[0].content[1] (file)",
                "messages[0].content[2].image_url.detail `low`",
                "messages[0].content[3].image_url.url (a data: URL that is not base64 has no Anthropic equivalent)",
                "messages[1] (a system message after the conversation started)",
                "messages[2].tool_calls[0].function.arguments (not a JSON object)",
                "messages[2].tool_calls[1].function.arguments (not a JSON object)",
                "messages[3] (role `function`)",
                "messages[4] (a final assistant message would be continued as a prefill by Anthropic)",
            ]
        );
    }
}
