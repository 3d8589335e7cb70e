//! Messages streams: `StreamDecoder` (provider SSE → neutral `StreamEvent`s) and
//! `StreamRenderer` (neutral events → the client's `message_start` … `message_stop`
//! frames). Stateful per stream; no I/O.

use std::collections::HashMap;

use bytes::Bytes;
use serde_json::{json, Value};

use super::response::{parse_usage, render_stop_reason, render_usage, stop_reason};
use crate::check::{Obj, Side};
use crate::error::Result;
use crate::sse::{frame, SseEvent};
use crate::types::{StopReason, StreamEvent, Usage};

const SIDE: Side = Side::Upstream("anthropic");

/// What an upstream content block turned into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    Text,
    /// A tool call, with its ordinal among the answer's tool calls.
    Tool(u32),
    /// Thinking and anything else frugal does not carry.
    Skipped,
}

/// Decodes an upstream Messages stream. Thinking blocks (and any other block type but
/// text and tool_use) are skipped without failing, since a passthrough stream may carry
/// them; [`StreamDecoder::skipped_blocks`] says whether that happened.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    blocks: HashMap<u64, Block>,
    tools: u32,
    skipped: bool,
}

impl StreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// True once a thinking (or other uncarried) block was skipped.
    pub fn skipped_blocks(&self) -> bool {
        self.skipped
    }

    /// Neutral events for one upstream SSE event: `message_start` → `Start` (usage in
    /// internal terms), block starts and deltas → text and tool-call events,
    /// `message_delta` → `Finish` + `Usage`, `message_stop` → `Done`, `error` → `Error`;
    /// `ping` and unknown events are ignored. Invalid JSON is an `Internal` error.
    pub fn decode(&mut self, ev: &SseEvent) -> Result<Vec<StreamEvent>> {
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| SIDE.err("stream event", format!("invalid JSON ({e})")))?;
        let o = Obj::new(&v, "stream event", SIDE)?;
        let kind = match o.opt_str("type")? {
            Some(k) => k,
            None => ev.event.as_deref().unwrap_or(""),
        };
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                let m = o.obj("message")?;
                out.push(StreamEvent::Start {
                    id: m.opt_str("id")?.unwrap_or_default().to_string(),
                    model: m.opt_str("model")?.unwrap_or_default().to_string(),
                    usage: m.get("usage").map(parse_usage).unwrap_or_default(),
                });
            }
            "content_block_start" => self.block_start(&o, &mut out)?,
            "content_block_delta" => self.block_delta(&o, &mut out)?,
            "message_delta" => {
                if let Some(d) = o.opt_obj("delta")? {
                    if let Some(reason) = d.opt_str("stop_reason")? {
                        out.push(StreamEvent::Finish {
                            stop_reason: stop_reason(reason),
                            stop_sequence: d.opt_str("stop_sequence")?.map(str::to_string),
                        });
                    }
                }
                if let Some(u) = o.get("usage") {
                    out.push(StreamEvent::Usage {
                        usage: parse_usage(u),
                    });
                }
            }
            "message_stop" => out.push(StreamEvent::Done),
            "error" => {
                let e = o.opt_obj("error")?;
                let field = |k: &str| e.as_ref().and_then(|e| e.get(k)).and_then(Value::as_str);
                out.push(StreamEvent::Error {
                    kind: field("type").unwrap_or("api_error").to_string(),
                    message: field("message").map_or_else(|| data.to_string(), str::to_string),
                });
            }
            _ => {}
        }
        Ok(out)
    }

    fn block_start(&mut self, o: &Obj<'_>, out: &mut Vec<StreamEvent>) -> Result<()> {
        let idx = o
            .get("index")
            .and_then(Value::as_u64)
            .ok_or_else(|| o.err("index", "is required"))?;
        let b = o.obj("content_block")?;
        let block = match b.str("type")? {
            "text" => {
                if let Some(text) = b.opt_str("text")?.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta {
                        text: text.to_string(),
                    });
                }
                Block::Text
            }
            "tool_use" => {
                let ordinal = self.tools;
                self.tools += 1;
                out.push(StreamEvent::ToolCallStart {
                    index: ordinal,
                    id: b.str("id")?.to_string(),
                    name: b.str("name")?.to_string(),
                });
                // The real API streams `input: {}` and then the JSON in deltas.
                if let Some(input) = b
                    .get("input")
                    .filter(|i| i.as_object().is_some_and(|m| !m.is_empty()))
                {
                    out.push(StreamEvent::ToolCallDelta {
                        index: ordinal,
                        arguments: input.to_string(),
                    });
                }
                Block::Tool(ordinal)
            }
            _ => {
                self.skipped = true;
                Block::Skipped
            }
        };
        self.blocks.insert(idx, block);
        Ok(())
    }

    fn block_delta(&mut self, o: &Obj<'_>, out: &mut Vec<StreamEvent>) -> Result<()> {
        let idx = o
            .get("index")
            .and_then(Value::as_u64)
            .ok_or_else(|| o.err("index", "is required"))?;
        let d = o.obj("delta")?;
        let block = self.blocks.get(&idx).copied();
        match (d.opt_str("type")?, block) {
            (Some("text_delta"), Some(Block::Text) | None) => {
                if let Some(text) = d.opt_str("text")?.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::TextDelta {
                        text: text.to_string(),
                    });
                }
            }
            (Some("input_json_delta"), Some(Block::Tool(index))) => {
                if let Some(json) = d.opt_str("partial_json")?.filter(|t| !t.is_empty()) {
                    out.push(StreamEvent::ToolCallDelta {
                        index,
                        arguments: json.to_string(),
                    });
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// The content block the renderer has open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Text(u32),
    Tool(u32),
}

/// Renders neutral events as the client's Messages stream: `message_start`, content
/// blocks (a text block opened lazily and closed before a tool_use block), then on `Done`
/// one `message_delta` with the stop reason and the final usage, and `message_stop`.
/// `Finish` and `Usage` may come in either order before `Done`. An `Error` becomes one
/// `event: error` frame and ends the stream.
#[derive(Debug, Default)]
pub struct StreamRenderer {
    id: String,
    model: String,
    started: bool,
    closed: bool,
    next_block: u32,
    open: Option<Open>,
    /// Content block index of each tool call, by tool-call ordinal.
    tool_blocks: HashMap<u32, u32>,
    usage: Usage,
    stop: Option<(StopReason, Option<String>)>,
}

impl StreamRenderer {
    /// A renderer at the start of a stream.
    pub fn new() -> StreamRenderer {
        StreamRenderer::default()
    }

    /// The client frames for one neutral event (possibly none).
    pub fn render(&mut self, ev: &StreamEvent) -> Vec<Bytes> {
        if self.closed {
            return Vec::new();
        }
        let mut out = Vec::new();
        match ev {
            StreamEvent::Start { id, model, usage } => {
                self.id = crate::shared::anthropic_id(id);
                self.model.clone_from(model);
                self.usage.merge_max(usage);
                self.start(&mut out);
            }
            StreamEvent::TextDelta { text } => {
                self.start(&mut out);
                if !text.is_empty() {
                    let block = match self.open {
                        Some(Open::Text(b)) => b,
                        _ => {
                            let b = self.open_block(json!({"type": "text", "text": ""}), &mut out);
                            self.open = Some(Open::Text(b));
                            b
                        }
                    };
                    out.push(delta(block, json!({"type": "text_delta", "text": text})));
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.start(&mut out);
                let b = self.open_block(
                    json!({"type": "tool_use", "id": id, "name": name, "input": {}}),
                    &mut out,
                );
                self.open = Some(Open::Tool(b));
                self.tool_blocks.insert(*index, b);
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.start(&mut out);
                // A delta for an unknown call has no block to go to; OpenAI never sends one.
                if let Some(b) = self
                    .tool_blocks
                    .get(index)
                    .filter(|_| !arguments.is_empty())
                {
                    out.push(delta(
                        *b,
                        json!({"type": "input_json_delta", "partial_json": arguments}),
                    ));
                }
            }
            StreamEvent::Finish {
                stop_reason,
                stop_sequence,
            } => {
                self.stop = Some((stop_reason.clone(), stop_sequence.clone()));
            }
            StreamEvent::Usage { usage } => self.usage.merge_max(usage),
            StreamEvent::Error { kind, message } => {
                self.closed = true;
                let body = json!({"type": "error", "error": {"type": error_type(kind), "message": message}});
                out.push(frame(Some("error"), &body.to_string()));
            }
            StreamEvent::Done => {
                self.start(&mut out);
                self.close_block(&mut out);
                self.closed = true;
                let (reason, sequence) = match &self.stop {
                    Some((r, s)) => (json!(render_stop_reason(r)), json!(s)),
                    None => (Value::Null, Value::Null),
                };
                let body = json!({
                    "type": "message_delta",
                    "delta": {"stop_reason": reason, "stop_sequence": sequence},
                    "usage": render_usage(&self.usage),
                });
                out.push(event("message_delta", &body));
                out.push(event("message_stop", &json!({"type": "message_stop"})));
            }
        }
        out
    }

    fn start(&mut self, out: &mut Vec<Bytes>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        let body = json!({"type": "message_start", "message": {
            "id": self.id,
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": null,
            "stop_sequence": null,
            "usage": render_usage(&self.usage),
        }});
        out.push(event("message_start", &body));
    }

    fn open_block(&mut self, block: Value, out: &mut Vec<Bytes>) -> u32 {
        self.close_block(out);
        let index = self.next_block;
        self.next_block += 1;
        out.push(event(
            "content_block_start",
            &json!({"type": "content_block_start", "index": index, "content_block": block}),
        ));
        index
    }

    fn close_block(&mut self, out: &mut Vec<Bytes>) {
        if let Some(Open::Text(index) | Open::Tool(index)) = self.open.take() {
            out.push(event(
                "content_block_stop",
                &json!({"type": "content_block_stop", "index": index}),
            ));
        }
    }
}

fn event(name: &str, body: &Value) -> Bytes {
    frame(Some(name), &body.to_string())
}

fn delta(index: u32, delta: Value) -> Bytes {
    event(
        "content_block_delta",
        &json!({"type": "content_block_delta", "index": index, "delta": delta}),
    )
}

/// Another provider's error type → the closest Anthropic `error.type`.
fn error_type(kind: &str) -> &'static str {
    match kind {
        "invalid_request_error" => "invalid_request_error",
        "authentication_error" => "authentication_error",
        "permission_error" => "permission_error",
        "not_found_error" => "not_found_error",
        "request_too_large" => "request_too_large",
        "rate_limit_error" => "rate_limit_error",
        k if k.contains("overloaded") => "overloaded_error",
        _ => "api_error",
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
