//! Responses streams: `StreamDecoder` (provider SSE → neutral `StreamEvent`s) and
//! `StreamRenderer` (neutral events → the client's typed `response.*` events, each with
//! its `sequence_number`). Stateful per stream; no I/O.

use bytes::Bytes;
use serde_json::{json, Value};

use super::response::{
    call_item, item_id, message_item, parse_usage, response_object, responses_id, status, Envelope,
};
use crate::check::{Obj, Side};
use crate::error::Result;
use crate::sse::{frame, SseEvent};
use crate::types::{StopReason, StreamEvent, Usage};

const SIDE: Side = Side::Upstream("openai responses");

/// Decodes an upstream Responses stream. Only the events that carry the answer matter:
/// `response.created` → `Start`; text and refusal deltas → `TextDelta`; a `function_call`
/// item → `ToolCallStart` and its argument deltas → `ToolCallDelta`; `response.completed`
/// or `response.incomplete` → `Usage`, `Finish`, `Done`; `response.failed` and `error` →
/// `Error`. Reasoning, content-part and `*.done` events add nothing.
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    /// `item_id` of each function call, in order of appearance (its neutral index).
    calls: Vec<String>,
    /// Whether each call has had any argument delta (else `arguments.done` supplies them).
    got_args: Vec<bool>,
    refused: bool,
}

impl StreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// Neutral events for one upstream SSE event. Invalid JSON is an `Internal` error.
    pub fn decode(&mut self, ev: &SseEvent) -> Result<Vec<StreamEvent>> {
        let data = ev.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| SIDE.err("stream event", format!("invalid JSON ({e})")))?;
        let o = Obj::new(&v, "event", SIDE)?;
        let kind = match o.opt_str("type")? {
            Some(t) => t,
            None => ev.event.as_deref().unwrap_or_default(),
        };
        let mut out = Vec::new();
        match kind {
            "response.created" | "response.in_progress" | "response.queued" if !self.started => {
                self.started = true;
                let r = o.obj("response")?;
                out.push(StreamEvent::Start {
                    id: r.opt_str("id")?.unwrap_or_default().to_string(),
                    model: r.opt_str("model")?.unwrap_or_default().to_string(),
                    usage: Usage::default(),
                });
            }
            "response.output_text.delta" => push_text(&mut out, o.str("delta")?),
            "response.refusal.delta" => {
                self.refused = true;
                push_text(&mut out, o.str("delta")?);
            }
            "response.output_item.added" => {
                let item = o.obj("item")?;
                if item.str("type")? == "function_call" {
                    let index = ordinal(self.calls.len());
                    self.calls
                        .push(item.opt_str("id")?.unwrap_or_default().to_string());
                    self.got_args.push(false);
                    out.push(StreamEvent::ToolCallStart {
                        index,
                        id: item.str("call_id")?.to_string(),
                        name: item.str("name")?.to_string(),
                    });
                }
            }
            "response.function_call_arguments.delta" => {
                let delta = o.str("delta")?;
                if let Some(i) = self.call(&o)? {
                    self.got_args[i] = true;
                    if !delta.is_empty() {
                        out.push(StreamEvent::ToolCallDelta {
                            index: ordinal(i),
                            arguments: delta.to_string(),
                        });
                    }
                }
            }
            "response.function_call_arguments.done" => {
                if let Some(i) = self.call(&o)? {
                    let args = o.opt_str("arguments")?.unwrap_or_default();
                    if !std::mem::replace(&mut self.got_args[i], true) && !args.is_empty() {
                        out.push(StreamEvent::ToolCallDelta {
                            index: ordinal(i),
                            arguments: args.to_string(),
                        });
                    }
                }
            }
            "response.completed" | "response.incomplete" => {
                let r = o.obj("response")?;
                if let Some(u) = r.get("usage") {
                    out.push(StreamEvent::Usage {
                        usage: parse_usage(u),
                    });
                }
                let stop_reason = self.finish(&r)?;
                out.push(StreamEvent::Finish {
                    stop_reason,
                    stop_sequence: None,
                });
                out.push(StreamEvent::Done);
            }
            "response.failed" => {
                let r = o.obj("response")?;
                out.push(error_event(r.get("error").unwrap_or(&Value::Null)));
            }
            "error" => out.push(error_event(&v)),
            _ => {}
        }
        Ok(out)
    }

    /// The neutral index of the call an arguments event belongs to.
    fn call(&self, o: &Obj<'_>) -> Result<Option<usize>> {
        let item = o.str("item_id")?;
        Ok(self.calls.iter().position(|c| c == item))
    }

    fn finish(&self, r: &Obj<'_>) -> Result<StopReason> {
        let reason = match r.opt_str("status")? {
            Some("completed") | None if self.refused => StopReason::Refusal,
            Some("completed") | None if !self.calls.is_empty() => StopReason::ToolUse,
            Some("completed") | None => StopReason::EndTurn,
            Some(_) => {
                super::response::stop_reason(r, &[], self.refused)?.unwrap_or(StopReason::EndTurn)
            }
        };
        Ok(reason)
    }
}

