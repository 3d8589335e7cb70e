//! Which parts of a Responses request neither Anthropic Messages nor Chat Completions can
//! express. Read-only over the client's body; must stay in step with what `parse_request`
//! skips.

use serde_json::Value;

use crate::check::index;
use crate::shared::{anthropic_image_problem, image_from_url, parse_arguments};

/// Top-level fields with no equivalent on another wire whenever they are set to anything
/// but their "off" value (see [`is_off`]).
const NO_EQUIVALENT: [&str; 4] = ["top_logprobs", "max_tool_calls", "prompt", "reasoning"];

/// Fields, items and features of a Responses request with no faithful equivalent on
/// another wire, each named by its path (`input[2] (type `reasoning`)`). Empty when the
/// request can be translated as is. Fields that map (model, input messages with text and
/// images, function_call and function_call_output items, instructions, tools of type
/// function, tool_choice, parallel_tool_calls, max_output_tokens, temperature, top_p,
/// stream, user, safety_identifier, text.format `text`) are not listed, nor are those that
/// only steer the provider's bookkeeping (store, metadata, prompt_cache_key,
/// prompt_cache_retention, stream_options, service_tier auto/default, truncation
/// `disabled`, include `reasoning.encrypted_content`, which is empty without reasoning).
pub fn untranslatable_fields(body: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let Some(top) = body.as_object() else {
        return out;
    };
    for key in NO_EQUIVALENT {
        if top.get(key).is_some_and(|v| !is_off(v)) {
            out.push(key.to_string());
        }
    }
    if let Some(text) = top.get("text").and_then(Value::as_object) {
        let format = text.get("format").and_then(|f| f.get("type"));
        if let Some(kind) = format.and_then(Value::as_str).filter(|k| *k != "text") {
            out.push(format!("text.format (type `{kind}`)"));
        }
        if text.get("verbosity").is_some_and(|v| !is_off(v)) {
            out.push("text.verbosity".into());
        }
    }
    for item in top
        .get("include")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item.as_str() {
            Some("reasoning.encrypted_content") => {}
            Some(other) => out.push(format!("include `{other}`")),
            None => out.push("include".into()),
        }
    }
    if top.get("truncation").and_then(Value::as_str) == Some("auto") {
        out.push("truncation `auto`".into());
    }
    if let Some(tier) = top.get("service_tier").and_then(Value::as_str) {
        if !matches!(tier, "auto" | "default") {
            out.push(format!("service_tier `{tier}`"));
        }
    }
    tools(top.get("tools"), top.get("tool_choice"), &mut out);
    if let Some(items) = top.get("input").and_then(Value::as_array) {
        items_fields(items, &mut out);
    }
    out
}

/// The "not used" value of an optional field: null, false, 0, "", [], {} or an object
/// whose every field is off (`reasoning: {"effort": null}`).
fn is_off(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_off),
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
            Some("function") => {
                if t.get("strict").and_then(Value::as_bool) == Some(true) {
                    out.push(format!("{path}.strict"));
                }
            }
            other => out.push(format!("{path} (type `{}`)", other.unwrap_or("?"))),
        }
    }
    if let Some(kind) = choice.and_then(|c| c.get("type")).and_then(Value::as_str) {
        if kind != "function" {
            out.push(format!("tool_choice (type `{kind}`)"));
        }
    }
}

fn items_fields(items: &[Value], out: &mut Vec<String>) {
    let mut started = false;
    let mut conversational = false;
    for (i, item) in items.iter().enumerate() {
        let path = index("input", i);
        let kind = match item.get("type").and_then(Value::as_str) {
            Some(k) => k,
            None if item.get("role").is_some() => "message",
            None => "?",
        };
        match kind {
            "message" => {
                let role = item.get("role").and_then(Value::as_str).unwrap_or("");
                match role {
                    "system" | "developer" if started => out.push(format!(
                        "{path} (a {role} message after the conversation started)"
                    )),
                    "system" | "developer" => {}
                    _ => {
                        started = true;
                        conversational = true;
                    }
                }
                parts_fields(item.get("content"), &format!("{path}.content"), out);
            }
            "function_call" => {
                started = true;
                conversational = true;
                if let Some(args) = item.get("arguments").and_then(Value::as_str) {
                    if !parse_arguments(args).is_object() {
                        out.push(format!("{path}.arguments (not a JSON object)"));
                    }
                }
            }
            "function_call_output" => {
                started = true;
                parts_fields(item.get("output"), &format!("{path}.output"), out);
            }
            other => out.push(format!("{path} (type `{other}`)")),
        }
    }
    if !items.is_empty() && !conversational {
        out.push("input without a user or assistant turn".into());
    }
    if let Some(last) = items.last() {
        let is_assistant_text = last.get("role").and_then(Value::as_str) == Some("assistant")
            && last
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("message")
                == "message";
        if is_assistant_text {
            out.push(format!(
                "{} (a final assistant message would be continued as a prefill)",
                index("input", items.len() - 1)
            ));
        }
    }
}

