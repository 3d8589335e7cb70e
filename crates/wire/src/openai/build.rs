//! Provider side: `ChatRequest` → the Chat Completions body sent to an OpenAI(-compatible)
//! upstream. Refuses (Untranslatable) what Chat Completions cannot say; never routes.

use serde_json::{json, Map, Value};

use crate::check::{index, untranslatable};
use crate::error::Result;
use crate::shared::{arguments_string, data_url};
use crate::types::{ChatRequest, ImageSource, Message, Part, Role, TextBlock, ToolChoice};
use crate::BuildOptions;

/// Build the upstream Chat Completions body for `model`.
///
/// `max_tokens` is sent as `max_completion_tokens` (the only form newer OpenAI models
/// accept), capped at `opts.default_max_tokens`. A streamed request always asks for the
/// final usage chunk, since the gateway meters every stream. Prompt-cache markers are
/// dropped: OpenAI caches automatically. Refuses images or error flags in tool results,
/// images in assistant turns, and more than 4 stop sequences.
pub fn build_request(req: &ChatRequest, model: &str, opts: &BuildOptions) -> Result<Value> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let mut messages = Vec::new();
    if !req.system.is_empty() {
        messages.push(json!({"role": "system", "content": system_content(&req.system)}));
    }
    for (i, m) in req.messages.iter().enumerate() {
        encode_message(m, &index("messages", i), &mut messages)?;
    }
    body.insert("messages".into(), Value::Array(messages));
    if let Some(n) = opts.cap(req.max_tokens) {
        body.insert("max_completion_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        if req.stop.len() > 4 {
            return Err(untranslatable(
                "stop_sequences",
                format!(
                    "OpenAI accepts at most 4 stop sequences, the request has {}",
                    req.stop.len()
                ),
            ));
        }
        body.insert("stop".into(), json!(req.stop));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = Map::new();
                f.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    f.insert("description".into(), json!(d));
                }
                f.insert("parameters".into(), t.parameters.clone());
                json!({"type": "function", "function": f})
            })
            .collect();
        body.insert("tools".into(), Value::Array(tools));
        if let Some(choice) = &req.tool_choice {
            body.insert("tool_choice".into(), tool_choice(choice));
        }
        if let Some(parallel) = req.parallel_tool_calls {
            body.insert("parallel_tool_calls".into(), json!(parallel));
        }
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
        body.insert("stream_options".into(), json!({"include_usage": true}));
    }
    if let Some(user) = &req.user {
        body.insert("user".into(), json!(user));
    }
    Ok(Value::Object(body))
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool { name } => json!({"type": "function", "function": {"name": name}}),
    }
}

/// One block as a plain string, several as text parts (OpenAI keeps them apart too).
fn system_content(blocks: &[TextBlock]) -> Value {
    match blocks {
        [one] => json!(one.text),
        many => Value::Array(
            many.iter()
                .map(|b| json!({"type": "text", "text": b.text}))
                .collect(),
        ),
    }
}

fn encode_message(m: &Message, path: &str, out: &mut Vec<Value>) -> Result<()> {
    match m.role {
        Role::System => {
            let texts = only_text(
                &m.content,
                &format!("{path}.content"),
                "OpenAI system messages carry only text",
            )?;
            out.push(json!({"role": "system", "content": text_content(&texts)}));
        }
        Role::User => encode_user(m, path, out)?,
        Role::Assistant => out.push(encode_assistant(m, path)?),
    }
    Ok(())
}

/// Prefix that carries Anthropic's `is_error: true` into an OpenAI tool message.
pub const TOOL_ERROR_MARKER: &str = "[tool error]";

