//! Streaming relay. Opens the upstream stream and waits for its first event before the
//! client gets a 200 (so a failing candidate can still fall back); afterwards a task pumps
//! events to the client through a bounded channel — raw frames when formats match,
//! re-rendered frames when they differ — and an upstream failure becomes an error event in
//! the client's format. Usage is tapped on the way for metering.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::body::{ClientRequest, UpstreamRequest};
use super::outcome::{self, Failure};
use crate::config::ProviderConfig;
pub use crate::ledger::StreamOutcome;
use crate::secrets::Redactor;
use crate::types::{Format, StreamEvent};
use crate::wire::{self, sse::SseDecoder, sse::SseEvent};

/// Frames buffered between the upstream reader and a slow client.
const CHANNEL_FRAMES: usize = 64;

/// A stream that has started: client frames to forward, and its outcome when it ends.
pub struct StreamReply {
    pub frames: mpsc::Receiver<Bytes>,
    pub outcome: oneshot::Receiver<StreamOutcome>,
}

/// Decodes upstream SSE, tracks usage, and produces client frames.
struct Relay {
    sse: SseDecoder,
    decoder: wire::StreamDecoder,
    renderer: wire::StreamRenderer,
    /// Formats match: forward upstream frames byte for byte.
    passthrough: bool,
    /// OpenAI passthrough for a client that did not ask for the usage chunk.
    drop_usage_chunk: bool,
    out: Vec<Bytes>,
    started: bool,
    early_error: Option<String>,
    outcome: StreamOutcome,
    /// Secrets an upstream might echo into a frame (an SSE error event quoting the key).
    redactor: Arc<Redactor>,
}

impl Relay {
    fn new(provider: Format, client: &ClientRequest<'_>) -> Relay {
        let include_usage = client.req.stream_include_usage;
        Relay {
            sse: SseDecoder::new(),
            decoder: wire::StreamDecoder::new(provider),
            renderer: wire::StreamRenderer::new(client.format, include_usage),
            passthrough: provider == client.format,
            drop_usage_chunk: provider == Format::OpenAi && !include_usage,
            out: vec![],
            started: false,
            early_error: None,
            outcome: StreamOutcome::default(),
            redactor: crate::secrets::current(),
        }
    }

    /// The frames ready for the client, with any secret removed. Each frame is one whole
    /// SSE event, so a key inside one event is always seen whole.
    fn take_out(&mut self) -> Vec<Bytes> {
        let mut out = std::mem::take(&mut self.out);
        for frame in &mut out {
            if self.redactor.leaks(frame) {
                *frame = Bytes::from(self.redactor.redact_bytes(frame).into_owned());
            }
        }
        out
    }

    fn push(&mut self, chunk: &[u8]) -> Result<(), String> {
        for ev in self.sse.push(chunk) {
            self.event(&ev)?;
        }
        Ok(())
    }

    fn event(&mut self, ev: &SseEvent) -> Result<(), String> {
        let events = self
            .decoder
            .decode(ev)
            .map_err(|e| format!("malformed upstream stream: {e}"))?;
        for e in &events {
            match e {
                StreamEvent::Usage { usage } => self.outcome.usage.merge_max(usage),
                StreamEvent::Start { usage, .. } => {
                    self.outcome.usage.merge_max(usage);
                    self.started = true;
                }
                StreamEvent::Finish { stop_reason, .. } => {
                    self.outcome.stop_reason = Some(stop_reason.clone())
                }
                StreamEvent::Done => self.outcome.completed = true,
                StreamEvent::Error { message, .. } => {
                    let message = outcome::redact_keys(message);
                    if !self.started {
                        self.early_error = Some(message.clone());
                    }
                    self.outcome.error = Some(message);
                }
                _ => self.started = true,
            }
        }
        if self.passthrough {
            if self.drop_usage_chunk {
                if !is_usage_only_chunk(&ev.data) {
                    self.out.push(Bytes::from(strip_null_usage(ev.raw_frame())));
                }
            } else {
                self.out.push(Bytes::from(ev.raw_frame()));
            }
        } else {
            for e in &events {
                let frames = self.renderer.render(e);
                self.out.extend(frames);
            }
        }
        Ok(())
    }

    /// Frames for an upstream failure after the stream began.
    fn fail(&mut self, message: String) {
        self.outcome.error = Some(message.clone());
        let frames = self.renderer.render(&StreamEvent::Error {
            kind: "api_error".into(),
            message,
        });
        self.out.extend(frames);
    }
}

