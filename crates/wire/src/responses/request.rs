//! Client side: an OpenAI Responses request body → `ChatRequest`, validated like the real
//! API. Items and fields the internal model cannot carry are skipped here and named by
//! `untranslatable_fields`; requests that need server-side state are refused.

use serde_json::{json, Value};

use crate::check::{index, kind, Obj, Side};
use crate::error::Result;
use crate::shared::{image_from_url, parse_arguments, tool_choice_mode};
use crate::types::{ChatRequest, Message, Part, Role, TextBlock, ToolChoice, ToolDef};

const SIDE: Side = Side::Client;

/// The advice every stateful field's refusal carries.
const STATELESS: &str = "frugal is a stateless gateway and keeps no responses or \
    conversations; send the whole conversation in `input` on every request, with `store: false`";

/// Parse and validate a Responses request.
///
/// `instructions` and leading `system`/`developer` messages become `ChatRequest.system`;
/// later ones become `Role::System` messages. `function_call` items join the assistant
/// message before them; `function_call_output` items become `Part::ToolResult`s at the
/// head of a user message (merged with a user message that follows them).
pub fn parse_request(body: &Value) -> Result<ChatRequest> {
    let top = Obj::new(body, "", SIDE)?;
    for key in ["previous_response_id", "conversation"] {
        if top.get(key).is_some() {
            return Err(top.err(key, format!("is not supported: {STATELESS}")));
        }
    }
    if top.opt_bool("background")? == Some(true) {
        return Err(top.err("background", format!("is not supported: {STATELESS}")));
    }
    let model = top.str("model")?.to_string();
    let mut system = Vec::new();
    if let Some(text) = instructions(&top)? {
        system.push(TextBlock {
            text,
            cache_control: None,
        });
    }
    let messages = match top.required("input")? {
        Value::String(s) => vec![Message {
            role: Role::User,
            content: vec![Part::text(s.clone())],
        }],
        Value::Array(items) => parse_items(items, &mut system)?,
        other => {
            return Err(top.err(
                "input",
                format!(
                    "expected a string or an array of items, got {}",
                    kind(other)
                ),
            ))
        }
    };
    let stream = top.opt_bool("stream")?.unwrap_or(false);
    let tools = match top.opt_array("tools")? {
        Some(tools) => parse_tools(tools)?,
        None => Vec::new(),
    };
    let user = match top.opt_str("safety_identifier")? {
        Some(u) => Some(u),
        None => top.opt_str("user")?,
    };
    if let Some(text) = top.opt_obj("text")? {
        if let Some(format) = text.opt_obj("format")? {
            format.str("type")?;
        }
    }
    Ok(ChatRequest {
        model,
        system,
        messages,
        max_tokens: top.opt_u32("max_output_tokens", 1)?,
        temperature: top.opt_f64("temperature", 0.0..=2.0)?,
        top_p: top.opt_f64("top_p", 0.0..=1.0)?,
        stop: Vec::new(),
        tools,
        tool_choice: parse_tool_choice(&top)?,
        parallel_tool_calls: top.opt_bool("parallel_tool_calls")?,
        stream,
        // A Responses stream always ends with the usage in `response.completed`.
        stream_include_usage: stream,
        user: user.map(str::to_string),
    })
}

/// `instructions`: a string (the API also echoes input items here in responses, but a
/// request carries text).
fn instructions(top: &Obj<'_>) -> Result<Option<String>> {
    Ok(top
        .opt_str("instructions")?
        .filter(|s| !s.is_empty())
        .map(str::to_string))
}

/// The conversation so far, item by item.
struct Conversation<'s> {
    system: &'s mut Vec<TextBlock>,
    out: Vec<Message>,
    /// Tool outputs waiting for the user message that may follow them.
    results: Vec<Part>,
}

impl Conversation<'_> {
    fn flush(&mut self) {
        if !self.results.is_empty() {
            self.out.push(Message {
                role: Role::User,
                content: std::mem::take(&mut self.results),
            });
        }
    }

    /// Text, or a tool call, said by the assistant: one assistant message per turn.
    fn assistant(&mut self, parts: Vec<Part>) {
        self.flush();
        match self.out.last_mut() {
            Some(m) if m.role == Role::Assistant => m.content.extend(parts),
            _ => self.out.push(Message {
                role: Role::Assistant,
                content: parts,
            }),
        }
    }
}

