//! Complete (non-streamed) Responses answers: provider side `parse_response` and
//! `parse_usage`, client side `render_response`, and the status mapping (the table lives
//! in the wire crate's `lib.rs`). The `response` object built here is also what the stream renderer
//! sends in `response.created` and `response.completed`.

use serde_json::{json, Value};

use crate::check::{count, index, Obj, Side};
use crate::error::Result;
use crate::shared::{arguments_string, parse_arguments};
use crate::types::{ChatResponse, Part, StopReason, Usage};

const SIDE: Side = Side::Upstream("openai responses");

/// Parse an upstream Responses answer. Message text and refusals become text parts,
/// `function_call` items tool calls; reasoning and other items are skipped. Malformed JSON
/// is an `Internal` error whose message starts with "malformed openai responses response".
pub fn parse_response(body: &Value) -> Result<ChatResponse> {
    let top = Obj::new(body, "", SIDE)?;
    if let Some(err) = top.get("error") {
        return Err(SIDE.err("error", format!("upstream reported an error: {err}")));
    }
    let output = top.array("output")?;
    let mut content = Vec::new();
    let mut refused = false;
    for (i, item) in output.iter().enumerate() {
        let item = Obj::new(item, index("output", i), SIDE)?;
        match item.str("type")? {
            "message" => {
                let path = item.path("content");
                for (j, p) in item.array("content")?.iter().enumerate() {
                    let p = Obj::new(p, index(&path, j), SIDE)?;
                    match p.str("type")? {
                        "output_text" => content.push(Part::text(p.str("text")?)),
                        "refusal" => {
                            refused = true;
                            content.push(Part::text(p.str("refusal")?));
                        }
                        _ => {}
                    }
                }
            }
            "function_call" => content.push(Part::ToolUse {
                id: item.str("call_id")?.to_string(),
                name: item.str("name")?.to_string(),
                input: parse_arguments(item.opt_str("arguments")?.unwrap_or("")),
            }),
            // Reasoning and built-in tool items carry nothing the other wires can say.
            _ => {}
        }
    }
    let stop_reason = stop_reason(&top, &content, refused)?;
    Ok(ChatResponse {
        id: top.opt_str("id")?.unwrap_or_default().to_string(),
        model: top.opt_str("model")?.unwrap_or_default().to_string(),
        content,
        stop_reason,
        stop_sequence: None,
        usage: top.get("usage").map(parse_usage).unwrap_or_default(),
    })
}

/// `status` (and `incomplete_details.reason`) → internal. The Responses API has no
/// "stopped for a tool call" status: a completed answer holding a function call is one.
pub(crate) fn stop_reason(
    top: &Obj<'_>,
    content: &[Part],
    refused: bool,
) -> Result<Option<StopReason>> {
    let reason = match top.opt_str("status")? {
        None => return Ok(None),
        Some("completed") if refused => StopReason::Refusal,
        Some("completed") if content.iter().any(|p| matches!(p, Part::ToolUse { .. })) => {
            StopReason::ToolUse
        }
        Some("completed") => StopReason::EndTurn,
        Some("incomplete") => {
            let why = match top.opt_obj("incomplete_details")? {
                Some(d) => d.opt_str("reason")?,
                None => None,
            };
            match why {
                Some("max_output_tokens") => StopReason::MaxTokens,
                Some("content_filter") => StopReason::ContentFilter,
                Some(other) => StopReason::Other(other.to_string()),
                None => StopReason::Other("incomplete".into()),
            }
        }
        Some(other) => StopReason::Other(other.to_string()),
    };
    Ok(Some(reason))
}

/// Responses `usage` → internal usage. `input_tokens` already includes
/// `input_tokens_details.cached_tokens`; `output_tokens` already includes
/// `output_tokens_details.reasoning_tokens` (billed as output either way).
pub fn parse_usage(v: &Value) -> Usage {
    let details = v.get("input_tokens_details");
    Usage {
        input_tokens: count(v, "input_tokens"),
        output_tokens: count(v, "output_tokens"),
        cache_read_tokens: details.map_or(0, |d| count(d, "cached_tokens")),
        cache_write_tokens: details.map_or(0, |d| count(d, "cache_write_tokens")),
    }
}

/// Internal usage → Responses `usage`. Another provider's reasoning is not carried, so
/// `reasoning_tokens` is 0.
pub(crate) fn render_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.input_tokens,
        "input_tokens_details": {
            "cached_tokens": u.cache_read_tokens,
            "cache_write_tokens": u.cache_write_tokens
        },
        "output_tokens": u.output_tokens,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": u.input_tokens + u.output_tokens
    })
}

/// A response id in the Responses style (`resp_…`): an answer from another wire keeps its
/// own id after the prefix, so it can still be traced upstream.
pub fn responses_id(id: &str) -> String {
    format!("resp_{}", crate::shared::bare_id(id))
}

