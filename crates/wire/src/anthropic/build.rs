//! Provider side: `ChatRequest` → the Messages body sent to Anthropic. Refuses
//! (Untranslatable) what the Messages API cannot say; never routes.

use serde_json::{json, Map, Value};

use crate::check::{index, untranslatable};
use crate::error::Result;
use crate::shared::anthropic_image_problem;
use crate::types::{ChatRequest, ImageSource, Message, Part, Role, ToolChoice};
use crate::BuildOptions;

/// Build the upstream Messages body for `model`.
///
/// `max_tokens` falls back to, and is capped at, `opts.default_max_tokens` (Anthropic
/// requires it and rejects values above the model's limit). Empty
/// text is dropped (Anthropic rejects empty text blocks), then consecutive same-role
/// messages are merged (Anthropic requires alternation). Refuses mid-conversation system
/// messages, temperature above 1, image `detail`, non-base64 data URLs, unsupported image
/// types and tool-call arguments that are not a JSON object.
pub fn build_request(req: &ChatRequest, model: &str, opts: &BuildOptions) -> Result<Value> {
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let max_tokens = opts.cap(req.max_tokens).unwrap_or(opts.default_max_tokens);
    body.insert("max_tokens".into(), json!(max_tokens));
    let system: Vec<Value> = req
        .system
        .iter()
        .filter(|b| !b.text.is_empty())
        .map(|b| text_block(&b.text, b.cache_control.as_ref()))
        .collect();
    match system.as_slice() {
        [] => {}
        [one] if one.get("cache_control").is_none() => {
            body.insert("system".into(), one["text"].clone());
        }
        _ => {
            body.insert("system".into(), Value::Array(system));
        }
    }
    let mut messages: Vec<(Role, Vec<Value>)> = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        let path = index("messages", i);
        let blocks = encode_message(m, &path)?;
        if blocks.is_empty() {
            continue;
        }
        match messages.last_mut() {
            Some((role, prev)) if *role == m.role => prev.extend(blocks),
            _ => messages.push((m.role, blocks)),
        }
    }
    let messages: Vec<Value> = messages
        .into_iter()
        .map(|(role, content)| {
            let role = if role == Role::Assistant {
                "assistant"
            } else {
                "user"
            };
            json!({"role": role, "content": content})
        })
        .collect();
    body.insert("messages".into(), Value::Array(messages));
    if let Some(t) = req.temperature {
        if t > 1.0 {
            return Err(untranslatable(
                "temperature",
                format!("{t} is above Anthropic's maximum of 1"),
            ));
        }
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.stop.is_empty() {
        body.insert("stop_sequences".into(), json!(req.stop));
    }
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    if let Some(user) = &req.user {
        body.insert("metadata".into(), json!({"user_id": user}));
    }
    if !req.tools.is_empty() {
        let tools = req.tools.iter().map(|t| {
            let mut tool = Map::new();
            tool.insert("name".into(), json!(t.name));
            if let Some(d) = &t.description {
                tool.insert("description".into(), json!(d));
            }
            tool.insert("input_schema".into(), t.parameters.clone());
            if let Some(cc) = &t.cache_control {
                tool.insert("cache_control".into(), cc.clone());
            }
            Value::Object(tool)
        });
        body.insert("tools".into(), Value::Array(tools.collect()));
        if let Some(choice) = tool_choice(req.tool_choice.as_ref(), req.parallel_tool_calls) {
            body.insert("tool_choice".into(), choice);
        }
    }
    Ok(Value::Object(body))
}

/// Anthropic folds "no parallel calls" into `tool_choice`; `none` cannot carry it
/// (no calls at all makes it moot).
fn tool_choice(choice: Option<&ToolChoice>, parallel: Option<bool>) -> Option<Value> {
    let mut v = match choice {
        None if parallel == Some(false) => json!({"type": "auto"}),
        None => return None,
        Some(ToolChoice::None) => return Some(json!({"type": "none"})),
        Some(ToolChoice::Auto) => json!({"type": "auto"}),
        Some(ToolChoice::Required) => json!({"type": "any"}),
        Some(ToolChoice::Tool { name }) => json!({"type": "tool", "name": name}),
    };
    if parallel == Some(false) {
        v["disable_parallel_tool_use"] = json!(true);
    }
    Some(v)
}

