//! OpenAI Chat Completions: JSON answers, tool calls, usage and SSE framing.

use serde_json::{json, Value};

use crate::common::{json, openai, parse_sse, start, weather_tool_openai};

#[tokio::test]
async fn text_answer_has_the_real_shape() {
    let (server, client) = start().await;
    let body = json!({"model": "gpt-4o-mini", "messages": [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"}
    ]});
    let resp = openai(&server, &client, &body, &[]).await;
    assert_eq!(resp.status(), 200);
    assert!(resp.headers().contains_key("x-request-id"));
    let v = json(resp).await;
    assert!(v["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("chatcmpl-")));
    assert_eq!(v["object"], "chat.completion");
    assert!(v["created"].is_u64());
    assert_eq!(v["model"], "gpt-4o-mini");
    assert_eq!(v["system_fingerprint"], "fp_mock");
    let choice = &v["choices"][0];
    assert_eq!(choice["index"], 0);
    assert_eq!(choice["finish_reason"], "stop");
    assert_eq!(choice["logprobs"], Value::Null);
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(
        choice["message"]["content"],
        "mock answer from gpt-4o-mini: hello there"
    );
    assert_eq!(choice["message"]["refusal"], Value::Null);
    assert!(choice["message"].get("tool_calls").is_none());
    let usage = &v["usage"];
    let messages_chars = body["messages"].to_string().len() as u64;
    assert_eq!(usage["prompt_tokens"], messages_chars.div_ceil(4));
    assert_eq!(usage["completion_tokens"], 11); // 41 chars
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap_or(0) + 11)
    );
    assert_eq!(usage["prompt_tokens_details"]["cached_tokens"], 0);
    assert_eq!(usage["completion_tokens_details"]["reasoning_tokens"], 0);
    let recorded = server.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].path, "/v1/chat/completions");
    assert_eq!(recorded[0].model, "gpt-4o-mini");
    assert_eq!(recorded[0].body, body);
}

#[tokio::test]
async fn max_tokens_and_stop_sequences() {
    let (server, client) = start().await;
    let body = json!({"model": "m", "max_completion_tokens": 3,
                      "messages": [{"role": "user", "content": "abc"}]});
    let v = json(openai(&server, &client, &body, &[]).await).await;
    assert_eq!(v["choices"][0]["message"]["content"], "mock answer ");
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(v["usage"]["completion_tokens"], 3);

    let body = json!({"model": "m", "stop": ["xyz", "from"],
                      "messages": [{"role": "user", "content": [{"type": "text", "text": "abc"}]}]});
    let v = json(openai(&server, &client, &body, &[]).await).await;
    assert_eq!(v["choices"][0]["message"]["content"], "mock answer ");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn cached_tokens_header_is_inside_prompt_tokens() {
    let (server, client) = start().await;
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "x".repeat(400)}]});
    let v = json(openai(&server, &client, &body, &[("x-mock-cached-tokens", "64")]).await).await;
    assert_eq!(v["usage"]["prompt_tokens_details"]["cached_tokens"], 64);
    assert!(v["usage"]["prompt_tokens"].as_u64() > Some(64));
}

#[tokio::test]
async fn tool_calls_follow_tool_choice() {
    let (server, client) = start().await;
    let messages = json!([{"role": "user", "content": "weather in Paris?"}]);
    let body = json!({"model": "m", "messages": messages, "tools": [weather_tool_openai()]});
    let v = json(openai(&server, &client, &body, &[]).await).await;
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["content"], Value::Null);
    let call = &choice["message"]["tool_calls"][0];
    assert!(call["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_")));
    assert_eq!(call["type"], "function");
    assert_eq!(call["function"]["name"], "get_weather");
    let args: Value = serde_json::from_str(call["function"]["arguments"].as_str().unwrap_or(""))
        .expect("arguments are a JSON string");
    assert_eq!(args, json!({"city": "mock", "days": 1, "metric": true}));

    // A named function is called, and the real API then reports finish_reason "stop".
    let other = json!({"type": "function", "function": {"name": "other", "parameters": {
        "type": "object", "properties": {"n": {"type": "number"}}}}});
    let body = json!({"model": "m", "messages": messages,
        "tools": [weather_tool_openai(), other],
        "tool_choice": {"type": "function", "function": {"name": "other"}}});
    let v = json(openai(&server, &client, &body, &[]).await).await;
    let call = &v["choices"][0]["message"]["tool_calls"][0]["function"];
    assert_eq!(call["name"], "other");
    assert_eq!(call["arguments"], r#"{"n":1.5}"#);
    assert_eq!(v["choices"][0]["finish_reason"], "stop");

    let body = json!({"model": "m", "messages": messages, "tools": [weather_tool_openai()],
                      "tool_choice": "none"});
    let v = json(openai(&server, &client, &body, &[]).await).await;
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    assert!(v["choices"][0]["message"]["content"].is_string());
}

#[tokio::test]
async fn tool_result_gets_a_text_answer() {
    let (server, client) = start().await;
    let body = json!({"model": "m", "tools": [weather_tool_openai()], "messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
            "function": {"name": "get_weather", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "sunny, 21C"}
    ]});
    let v = json(openai(&server, &client, &body, &[]).await).await;
    assert_eq!(
        v["choices"][0]["message"]["content"],
        "mock answer from m: tool result was sunny, 21C"
    );
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
}