fn parts_fields(content: Option<&Value>, path: &str, out: &mut Vec<String>) {
    let parts = content.and_then(Value::as_array);
    for (j, p) in parts.into_iter().flatten().enumerate() {
        let ppath = index(path, j);
        match p.get("type").and_then(Value::as_str) {
            Some("input_text" | "output_text" | "refusal") => {}
            Some("input_image") => {
                if let Some(d @ ("low" | "high")) = p.get("detail").and_then(Value::as_str) {
                    out.push(format!("{ppath}.detail `{d}`"));
                }
                match p.get("image_url").and_then(Value::as_str) {
                    Some(url) => {
                        if let Some(problem) = anthropic_image_problem(&image_from_url(url)) {
                            out.push(format!("{ppath}.image_url ({problem})"));
                        }
                    }
                    None => out.push(format!("{ppath}.file_id (an uploaded file)")),
                }
            }
            other => out.push(format!("{ppath} ({})", other.unwrap_or("?"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn agent_request_translates() {
        let body = json!({
            "model": "auto", "instructions": "be brief", "store": false, "stream": true,
            "include": ["reasoning.encrypted_content"], "reasoning": {"effort": null},
            "prompt_cache_key": "k", "text": {"format": {"type": "text"}},
            "parallel_tool_calls": true, "tool_choice": "auto", "service_tier": "auto",
            "tools": [{"type": "function", "name": "shell", "strict": false, "parameters": {}}],
            "input": [
                {"type": "message", "role": "developer", "content": "ctx"},
                {"role": "user", "content": [{"type": "input_text", "text": "hi"},
                    {"type": "input_image", "image_url": "data:image/png;base64,AA"}]},
                {"type": "function_call", "call_id": "c", "name": "shell", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c", "output": "ok"}
            ]
        });
        assert_eq!(untranslatable_fields(&body), Vec::<String>::new());
    }

    #[test]
    fn each_feature_is_named() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"reasoning": {"effort": "high"}}), "reasoning"),
            (json!({"top_logprobs": 3}), "top_logprobs"),
            (json!({"max_tool_calls": 2}), "max_tool_calls"),
            (json!({"prompt": {"id": "pmpt_1"}}), "prompt"),
            (
                json!({"text": {"format": {"type": "json_schema", "name": "x", "schema": {}}}}),
                "text.format (type `json_schema`)",
            ),
            (json!({"text": {"verbosity": "low"}}), "text.verbosity"),
            (
                json!({"include": ["message.output_text.logprobs"]}),
                "include `message.output_text.logprobs`",
            ),
            (json!({"truncation": "auto"}), "truncation `auto`"),
            (json!({"service_tier": "flex"}), "service_tier `flex`"),
            (
                json!({"tools": [{"type": "web_search"}]}),
                "tools[0] (type `web_search`)",
            ),
            (
                json!({"tools": [{"type": "function", "name": "f", "strict": true}]}),
                "tools[0].strict",
            ),
            (
                json!({"tool_choice": {"type": "allowed_tools", "mode": "auto", "tools": []}}),
                "tool_choice (type `allowed_tools`)",
            ),
        ];
        for (body, want) in cases {
            assert_eq!(
                untranslatable_fields(&body),
                vec![want.to_string()],
                "{body}"
            );
        }
    }

    #[test]
    fn item_features_are_named() {
        let body = json!({"input": [
            {"role": "user", "content": [
                {"type": "input_file", "file_id": "file_1"},
                {"type": "input_image", "file_id": "file_2"},
                {"type": "input_image", "image_url": "https://x/y.png", "detail": "high"}
            ]},
            {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAA"},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "[1]"},
            {"type": "function_call_output", "call_id": "c", "output": [{"type": "input_file", "file_id": "f"}]},
            {"role": "system", "content": "late"},
            {"type": "web_search_call", "id": "ws_1", "status": "completed"},
            {"type": "item_reference", "id": "msg_1"},
            {"role": "assistant", "content": "prefill"}
        ]});
        assert_eq!(
            untranslatable_fields(&body),
            vec![
                "input[0].content[0] (input_file)",
                "input[0].content[1].file_id (an uploaded file)",
                "input[0].content[2].detail `high`",
                "input[1] (type `reasoning`)",
                "input[2].arguments (not a JSON object)",
                "input[3].output[0] (input_file)",
                "input[4] (a system message after the conversation started)",
                "input[5] (type `web_search_call`)",
                "input[6] (type `item_reference`)",
                "input[7] (a final assistant message would be continued as a prefill)",
            ]
        );
    }

    #[test]
    fn instructions_alone_are_named() {
        let body = json!({"input": [{"role": "developer", "content": "x"}]});
        assert_eq!(
            untranslatable_fields(&body),
            vec!["input without a user or assistant turn"]
        );
    }
}
