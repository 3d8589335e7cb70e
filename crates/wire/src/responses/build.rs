//! Provider side: `ChatRequest` → the Responses body sent to a Responses-only OpenAI model
//! (catalogue `api = "responses"`). Refuses (Untranslatable) what the Responses API cannot
//! say; never routes.

use serde_json::{json, Map, Value};

use crate::check::{index, untranslatable};
use crate::error::Result;
use crate::openai::TOOL_ERROR_MARKER;
use crate::shared::{arguments_string, data_url};
use crate::types::{ChatRequest, ImageSource, Message, Part, Role, ToolChoice};
use crate::BuildOptions;

/// Build the upstream Responses body for `model`.
///
/// The system prompt becomes `instructions`; messages become input items (assistant tool
/// calls `function_call` items, tool results `function_call_output` items). `store` is
/// always false: frugal keeps no state and sends the whole conversation each time.
/// `max_tokens` is sent as `max_output_tokens`, capped at `opts.default_max_tokens`.
/// Refuses stop sequences (the Responses API has none) and images in assistant turns.
pub fn build_request(req: &ChatRequest, model: &str, opts: &BuildOptions) -> Result<Value> {
    if !req.stop.is_empty() {
        return Err(untranslatable(
            "stop",
            "the Responses API has no stop sequences",
        ));
    }
    let mut body = Map::new();
    body.insert("model".into(), json!(model));
    let instructions: Vec<&str> = req.system.iter().map(|b| b.text.as_str()).collect();
    if !instructions.is_empty() {
        body.insert("instructions".into(), json!(instructions.join("\n\n")));
    }
    let mut input = Vec::new();
    for (i, m) in req.messages.iter().enumerate() {
        encode_message(m, &index("messages", i), &mut input)?;
    }
    body.insert("input".into(), Value::Array(input));
    if let Some(n) = opts.cap(req.max_tokens) {
        body.insert("max_output_tokens".into(), json!(n));
    }
    if let Some(t) = req.temperature {
        body.insert("temperature".into(), json!(t));
    }
    if let Some(p) = req.top_p {
        body.insert("top_p".into(), json!(p));
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| {
                let mut f = Map::new();
                f.insert("type".into(), json!("function"));
                f.insert("name".into(), json!(t.name));
                if let Some(d) = &t.description {
                    f.insert("description".into(), json!(d));
                }
                f.insert("parameters".into(), t.parameters.clone());
                // Strict schemas need every property required; clients of other wires
                // never promised that.
                f.insert("strict".into(), json!(false));
                Value::Object(f)
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
    body.insert("store".into(), json!(false));
    if req.stream {
        body.insert("stream".into(), json!(true));
    }
    if let Some(user) = &req.user {
        body.insert("safety_identifier".into(), json!(user));
    }
    Ok(Value::Object(body))
}

fn tool_choice(choice: &ToolChoice) -> Value {
    match choice {
        ToolChoice::Auto => json!("auto"),
        ToolChoice::None => json!("none"),
        ToolChoice::Required => json!("required"),
        ToolChoice::Tool { name } => json!({"type": "function", "name": name}),
    }
}

fn image(source: &ImageSource, detail: Option<&String>) -> Value {
    let url = match source {
        ImageSource::Url { url } => url.clone(),
        ImageSource::Base64 { media_type, data } => data_url(media_type, data),
    };
    json!({"type": "input_image", "image_url": url, "detail": detail.map_or("auto", String::as_str)})
}

/// One message → input items, in order: text and images gather into message items, tool
/// calls and tool results stand alone between them.
fn encode_message(m: &Message, path: &str, out: &mut Vec<Value>) -> Result<()> {
    let role = match m.role {
        Role::User => "user",
        Role::Assistant => "assistant",
        Role::System => "system",
    };
    let mut parts: Vec<Value> = Vec::new();
    let flush = |parts: &mut Vec<Value>, out: &mut Vec<Value>| {
        if parts.is_empty() {
            return;
        }
        let content = std::mem::take(parts);
        out.push(json!({"type": "message", "role": role, "content": content}));
    };
    let text_type = if m.role == Role::Assistant {
        "output_text"
    } else {
        "input_text"
    };
    for (j, part) in m.content.iter().enumerate() {
        let ppath = index(&format!("{path}.content"), j);
        match part {
            Part::Text { text, .. } => parts.push(json!({"type": text_type, "text": text})),
            Part::Image { source, detail } if m.role != Role::Assistant => {
                parts.push(image(source, detail.as_ref()));
            }
            Part::ToolUse { id, name, input } if m.role == Role::Assistant => {
                flush(&mut parts, out);
                out.push(json!({"type": "function_call", "call_id": id, "name": name,
                    "arguments": arguments_string(input)}));
            }
            Part::ToolResult {
                tool_use_id,
                content,
                is_error,
            } if m.role == Role::User => {
                flush(&mut parts, out);
                out.push(
                    json!({"type": "function_call_output", "call_id": tool_use_id,
                    "output": tool_output(content, *is_error, &ppath)?}),
                );
            }
            _ => {
                return Err(untranslatable(
                    &ppath,
                    format!("this part has no Responses equivalent in a {role} message"),
                ))
            }
        }
    }
    flush(&mut parts, out);
    Ok(())
}

/// A tool result's output: a string when it is all text, else input parts. The Responses
/// API has no error flag, so a failure is stated in the text (as for Chat Completions).
fn tool_output(content: &[Part], is_error: bool, path: &str) -> Result<Value> {
    let mut parts = Vec::new();
    if is_error {
        parts.push(json!({"type": "input_text", "text": TOOL_ERROR_MARKER}));
    }
    for (k, p) in content.iter().enumerate() {
        match p {
            Part::Text { text, .. } => parts.push(json!({"type": "input_text", "text": text})),
            Part::Image { source, detail } => parts.push(image(source, detail.as_ref())),
            _ => {
                return Err(untranslatable(
                    &index(&format!("{path}.content"), k),
                    "a tool result holds only text and images",
                ))
            }
        }
    }
    if parts.iter().all(|p| p["type"] == "input_text") {
        let texts: Vec<&str> = parts.iter().filter_map(|p| p["text"].as_str()).collect();
        return Ok(json!(texts.join(" ")));
    }
    Ok(Value::Array(parts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::TextBlock;

    const OPTS: BuildOptions = BuildOptions {
        default_max_tokens: 1000,
    };

    fn msg(role: Role, content: Vec<Part>) -> Message {
        Message { role, content }
    }

    #[test]
    fn conversation_with_tools_becomes_items() {
        let req = ChatRequest {
            system: vec![TextBlock {
                text: "Be brief.".into(),
                cache_control: None,
            }],
            messages: vec![
                msg(Role::User, vec![Part::text("list files")]),
                msg(
                    Role::Assistant,
                    vec![
                        Part::text("Sure."),
                        Part::ToolUse {
                            id: "c1".into(),
                            name: "ls".into(),
                            input: json!({}),
                        },
                    ],
                ),
                msg(
                    Role::User,
                    vec![
                        Part::ToolResult {
                            tool_use_id: "c1".into(),
                            content: vec![Part::text("a.txt")],
                            is_error: true,
                        },
                        Part::text("and?"),
                    ],
                ),
            ],
            max_tokens: Some(5000),
            stream: true,
            user: Some("u1".into()),
            ..Default::default()
        };
        let body = build_request(&req, "gpt-5-codex", &OPTS).unwrap();
        assert_eq!(
            body,
            json!({
                "model": "gpt-5-codex",
                "instructions": "Be brief.",
                "input": [
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "list files"}]},
                    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Sure."}]},
                    {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}"},
                    {"type": "function_call_output", "call_id": "c1", "output": "[tool error] a.txt"},
                    {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "and?"}]}
                ],
                "max_output_tokens": 1000,
                "store": false,
                "stream": true,
                "safety_identifier": "u1"
            })
        );
    }

    #[test]
    fn stop_sequences_are_refused() {
        let req = ChatRequest {
            stop: vec!["END".into()],
            ..ChatRequest::from_turns(&["hi"])
        };
        let err = build_request(&req, "m", &OPTS).unwrap_err().to_string();
        assert_eq!(err, "stop: the Responses API has no stop sequences");
    }
}
