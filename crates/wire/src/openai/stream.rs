//! Chat Completions streams: `StreamDecoder` (provider SSE → neutral `StreamEvent`s) and
//! `StreamRenderer` (neutral events → the client's `chat.completion.chunk` frames).
//! Stateful per stream; no I/O.

use bytes::Bytes;
use serde_json::{json, Map, Value};

use super::response::{finish_reason, now, parse_usage, render_usage, stop_reason};
use crate::check::{index, Obj, Side};
use crate::error::Result;
use crate::sse::{frame, SseEvent};
use crate::types::{StopReason, StreamEvent, Usage};

const SIDE: Side = Side::Upstream("openai");

/// Decodes an upstream Chat Completions stream (only choice 0).
#[derive(Debug, Default)]
pub struct StreamDecoder {
    started: bool,
    /// Upstream `tool_calls[].index` of each tool call, in order of appearance.
    tools: Vec<u64>,
    /// The answer came as `delta.refusal`: the finish is a refusal.
    refused: bool,
}

impl StreamDecoder {
    /// A decoder at the start of a stream.
    pub fn new() -> StreamDecoder {
        StreamDecoder::default()
    }

    /// Neutral events for one upstream SSE event. `[DONE]` → `Done`; the first chunk →
    /// `Start`; an `error` object → `Error`. Invalid JSON is an `Internal` error.
    pub fn decode(&mut self, ev: &SseEvent) -> Result<Vec<StreamEvent>> {
        let data = ev.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        if data == "[DONE]" {
            return Ok(vec![StreamEvent::Done]);
        }
        let v: Value = serde_json::from_str(data)
            .map_err(|e| SIDE.err("stream chunk", format!("invalid JSON ({e})")))?;
        if let Some(err) = v.get("error").filter(|e| !e.is_null()) {
            return Ok(vec![error_event(err)]);
        }
        let chunk = Obj::new(&v, "chunk", SIDE)?;
        let choices = chunk
            .opt_array("choices")?
            .map(Vec::as_slice)
            .unwrap_or_default();
        let usage = chunk.get("usage");
        let mut out = Vec::new();
        let id = chunk.opt_str("id")?.unwrap_or_default();
        // Azure opens with an id-less chunk carrying only prompt filter results.
        if !self.started && (!id.is_empty() || !choices.is_empty() || usage.is_some()) {
            self.started = true;
            out.push(StreamEvent::Start {
                id: id.to_string(),
                model: chunk.opt_str("model")?.unwrap_or_default().to_string(),
                usage: Usage::default(),
            });
        }
        for (i, choice) in choices.iter().enumerate() {
            let choice = Obj::new(choice, index("chunk.choices", i), SIDE)?;
            if choice.get("index").and_then(Value::as_u64).unwrap_or(0) == 0 {
                self.choice(&choice, &mut out)?;
            }
        }
        if let Some(u) = usage {
            out.push(StreamEvent::Usage {
                usage: parse_usage(u),
            });
        }
        Ok(out)
    }

    fn choice(&mut self, choice: &Obj<'_>, out: &mut Vec<StreamEvent>) -> Result<()> {
        if let Some(delta) = choice.opt_obj("delta")? {
            if let Some(text) = delta.opt_str("content")?.filter(|t| !t.is_empty()) {
                out.push(StreamEvent::TextDelta {
                    text: text.to_string(),
                });
            }
            if let Some(text) = delta.opt_str("refusal")?.filter(|t| !t.is_empty()) {
                self.refused = true;
                out.push(StreamEvent::TextDelta {
                    text: text.to_string(),
                });
            }
            for (k, call) in delta
                .opt_array("tool_calls")?
                .into_iter()
                .flatten()
                .enumerate()
            {
                let call = Obj::new(call, index(&delta.path("tool_calls"), k), SIDE)?;
                self.tool_call(&call, k, out)?;
            }
        }
        if let Some(reason) = choice.opt_str("finish_reason")? {
            let stop_reason = if self.refused {
                StopReason::Refusal
            } else {
                stop_reason(reason)
            };
            out.push(StreamEvent::Finish {
                stop_reason,
                stop_sequence: None,
            });
        }
        Ok(())
    }

    fn tool_call(
        &mut self,
        call: &Obj<'_>,
        position: usize,
        out: &mut Vec<StreamEvent>,
    ) -> Result<()> {
        let upstream = call
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let function = call.opt_obj("function")?;
        let position = match self.tools.iter().position(|t| *t == upstream) {
            Some(o) => o,
            None => {
                self.tools.push(upstream);
                let name = match &function {
                    Some(f) => f.opt_str("name")?.unwrap_or_default(),
                    None => "",
                };
                out.push(StreamEvent::ToolCallStart {
                    index: ordinal(self.tools.len() - 1),
                    id: call.opt_str("id")?.unwrap_or_default().to_string(),
                    name: name.to_string(),
                });
                self.tools.len() - 1
            }
        };
        if let Some(f) = function {
            if let Some(args) = f.opt_str("arguments")?.filter(|a| !a.is_empty()) {
                out.push(StreamEvent::ToolCallDelta {
                    index: ordinal(position),
                    arguments: args.to_string(),
                });
            }
        }
        Ok(())
    }
}