/// The id of output item `n` of response `id`: the stream and the final object agree.
pub(crate) fn item_id(prefix: &str, response_id: &str, n: usize) -> String {
    let bare = response_id.strip_prefix("resp_").unwrap_or(response_id);
    format!("{prefix}_{bare}_{n}")
}

/// A finished `message` output item holding `text` (a refusal when `refusal`).
pub(crate) fn message_item(id: &str, text: &str, refusal: bool, status: &str) -> Value {
    let part = if refusal {
        json!({"type": "refusal", "refusal": text})
    } else {
        json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []})
    };
    json!({"id": id, "type": "message", "status": status, "role": "assistant", "content": [part]})
}

/// A `function_call` output item.
pub(crate) fn call_item(id: &str, call_id: &str, name: &str, args: &str, status: &str) -> Value {
    json!({"id": id, "type": "function_call", "status": status, "arguments": args,
        "call_id": call_id, "name": name})
}

/// The output items of an answer: consecutive text parts form one message item, each tool
/// call one `function_call` item.
pub(crate) fn output_items(resp: &ChatResponse, refused: bool) -> Vec<Value> {
    let mut items = Vec::new();
    let mut text = String::new();
    let mut has_text = false;
    let id = responses_id(&resp.id);
    let flush = |items: &mut Vec<Value>, text: &mut String, has_text: &mut bool| {
        if std::mem::take(has_text) {
            let item_id = item_id("msg", &id, items.len());
            items.push(message_item(&item_id, text, refused, "completed"));
            text.clear();
        }
    };
    for p in &resp.content {
        match p {
            Part::Text { text: t, .. } => {
                text.push_str(t);
                has_text = true;
            }
            Part::ToolUse {
                id: call,
                name,
                input,
            } => {
                flush(&mut items, &mut text, &mut has_text);
                let item_id = item_id("fc", &id, items.len());
                let args = arguments_string(input);
                items.push(call_item(&item_id, call, name, &args, "completed"));
            }
            Part::Image { .. } | Part::ToolResult { .. } => {}
        }
    }
    flush(&mut items, &mut text, &mut has_text);
    items
}

/// `status` and `incomplete_details` for a stop reason.
pub(crate) fn status(reason: Option<&StopReason>) -> (&'static str, Value) {
    let incomplete = |why: &str| ("incomplete", json!({"reason": why}));
    match reason {
        Some(StopReason::MaxTokens) => incomplete("max_output_tokens"),
        Some(StopReason::ContentFilter) => incomplete("content_filter"),
        Some(StopReason::Other(o)) if o == "model_context_window_exceeded" => {
            incomplete("max_output_tokens")
        }
        _ => ("completed", Value::Null),
    }
}

/// What a `response` object needs besides its output.
pub(crate) struct Envelope<'a> {
    pub id: &'a str,
    pub model: &'a str,
    pub created_at: u64,
    pub status: &'a str,
    pub incomplete_details: Value,
    pub output: Vec<Value>,
    pub usage: Option<&'a Usage>,
}

/// A `response` object as the Responses API returns it. frugal does not echo the request's
/// settings (it keeps none), so those fields hold their defaults.
pub(crate) fn response_object(e: Envelope<'_>) -> Value {
    json!({
        "id": e.id,
        "object": "response",
        "created_at": e.created_at,
        "status": e.status,
        "background": false,
        "error": null,
        "incomplete_details": e.incomplete_details,
        "instructions": null,
        "max_output_tokens": null,
        "model": e.model,
        "output": e.output,
        "parallel_tool_calls": true,
        "previous_response_id": null,
        "reasoning": {"effort": null, "summary": null},
        "store": false,
        "temperature": null,
        "text": {"format": {"type": "text"}},
        "tool_choice": "auto",
        "tools": [],
        "top_p": null,
        "truncation": "disabled",
        "usage": e.usage.map(render_usage),
        "user": null,
        "metadata": {}
    })
}

/// Render a `response` object (`created_at` is now).
pub fn render_response(resp: &ChatResponse) -> Value {
    render_at(resp, crate::shared::unix_now())
}