/// Remove the `"usage":null` that asking for usage adds to every OpenAI chunk, so a client
/// that did not ask sees chunks as the provider would have sent them. A JSON string cannot
/// contain an unescaped `,"usage":null`, so this only ever matches the top-level field.
fn strip_null_usage(frame: String) -> String {
    if frame.contains(",\"usage\":null") {
        frame.replace(",\"usage\":null", "")
    } else {
        frame
    }
}

/// An OpenAI chunk that only carries usage (`choices: []`).
fn is_usage_only_chunk(data: &str) -> bool {
    if !data.contains("\"usage\"") {
        return false;
    }
    serde_json::from_str::<Value>(data).is_ok_and(|v| {
        v.get("choices")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
            && v.get("usage").is_some_and(|u| !u.is_null())
    })
}

/// Open the upstream stream and wait for its first event.
pub async fn open(
    http: &reqwest::Client,
    up: &UpstreamRequest,
    provider: &ProviderConfig,
    client: &ClientRequest<'_>,
) -> Result<StreamReply, Failure> {
    let sent = Instant::now();
    let resp = outcome::send(http, up, provider.timeout).await?;
    let mut body = resp.bytes_stream();
    let mut relay = Relay::new(up.format, client);
    let idle = provider.stream_idle_timeout;
    while !relay.started {
        let next = tokio::time::timeout(idle, body.next()).await.map_err(|_| {
            Failure::retryable(Some(200), "timeout waiting for the first stream event")
        })?;
        match next {
            None => {
                return Err(Failure::retryable(
                    Some(200),
                    "stream ended before its first event",
                ))
            }
            Some(Err(e)) => {
                return Err(Failure::retryable(
                    Some(200),
                    format!(
                        "stream failed before its first event: {}",
                        outcome::describe(&e)
                    ),
                ))
            }
            Some(Ok(chunk)) => relay
                .push(&chunk)
                .map_err(|e| Failure::retryable(Some(200), e))?,
        }
        if let Some(err) = relay.early_error.take() {
            return Err(Failure::retryable(
                Some(200),
                format!("stream error before any content: {err}"),
            ));
        }
    }
    relay.outcome.time_to_first_event = sent.elapsed();
    let (tx, frames) = mpsc::channel(CHANNEL_FRAMES);
    let (outcome_tx, outcome) = oneshot::channel();
    tokio::spawn(async move {
        let result = pump(relay, body, idle, tx).await;
        // The receiver is gone only when nobody meters this stream; nothing to do then.
        let _ = outcome_tx.send(result);
    });
    Ok(StreamReply { frames, outcome })
}

async fn pump<S>(
    mut relay: Relay,
    mut body: S,
    idle: Duration,
    tx: mpsc::Sender<Bytes>,
) -> StreamOutcome
where
    S: futures::Stream<Item = reqwest::Result<Bytes>> + Unpin,
{
    loop {
        for frame in relay.take_out() {
            if tx.send(frame).await.is_err() {
                // The client went away: dropping `body` cancels the upstream request.
                relay.outcome.error = Some("client disconnected".into());
                return relay.outcome;
            }
        }
        if relay.outcome.completed {
            if let Some(last) = relay.sse.finish() {
                if let Err(e) = relay.event(&last) {
                    tracing::warn!(error = %e, "ignoring malformed trailing stream event");
                }
                for frame in relay.take_out() {
                    let _ = tx.send(frame).await;
                }
            }
            return relay.outcome;
        }
        match tokio::time::timeout(idle, body.next()).await {
            Err(_) => relay.fail("upstream stream stalled (idle timeout)".into()),
            Ok(None) => relay.fail("upstream closed the stream before it finished".into()),
            Ok(Some(Err(e))) => relay.fail(format!(
                "upstream stream interrupted: {}",
                outcome::describe(&e)
            )),
            Ok(Some(Ok(chunk))) => {
                if let Err(e) = relay.push(&chunk) {
                    relay.fail(e);
                }
            }
        }
        if relay.outcome.error.is_some() && !relay.outcome.completed {
            for frame in relay.take_out() {
                let _ = tx.send(frame).await;
            }
            return relay.outcome;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_only_chunk_detection() {
        assert!(is_usage_only_chunk(
            r#"{"choices":[],"usage":{"prompt_tokens":1}}"#
        ));
        assert!(!is_usage_only_chunk(
            r#"{"choices":[{"delta":{}}],"usage":null}"#
        ));
        assert!(!is_usage_only_chunk(r#"{"choices":[],"usage":null}"#));
    }
}
