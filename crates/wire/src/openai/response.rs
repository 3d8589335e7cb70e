//! Complete (non-streamed) Chat Completions responses: provider side `parse_response`
//! and `parse_usage`, client side `render_response`, and the finish-reason mapping
//! (the table lives in the wire crate's `lib.rs`).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::check::{count, index, Obj, Side};
use crate::error::Result;
use crate::shared::{arguments_string, parse_arguments};
use crate::types::{ChatResponse, Part, StopReason, Usage};

const SIDE: Side = Side::Upstream("openai");

/// Parse an upstream Chat Completions response (only `choices[0]`). A `message.refusal`
/// becomes a text part and `StopReason::Refusal`. Malformed JSON is an `Internal` error
/// whose message starts with "malformed openai response".
pub fn parse_response(body: &Value) -> Result<ChatResponse> {
    let top = Obj::new(body, "", SIDE)?;
    if let Some(err) = top.get("error") {
        return Err(SIDE.err("error", format!("upstream reported an error: {err}")));
    }
    let choices = top.array("choices")?;
    let first = choices
        .first()
        .ok_or_else(|| top.err("choices", "is empty"))?;
    let choice = Obj::new(first, "choices[0]", SIDE)?;
    let message = choice.obj("message")?;
    let mut content = Vec::new();
    match message.get("content") {
        None => {}
        Some(Value::String(s)) if s.is_empty() => {}
        Some(Value::String(s)) => content.push(Part::text(s.clone())),
        // Some OpenAI-compatible servers answer with text parts.
        Some(Value::Array(parts)) => {
            for (j, p) in parts.iter().enumerate() {
                let p = Obj::new(p, index(&message.path("content"), j), SIDE)?;
                if let Some(text) = p.opt_str("text")? {
                    content.push(Part::text(text));
                }
            }
        }
        Some(_) => return Err(message.err("content", "expected a string or null")),
    }
    let refusal = message.opt_str("refusal")?.filter(|r| !r.is_empty());
    if let Some(r) = refusal {
        content.push(Part::text(r));
    }
    for (k, call) in message
        .opt_array("tool_calls")?
        .into_iter()
        .flatten()
        .enumerate()
    {
        let c = Obj::new(call, index(&message.path("tool_calls"), k), SIDE)?;
        let f = c.obj("function")?;
        content.push(Part::ToolUse {
            id: c.str("id")?.to_string(),
            name: f.str("name")?.to_string(),
            input: parse_arguments(f.opt_str("arguments")?.unwrap_or("")),
        });
    }
    let stop_reason = match (refusal, choice.opt_str("finish_reason")?) {
        (Some(_), _) => Some(StopReason::Refusal),
        (None, reason) => reason.map(stop_reason),
    };
    Ok(ChatResponse {
        id: top.opt_str("id")?.unwrap_or_default().to_string(),
        model: top.opt_str("model")?.unwrap_or_default().to_string(),
        content,
        stop_reason,
        stop_sequence: None,
        usage: top.get("usage").map(parse_usage).unwrap_or_default(),
    })
}

/// Chat Completions `usage` → internal usage. `prompt_tokens` already includes
/// `prompt_tokens_details.cached_tokens`; OpenAI has no cache writes.
pub fn parse_usage(v: &Value) -> Usage {
    Usage {
        input_tokens: count(v, "prompt_tokens"),
        output_tokens: count(v, "completion_tokens"),
        cache_read_tokens: v
            .get("prompt_tokens_details")
            .map_or(0, |d| count(d, "cached_tokens")),
        cache_write_tokens: 0,
    }
}

/// OpenAI `finish_reason` → internal.
pub(crate) fn stop_reason(s: &str) -> StopReason {
    match s {
        "stop" => StopReason::EndTurn,
        "length" => StopReason::MaxTokens,
        "tool_calls" | "function_call" => StopReason::ToolUse,
        "content_filter" => StopReason::ContentFilter,
        other => StopReason::Other(other.to_string()),
    }
}

/// Internal → OpenAI `finish_reason`. `Refusal` is `content_filter` here; the
/// non-streamed renderer turns a refusal with text into `message.refusal` + `stop`.
pub(crate) fn finish_reason(r: &StopReason) -> String {
    match r {
        StopReason::EndTurn | StopReason::StopSequence => "stop",
        StopReason::MaxTokens => "length",
        StopReason::ToolUse => "tool_calls",
        StopReason::ContentFilter | StopReason::Refusal => "content_filter",
        StopReason::Other(o) => match o.as_str() {
            "model_context_window_exceeded" => "length",
            "pause_turn" => "stop",
            other => other,
        },
    }
    .to_string()
}

/// Internal usage → Chat Completions `usage`.
pub(crate) fn render_usage(u: &Usage) -> Value {
    json!({
        "prompt_tokens": u.input_tokens,
        "completion_tokens": u.output_tokens,
        "total_tokens": u.input_tokens + u.output_tokens,
        "prompt_tokens_details": {"cached_tokens": u.cache_read_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0
        }
    })
}

