//! Client side: an OpenAI Chat Completions request body → `ChatRequest`, validated like
//! the real API. Features the internal model cannot carry are skipped here and named by
//! `untranslatable_fields`; this file must not decide anything about the provider.

use serde_json::{json, Value};

use crate::check::{index, kind, Obj, Side};
use crate::error::{Result, WireError};
use crate::shared::{image_from_url, parse_arguments, tool_choice_mode};
use crate::types::{ChatRequest, Message, Part, Role, TextBlock, ToolChoice, ToolDef};

const SIDE: Side = Side::Client;

/// Parse and validate an OpenAI Chat Completions request.
///
/// Leading `system`/`developer` messages become `ChatRequest.system`; later ones become
/// `Role::System` messages. `tool` messages become `Part::ToolResult`s at the head of a
/// user message (merged with the user message that follows them, as Anthropic requires).
pub fn parse_request(body: &Value) -> Result<ChatRequest> {
    if !body.is_object() {
        return Err(WireError::InvalidRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    let top = Obj::new(body, "", SIDE)?;
    let model = top.str("model")?.to_string();
    let messages = top.array("messages")?;
    if messages.is_empty() {
        return Err(top.err("messages", "must contain at least one message"));
    }
    let (system, messages) = parse_messages(messages)?;
    let max_completion_tokens = top.opt_u32("max_completion_tokens", 1)?;
    let max_tokens = top.opt_u32("max_tokens", 1)?;
    top.opt_u32("n", 1)?;
    let stream = top.opt_bool("stream")?.unwrap_or(false);
    let include_usage = match top.opt_obj("stream_options")? {
        Some(o) => o.opt_bool("include_usage")?.unwrap_or(false),
        None => false,
    };
    let tools = match top.opt_array("tools")? {
        Some(tools) => parse_tools(tools)?,
        None => Vec::new(),
    };
    let user = match top.opt_str("user")? {
        Some(u) => Some(u),
        None => top.opt_str("safety_identifier")?,
    };
    Ok(ChatRequest {
        model,
        system,
        messages,
        max_tokens: max_completion_tokens.or(max_tokens),
        temperature: top.opt_f64("temperature", 0.0..=2.0)?,
        top_p: top.opt_f64("top_p", 0.0..=1.0)?,
        stop: parse_stop(&top)?,
        tools,
        tool_choice: parse_tool_choice(&top)?,
        parallel_tool_calls: top.opt_bool("parallel_tool_calls")?,
        stream,
        stream_include_usage: stream && include_usage,
        user: user.map(str::to_string),
    })
}

fn parse_messages(messages: &[Value]) -> Result<(Vec<TextBlock>, Vec<Message>)> {
    let mut system = Vec::new();
    let mut out: Vec<Message> = Vec::new();
    // Tool results wait here for the user message that may follow them.
    let mut results: Vec<Part> = Vec::new();
    let flush = |results: &mut Vec<Part>, out: &mut Vec<Message>| {
        if !results.is_empty() {
            out.push(Message {
                role: Role::User,
                content: std::mem::take(results),
            });
        }
    };
    for (i, m) in messages.iter().enumerate() {
        let o = Obj::new(m, index("messages", i), SIDE)?;
        if let Some(name) = o.get("name") {
            if !name.is_string() {
                return Err(o.err("name", "expected a string"));
            }
        }
        match o.str("role")? {
            "system" | "developer" => {
                flush(&mut results, &mut out);
                let blocks = text_only(&o, "content")?;
                if out.is_empty() {
                    system.extend(blocks);
                } else {
                    let content = blocks.into_iter().map(|b| Part::text(b.text)).collect();
                    out.push(Message {
                        role: Role::System,
                        content,
                    });
                }
            }
            "user" => {
                let mut content = std::mem::take(&mut results);
                content.extend(user_content(&o)?);
                out.push(Message {
                    role: Role::User,
                    content,
                });
            }
            "assistant" => {
                flush(&mut results, &mut out);
                out.push(Message {
                    role: Role::Assistant,
                    content: assistant_content(&o)?,
                });
            }
            "tool" => {
                let tool_use_id = o.str("tool_call_id")?.to_string();
                let content = text_only(&o, "content")?
                    .into_iter()
                    .map(|b| Part::text(b.text))
                    .collect();
                results.push(Part::ToolResult {
                    tool_use_id,
                    content,
                    is_error: false,
                });
            }
            // Deprecated function-calling results: valid, not carried (see untranslatable_fields).
            "function" => {
                o.str("name")?;
            }
            other => {
                return Err(o.err(
                    "role",
                    format!(
                    "unknown role `{other}`; expected system, developer, user, assistant or tool"
                ),
                ))
            }
        }
    }
    flush(&mut results, &mut out);
    Ok((system, out))
}

/// `content` that may only hold text: a string or an array of `text` parts.
fn text_only(o: &Obj<'_>, key: &str) -> Result<Vec<TextBlock>> {
    match o.required(key)? {
        Value::String(s) => Ok(vec![TextBlock {
            text: s.clone(),
            cache_control: None,
        }]),
        Value::Array(parts) => {
            let path = o.path(key);
            let mut out = Vec::new();
            for (j, p) in parts.iter().enumerate() {
                let p = Obj::new(p, index(&path, j), SIDE)?;
                match p.str("type")? {
                    "text" => out.push(TextBlock {
                        text: p.str("text")?.to_string(),
                        cache_control: None,
                    }),
                    other => {
                        return Err(p.err(
                            "type",
                            format!("content type `{other}` is not allowed here; expected `text`"),
                        ))
                    }
                }
            }
            Ok(out)
        }
        other => Err(o.err(
            key,
            format!(
                "expected a string or an array of content parts, got {}",
                kind(other)
            ),
        )),
    }
}

fn user_content(o: &Obj<'_>) -> Result<Vec<Part>> {
    let parts = match o.required("content")? {
        Value::String(s) => return Ok(vec![Part::text(s.clone())]),
        Value::Array(parts) => parts,
        other => {
            return Err(o.err(
                "content",
                format!(
                    "expected a string or an array of content parts, got {}",
                    kind(other)
                ),
            ))
        }
    };
    let path = o.path("content");
    let mut out = Vec::new();
    for (j, p) in parts.iter().enumerate() {
        let p = Obj::new(p, index(&path, j), SIDE)?;
        match p.str("type")? {
            "text" => out.push(Part::text(p.str("text")?)),
            "image_url" => out.push(image_part(&p)?),
            // Valid, not carried (see untranslatable_fields).
            "input_audio" => {
                p.obj("input_audio")?;
            }
            "file" => {
                p.obj("file")?;
            }
            other => {
                return Err(p.err(
                    "type",
                    format!(
                    "unknown content type `{other}`; expected text, image_url, input_audio or file"
                ),
                ))
            }
        }
    }
    Ok(out)
}

fn image_part(p: &Obj<'_>) -> Result<Part> {
    let image = p.obj("image_url")?;
    let url = image.str("url")?;
    let detail = match image.opt_str("detail")? {
        None | Some("auto") => None,
        Some(d @ ("low" | "high")) => Some(d.to_string()),
        Some(other) => {
            return Err(image.err(
                "detail",
                format!("unknown detail `{other}`; expected auto, low or high"),
            ))
        }
    };
    Ok(Part::Image {
        source: image_from_url(url),
        detail,
    })
}

fn assistant_content(o: &Obj<'_>) -> Result<Vec<Part>> {
    let mut out = Vec::new();
    match o.get("content") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => out.push(Part::text(s.clone())),
        Some(Value::Array(parts)) => {
            let path = o.path("content");
            for (j, p) in parts.iter().enumerate() {
                let p = Obj::new(p, index(&path, j), SIDE)?;
                match p.str("type")? {
                    "text" => out.push(Part::text(p.str("text")?)),
                    "refusal" => out.push(Part::text(p.str("refusal")?)),
                    other => {
                        return Err(p.err(
                            "type",
                            format!("unknown content type `{other}`; expected text or refusal"),
                        ))
                    }
                }
            }
        }
        Some(other) => {
            return Err(o.err(
                "content",
                format!(
                    "expected a string or an array of content parts, got {}",
                    kind(other)
                ),
            ))
        }
    }
    if let Some(refusal) = o.opt_str("refusal")? {
        out.push(Part::text(refusal));
    }
    let calls = o.opt_array("tool_calls")?;
    for (k, call) in calls.into_iter().flatten().enumerate() {
        let c = Obj::new(call, index(&o.path("tool_calls"), k), SIDE)?;
        match c.str("type")? {
            "function" => {
                let f = c.obj("function")?;
                out.push(Part::ToolUse {
                    id: c.str("id")?.to_string(),
                    name: f.str("name")?.to_string(),
                    input: parse_arguments(f.str("arguments")?),
                });
            }
            "custom" => {}
            other => {
                return Err(c.err(
                    "type",
                    format!("unknown tool call type `{other}`; expected function"),
                ))
            }
        }
    }
    let legacy = o.get("function_call").is_some() || o.get("audio").is_some();
    if o.get("content").is_none() && calls.is_none() && !legacy {
        return Err(o.err("content", "is required unless `tool_calls` is set"));
    }
    Ok(out)
}

fn parse_stop(top: &Obj<'_>) -> Result<Vec<String>> {
    match top.get("stop") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => {
            if items.len() > 4 {
                return Err(top.err(
                    "stop",
                    format!("at most 4 stop sequences are allowed, got {}", items.len()),
                ));
            }
            items
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    s.as_str().map(str::to_string).ok_or_else(|| {
                        SIDE.err(
                            &index("stop", i),
                            format!("expected a string, got {}", kind(s)),
                        )
                    })
                })
                .collect()
        }
        Some(other) => Err(top.err(
            "stop",
            format!(
                "expected a string or an array of strings, got {}",
                kind(other)
            ),
        )),
    }
}

