//! Anthropic Messages: JSON answers, tool use, cache usage and SSE event framing.

use serde_json::{json, Value};

use crate::common::{anthropic, json, parse_sse, start, weather_tool_anthropic, Frame};

#[tokio::test]
async fn text_answer_has_the_real_shape() {
    let (server, client) = start().await;
    let body = json!({"model": "claude-haiku-4-5", "max_tokens": 1024, "system": "be brief",
                      "messages": [{"role": "user", "content": "hello there"}]});
    let resp = anthropic(&server, &client, &body, &[]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("request-id"));
    let v = json(resp).await;
    assert!(v["id"].as_str().is_some_and(|id| id.starts_with("msg_")));
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-haiku-4-5");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "mock answer from claude-haiku-4-5: hello there"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["stop_sequence"], Value::Null);
    let chars = body["messages"].to_string().len() + body["system"].to_string().len();
    assert_eq!(v["usage"]["input_tokens"], (chars as u64).div_ceil(4));
    assert_eq!(v["usage"]["output_tokens"], 12); // 46 chars
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);
    assert_eq!(v["usage"]["cache_read_input_tokens"], 0);
}

#[tokio::test]
async fn max_tokens_required_and_enforced() {
    let (server, client) = start().await;
    let messages = json!([{"role": "user", "content": "abc"}]);
    let resp = anthropic(
        &server,
        &client,
        &json!({"model": "c", "messages": messages}),
        &[],
    )
    .await;
    assert_eq!(resp.status(), 400);
    let v = json(resp).await;
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert_eq!(v["error"]["message"], "max_tokens: Field required");

    let body = json!({"model": "c", "max_tokens": 2, "messages": messages});
    let v = json(anthropic(&server, &client, &body, &[]).await).await;
    assert_eq!(v["content"][0]["text"], "mock ans");
    assert_eq!(v["stop_reason"], "max_tokens");
    assert_eq!(v["usage"]["output_tokens"], 2);

    let body =
        json!({"model": "c", "max_tokens": 100, "stop_sequences": ["from"], "messages": messages});
    let v = json(anthropic(&server, &client, &body, &[]).await).await;
    assert_eq!(v["content"][0]["text"], "mock answer ");
    assert_eq!(v["stop_reason"], "stop_sequence");
    assert_eq!(v["stop_sequence"], "from");
}

#[tokio::test]
async fn cache_reads_are_reported_beside_input_tokens() {
    let (server, client) = start().await;
    let system =
        json!([{"type": "text", "text": "x".repeat(400), "cache_control": {"type": "ephemeral"}}]);
    let body = json!({"model": "c", "max_tokens": 10, "system": system,
                      "messages": [{"role": "user", "content": "hi"}]});
    let v = json(anthropic(&server, &client, &body, &[]).await).await;
    let chars = body["messages"].to_string().len() + body["system"].to_string().len();
    let total = (chars as u64).div_ceil(4);
    assert_eq!(v["usage"]["cache_read_input_tokens"], total / 2);
    assert_eq!(v["usage"]["input_tokens"], total - total / 2);
    assert_eq!(v["usage"]["cache_creation_input_tokens"], 0);

    let v = json(anthropic(&server, &client, &body, &[("x-mock-cached-tokens", "7")]).await).await;
    assert_eq!(v["usage"]["cache_read_input_tokens"], 7);
    assert_eq!(v["usage"]["input_tokens"], total - 7);
}