fn ordinal(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

fn error_event(err: &Value) -> StreamEvent {
    let kind = ["type", "code"]
        .iter()
        .find_map(|k| err.get(*k).and_then(Value::as_str))
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

/// Renders neutral events as the client's Chat Completions stream: a role chunk, content
/// and tool-call deltas, the finish chunk, the usage chunk (only when the client asked
/// with `stream_options.include_usage`), then `data: [DONE]`. An `Error` becomes one
/// `data: {"error": ...}` frame and ends the stream.
#[derive(Debug)]
pub struct StreamRenderer {
    include_usage: bool,
    created: Option<u64>,
    id: String,
    model: String,
    started: bool,
    closed: bool,
    usage: Usage,
}

impl StreamRenderer {
    /// A renderer; `include_usage` is the client's `stream_options.include_usage`.
    pub fn new(include_usage: bool) -> StreamRenderer {
        StreamRenderer {
            include_usage,
            created: None,
            id: String::new(),
            model: String::new(),
            started: false,
            closed: false,
            usage: Usage::default(),
        }
    }

    /// Fix `created` (seconds since the epoch) instead of taking the clock at `Start`.
    pub fn with_created(mut self, created: u64) -> StreamRenderer {
        self.created = Some(created);
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
                self.id = crate::shared::openai_id(id);
                self.model.clone_from(model);
                self.usage.merge_max(usage);
                self.start(&mut out);
            }
            StreamEvent::TextDelta { text } => {
                self.start(&mut out);
                if !text.is_empty() {
                    out.push(self.chunk(json!({"content": text}), Value::Null));
                }
            }
            StreamEvent::ToolCallStart { index, id, name } => {
                self.start(&mut out);
                let call = json!({"index": index, "id": id, "type": "function",
                    "function": {"name": name, "arguments": ""}});
                out.push(self.chunk(json!({"tool_calls": [call]}), Value::Null));
            }
            StreamEvent::ToolCallDelta { index, arguments } => {
                self.start(&mut out);
                let call = json!({"index": index, "function": {"arguments": arguments}});
                out.push(self.chunk(json!({"tool_calls": [call]}), Value::Null));
            }
            StreamEvent::Finish { stop_reason, .. } => {
                self.start(&mut out);
                out.push(self.chunk(json!({}), json!(finish_reason(stop_reason))));
            }
            StreamEvent::Usage { usage } => self.usage.merge_max(usage),
            StreamEvent::Error { kind, message } => {
                self.closed = true;
                let body = json!({"error": {"message": message, "type": error_type(kind), "param": null, "code": null}});
                out.push(frame(None, &body.to_string()));
            }
            StreamEvent::Done => {
                self.start(&mut out);
                self.closed = true;
                if self.include_usage {
                    let mut chunk = self.envelope();
                    chunk.insert("choices".into(), json!([]));
                    chunk.insert("usage".into(), render_usage(&self.usage));
                    out.push(frame(None, &Value::Object(chunk).to_string()));
                }
                out.push(frame(None, "[DONE]"));
            }
        }
        out
    }

    fn start(&mut self, out: &mut Vec<Bytes>) {
        if std::mem::replace(&mut self.started, true) {
            return;
        }
        if self.created.is_none() {
            self.created = Some(now());
        }
        out.push(self.chunk(
            json!({"role": "assistant", "content": "", "refusal": null}),
            Value::Null,
        ));
    }

    fn envelope(&self) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("id".into(), json!(self.id));
        m.insert("object".into(), json!("chat.completion.chunk"));
        m.insert("created".into(), json!(self.created.unwrap_or(0)));
        m.insert("model".into(), json!(self.model));
        m
    }

    fn chunk(&self, delta: Value, finish_reason: Value) -> Bytes {
        let mut chunk = self.envelope();
        chunk.insert(
            "choices".into(),
            json!([{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish_reason}]),
        );
        if self.include_usage {
            chunk.insert("usage".into(), Value::Null);
        }
        frame(None, &Value::Object(chunk).to_string())
    }
}

/// Another provider's error type → the closest OpenAI `error.type`.
fn error_type(kind: &str) -> &'static str {
    match kind {
        "invalid_request_error" | "not_found_error" | "request_too_large" => {
            "invalid_request_error"
        }
        "authentication_error" => "authentication_error",
        "permission_error" => "permission_error",
        "rate_limit_error" => "rate_limit_error",
        _ => "server_error",
    }
}

#[cfg(test)]
#[path = "stream_tests.rs"]
mod tests;