fn text_block(text: &str, cache_control: Option<&Value>) -> Value {
    let mut b = json!({"type": "text", "text": text});
    if let Some(cc) = cache_control {
        b["cache_control"] = cc.clone();
    }
    b
}

fn encode_message(m: &Message, path: &str) -> Result<Vec<Value>> {
    if m.role == Role::System {
        return Err(untranslatable(
            path,
            "a system message after the conversation started has no Anthropic equivalent \
             (Anthropic has only the top-level system prompt)",
        ));
    }
    let mut out = Vec::new();
    for (j, part) in m.content.iter().enumerate() {
        let ppath = index(&format!("{path}.content"), j);
        match (m.role, part) {
            (
                _,
                Part::Text {
                    text,
                    cache_control,
                },
            ) => {
                if !text.is_empty() {
                    out.push(text_block(text, cache_control.as_ref()));
                }
            }
            (Role::User, Part::Image { source, detail }) => {
                out.push(image(source, detail.as_deref(), &ppath)?)
            }
            (Role::Assistant, Part::ToolUse { id, name, input }) => {
                if !input.is_object() {
                    return Err(untranslatable(
                        &format!("{ppath}.arguments"),
                        format!("the arguments of tool call `{id}` are not a JSON object, which Anthropic requires"),
                    ));
                }
                out.push(json!({"type": "tool_use", "id": id, "name": name, "input": input}));
            }
            (
                Role::User,
                Part::ToolResult {
                    tool_use_id,
                    content,
                    is_error,
                },
            ) => {
                out.push(tool_result(tool_use_id, content, *is_error, &ppath)?);
            }
            (role, _) => {
                let role = if role == Role::User {
                    "a user"
                } else {
                    "an assistant"
                };
                return Err(untranslatable(
                    &ppath,
                    format!("this kind of content cannot appear in {role} message"),
                ));
            }
        }
    }
    Ok(out)
}

fn image(source: &ImageSource, detail: Option<&str>, path: &str) -> Result<Value> {
    if let Some(d) = detail {
        return Err(untranslatable(
            &format!("{path}.detail"),
            format!("image detail `{d}` has no Anthropic equivalent"),
        ));
    }
    if let Some(problem) = anthropic_image_problem(source) {
        return Err(untranslatable(path, problem));
    }
    let source = match source {
        ImageSource::Url { url } => json!({"type": "url", "url": url}),
        ImageSource::Base64 { media_type, data } => {
            json!({"type": "base64", "media_type": media_type, "data": data})
        }
    };
    Ok(json!({"type": "image", "source": source}))
}

