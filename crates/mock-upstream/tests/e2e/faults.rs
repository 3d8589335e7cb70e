//! Fault modes, selected by header or model name, in both wire formats.

use std::time::{Duration, Instant};

use futures::StreamExt;
use mock_upstream::MockServer;
use serde_json::{json, Value};

use crate::common::{anthropic, json, openai, start};

fn oa_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "stream": stream, "messages": [{"role": "user", "content": "one two three four"}]})
}

fn an_body(model: &str, stream: bool) -> Value {
    json!({"model": model, "max_tokens": 100, "stream": stream,
           "messages": [{"role": "user", "content": "one two three four"}]})
}

#[tokio::test]
async fn status_faults_in_both_formats() {
    let (server, client) = start().await;
    // (mode, status, OpenAI error type, Anthropic error type)
    let cases = [
        ("fail-500", 500, "server_error", "api_error"),
        ("fail-503", 503, "server_error", "api_error"),
        ("fail-529", 529, "server_error", "overloaded_error"),
        (
            "fail-400",
            400,
            "invalid_request_error",
            "invalid_request_error",
        ),
        (
            "fail-401",
            401,
            "invalid_request_error",
            "authentication_error",
        ),
        ("fail-429", 429, "requests", "rate_limit_error"),
    ];
    for (mode, status, oa_type, an_type) in cases {
        // Selected by model name...
        let resp = openai(
            &server,
            &client,
            &oa_body(&format!("mock-{mode}"), false),
            &[],
        )
        .await;
        assert_eq!(resp.status().as_u16(), status, "{mode}");
        let v = json(resp).await;
        assert_eq!(v["error"]["type"], oa_type, "{mode}");
        assert!(v["error"]["message"].is_string());

        // ...or by header, with a stream request, which fails before any event.
        let resp = anthropic(
            &server,
            &client,
            &an_body("claude-x", true),
            &[("x-mock-fault", mode)],
        )
        .await;
        assert_eq!(resp.status().as_u16(), status, "{mode}");
        let v = json(resp).await;
        assert_eq!(v["type"], "error");
        assert_eq!(v["error"]["type"], an_type, "{mode}");
    }
}

#[tokio::test]
async fn rate_limits_carry_retry_after() {
    let (server, client) = start().await;
    let resp = openai(&server, &client, &oa_body("m@fail-429", false), &[]).await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "1");
    assert_eq!(json(resp).await["error"]["code"], "rate_limit_exceeded");

    let resp = anthropic(
        &server,
        &client,
        &an_body("claude-x@fail-429-retry-7", false),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");
}

async fn elapsed<F: std::future::Future<Output = reqwest::Response>>(f: F) -> (Duration, String) {
    let started = Instant::now();
    let resp = f.await;
    let waited = started.elapsed();
    assert_eq!(resp.status(), 200);
    (waited, resp.text().await.expect("body"))
}

#[tokio::test]
async fn slow_first_byte_and_latency_delay_the_headers() {
    let (server, client) = start().await;
    for mode in ["slow-first-byte-50", "latency-50"] {
        let (waited, _) = elapsed(openai(
            &server,
            &client,
            &oa_body(&format!("m-{mode}"), false),
            &[],
        ))
        .await;
        assert!(waited >= Duration::from_millis(50), "{mode}: {waited:?}");
        let (waited, text) = elapsed(anthropic(
            &server,
            &client,
            &an_body("c", true),
            &[("x-mock-fault", mode)],
        ))
        .await;
        assert!(waited >= Duration::from_millis(50), "{mode}: {waited:?}");
        assert!(text.contains("event: message_stop"));
    }
}

/// Reads a body until it ends or fails, returning what arrived and whether it failed.
async fn read_until_error(resp: reqwest::Response) -> (String, bool) {
    let mut stream = resp.bytes_stream();
    let mut received = Vec::new();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(bytes) => received.extend_from_slice(&bytes),
            Err(_) => return (String::from_utf8_lossy(&received).into_owned(), true),
        }
    }
    (String::from_utf8_lossy(&received).into_owned(), false)
}

#[tokio::test]
async fn cut_mid_stream_aborts_after_some_content() {
    let (server, client) = start().await;
    let resp = openai(&server, &client, &oa_body("m-cut-mid-stream", true), &[]).await;
    assert_eq!(resp.status(), 200);
    let (text, failed) = read_until_error(resp).await;
    assert!(failed, "the connection must break: {text:?}");
    assert!(text.contains("\"content\":\"mock\""), "{text}");
    assert!(!text.contains("[DONE]") && !text.contains("finish_reason\":\"stop"));

    let resp = anthropic(
        &server,
        &client,
        &an_body("c", true),
        &[("x-mock-fault", "cut-mid-stream")],
    )
    .await;
    let (text, failed) = read_until_error(resp).await;
    assert!(failed);
    assert!(text.contains("text_delta"), "{text}");
    assert!(!text.contains("message_stop") && !text.contains("content_block_stop"));

    // Not streaming: headers arrive, then half a JSON body and a broken connection.
    let resp = openai(
        &server,
        &client,
        &oa_body("m", false),
        &[("x-mock-fault", "cut-mid-stream")],
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (text, failed) = read_until_error(resp).await;
    assert!(failed);
    assert!(text.starts_with("{\"id\":\"chatcmpl-"), "{text}");
}

#[tokio::test]
async fn malformed_json_in_both_modes() {
    let (server, client) = start().await;
    let resp = openai(&server, &client, &oa_body("m-malformed-json", false), &[]).await;
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.expect("body");
    assert!(serde_json::from_str::<Value>(&text).is_err());

    let resp = anthropic(&server, &client, &an_body("c-malformed-json", false), &[]).await;
    assert_eq!(resp.status(), 200);
    assert!(serde_json::from_str::<Value>(&resp.text().await.expect("body")).is_err());

    let resp = openai(&server, &client, &oa_body("m-malformed-json", true), &[]).await;
    let text = resp.text().await.expect("body");
    let data = text.strip_prefix("data: ").expect("a data line");
    assert!(serde_json::from_str::<Value>(data.trim_end()).is_err());

    let resp = anthropic(&server, &client, &an_body("c-malformed-json", true), &[]).await;
    let text = resp.text().await.expect("body");
    let data = text
        .strip_prefix("event: message_start\ndata: ")
        .expect("an event");
    assert!(serde_json::from_str::<Value>(data.trim_end()).is_err());
}

async fn status_of(server: &MockServer, client: &reqwest::Client, model: &str) -> u16 {
    openai(server, client, &oa_body(model, false), &[])
        .await
        .status()
        .as_u16()
}

#[tokio::test]
async fn fail_once_500_fails_only_the_first_time_per_model() {
    let (server, client) = start().await;
    assert_eq!(status_of(&server, &client, "a-fail-once-500").await, 500);
    assert_eq!(status_of(&server, &client, "a-fail-once-500").await, 200);
    assert_eq!(status_of(&server, &client, "b-fail-once-500").await, 500);
    assert_eq!(status_of(&server, &client, "a-fail-once-500").await, 200);
}
