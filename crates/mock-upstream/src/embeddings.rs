//! OpenAI `POST /v1/embeddings`: deterministic vectors (the same text always gets the same
//! unit vector, derived from a hash of it), `dimensions` honoured (default 8),
//! `encoding_format: "base64"` (little-endian f32, what the official Python SDK asks for)
//! or `"float"`, and `usage.prompt_tokens` ≈ a quarter of the input characters. Fault
//! modes by model name or header, as for chat.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine as _;
use serde_json::{json, Value};

use crate::faults::{self, Delivery, Failure, Outcome, FAULT_HEADER};
use crate::{answer, wire, MockState};

const PATH: &str = "/v1/embeddings";
const REQUEST_ID_HEADER: &str = "x-request-id";
const DEFAULT_DIMENSIONS: usize = 8;
const MAX_DIMENSIONS: u64 = 3072;

pub(crate) async fn embeddings(
    State(state): State<MockState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let wire::Received {
        request_id,
        parsed,
        model,
    } = wire::receive(&state, PATH, &headers, &body, 32);
    let rid = (REQUEST_ID_HEADER, request_id.as_str());
    if let Some(response) = crate::openai::auth_rejection(&headers) {
        return response;
    }
    let request = match parsed {
        Ok(v) if v.is_object() => v,
        _ => {
            return invalid(
                "We could not parse the JSON body of your request.",
                None,
                rid,
            )
        }
    };
    if model.is_empty() {
        return invalid("you must provide a model parameter", None, rid);
    }
    let Some(texts) = inputs(request.get("input")) else {
        return invalid(
            "'input' is a required property and must be a string, an array of strings or an \
             array of token arrays",
            Some("input"),
            rid,
        );
    };
    let dimensions = match request.get("dimensions").map(Value::as_u64) {
        None => DEFAULT_DIMENSIONS,
        Some(Some(n)) if (1..=MAX_DIMENSIONS).contains(&n) => {
            usize::try_from(n).unwrap_or(DEFAULT_DIMENSIONS)
        }
        Some(_) => return invalid("Invalid 'dimensions'", Some("dimensions"), rid),
    };
    let base64 = match request.get("encoding_format").and_then(Value::as_str) {
        None | Some("float") => false,
        Some("base64") => true,
        Some(_) => return invalid("Invalid 'encoding_format'", Some("encoding_format"), rid),
    };
    let fault = faults::parse_fault(&model, wire::header_str(&headers, FAULT_HEADER));
    if let Outcome::Fail(failure) = faults::resolve(fault, &state, &model).await {
        return failure_response(failure, rid);
    }
    let data: Vec<Value> = texts
        .iter()
        .enumerate()
        .map(|(index, text)| {
            let v = vector(text, dimensions);
            let embedding = if base64 {
                let bytes: Vec<u8> = v.iter().flat_map(|x| x.to_le_bytes()).collect();
                json!(base64::engine::general_purpose::STANDARD.encode(bytes))
            } else {
                json!(v)
            };
            json!({"object": "embedding", "index": index, "embedding": embedding})
        })
        .collect();
    let chars: usize = texts.iter().map(|t| t.chars().count()).sum();
    let tokens = answer::tokens_for_chars(chars).max(1);
    let body = json!({
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens}
    });
    wire::json_response(&body, Delivery::Normal, rid)
}

/// Each input as text (a token array is its numbers joined), or `None` when `input` is
/// missing, empty or of another shape.
fn inputs(input: Option<&Value>) -> Option<Vec<String>> {
    let token_text = |t: &[Value]| -> Option<String> {
        let ids: Option<Vec<String>> = t
            .iter()
            .map(|n| n.as_u64().map(|n| n.to_string()))
            .collect();
        ids.map(|ids| ids.join(" "))
    };
    match input? {
        Value::String(s) => Some(vec![s.clone()]),
        Value::Array(items) if items.is_empty() => None,
        Value::Array(items) if items.iter().all(Value::is_number) => Some(vec![token_text(items)?]),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Some(s.clone()),
                Value::Array(t) => token_text(t),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// A unit vector from an FNV-1a hash chain over `text`: same text, same vector.
fn vector(text: &str, dimensions: usize) -> Vec<f32> {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let raw: Vec<f32> = (0..dimensions)
        .map(|_| {
            h = h
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            // The top 24 bits as a value in [-1, 1).
            ((h >> 40) as f32 / (1u64 << 23) as f32) - 1.0
        })
        .collect();
    let norm = raw.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        raw.iter().map(|x| x / norm).collect()
    } else {
        raw
    }
}

fn invalid(message: &str, param: Option<&str>, rid: (&'static str, &str)) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error",
        "param": param, "code": null}});
    wire::error_response(StatusCode::BAD_REQUEST, &body, rid)
}

fn failure_response(failure: Failure, rid: (&'static str, &str)) -> Response {
    let (status, kind, message) = match failure {
        Failure::BadRequest => (
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "This model's maximum context length is 8192 tokens.",
        ),
        Failure::Unauthorized => (
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Incorrect API key provided.",
        ),
        Failure::RateLimited { retry_after_secs } => {
            let body = json!({"error": {"message": "Rate limit reached for requests",
                "type": "requests", "param": null, "code": "rate_limit_exceeded"}});
            let mut response = wire::error_response(StatusCode::TOO_MANY_REQUESTS, &body, rid);
            wire::set_header(&mut response, "retry-after", &retry_after_secs.to_string());
            return response;
        }
        Failure::Internal => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "server_error",
            "The server had an error while processing your request.",
        ),
        Failure::Unavailable | Failure::Overloaded => (
            StatusCode::SERVICE_UNAVAILABLE,
            "server_error",
            "The engine is currently overloaded, please try again later.",
        ),
    };
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}});
    wire::error_response(status, &body, rid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_deterministic_unit_vectors() {
        let a = vector("hello", 8);
        assert_eq!(a, vector("hello", 8));
        assert_ne!(a, vector("hullo", 8));
        let norm: f32 = a.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{norm}");
        assert_eq!(vector("x", 3).len(), 3);
    }

    #[test]
    fn input_shapes() {
        assert_eq!(inputs(Some(&json!("a"))), Some(vec!["a".to_string()]));
        assert_eq!(
            inputs(Some(&json!(["a", [1, 2]]))),
            Some(vec!["a".to_string(), "1 2".to_string()])
        );
        assert_eq!(inputs(Some(&json!([1, 2]))), Some(vec!["1 2".to_string()]));
        assert_eq!(inputs(Some(&json!([]))), None);
        assert_eq!(inputs(Some(&json!({"a": 1}))), None);
        assert_eq!(inputs(None), None);
    }
}