fn parse_items(items: &[Value], system: &mut Vec<TextBlock>) -> Result<Vec<Message>> {
    let mut c = Conversation {
        system,
        out: Vec::new(),
        results: Vec::new(),
    };
    for (i, item) in items.iter().enumerate() {
        let o = Obj::new(item, index("input", i), SIDE)?;
        let item_type = match o.opt_str("type")? {
            Some(t) => t,
            None if o.get("role").is_some() => "message",
            None => return Err(o.err("type", "is required (or `role` for a message)")),
        };
        match item_type {
            "message" => message(&o, &mut c)?,
            "function_call" => {
                let input = parse_arguments(o.str("arguments")?);
                c.assistant(vec![Part::ToolUse {
                    id: o.str("call_id")?.to_string(),
                    name: o.str("name")?.to_string(),
                    input,
                }]);
            }
            "function_call_output" => {
                let tool_use_id = o.str("call_id")?.to_string();
                let content = match o.required("output")? {
                    Value::String(s) => vec![Part::text(s.clone())],
                    Value::Array(_) => content_parts(&o, "output")?,
                    other => {
                        return Err(o.err(
                            "output",
                            format!("expected a string or an array, got {}", kind(other)),
                        ))
                    }
                };
                c.results.push(Part::ToolResult {
                    tool_use_id,
                    content,
                    is_error: false,
                });
            }
            // Reasoning, built-in tool calls and their outputs, item references: valid,
            // not carried (see untranslatable_fields).
            _ => {}
        }
    }
    c.flush();
    Ok(c.out)
}

fn message(o: &Obj<'_>, c: &mut Conversation<'_>) -> Result<()> {
    let content = match o.required("content")? {
        Value::String(s) => vec![Part::text(s.clone())],
        Value::Array(_) => content_parts(o, "content")?,
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
    match o.str("role")? {
        "system" | "developer" => {
            c.flush();
            if c.out.is_empty() {
                for part in content {
                    if let Part::Text { text, .. } = part {
                        c.system.push(TextBlock {
                            text,
                            cache_control: None,
                        });
                    }
                }
            } else {
                c.out.push(Message {
                    role: Role::System,
                    content,
                });
            }
        }
        "user" => {
            let mut parts = std::mem::take(&mut c.results);
            parts.extend(content);
            c.out.push(Message {
                role: Role::User,
                content: parts,
            });
        }
        "assistant" => c.assistant(content),
        other => {
            return Err(o.err(
                "role",
                format!("unknown role `{other}`; expected user, assistant, system or developer"),
            ))
        }
    }
    Ok(())
}

/// An array of content parts (a message's `content`, a tool output's `output`).
fn content_parts(o: &Obj<'_>, key: &str) -> Result<Vec<Part>> {
    let path = o.path(key);
    let mut out = Vec::new();
    for (j, p) in o.array(key)?.iter().enumerate() {
        let p = Obj::new(p, index(&path, j), SIDE)?;
        match p.str("type")? {
            "input_text" | "output_text" => out.push(Part::text(p.str("text")?)),
            "refusal" => out.push(Part::text(p.str("refusal")?)),
            "input_image" => {
                if let Some(image) = image_part(&p)? {
                    out.push(image);
                }
            }
            // Files, audio and image file ids: valid, not carried (see untranslatable_fields).
            _ => {}
        }
    }
    Ok(out)
}

fn image_part(p: &Obj<'_>) -> Result<Option<Part>> {
    let detail = match p.opt_str("detail")? {
        None | Some("auto") => None,
        Some(d @ ("low" | "high")) => Some(d.to_string()),
        Some(other) => {
            return Err(p.err(
                "detail",
                format!("unknown detail `{other}`; expected auto, low or high"),
            ))
        }
    };
    match p.opt_str("image_url")? {
        Some(url) => Ok(Some(Part::Image {
            source: image_from_url(url),
            detail,
        })),
        None if p.get("file_id").is_some() => Ok(None),
        None => Err(p.err("image_url", "is required unless `file_id` is set")),
    }
}

fn parse_tools(tools: &[Value]) -> Result<Vec<ToolDef>> {
    let mut out = Vec::new();
    for (i, t) in tools.iter().enumerate() {
        let t = Obj::new(t, index("tools", i), SIDE)?;
        if t.str("type")? != "function" {
            // Built-in and custom tools: valid, not carried (see untranslatable_fields).
            continue;
        }
        let parameters = match t.get("parameters") {
            None => json!({"type": "object", "properties": {}}),
            Some(p @ Value::Object(_)) => p.clone(),
            Some(other) => {
                return Err(t.err(
                    "parameters",
                    format!("expected an object, got {}", kind(other)),
                ))
            }
        };
        t.opt_bool("strict")?;
        out.push(ToolDef {
            name: t.str("name")?.to_string(),
            description: t.opt_str("description")?.map(str::to_string),
            parameters,
            cache_control: None,
        });
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
                    name: o.str("name")?.to_string(),
                })),
                // Allowed-tool lists and built-in tools: valid, not carried.
                _ => Ok(None),
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