/// Seconds since the epoch, for `created`.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Render a `chat.completion` object as OpenAI returns it (`created` is now). Text parts
/// are concatenated into `content`, which is null when there are only tool calls.
pub fn render_response(resp: &ChatResponse) -> Value {
    let text = resp.text();
    let calls: Vec<Value> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            Part::ToolUse { id, name, input } => Some(json!({
                "id": id,
                "type": "function",
                "function": {"name": name, "arguments": arguments_string(input)},
            })),
            _ => None,
        })
        .collect();
    let refused = resp.stop_reason == Some(StopReason::Refusal) && !text.is_empty();
    let (content, refusal) = if refused {
        (Value::Null, json!(text))
    } else if text.is_empty() && !calls.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (json!(text), Value::Null)
    };
    let mut message = json!({"role": "assistant", "content": content});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    message["refusal"] = refusal;
    let finish = match &resp.stop_reason {
        Some(_) if refused => json!("stop"),
        Some(r) => json!(finish_reason(r)),
        None => Value::Null,
    };
    json!({
        "id": crate::shared::openai_id(&resp.id),
        "object": "chat.completion",
        "created": now(),
        "model": resp.model,
        "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
        "usage": render_usage(&resp.usage),
        "system_fingerprint": null
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::WireError;

    #[test]
    fn usage_keeps_cached_inside_prompt() {
        let u = parse_usage(&json!({
            "prompt_tokens": 1200, "completion_tokens": 30, "total_tokens": 1230,
            "prompt_tokens_details": {"cached_tokens": 1024}
        }));
        assert_eq!(
            u,
            Usage {
                input_tokens: 1200,
                output_tokens: 30,
                cache_read_tokens: 1024,
                cache_write_tokens: 0
            }
        );
        assert_eq!(
            parse_usage(&json!({"prompt_tokens_details": null})),
            Usage::default()
        );
        let r = render_usage(&Usage {
            input_tokens: 10,
            output_tokens: 5,
            cache_read_tokens: 4,
            cache_write_tokens: 2,
        });
        assert_eq!(r["prompt_tokens"], 10);
        assert_eq!(r["total_tokens"], 15);
        assert_eq!(r["prompt_tokens_details"]["cached_tokens"], 4);
    }

    #[test]
    fn finish_reasons_round_trip() {
        for s in ["stop", "length", "tool_calls", "content_filter", "weird"] {
            assert_eq!(finish_reason(&stop_reason(s)), s);
        }
        assert_eq!(stop_reason("function_call"), StopReason::ToolUse);
        assert_eq!(finish_reason(&StopReason::StopSequence), "stop");
        assert_eq!(
            finish_reason(&StopReason::Other("model_context_window_exceeded".into())),
            "length"
        );
    }

    #[test]
    fn refusal_round_trips() {
        let body = json!({"id": "c", "model": "m", "choices": [{"index": 0, "finish_reason": "stop",
            "message": {"role": "assistant", "content": null, "refusal": "I can't help with that."}}]});
        let resp = parse_response(&body).unwrap();
        assert_eq!(resp.stop_reason, Some(StopReason::Refusal));
        let out = render_response(&resp);
        assert_eq!(
            out["choices"][0]["message"]["refusal"],
            "I can't help with that."
        );
        assert_eq!(out["choices"][0]["message"]["content"], Value::Null);
        assert_eq!(out["choices"][0]["finish_reason"], "stop");
        let empty = ChatResponse {
            content: vec![],
            ..resp
        };
        assert_eq!(
            render_response(&empty)["choices"][0]["finish_reason"],
            "content_filter"
        );
    }

    #[test]
    fn malformed_upstream_is_internal() {
        let cases = [
            (
                json!([]),
                "malformed openai response: expected an object, got an array",
            ),
            (
                json!({"choices": []}),
                "malformed openai response: choices: is empty",
            ),
            (json!({}), "malformed openai response: choices: is required"),
            (
                json!({"choices": [{"message": {"content": 3}}]}),
                "malformed openai response: choices[0].message.content: expected a string or null",
            ),
            (
                json!({"choices": [{"message": {"tool_calls": [{"function": {"name": "f"}}]}}]}),
                "malformed openai response: choices[0].message.tool_calls[0].id: is required",
            ),
        ];
        for (body, want) in cases {
            match parse_response(&body) {
                Err(WireError::Internal(m)) => assert_eq!(m, want),
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn text_parts_and_unparseable_arguments() {
        let body = json!({"choices": [{"finish_reason": "tool_calls", "message": {
            "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{bad"}}]}}]});
        let resp = parse_response(&body).unwrap();
        assert_eq!(
            resp.content[2],
            Part::ToolUse {
                id: "c".into(),
                name: "f".into(),
                input: json!("{bad")
            }
        );
        let out = render_response(&resp);
        assert_eq!(out["choices"][0]["message"]["content"], "ab");
        assert_eq!(
            out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"],
            "{bad"
        );
    }
}