fn tool_result(tool_use_id: &str, content: &[Part], is_error: bool, path: &str) -> Result<Value> {
    let mut blocks = Vec::new();
    for (k, p) in content.iter().enumerate() {
        let ipath = index(&format!("{path}.content"), k);
        match p {
            Part::Text {
                text,
                cache_control,
            } => {
                if !text.is_empty() {
                    blocks.push(text_block(text, cache_control.as_ref()));
                }
            }
            Part::Image { source, detail } => {
                blocks.push(image(source, detail.as_deref(), &ipath)?)
            }
            _ => {
                return Err(untranslatable(
                    &ipath,
                    "a tool result may only hold text and images",
                ))
            }
        }
    }
    let mut v = json!({"type": "tool_result", "tool_use_id": tool_use_id});
    match blocks.as_slice() {
        [] => {}
        [one] if one["type"] == "text" && one.get("cache_control").is_none() => {
            v["content"] = one["text"].clone()
        }
        _ => v["content"] = Value::Array(blocks),
    }
    if is_error {
        v["is_error"] = json!(true);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::WireError;
    use crate::types::{TextBlock, ToolDef};

    const OPTS: BuildOptions = BuildOptions {
        default_max_tokens: 8192,
    };

    fn user(parts: Vec<Part>) -> Message {
        Message {
            role: Role::User,
            content: parts,
        }
    }

    #[test]
    fn defaults_and_merging() {
        let req = ChatRequest {
            system: vec![TextBlock {
                text: "sys".into(),
                cache_control: None,
            }],
            messages: vec![
                user(vec![Part::text("")]),
                Message {
                    role: Role::Assistant,
                    content: vec![Part::text("a")],
                },
                user(vec![Part::ToolResult {
                    tool_use_id: "t".into(),
                    content: vec![],
                    is_error: true,
                }]),
                user(vec![Part::text("b")]),
            ],
            user: Some("u1".into()),
            ..Default::default()
        };
        let body = build_request(&req, "claude", &OPTS).unwrap();
        assert_eq!(
            body,
            json!({"model": "claude", "max_tokens": 8192, "system": "sys", "messages": [
                {"role": "assistant", "content": [{"type": "text", "text": "a"}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "t", "is_error": true},
                    {"type": "text", "text": "b"}]}
            ], "metadata": {"user_id": "u1"}})
        );
    }

    #[test]
    fn max_tokens_defaults_and_caps() {
        let max = |requested: Option<u32>| {
            let req = ChatRequest {
                max_tokens: requested,
                ..Default::default()
            };
            build_request(&req, "m", &OPTS).unwrap()["max_tokens"].clone()
        };
        assert_eq!(max(None), 8192);
        assert_eq!(max(Some(100)), 100);
        assert_eq!(max(Some(64_000)), 8192);
    }

    #[test]
    fn tool_choice_folds_parallel() {
        let cases = [
            (
                None,
                Some(false),
                Some(json!({"type": "auto", "disable_parallel_tool_use": true})),
            ),
            (None, None, None),
            (
                Some(ToolChoice::None),
                Some(false),
                Some(json!({"type": "none"})),
            ),
            (
                Some(ToolChoice::Required),
                None,
                Some(json!({"type": "any"})),
            ),
            (
                Some(ToolChoice::Required),
                Some(true),
                Some(json!({"type": "any"})),
            ),
            (
                Some(ToolChoice::Tool { name: "f".into() }),
                Some(false),
                Some(json!({"type": "tool", "name": "f", "disable_parallel_tool_use": true})),
            ),
        ];
        for (choice, parallel, want) in cases {
            assert_eq!(tool_choice(choice.as_ref(), parallel), want);
        }
        let req = ChatRequest {
            tool_choice: Some(ToolChoice::Auto),
            ..Default::default()
        };
        assert!(build_request(&req, "m", &OPTS)
            .unwrap()
            .get("tool_choice")
            .is_none());
        let req = ChatRequest {
            tools: vec![ToolDef {
                name: "f".into(),
                description: None,
                parameters: json!({}),
                cache_control: None,
            }],
            tool_choice: Some(ToolChoice::Auto),
            ..Default::default()
        };
        assert_eq!(
            build_request(&req, "m", &OPTS).unwrap()["tool_choice"],
            json!({"type": "auto"})
        );
    }

    #[test]
    fn errors_name_the_field() {
        let url = |u: &str| ImageSource::Url { url: u.into() };
        let img = |source, detail: Option<&str>| Part::Image {
            source,
            detail: detail.map(str::to_string),
        };
        let cases: Vec<(ChatRequest, &str)> = vec![
            (
                ChatRequest { messages: vec![Message { role: Role::System, content: vec![] }], ..Default::default() },
                "messages[0]: ",
            ),
            (ChatRequest { temperature: Some(1.5), ..Default::default() }, "temperature: "),
            (
                ChatRequest { messages: vec![user(vec![img(url("https://x"), Some("low"))])], ..Default::default() },
                "messages[0].content[0].detail: ",
            ),
            (
                ChatRequest { messages: vec![user(vec![img(url("data:image/png,x"), None)])], ..Default::default() },
                "messages[0].content[0]: a data: URL",
            ),
            (
                ChatRequest {
                    messages: vec![Message {
                        role: Role::Assistant,
                        content: vec![Part::ToolUse { id: "c".into(), name: "f".into(), input: json!("{bad") }],
                    }],
                    ..Default::default()
                },
                "messages[0].content[0].arguments: ",
            ),
            (
                ChatRequest {
                    messages: vec![Message { role: Role::Assistant, content: vec![img(url("https://x"), None)] }],
                    ..Default::default()
                },
                "messages[0].content[0]: this kind of content cannot appear in an assistant message",
            ),
        ];
        for (req, want) in cases {
            match build_request(&req, "m", &OPTS) {
                Err(WireError::Untranslatable(e)) => {
                    assert!(e.starts_with(want), "{e} !~ {want}")
                }
                other => panic!("{want}: {other:?}"),
            }
        }
    }
}