#[tokio::test]
async fn tool_use_blocks() {
    let (server, client) = start().await;
    let messages = json!([{"role": "user", "content": "weather in Paris?"}]);
    let body = json!({"model": "c", "max_tokens": 100, "messages": messages,
                      "tools": [weather_tool_anthropic()]});
    let v = json(anthropic(&server, &client, &body, &[]).await).await;
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(v["content"][0]["type"], "text");
    let tool = &v["content"][1];
    assert_eq!(tool["type"], "tool_use");
    assert!(tool["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("toolu_")));
    assert_eq!(tool["name"], "get_weather");
    assert_eq!(
        tool["input"],
        json!({"city": "mock", "days": 1, "metric": true})
    );

    // A forced call starts directly with the tool_use block.
    let body = json!({"model": "c", "max_tokens": 100, "messages": messages,
                      "tools": [weather_tool_anthropic()], "tool_choice": {"type": "any"}});
    let v = json(anthropic(&server, &client, &body, &[]).await).await;
    assert_eq!(v["content"].as_array().map(Vec::len), Some(1));
    assert_eq!(v["content"][0]["type"], "tool_use");

    let body = json!({"model": "c", "max_tokens": 100, "messages": messages,
                      "tools": [weather_tool_anthropic()], "tool_choice": {"type": "none"}});
    let v = json(anthropic(&server, &client, &body, &[]).await).await;
    assert_eq!(v["stop_reason"], "end_turn");

    let body = json!({"model": "c", "max_tokens": 100, "tools": [weather_tool_anthropic()],
    "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}]},
        {"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "toolu_1", "content": "sunny"}]}
    ]});
    let v = json(anthropic(&server, &client, &body, &[]).await).await;
    assert_eq!(
        v["content"][0]["text"],
        "mock answer from c: tool result was sunny"
    );
    assert_eq!(v["stop_reason"], "end_turn");
}

async fn stream_frames(body: &Value) -> Vec<Frame> {
    let (server, client) = start().await;
    let resp = anthropic(&server, &client, body, &[]).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    let frames = parse_sse(&resp.text().await.expect("body"));
    for frame in &frames {
        let name = frame.event.as_deref().expect("every frame is named");
        assert_eq!(frame.json()["type"], name, "event name matches data type");
    }
    frames
}

fn names(frames: &[Frame]) -> Vec<&str> {
    frames.iter().filter_map(|f| f.event.as_deref()).collect()
}

#[tokio::test]
async fn stream_text_event_order() {
    let body = json!({"model": "c", "max_tokens": 100, "stream": true,
                      "messages": [{"role": "user", "content": "one two"}]});
    let frames = stream_frames(&body).await;
    let names = names(&frames);
    let deltas = names
        .iter()
        .filter(|n| **n == "content_block_delta")
        .count();
    assert!(deltas >= 5);
    let mut want = vec!["message_start", "content_block_start", "ping"];
    want.extend(std::iter::repeat_n("content_block_delta", deltas));
    want.extend(["content_block_stop", "message_delta", "message_stop"]);
    assert_eq!(names, want);

    let start = frames[0].json();
    assert_eq!(start["message"]["content"], json!([]));
    assert_eq!(start["message"]["stop_reason"], Value::Null);
    assert_eq!(start["message"]["usage"]["output_tokens"], 1);
    assert!(start["message"]["usage"]["input_tokens"].as_u64() > Some(0));
    assert_eq!(
        frames[1].json()["content_block"],
        json!({"type": "text", "text": ""})
    );
    let text: String = frames
        .iter()
        .filter(|f| f.event.as_deref() == Some("content_block_delta"))
        .map(|f| {
            let d = f.json();
            assert_eq!(d["index"], 0);
            assert_eq!(d["delta"]["type"], "text_delta");
            d["delta"]["text"].as_str().unwrap_or("").to_string()
        })
        .collect();
    assert_eq!(text, "mock answer from c: one two");
    let delta = frames[frames.len() - 2].json();
    assert_eq!(
        delta["delta"],
        json!({"stop_reason": "end_turn", "stop_sequence": null})
    );
    assert_eq!(delta["usage"]["output_tokens"], 7);
}

#[tokio::test]
async fn stream_tool_use_partial_json() {
    let body = json!({"model": "c", "max_tokens": 100, "stream": true,
                      "tools": [weather_tool_anthropic()],
                      "messages": [{"role": "user", "content": "weather?"}]});
    let frames = stream_frames(&body).await;
    let names = names(&frames);
    // Text preface block 0, tool_use block 1.
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "content_block_start")
            .count(),
        2
    );
    assert_eq!(names.iter().filter(|n| **n == "ping").count(), 1);
    assert_eq!(names.last(), Some(&"message_stop"));
    let tool_start = frames
        .iter()
        .map(Frame::json)
        .find(|d| d["type"] == "content_block_start" && d["index"] == 1)
        .expect("tool block");
    assert_eq!(tool_start["content_block"]["type"], "tool_use");
    assert_eq!(tool_start["content_block"]["name"], "get_weather");
    assert_eq!(tool_start["content_block"]["input"], json!({}));
    let pieces: Vec<String> = frames
        .iter()
        .map(Frame::json)
        .filter(|d| d["type"] == "content_block_delta" && d["index"] == 1)
        .map(|d| {
            assert_eq!(d["delta"]["type"], "input_json_delta");
            d["delta"]["partial_json"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(pieces.len() >= 4);
    let input: Value = serde_json::from_str(&pieces.concat()).expect("input JSON");
    assert_eq!(input, json!({"city": "mock", "days": 1, "metric": true}));
    let delta = frames[frames.len() - 2].json();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn auth_version_and_body_errors() {
    let (server, client) = start().await;
    let url = format!("{}/v1/messages", server.base_url());
    let body =
        json!({"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]});

    let resp = client
        .post(&url)
        .header("anthropic-version", "2023-06-01")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 401);
    let v = json(resp).await;
    assert_eq!(v["type"], "error");
    assert_eq!(v["error"]["type"], "authentication_error");

    let resp = client
        .post(&url)
        .header("x-api-key", "k")
        .json(&body)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["error"]["type"], "invalid_request_error");

    let resp = client
        .post(&url)
        .header("x-api-key", "k")
        .header("anthropic-version", "2023-06-01")
        .header("content-type", "application/json")
        .body("{\"model\":")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let v = json(resp).await;
    assert_eq!(v["error"]["type"], "invalid_request_error");
    assert!(v["request_id"].is_string());

    let recorded = server.requests();
    assert_eq!(recorded.len(), 3);
    assert_eq!(
        recorded[1].header("x-api-key"),
        Some(mock_upstream::REDACTED)
    );
}
