//! Client side: an Anthropic Messages request body → `ChatRequest`, validated like the
//! real API. Blocks and tools the internal model cannot carry are skipped here and named
//! by `untranslatable_fields`; message indices stay 1:1 with the client's, except that
//! `role: "system"` messages (mid-conversation system messages, which Claude Code sends)
//! become system text: see `system_messages.rs` for the body that is forwarded.

use serde_json::Value;

use crate::check::{index, kind, Obj, Side};
use crate::error::{Result, WireError};
use crate::types::{ChatRequest, ImageSource, Message, Part, Role, TextBlock, ToolChoice, ToolDef};

const SIDE: Side = Side::Client;

/// Content block types that are valid Anthropic input but that frugal does not carry.
pub(crate) const SKIPPED_BLOCKS: [&str; 14] = [
    "thinking",
    "redacted_thinking",
    "document",
    "search_result",
    "server_tool_use",
    "web_search_tool_result",
    "web_fetch_tool_result",
    "code_execution_tool_result",
    "bash_code_execution_tool_result",
    "text_editor_code_execution_tool_result",
    "tool_search_tool_result",
    "mcp_tool_use",
    "mcp_tool_result",
    "container_upload",
];

/// Parse and validate an Anthropic Messages request. `max_tokens` is required, as in the
/// real API; `metadata.user_id` becomes `user`; `disable_parallel_tool_use: true` becomes
/// `parallel_tool_calls: Some(false)`. A `cache_control` on a `tool_result` moves to the
/// result's last text block (same cache prefix); on images and tool calls it is dropped.
/// A `role: "system"` message inside `messages` is appended to the system prompt (after
/// the top-level `system`, in the order the messages come). `thinking`,
/// `context_management`, `output_config` and `metadata` do not steer routing; they stay in
/// the forwarded body and `untranslatable_fields` names those OpenAI cannot express.
pub fn parse_request(body: &Value) -> Result<ChatRequest> {
    if !body.is_object() {
        return Err(WireError::InvalidRequest(
            "the request body must be a JSON object".into(),
        ));
    }
    let top = Obj::new(body, "", SIDE)?;
    let model = top.str("model")?.to_string();
    let max_tokens = top
        .opt_u32("max_tokens", 1)?
        .ok_or_else(|| top.err("max_tokens", "is required"))?;
    let messages = top.array("messages")?;
    if messages.is_empty() {
        return Err(top.err("messages", "must contain at least one message"));
    }
    let mut system = parse_system(&top)?;
    let mut parsed = Vec::with_capacity(messages.len());
    for (i, m) in messages.iter().enumerate() {
        let o = Obj::new(m, index("messages", i), SIDE)?;
        if o.str("role")? == "system" {
            system.extend(system_message(&o)?);
        } else {
            parsed.push(parse_message(&o)?);
        }
    }
    if parsed.is_empty() {
        return Err(top.err(
            "messages",
            "must contain at least one user or assistant message",
        ));
    }
    top.opt_u32("top_k", 0)?;
    if let Some(t) = top.opt_obj("thinking")? {
        match t.str("type")? {
            "enabled" => {
                t.opt_u32("budget_tokens", 1)?
                    .ok_or_else(|| t.err("budget_tokens", "is required"))?;
            }
            "adaptive" | "disabled" => {}
            other => {
                return Err(t.err(
                    "type",
                    format!("unknown value `{other}`; expected enabled, adaptive or disabled"),
                ))
            }
        }
    }
    for key in ["context_management", "output_config"] {
        top.opt_obj(key)?;
    }
    let stop = top
        .opt_array("stop_sequences")?
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, s)| {
            s.as_str().map(str::to_string).ok_or_else(|| {
                SIDE.err(
                    &index("stop_sequences", i),
                    format!("expected a string, got {}", kind(s)),
                )
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let user = match top.opt_obj("metadata")? {
        Some(m) => m.opt_str("user_id")?.map(str::to_string),
        None => None,
    };
    let (tool_choice, parallel_tool_calls) = parse_tool_choice(&top)?;
    Ok(ChatRequest {
        model,
        system,
        messages: parsed,
        max_tokens: Some(max_tokens),
        temperature: top.opt_f64("temperature", 0.0..=1.0)?,
        top_p: top.opt_f64("top_p", 0.0..=1.0)?,
        stop,
        tools: parse_tools(&top)?,
        tool_choice,
        parallel_tool_calls,
        stream: top.opt_bool("stream")?.unwrap_or(false),
        stream_include_usage: false,
        user,
    })
}

fn parse_system(top: &Obj<'_>) -> Result<Vec<TextBlock>> {
    match top.get("system") {
        None => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![TextBlock {
            text: s.clone(),
            cache_control: None,
        }]),
        Some(Value::Array(blocks)) => blocks
            .iter()
            .enumerate()
            .map(|(i, b)| {
                let b = Obj::new(b, index("system", i), SIDE)?;
                match b.str("type")? {
                    "text" => Ok(TextBlock {
                        text: b.str("text")?.to_string(),
                        cache_control: b.get("cache_control").cloned(),
                    }),
                    other => Err(b.err(
                        "type",
                        format!("system blocks must be `text`, got `{other}`"),
                    )),
                }
            })
            .collect(),
        Some(other) => Err(top.err(
            "system",
            format!(
                "expected a string or an array of text blocks, got {}",
                kind(other)
            ),
        )),
    }
}

/// The text of a `role: "system"` message: a string or text blocks (empty texts dropped,
/// as the real API refuses empty text blocks).
fn system_message(o: &Obj<'_>) -> Result<Vec<TextBlock>> {
    match o.required("content")? {
        Value::String(s) if s.is_empty() => Ok(Vec::new()),
        Value::String(s) => Ok(vec![TextBlock {
            text: s.clone(),
            cache_control: None,
        }]),
        Value::Array(blocks) => {
            let path = o.path("content");
            let mut out = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                let b = Obj::new(b, index(&path, j), SIDE)?;
                match b.str("type")? {
                    "text" => {
                        let text = b.str("text")?;
                        if !text.is_empty() {
                            out.push(TextBlock {
                                text: text.to_string(),
                                cache_control: b.get("cache_control").cloned(),
                            });
                        }
                    }
                    other => {
                        return Err(b.err(
                            "type",
                            format!(
                                "a system message may contain only `text` blocks, got `{other}`"
                            ),
                        ))
                    }
                }
            }
            Ok(out)
        }
        other => Err(o.err(
            "content",
            format!(
                "expected a string or an array of text blocks, got {}",
                kind(other)
            ),
        )),
    }
}