fn push_text(out: &mut Vec<StreamEvent>, text: &str) {
    if !text.is_empty() {
        out.push(StreamEvent::TextDelta {
            text: text.to_string(),
        });
    }
}

fn ordinal(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

/// An `error` event, or a failed response's `error` object → `Error`.
fn error_event(err: &Value) -> StreamEvent {
    let kind = ["code", "type"]
        .iter()
        .find_map(|k| err.get(*k).and_then(Value::as_str))
        .filter(|k| *k != "error")
        .unwrap_or("api_error");
    let message = match err.get("message").and_then(Value::as_str) {
        Some(m) => m.to_string(),
        None => err.to_string(),
    };
    StreamEvent::Error {
        kind: kind.to_string(),
        message,
    }
}

/// One output item as it is being streamed.
#[derive(Debug)]
enum Item {
    Text {
        text: String,
    },
    Call {
        call_id: String,
        name: String,
        args: String,
    },
}

/// Renders neutral events as the client's Responses stream, in the real API's order:
/// `response.created`, `response.in_progress`; per message `output_item.added`,
/// `content_part.added`, `output_text.delta`s, `output_text.done`, `content_part.done`,
/// `output_item.done`; per call `output_item.added`, `function_call_arguments.delta`s,
/// `function_call_arguments.done`, `output_item.done`; then `response.completed` (or
/// `response.incomplete`) with the whole response and its usage. An `Error` becomes
/// `response.failed` and ends the stream.
#[derive(Debug)]
pub struct StreamRenderer {
    created_at: Option<u64>,
    id: String,
    model: String,
    sequence: u64,
    items: Vec<Item>,
    /// The item being streamed (the real API streams one at a time).
    open: Option<usize>,
    /// Output index of each neutral tool-call index.
    calls: Vec<usize>,
    stop_reason: Option<StopReason>,
    usage: Usage,
    started: bool,
    closed: bool,
}

impl Default for StreamRenderer {
    fn default() -> StreamRenderer {
        StreamRenderer::new()
    }
}

impl StreamRenderer {
    pub fn new() -> StreamRenderer {
        StreamRenderer {
            created_at: None,
            id: String::new(),
            model: String::new(),
            sequence: 0,
            items: Vec::new(),
            open: None,
            calls: Vec::new(),
            stop_reason: None,
            usage: Usage::default(),
            started: false,
            closed: false,
        }
    }

    /// Fix `created_at` (seconds since the epoch) instead of taking the clock at `Start`.
    pub fn with_created(mut self, created_at: u64) -> StreamRenderer {
        self.created_at = Some(created_at);
        self
    }

    /// The client frames for one neutral event (possibly none).
    pub fn render(&mut self, ev: &StreamEvent) -> Vec<Bytes> {
        if self.closed {
            return Vec::new();
        }
        let mut out = Vec::new();
        match ev {
            StreamEvent::Start { id, model, usage } => {
                self.id = responses_id(id);
                self.model.clone_from(model);
                self.usage.merge_max(usage);
                self.start(&mut out);
            }
            StreamEvent::TextDelta { text } => {
                self.start(&mut out);
                self.text(text, &mut out);
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.start(&mut out);
                self.close(&mut out);
                let n = self.items.len();
                self.items.push(Item::Call {
                    call_id: id.clone(),
                    name: name.clone(),
                    args: String::new(),
                });
                let slot = usize::try_from(*index).unwrap_or(usize::MAX);
                if self.calls.len() <= slot {
                    self.calls.resize(slot.saturating_add(1), usize::MAX);
                }
                if let Some(c) = self.calls.get_mut(slot) {
                    *c = n;
                }
                self.open = Some(n);
                let item = call_item(&self.item_id(n), id, name, "", "in_progress");
                self.emit(
                    &mut out,
                    "response.output_item.added",
                    json!({"output_index": n, "item": item}),
                );
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.start(&mut out);
                self.arguments(*index, arguments, &mut out);
            }
            StreamEvent::Finish { stop_reason, .. } => {
                self.start(&mut out);
                self.stop_reason = Some(stop_reason.clone());
            }
            StreamEvent::Usage { usage } => self.usage.merge_max(usage),
            StreamEvent::Error { kind, message } => {
                self.start(&mut out);
                self.closed = true;
                let mut response = self.response("failed", Value::Null, false);
                response["error"] = json!({"code": error_code(kind), "message": message});
                self.emit(&mut out, "response.failed", json!({"response": response}));
            }
            StreamEvent::Done => {
                self.start(&mut out);
                self.close(&mut out);
                self.closed = true;
                let (status, details) = status(self.stop_reason.as_ref());
                let response = self.response(status, details, true);
                let name = if status == "incomplete" {
                    "response.incomplete"
                } else {
                    "response.completed"
                };
                self.emit(&mut out, name, json!({"response": response}));
            }
        }
        out
    }

    fn item_id(&self, n: usize) -> String {
        match self.items.get(n) {
            Some(Item::Call { .. }) => item_id("fc", &self.id, n),
            _ => item_id("msg", &self.id, n),
        }
    }

    /// One typed event: `type` and `sequence_number` first, as the API sends them.
    fn emit(&mut self, out: &mut Vec<Bytes>, name: &str, data: Value) {
        let mut event = serde_json::Map::new();
        event.insert("type".into(), json!(name));
        event.insert("sequence_number".into(), json!(self.sequence));
        if let Value::Object(fields) = data {
            event.extend(fields);
        }
        self.sequence += 1;
        out.push(frame(Some(name), &Value::Object(event).to_string()));
    }

    fn start(&mut self, out: &mut Vec<Bytes>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        if self.created_at.is_none() {
            self.created_at = Some(crate::shared::unix_now());
        }
        let response = self.response("in_progress", Value::Null, false);
        self.emit(
            out,
            "response.created",
            json!({"response": response.clone()}),
        );
        self.emit(out, "response.in_progress", json!({"response": response}));
    }

    fn text(&mut self, text: &str, out: &mut Vec<Bytes>) {
        let open_text = self
            .open
            .filter(|n| matches!(self.items.get(*n), Some(Item::Text { .. })));
        let n = match open_text {
            Some(n) => n,
            None => {
                self.close(out);
                let n = self.items.len();
                self.items.push(Item::Text {
                    text: String::new(),
                });
                self.open = Some(n);
                let id = self.item_id(n);
                let item = json!({"id": id, "type": "message", "status": "in_progress",
                    "role": "assistant", "content": []});
                self.emit(
                    out,
                    "response.output_item.added",
                    json!({"output_index": n, "item": item}),
                );
                let part =
                    json!({"type": "output_text", "text": "", "annotations": [], "logprobs": []});
                self.emit(
                    out,
                    "response.content_part.added",
                    json!({"item_id": id, "output_index": n, "content_index": 0, "part": part}),
                );
                n
            }
        };
        if let Some(Item::Text { text: t }) = self.items.get_mut(n) {
            t.push_str(text);
        }
        let id = self.item_id(n);
        self.emit(
            out,
            "response.output_text.delta",
            json!({"item_id": id, "output_index": n,
            "content_index": 0, "delta": text, "logprobs": []}),
        );
    }

    fn arguments(&mut self, index: u32, arguments: &str, out: &mut Vec<Bytes>) {
        let slot = usize::try_from(index).unwrap_or(usize::MAX);
        let Some(&n) = self.calls.get(slot) else {
            return;
        };
        if let Some(Item::Call { args, .. }) = self.items.get_mut(n) {
            args.push_str(arguments);
        }
        let id = self.item_id(n);
        self.emit(
            out,
            "response.function_call_arguments.delta",
            json!({"item_id": id, "output_index": n, "delta": arguments}),
        );
    }

    /// Finish the open item: its `*.done` events.
    fn close(&mut self, out: &mut Vec<Bytes>) {
        let Some(n) = self.open.take() else {
            return;
        };
        let id = self.item_id(n);
        let done = match self.items.get(n) {
            Some(Item::Text { text }) => {
                let text = text.clone();
                let part =
                    json!({"type": "output_text", "text": text, "annotations": [], "logprobs": []});
                self.emit(
                    out,
                    "response.output_text.done",
                    json!({"item_id": id, "output_index": n,
                    "content_index": 0, "text": text, "logprobs": []}),
                );
                self.emit(
                    out,
                    "response.content_part.done",
                    json!({"item_id": id, "output_index": n, "content_index": 0, "part": part}),
                );
                message_item(&id, &text, false, "completed")
            }
            Some(Item::Call {
                call_id,
                name,
                args,
            }) => {
                let item = call_item(&id, call_id, name, args, "completed");
                let (name, args) = (name.clone(), args.clone());
                self.emit(
                    out,
                    "response.function_call_arguments.done",
                    json!({"item_id": id, "output_index": n, "name": name, "arguments": args}),
                );
                item
            }
            None => return,
        };
        self.emit(
            out,
            "response.output_item.done",
            json!({"output_index": n, "item": done}),
        );
    }

    fn response(&self, status: &str, incomplete_details: Value, with_usage: bool) -> Value {
        let output = if with_usage {
            self.items
                .iter()
                .enumerate()
                .map(|(n, item)| match item {
                    Item::Text { text } => message_item(&self.item_id(n), text, false, "completed"),
                    Item::Call {
                        call_id,
                        name,
                        args,
                    } => call_item(&self.item_id(n), call_id, name, args, "completed"),
                })
                .collect()
        } else {
            Vec::new()
        };
        response_object(Envelope {
            id: &self.id,
            model: &self.model,
            created_at: self.created_at.unwrap_or(0),
            status,
            incomplete_details,
            output,
            usage: with_usage.then_some(&self.usage),
        })
    }
}

/// Another provider's error type → a Responses error `code`.
fn error_code(kind: &str) -> &str {
    match kind {
        "rate_limit_error" | "rate_limit_exceeded" => "rate_limit_exceeded",
        "invalid_request_error" | "invalid_prompt" => "invalid_prompt",
        _ => "server_error",
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
