//! Complete (non-streamed) Messages responses: provider side `parse_response` and
//! `parse_usage`, client side `render_response`, and the stop-reason mapping (the table
//! lives in the wire crate's `lib.rs`).

use serde_json::{json, Value};

use crate::check::{count, index, Obj, Side};
use crate::error::Result;
use crate::types::{ChatResponse, Part, StopReason, Usage};

const SIDE: Side = Side::Upstream("anthropic");

/// Parse an upstream Messages response. Thinking blocks are skipped (frugal does not
/// carry them); any other block but text and tool_use is an error, since a request frugal
/// translated cannot have asked for one. Malformed JSON is an `Internal` error whose
/// message starts with "malformed anthropic response".
pub fn parse_response(body: &Value) -> Result<ChatResponse> {
    let top = Obj::new(body, "", SIDE)?;
    if let Some(err) = top.get("error") {
        return Err(SIDE.err("error", format!("upstream reported an error: {err}")));
    }
    let mut content = Vec::new();
    for (j, b) in top.array("content")?.iter().enumerate() {
        let b = Obj::new(b, index("content", j), SIDE)?;
        match b.str("type")? {
            "text" => content.push(Part::text(b.str("text")?)),
            "tool_use" => content.push(Part::ToolUse {
                id: b.str("id")?.to_string(),
                name: b.str("name")?.to_string(),
                input: b.get("input").cloned().unwrap_or_else(|| json!({})),
            }),
            "thinking" | "redacted_thinking" => {}
            other => return Err(b.err("type", format!("unsupported content block type `{other}`"))),
        }
    }
    Ok(ChatResponse {
        id: top.opt_str("id")?.unwrap_or_default().to_string(),
        model: top.opt_str("model")?.unwrap_or_default().to_string(),
        content,
        stop_reason: top.opt_str("stop_reason")?.map(stop_reason),
        stop_sequence: top.opt_str("stop_sequence")?.map(str::to_string),
        usage: top.get("usage").map(parse_usage).unwrap_or_default(),
    })
}

/// Messages `usage` → internal usage. Anthropic's `input_tokens` excludes cache reads and
/// writes; the internal count includes both.
pub fn parse_usage(v: &Value) -> Usage {
    let read = count(v, "cache_read_input_tokens");
    let write = count(v, "cache_creation_input_tokens");
    Usage {
        input_tokens: count(v, "input_tokens") + read + write,
        output_tokens: count(v, "output_tokens"),
        cache_read_tokens: read,
        cache_write_tokens: write,
    }
}

/// Internal usage → Messages `usage` (uncached input only in `input_tokens`).
pub(crate) fn render_usage(u: &Usage) -> Value {
    json!({
        "input_tokens": u.uncached_input_tokens(),
        "cache_creation_input_tokens": u.cache_write_tokens,
        "cache_read_input_tokens": u.cache_read_tokens,
        "output_tokens": u.output_tokens
    })
}

/// Anthropic `stop_reason` → internal.
pub(crate) fn stop_reason(s: &str) -> StopReason {
    match s {
        "end_turn" => StopReason::EndTurn,
        "max_tokens" => StopReason::MaxTokens,
        "stop_sequence" => StopReason::StopSequence,
        "tool_use" => StopReason::ToolUse,
        "refusal" => StopReason::Refusal,
        other => StopReason::Other(other.to_string()),
    }
}

/// Internal → Anthropic `stop_reason`.
pub(crate) fn render_stop_reason(r: &StopReason) -> String {
    match r {
        StopReason::EndTurn => "end_turn",
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopSequence => "stop_sequence",
        StopReason::ToolUse => "tool_use",
        StopReason::ContentFilter | StopReason::Refusal => "refusal",
        StopReason::Other(o) => o,
    }
    .to_string()
}

/// Render a Messages response object as Anthropic returns it. Only text and tool_use
/// parts can occur in an answer; empty text is left out, as Anthropic never sends it.
pub fn render_response(resp: &ChatResponse) -> Value {
    let content: Vec<Value> = resp
        .content
        .iter()
        .filter_map(|p| match p {
            Part::Text { text, .. } if !text.is_empty() => {
                Some(json!({"type": "text", "text": text}))
            }
            Part::ToolUse { id, name, input } => {
                Some(json!({"type": "tool_use", "id": id, "name": name, "input": input}))
            }
            _ => None,
        })
        .collect();
    json!({
        "id": crate::shared::anthropic_id(&resp.id),
        "type": "message",
        "role": "assistant",
        "model": resp.model,
        "content": content,
        "stop_reason": resp.stop_reason.as_ref().map(render_stop_reason),
        "stop_sequence": resp.stop_sequence,
        "usage": render_usage(&resp.usage)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::WireError;

    #[test]
    fn usage_adds_and_subtracts_cache() {
        let u = parse_usage(&json!({
            "input_tokens": 20, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000,
            "output_tokens": 7
        }));
        assert_eq!(
            u,
            Usage {
                input_tokens: 1120,
                output_tokens: 7,
                cache_read_tokens: 1000,
                cache_write_tokens: 100
            }
        );
        assert_eq!(
            render_usage(&u),
            json!({"input_tokens": 20, "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000, "output_tokens": 7})
        );
        assert_eq!(
            parse_usage(&json!({"output_tokens": 3, "cache_read_input_tokens": null})).input_tokens,
            0
        );
    }

    #[test]
    fn stop_reasons_round_trip() {
        for s in [
            "end_turn",
            "max_tokens",
            "stop_sequence",
            "tool_use",
            "refusal",
            "pause_turn",
        ] {
            assert_eq!(render_stop_reason(&stop_reason(s)), s);
        }
        assert_eq!(render_stop_reason(&StopReason::ContentFilter), "refusal");
    }

    #[test]
    fn thinking_is_skipped_other_blocks_fail() {
        let body = json!({"id": "msg_1", "model": "c", "stop_reason": "end_turn", "stop_sequence": null,
            "content": [{"type": "thinking", "thinking": "hmm", "signature": "s"}, {"type": "text", "text": "hi"}],
            "usage": {"input_tokens": 1, "output_tokens": 2}});
        let resp = parse_response(&body).unwrap();
        assert_eq!(resp.content, vec![Part::text("hi")]);
        let bad = json!({"content": [{"type": "server_tool_use"}]});
        match parse_response(&bad) {
            Err(WireError::Internal(m)) => {
                assert_eq!(m, "malformed anthropic response: content[0].type: unsupported content block type `server_tool_use`")
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            parse_response(&json!({"id": "x"})),
            Err(WireError::Internal(_))
        ));
        assert!(matches!(
            parse_response(&json!({"content": [{"type": "tool_use", "name": "f"}]})),
            Err(WireError::Internal(m)) if m.ends_with("content[0].id: is required")
        ));
    }
}