fn parse_message(o: &Obj<'_>) -> Result<Message> {
    let role = match o.str("role")? {
        "user" => Role::User,
        "assistant" => Role::Assistant,
        other => {
            return Err(o.err(
                "role",
                format!("unknown role `{other}`; expected user or assistant"),
            ))
        }
    };
    let content = match o.required("content")? {
        Value::String(s) => vec![Part::text(s.clone())],
        Value::Array(blocks) => {
            let path = o.path("content");
            let mut parts = Vec::new();
            for (j, b) in blocks.iter().enumerate() {
                parts.extend(parse_block(&Obj::new(b, index(&path, j), SIDE)?)?);
            }
            parts
        }
        other => {
            return Err(o.err(
                "content",
                format!(
                    "expected a string or an array of content blocks, got {}",
                    kind(other)
                ),
            ))
        }
    };
    Ok(Message { role, content })
}

/// One content block; `None` for valid blocks frugal does not carry.
fn parse_block(b: &Obj<'_>) -> Result<Option<Part>> {
    let part = match b.str("type")? {
        "text" => Part::Text {
            text: b.str("text")?.to_string(),
            cache_control: b.get("cache_control").cloned(),
        },
        "image" => match parse_image(b)? {
            Some(source) => Part::Image {
                source,
                detail: None,
            },
            None => return Ok(None),
        },
        "tool_use" => {
            let input = b.required("input")?;
            if !input.is_object() {
                return Err(b.err("input", format!("expected an object, got {}", kind(input))));
            }
            Part::ToolUse {
                id: b.str("id")?.to_string(),
                name: b.str("name")?.to_string(),
                input: input.clone(),
            }
        }
        "tool_result" => parse_tool_result(b)?,
        t if SKIPPED_BLOCKS.contains(&t) => return Ok(None),
        other => return Err(b.err("type", format!("unknown content type `{other}`"))),
    };
    Ok(Some(part))
}