/// Tool results become `tool` messages, which must directly follow the assistant's tool
/// calls, so they go first; the rest of the turn follows as one user message.
fn encode_user(m: &Message, path: &str, out: &mut Vec<Value>) -> Result<()> {
    let mut parts = Vec::new();
    for (j, part) in m.content.iter().enumerate() {
        let ppath = index(&format!("{path}.content"), j);
        match part {
            Part::ToolResult {
                tool_use_id,
                content,
                is_error,
            } => {
                let mut texts = only_text(
                    content,
                    &format!("{ppath}.content"),
                    "OpenAI tool messages carry only text",
                )?;
                // OpenAI tool messages have no error flag; the failure is stated in the text
                // itself so the model still learns the tool failed.
                if *is_error {
                    match texts.first_mut() {
                        Some(first) => *first = format!("{TOOL_ERROR_MARKER} {first}"),
                        None => texts.push(TOOL_ERROR_MARKER.to_string()),
                    }
                }
                out.push(json!({"role": "tool", "tool_call_id": tool_use_id, "content": text_content(&texts)}));
            }
            Part::Text { text, .. } => parts.push(json!({"type": "text", "text": text})),
            Part::Image { source, detail } => {
                let url = match source {
                    ImageSource::Url { url } => url.clone(),
                    ImageSource::Base64 { media_type, data } => data_url(media_type, data),
                };
                let mut image = Map::new();
                image.insert("url".into(), json!(url));
                if let Some(d) = detail {
                    image.insert("detail".into(), json!(d));
                }
                parts.push(json!({"type": "image_url", "image_url": image}));
            }
            Part::ToolUse { .. } => {
                return Err(untranslatable(
                    &ppath,
                    "a tool call in a user message has no OpenAI equivalent",
                ))
            }
        }
    }
    if parts.is_empty() {
        return Ok(());
    }
    let content = match parts.as_slice() {
        [one] if one["type"] == "text" => one["text"].clone(),
        _ => Value::Array(parts),
    };
    out.push(json!({"role": "user", "content": content}));
    Ok(())
}

fn encode_assistant(m: &Message, path: &str) -> Result<Value> {
    let mut texts = Vec::new();
    let mut calls = Vec::new();
    for (j, part) in m.content.iter().enumerate() {
        match part {
            Part::Text { text, .. } => texts.push(text.clone()),
            Part::ToolUse { id, name, input } => calls.push(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": arguments_string(input)},
            })),
            Part::Image { .. } | Part::ToolResult { .. } => {
                return Err(untranslatable(
                    &index(&format!("{path}.content"), j),
                    "OpenAI assistant messages carry only text and tool calls",
                ))
            }
        }
    }
    let content = match texts.as_slice() {
        [] if !calls.is_empty() => Value::Null,
        [] => json!(""),
        _ => text_content(&texts),
    };
    let mut msg = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        msg["tool_calls"] = Value::Array(calls);
    }
    Ok(msg)
}

fn only_text(parts: &[Part], path: &str, why: &str) -> Result<Vec<String>> {
    parts
        .iter()
        .enumerate()
        .map(|(j, p)| match p {
            Part::Text { text, .. } => Ok(text.clone()),
            _ => Err(untranslatable(&index(path, j), why)),
        })
        .collect()
}