/// [`render_response`] with a fixed `created_at` (tests).
pub(crate) fn render_at(resp: &ChatResponse, created_at: u64) -> Value {
    let refused = resp.stop_reason == Some(StopReason::Refusal);
    let (status, incomplete_details) = status(resp.stop_reason.as_ref());
    let id = responses_id(&resp.id);
    response_object(Envelope {
        id: &id,
        model: &resp.model,
        created_at,
        status,
        incomplete_details,
        output: output_items(resp, refused),
        usage: Some(&resp.usage),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::WireError;

    fn parse(v: Value) -> ChatResponse {
        match parse_response(&v) {
            Ok(r) => r,
            Err(e) => panic!("{v}: {e:?}"),
        }
    }

    #[test]
    fn usage_keeps_cached_and_reasoning_inside() {
        let u = parse_usage(&json!({
            "input_tokens": 1200, "output_tokens": 300, "total_tokens": 1500,
            "input_tokens_details": {"cached_tokens": 1024},
            "output_tokens_details": {"reasoning_tokens": 256}
        }));
        assert_eq!(
            u,
            Usage {
                input_tokens: 1200,
                output_tokens: 300,
                cache_read_tokens: 1024,
                cache_write_tokens: 0
            }
        );
        let r = render_usage(&u);
        assert_eq!(r["total_tokens"], 1500);
        assert_eq!(r["input_tokens_details"]["cached_tokens"], 1024);
        assert_eq!(r["output_tokens_details"]["reasoning_tokens"], 0);
    }

    #[test]
    fn statuses_map_both_ways() {
        let body = |status: &str, why: Value, output: Value| {
            json!({"id": "resp_1", "model": "m", "status": status,
                "incomplete_details": why, "output": output})
        };
        let text = json!([{"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "hi"}]}]);
        let call = json!([{"type": "function_call", "call_id": "c", "name": "f", "arguments": "{\"a\":1}"}]);
        let cases = [
            (
                body("completed", Value::Null, text.clone()),
                StopReason::EndTurn,
            ),
            (body("completed", Value::Null, call), StopReason::ToolUse),
            (
                body(
                    "incomplete",
                    json!({"reason": "max_output_tokens"}),
                    text.clone(),
                ),
                StopReason::MaxTokens,
            ),
            (
                body("incomplete", json!({"reason": "content_filter"}), text),
                StopReason::ContentFilter,
            ),
        ];
        for (v, want) in cases {
            let resp = parse(v.clone());
            assert_eq!(resp.stop_reason.as_ref(), Some(&want), "{v}");
            let out = render_at(&resp, 0);
            assert_eq!(out["status"], v["status"]);
            assert_eq!(out["incomplete_details"], v["incomplete_details"]);
        }
    }

    #[test]
    fn refusal_round_trips() {
        let resp = parse(
            json!({"id": "resp_r", "model": "m", "status": "completed", "output": [
                {"type": "reasoning", "id": "rs_1", "summary": []},
                {"type": "message", "role": "assistant", "content": [{"type": "refusal", "refusal": "No."}]}
            ]}),
        );
        assert_eq!(resp.stop_reason, Some(StopReason::Refusal));
        assert_eq!(resp.text(), "No.");
        let out = render_at(&resp, 0);
        assert_eq!(
            out["output"],
            json!([{"id": "msg_r_0", "type": "message", "status": "completed", "role": "assistant",
                "content": [{"type": "refusal", "refusal": "No."}]}])
        );
    }

    #[test]
    fn text_then_parallel_calls_render_as_items() {
        let resp = ChatResponse {
            id: "msg_01".into(),
            model: "claude".into(),
            content: vec![
                Part::text("Looking."),
                Part::ToolUse {
                    id: "toolu_a".into(),
                    name: "f".into(),
                    input: json!({"x": 1}),
                },
                Part::ToolUse {
                    id: "toolu_b".into(),
                    name: "g".into(),
                    input: json!({}),
                },
            ],
            stop_reason: Some(StopReason::ToolUse),
            stop_sequence: None,
            usage: Usage::default(),
        };
        let out = render_at(&resp, 0);
        assert_eq!(out["id"], "resp_01");
        assert_eq!(out["status"], "completed");
        let ids: Vec<&str> = out["output"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|i| i["id"].as_str())
            .collect();
        assert_eq!(ids, ["msg_01_0", "fc_01_1", "fc_01_2"]);
        assert_eq!(out["output"][1]["arguments"], "{\"x\":1}");
        assert_eq!(out["output"][2]["call_id"], "toolu_b");
        assert_eq!(parse(out).content, resp.content);
    }

    #[test]
    fn ids_take_the_responses_style() {
        assert_eq!(responses_id("msg_01abc"), "resp_01abc");
        assert_eq!(responses_id("chatcmpl-9"), "resp_9");
        assert_eq!(responses_id("resp_7"), "resp_7");
    }

    #[test]
    fn malformed_upstream_is_internal() {
        let cases = [
            (
                json!({}),
                "malformed openai responses response: output: is required",
            ),
            (
                json!({"output": [{"type": "function_call", "name": "f"}]}),
                "malformed openai responses response: output[0].call_id: is required",
            ),
            (
                json!({"error": {"code": "server_error"}, "output": []}),
                "malformed openai responses response: error: upstream reported an error: {\"code\":\"server_error\"}",
            ),
        ];
        for (body, want) in cases {
            match parse_response(&body) {
                Err(WireError::Internal(m)) => assert_eq!(m, want),
                other => panic!("{body}: {other:?}"),
            }
        }
    }
}