/// An image source; `None` for a Files API reference, which frugal does not carry.
fn parse_image(b: &Obj<'_>) -> Result<Option<ImageSource>> {
    let s = b.obj("source")?;
    match s.str("type")? {
        "base64" => Ok(Some(ImageSource::Base64 {
            media_type: s.str("media_type")?.to_string(),
            data: s.str("data")?.to_string(),
        })),
        "url" => Ok(Some(ImageSource::Url {
            url: s.str("url")?.to_string(),
        })),
        "file" => {
            s.str("file_id")?;
            Ok(None)
        }
        other => Err(s.err(
            "type",
            format!("unknown image source type `{other}`; expected base64, url or file"),
        )),
    }
}

fn parse_tool_result(b: &Obj<'_>) -> Result<Part> {
    let tool_use_id = b.str("tool_use_id")?.to_string();
    let mut content = match b.get("content") {
        None => Vec::new(),
        Some(Value::String(s)) if s.is_empty() => Vec::new(),
        Some(Value::String(s)) => vec![Part::text(s.clone())],
        Some(Value::Array(blocks)) => {
            let path = b.path("content");
            let mut parts = Vec::new();
            for (k, inner) in blocks.iter().enumerate() {
                let inner = Obj::new(inner, index(&path, k), SIDE)?;
                match inner.str("type")? {
                    "text" | "image" => parts.extend(parse_block(&inner)?),
                    "document" | "search_result" => {}
                    other => {
                        return Err(inner.err(
                            "type",
                            format!("content type `{other}` is not allowed in a tool_result"),
                        ))
                    }
                }
            }
            parts
        }
        Some(other) => {
            return Err(b.err(
                "content",
                format!(
                    "expected a string or an array of content blocks, got {}",
                    kind(other)
                ),
            ))
        }
    };
    if let Some(cc) = b.get("cache_control") {
        if let Some(Part::Text { cache_control, .. }) = content
            .iter_mut()
            .rev()
            .find(|p| matches!(p, Part::Text { .. }))
        {
            cache_control.get_or_insert_with(|| cc.clone());
        }
    }
    Ok(Part::ToolResult {
        tool_use_id,
        content,
        is_error: b.opt_bool("is_error")?.unwrap_or(false),
    })
}

/// Custom tools; Anthropic-defined and server tools (`type` other than `custom`) are
/// skipped (see untranslatable_fields).
fn parse_tools(top: &Obj<'_>) -> Result<Vec<ToolDef>> {
    let mut out = Vec::new();
    for (i, t) in top.opt_array("tools")?.into_iter().flatten().enumerate() {
        let t = Obj::new(t, index("tools", i), SIDE)?;
        let name = t.str("name")?;
        if !matches!(t.opt_str("type")?, None | Some("custom")) {
            continue;
        }
        let schema = t.required("input_schema")?;
        if !schema.is_object() {
            return Err(t.err(
                "input_schema",
                format!("expected an object, got {}", kind(schema)),
            ));
        }
        out.push(ToolDef {
            name: name.to_string(),
            description: t.opt_str("description")?.map(str::to_string),
            parameters: schema.clone(),
            cache_control: t.get("cache_control").cloned(),
        });
    }
    Ok(out)
}

fn parse_tool_choice(top: &Obj<'_>) -> Result<(Option<ToolChoice>, Option<bool>)> {
    let Some(c) = top.opt_obj("tool_choice")? else {
        return Ok((None, None));
    };
    let choice = match c.str("type")? {
        "auto" => ToolChoice::Auto,
        "any" => ToolChoice::Required,
        "none" => ToolChoice::None,
        "tool" => ToolChoice::Tool {
            name: c.str("name")?.to_string(),
        },
        other => {
            return Err(c.err(
                "type",
                format!("unknown value `{other}`; expected auto, any, tool or none"),
            ))
        }
    };
    let parallel = match c.opt_bool("disable_parallel_tool_use")? {
        Some(true) => Some(false),
        _ => None,
    };
    Ok((Some(choice), parallel))
}

#[cfg(test)]
#[path = "request_tests.rs"]
mod tests;