/// A single text as a string, several as text parts, none as "".
fn text_content(texts: &[String]) -> Value {
    match texts {
        [] => json!(""),
        [one] => json!(one),
        many => Value::Array(
            many.iter()
                .map(|t| json!({"type": "text", "text": t}))
                .collect(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::WireError;
    use crate::types::ToolDef;

    const OPTS: BuildOptions = BuildOptions {
        default_max_tokens: 4096,
    };

    fn msg(role: Role, content: Vec<Part>) -> Message {
        Message { role, content }
    }

    #[test]
    fn minimal_body() {
        let req = ChatRequest {
            messages: vec![msg(Role::User, vec![Part::text("hi")])],
            ..Default::default()
        };
        let body = build_request(&req, "gpt-4o", &OPTS).unwrap();
        assert_eq!(
            body,
            json!({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]})
        );
    }

    #[test]
    fn max_tokens_is_capped_at_the_model_limit() {
        let req = ChatRequest {
            max_tokens: Some(32_000),
            ..Default::default()
        };
        let body = build_request(&req, "m", &OPTS).unwrap();
        assert_eq!(body["max_completion_tokens"], 4096);
        let unknown = BuildOptions {
            default_max_tokens: 0,
        };
        assert_eq!(
            build_request(&req, "m", &unknown).unwrap()["max_completion_tokens"],
            32_000
        );
        let none = build_request(&ChatRequest::default(), "m", &OPTS).unwrap();
        assert!(none.get("max_completion_tokens").is_none());
    }

    #[test]
    fn stream_always_asks_for_usage() {
        let req = ChatRequest {
            stream: true,
            ..Default::default()
        };
        let body = build_request(&req, "m", &OPTS).unwrap();
        assert_eq!(body["stream_options"], json!({"include_usage": true}));
    }

    #[test]
    fn tool_choice_needs_tools() {
        let mut req = ChatRequest {
            tool_choice: Some(ToolChoice::Required),
            parallel_tool_calls: Some(false),
            ..Default::default()
        };
        let body = build_request(&req, "m", &OPTS).unwrap();
        assert!(body.get("tool_choice").is_none() && body.get("parallel_tool_calls").is_none());
        req.tools.push(ToolDef {
            name: "f".into(),
            description: None,
            parameters: json!({}),
            cache_control: None,
        });
        let body = build_request(&req, "m", &OPTS).unwrap();
        assert_eq!(body["tool_choice"], "required");
        assert_eq!(body["parallel_tool_calls"], false);
    }

    #[test]
    fn tool_error_flag_becomes_a_marker() {
        let req = ChatRequest {
            messages: vec![msg(
                Role::User,
                vec![Part::ToolResult {
                    tool_use_id: "t1".into(),
                    content: vec![Part::text("file not found")],
                    is_error: true,
                }],
            )],
            ..Default::default()
        };
        let body = build_request(&req, "m", &OPTS).unwrap();
        assert_eq!(body["messages"][0]["role"], "tool");
        assert_eq!(
            body["messages"][0]["content"],
            "[tool error] file not found"
        );
    }

    #[test]
    fn errors_name_the_field() {
        let result = |content: Vec<Part>, is_error: bool| Part::ToolResult {
            tool_use_id: "t".into(),
            content,
            is_error,
        };
        let image = Part::Image {
            source: ImageSource::Url {
                url: "https://x".into(),
            },
            detail: None,
        };
        let cases = vec![
            (
                msg(Role::User, vec![result(vec![image.clone()], false)]),
                "messages[0].content[0].content[0]",
            ),
            (
                msg(Role::Assistant, vec![image.clone()]),
                "messages[0].content[0]",
            ),
            (msg(Role::System, vec![image]), "messages[0].content[0]"),
            (
                msg(
                    Role::User,
                    vec![Part::ToolUse {
                        id: "x".into(),
                        name: "f".into(),
                        input: json!({}),
                    }],
                ),
                "messages[0].content[0]",
            ),
        ];
        for (m, path) in cases {
            let req = ChatRequest {
                messages: vec![m],
                ..Default::default()
            };
            match build_request(&req, "m", &OPTS) {
                Err(WireError::Untranslatable(e)) => {
                    assert!(e.starts_with(&format!("{path}: ")), "{e}")
                }
                other => panic!("{path}: {other:?}"),
            }
        }
        let req = ChatRequest {
            stop: vec!["a".into(); 5],
            ..Default::default()
        };
        assert!(
            matches!(build_request(&req, "m", &OPTS), Err(WireError::Untranslatable(e)) if e.starts_with("stop_sequences:"))
        );
    }

    #[test]
    fn tool_results_come_first_and_unparsed_arguments_round_trip() {
        let req = ChatRequest {
            messages: vec![
                msg(
                    Role::Assistant,
                    vec![Part::ToolUse {
                        id: "c1".into(),
                        name: "f".into(),
                        input: json!("{oops"),
                    }],
                ),
                msg(
                    Role::User,
                    vec![
                        Part::ToolResult {
                            tool_use_id: "c1".into(),
                            content: vec![],
                            is_error: false,
                        },
                        Part::text("thanks"),
                        Part::text("more"),
                    ],
                ),
            ],
            ..Default::default()
        };
        let body = build_request(&req, "m", &OPTS).unwrap();
        assert_eq!(
            body["messages"],
            json!([
                {"role": "assistant", "content": null, "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{oops"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": ""},
                {"role": "user", "content": [{"type": "text", "text": "thanks"}, {"type": "text", "text": "more"}]}
            ])
        );
    }
}