async fn stream_frames(body: &Value) -> Vec<crate::common::Frame> {
    let (server, client) = start().await;
    let resp = openai(&server, &client, body, &[]).await;
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(ct.starts_with("text/event-stream"), "{ct}");
    parse_sse(&resp.text().await.expect("body"))
}

#[tokio::test]
async fn stream_text_without_usage() {
    let body = json!({"model": "m", "stream": true,
                      "messages": [{"role": "user", "content": "one two three"}]});
    let frames = stream_frames(&body).await;
    assert!(frames.iter().all(|f| f.event.is_none()));
    assert_eq!(frames.last().map(|f| f.data.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| f.json())
        .collect();
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": "", "refusal": null})
    );
    let mut text = String::new();
    for chunk in &chunks {
        assert_eq!(chunk["object"], "chat.completion.chunk");
        assert_eq!(chunk["id"], chunks[0]["id"]);
        assert!(
            chunk.get("usage").is_none(),
            "usage only with include_usage"
        );
        text.push_str(
            chunk["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or(""),
        );
    }
    assert_eq!(text, "mock answer from m: one two three");
    assert!(chunks.len() >= 6, "text is split per word");
    let last = &chunks[chunks.len() - 1]["choices"][0];
    assert_eq!(last["delta"], json!({}));
    assert_eq!(last["finish_reason"], "stop");
    assert!(chunks[..chunks.len() - 1]
        .iter()
        .all(|c| c["choices"][0]["finish_reason"].is_null()));
}

#[tokio::test]
async fn stream_usage_chunk_only_with_include_usage() {
    let body = json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
                      "messages": [{"role": "user", "content": "hi"}]});
    let frames = stream_frames(&body).await;
    assert_eq!(frames.last().map(|f| f.data.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| f.json())
        .collect();
    let (usage_chunk, rest) = chunks.split_last().expect("chunks");
    assert_eq!(usage_chunk["choices"], json!([]));
    assert!(usage_chunk["usage"]["prompt_tokens"].as_u64() > Some(0));
    assert_eq!(usage_chunk["usage"]["completion_tokens"], 6);
    assert!(rest.iter().all(|c| c.get("usage") == Some(&Value::Null)));
    assert_eq!(
        rest.last().map(|c| &c["choices"][0]["finish_reason"]),
        Some(&json!("stop"))
    );
}

#[tokio::test]
async fn stream_tool_call_arguments_in_pieces() {
    let body = json!({"model": "m", "stream": true, "tools": [weather_tool_openai()],
                      "messages": [{"role": "user", "content": "weather?"}]});
    let frames = stream_frames(&body).await;
    assert_eq!(frames.last().map(|f| f.data.as_str()), Some("[DONE]"));
    let chunks: Vec<Value> = frames[..frames.len() - 1]
        .iter()
        .map(|f| f.json())
        .collect();
    let head = &chunks[0]["choices"][0]["delta"];
    assert_eq!(head["role"], "assistant");
    let call = &head["tool_calls"][0];
    assert_eq!(call["index"], 0);
    assert!(call["id"]
        .as_str()
        .is_some_and(|id| id.starts_with("call_")));
    assert_eq!(call["type"], "function");
    assert_eq!(
        call["function"],
        json!({"name": "get_weather", "arguments": ""})
    );
    let pieces: Vec<&str> = chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| {
            let tc = &c["choices"][0]["delta"]["tool_calls"][0];
            assert_eq!(tc["index"], 0);
            assert!(tc.get("id").is_none());
            tc["function"]["arguments"].as_str().unwrap_or("")
        })
        .collect();
    assert!(pieces.len() >= 3);
    let args: Value = serde_json::from_str(&pieces.concat()).expect("arguments JSON");
    assert_eq!(args, json!({"city": "mock", "days": 1, "metric": true}));
    assert_eq!(
        chunks[chunks.len() - 1]["choices"][0]["finish_reason"],
        "tool_calls"
    );
}

#[tokio::test]
async fn auth_and_body_errors() {
    let (server, client) = start().await;
    let url = format!("{}/v1/chat/completions", server.base_url());
    let body = json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    for auth in [None, Some("Bearer "), Some("Basic abc")] {
        let mut req = client.post(&url).json(&body);
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        let resp = req.send().await.expect("send");
        assert_eq!(resp.status(), 401);
        let v = json(resp).await;
        assert_eq!(v["error"]["type"], "invalid_request_error");
        assert!(v["error"]["message"].is_string());
        assert_eq!(v["error"]["param"], Value::Null);
        assert!(v["error"].get("code").is_some());
    }
    let resp = client
        .post(&url)
        .bearer_auth("sk")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 400);
    let v = json(resp).await;
    assert_eq!(v["error"]["type"], "invalid_request_error");
    let resp = openai(&server, &client, &json!({"model": "m"}), &[]).await;
    assert_eq!(resp.status(), 400);
    assert_eq!(json(resp).await["error"]["param"], "messages");

    // Every request is recorded, rejected or not, with secrets redacted.
    let recorded = server.requests();
    assert_eq!(recorded.len(), 5);
    assert_eq!(recorded[0].header("authorization"), None);
    assert_eq!(
        recorded[1].header("authorization"),
        Some(mock_upstream::REDACTED)
    );
    assert_eq!(recorded[3].body, json!("{not json"));
}