fn parse_tools(tools: &[Value]) -> Result<Vec<ToolDef>> {
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let t = Obj::new(t, index("tools", i), SIDE)?;
        match t.str("type")? {
            "function" => {
                let f = t.obj("function")?;
                let parameters = match f.get("parameters") {
                    None => json!({"type": "object", "properties": {}}),
                    Some(p @ Value::Object(_)) => p.clone(),
                    Some(other) => {
                        return Err(f.err(
                            "parameters",
                            format!("expected an object, got {}", kind(other)),
                        ))
                    }
                };
                f.opt_bool("strict")?;
                out.push(ToolDef {
                    name: f.str("name")?.to_string(),
                    description: f.opt_str("description")?.map(str::to_string),
                    parameters,
                    cache_control: None,
                });
            }
            // Free-form custom tools: valid, not carried (see untranslatable_fields).
            "custom" => {}
            other => {
                return Err(t.err(
                    "type",
                    format!("unknown tool type `{other}`; expected function or custom"),
                ))
            }
        }
    }
    Ok(out)
}

fn parse_tool_choice(top: &Obj<'_>) -> Result<Option<ToolChoice>> {
    match top.get("tool_choice") {
        None => Ok(None),
        Some(Value::String(s)) => tool_choice_mode(top, s).map(Some),
        Some(v @ Value::Object(_)) => {
            let o = Obj::new(v, "tool_choice", SIDE)?;
            match o.str("type")? {
                "function" => Ok(Some(ToolChoice::Tool {
                    name: o.obj("function")?.str("name")?.to_string(),
                })),
                // Valid, not carried (see untranslatable_fields).
                "allowed_tools" | "custom" => Ok(None),
                other => Err(o.err("type", format!("unknown tool_choice type `{other}`"))),
            }
        }
        Some(other) => Err(top.err(
            "tool_choice",
            format!("expected a string or an object, got {}", kind(other)),
        )),
    }
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
