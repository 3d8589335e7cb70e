//! HTTP plumbing shared by both wire formats: SSE framing, deliberately broken bodies, ids and
//! header helpers. Provider-specific JSON lives in `openai.rs` and `anthropic.rs`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use serde_json::Value;

use crate::faults::Delivery;

/// A request as every handler first reads it: a fresh request id, the body parsed (or,
/// when it is not JSON, its text as a JSON string), the model it names, and an entry in
/// the request log.
pub(crate) struct Received {
    pub request_id: String,
    pub parsed: Result<Value, Value>,
    pub model: String,
}

pub(crate) fn receive(
    state: &crate::MockState,
    path: &'static str,
    headers: &HeaderMap,
    body: &[u8],
    id_len: usize,
) -> Received {
    let parsed = parse_body(body);
    let logged = match &parsed {
        Ok(v) | Err(v) => v.clone(),
    };
    let model = logged
        .get("model")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut record = crate::RecordedRequest::new(path, &model, logged, headers);
    if state.keeps_raw_bodies() {
        record = record.with_raw(body);
    }
    state.record(record);
    Received {
        request_id: format!("req_{}", random_id(id_len)),
        parsed,
        model,
    }
}

/// Header a test sets to make the mock report this many cached prompt tokens.
pub const CACHED_TOKENS_HEADER: &str = "x-mock-cached-tokens";

/// Pause before aborting a cut stream, so the frames already written reach the client as data
/// rather than being discarded together with the connection.
const CUT_PAUSE: Duration = Duration::from_millis(20);

/// SSE frames of one streamed answer, plus where `cut-mid-stream` should stop.
#[derive(Debug, Default)]
pub(crate) struct Frames {
    frames: Vec<Bytes>,
    deltas: usize,
    cut: usize,
}

impl Frames {
    /// Appends `event: NAME\ndata: JSON\n\n`, or just `data: JSON\n\n` without a name.
    pub(crate) fn push(&mut self, event: Option<&str>, data: &Value) {
        self.push_raw(event, &data.to_string());
    }

    pub(crate) fn push_raw(&mut self, event: Option<&str>, data: &str) {
        let frame = match event {
            Some(name) => format!("event: {name}\ndata: {data}\n\n"),
            None => format!("data: {data}\n\n"),
        };
        self.frames.push(Bytes::from(frame));
    }

    /// Appends a content delta; a cut stream ends right after the second one, which is the
    /// "client already saw some text, then the connection died" case.
    pub(crate) fn push_delta(&mut self, event: Option<&str>, data: &Value) {
        self.push(event, data);
        self.deltas += 1;
        if self.deltas <= 2 {
            self.cut = self.frames.len();
        }
    }

    pub(crate) fn into_response(
        self,
        delivery: Delivery,
        request_id: (&'static str, &str),
    ) -> Response {
        let body = match delivery {
            Delivery::CutMidStream => {
                let keep = if self.cut == 0 {
                    self.frames.len() / 2
                } else {
                    self.cut
                };
                aborted_body(self.frames.into_iter().take(keep).collect())
            }
            Delivery::Normal | Delivery::MalformedJson => Body::from_stream(futures::stream::iter(
                self.frames.into_iter().map(Ok::<_, std::io::Error>),
            )),
        };
        let mut response = (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "text/event-stream; charset=utf-8"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            body,
        )
            .into_response();
        set_header(&mut response, request_id.0, request_id.1);
        response
    }
}

/// A body that sends `chunks`, then fails, which makes hyper drop the connection without
/// finishing the response (no terminating chunk), exactly like a provider crashing mid-answer.
fn aborted_body(chunks: Vec<Bytes>) -> Body {
    let head = futures::stream::iter(chunks.into_iter().map(Ok::<_, std::io::Error>));
    let tail = futures::stream::once(async {
        tokio::time::sleep(CUT_PAUSE).await;
        Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "mock-upstream: cut mid-stream",
        ))
    });
    Body::from_stream(head.chain(tail))
}

/// A 200 JSON answer, possibly broken on purpose.
pub(crate) fn json_response(
    value: &Value,
    delivery: Delivery,
    request_id: (&'static str, &str),
) -> Response {
    let full = value.to_string().into_bytes();
    let body = match delivery {
        Delivery::Normal => Body::from(full),
        Delivery::CutMidStream => {
            let half = full.len() / 2;
            aborted_body(vec![Bytes::from(full).slice(..half)])
        }
        Delivery::MalformedJson => {
            // Valid-looking start, then garbage: the kind of body a broken proxy returns.
            let half = full.len() / 2;
            let mut broken = full[..half].to_vec();
            broken.extend_from_slice(b"<<not json>>");
            Body::from(broken)
        }
    };
    let mut response = (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response();
    set_header(&mut response, request_id.0, request_id.1);
    response
}

/// An error response with the provider's error JSON.
pub(crate) fn error_response(
    status: StatusCode,
    body: &Value,
    request_id: (&'static str, &str),
) -> Response {
    let mut response = (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response();
    set_header(&mut response, request_id.0, request_id.1);
    response
}

pub(crate) fn set_header(response: &mut Response, name: &'static str, value: &str) {
    if let Ok(value) = HeaderValue::from_str(value) {
        response.headers_mut().insert(name, value);
    }
}

pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

pub(crate) fn cached_tokens_header(headers: &HeaderMap) -> Option<u64> {
    header_str(headers, CACHED_TOKENS_HEADER).and_then(|v| v.trim().parse().ok())
}

/// A random alphanumeric suffix for ids such as `chatcmpl-…` or `toolu_…`.
pub(crate) fn random_id(len: usize) -> String {
    let mut id = String::new();
    while id.len() < len {
        id.push_str(&uuid::Uuid::new_v4().simple().to_string());
    }
    id.truncate(len);
    id
}

pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Parses a request body; on failure the raw text is kept so the log still shows what was sent.
pub(crate) fn parse_body(body: &[u8]) -> Result<Value, Value> {
    serde_json::from_slice(body)
        .map_err(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

/// Plain text of a message `content`: a string, or the `text` parts of a content array.
pub(crate) fn content_text(content: &Value) -> String {
    match content {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(" "),
        _ => String::new(),
    }
}

/// Reads a stop list given as a string or an array of strings.
pub(crate) fn string_list(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_and_cut_point() {
        let mut f = Frames::default();
        f.push(Some("start"), &json!({"a": 1}));
        f.push_delta(None, &json!(1));
        f.push_delta(None, &json!(2));
        f.push_delta(None, &json!(3));
        assert_eq!(f.cut, 3);
        assert_eq!(f.frames[0], "event: start\ndata: {\"a\":1}\n\n");
        assert_eq!(f.frames[1], "data: 1\n\n");
    }

    #[test]
    fn helpers() {
        assert_eq!(random_id(29).len(), 29);
        assert_eq!(random_id(40).len(), 40);
        assert_eq!(
            content_text(
                &json!([{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}])
            ),
            "a b"
        );
        assert_eq!(string_list(Some(&json!("x"))), ["x"]);
        assert_eq!(string_list(Some(&json!(["x", 1, "y"]))), ["x", "y"]);
        assert!(parse_body(b"{").is_err());
    }
}
