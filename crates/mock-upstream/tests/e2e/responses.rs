//! OpenAI Responses: the `response` object, the typed event stream, tool calls, faults and
//! the scripted agent.

use serde_json::{json, Value};

use crate::common::{json, parse_sse, start};

async fn post(
    server: &mock_upstream::MockServer,
    client: &reqwest::Client,
    body: &Value,
) -> reqwest::Response {
    client
        .post(format!("{}/v1/responses", server.base_url()))
        .bearer_auth("sk-test")
        .json(body)
        .send()
        .await
        .expect("request")
}

fn shell_tool() -> Value {
    json!({"type": "function", "name": "shell", "strict": false, "parameters": {"type": "object",
        "properties": {"command": {"type": "array", "items": {"type": "string"}}}, "required": ["command"]}})
}

#[tokio::test]
async fn text_answer_has_the_real_shape() {
    let (server, client) = start().await;
    let body = json!({"model": "gpt-5-mini", "instructions": "be brief", "input": "hello there", "store": false});
    let resp = post(&server, &client, &body).await;
    assert_eq!(resp.status(), 200);
    let v = json(resp).await;
    assert!(v["id"].as_str().is_some_and(|id| id.starts_with("resp_")));
    assert_eq!(v["object"], "response");
    assert_eq!(v["status"], "completed");
    let item = &v["output"][0];
    assert_eq!(item["type"], "message");
    assert_eq!(item["role"], "assistant");
    assert_eq!(item["content"][0]["type"], "output_text");
    assert_eq!(
        item["content"][0]["text"],
        "mock answer from gpt-5-mini: hello there"
    );
    let u = &v["usage"];
    assert_eq!(
        u["total_tokens"].as_u64(),
        Some(u["input_tokens"].as_u64().unwrap_or(0) + u["output_tokens"].as_u64().unwrap_or(0))
    );
    assert_eq!(u["input_tokens_details"]["cached_tokens"], 0);
    assert_eq!(u["output_tokens_details"]["reasoning_tokens"], 0);
    assert_eq!(server.requests()[0].path, "/v1/responses");
}

#[tokio::test]
async fn max_output_tokens_makes_it_incomplete() {
    let (server, client) = start().await;
    let body = json!({"model": "m", "input": "a long question", "max_output_tokens": 2});
    let v = json(post(&server, &client, &body).await).await;
    assert_eq!(v["status"], "incomplete");
    assert_eq!(v["incomplete_details"]["reason"], "max_output_tokens");
}

#[tokio::test]
async fn tool_call_then_output() {
    let (server, client) = start().await;
    let body = json!({"model": "m", "input": "list files", "tools": [shell_tool()]});
    let v = json(post(&server, &client, &body).await).await;
    let call = &v["output"][0];
    assert_eq!(call["type"], "function_call");
    assert_eq!(call["name"], "shell");
    assert!(call["call_id"]
        .as_str()
        .is_some_and(|c| c.starts_with("call_")));
    let args: Value =
        serde_json::from_str(call["arguments"].as_str().unwrap_or("")).unwrap_or_default();
    assert!(args["command"].is_array());
    let body = json!({"model": "m", "tools": [shell_tool()], "input": [
        {"role": "user", "content": "list files"},
        {"type": "function_call", "call_id": call["call_id"], "name": "shell", "arguments": call["arguments"]},
        {"type": "function_call_output", "call_id": call["call_id"], "output": "a.txt b.txt"}]});
    let v = json(post(&server, &client, &body).await).await;
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "mock answer from m: tool result was a.txt b.txt"
    );
}

#[tokio::test]
async fn stream_events_in_order() {
    let (server, client) = start().await;
    let body = json!({"model": "m", "input": "one two three", "stream": true});
    let resp = post(&server, &client, &body).await;
    let frames = parse_sse(&resp.text().await.expect("body"));
    let names: Vec<String> = frames.iter().filter_map(|f| f.event.clone()).collect();
    let want_head = [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ];
    assert_eq!(&names[..4], want_head);
    let want_tail = [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ];
    assert_eq!(&names[names.len() - 4..], want_tail);
    let text: String = frames
        .iter()
        .filter(|f| f.event.as_deref() == Some("response.output_text.delta"))
        .map(|f| f.json()["delta"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(text, "mock answer from m: one two three");
    for (i, f) in frames.iter().enumerate() {
        let v = f.json();
        assert_eq!(v["type"].as_str(), f.event.as_deref());
        assert_eq!(v["sequence_number"], i);
    }
    let done = frames.last().map(|f| f.json()).unwrap_or_default();
    assert!(done["response"]["usage"]["output_tokens"]
        .as_u64()
        .is_some_and(|n| n > 0));
}

#[tokio::test]
async fn stream_tool_arguments_in_pieces() {
    let (server, client) = start().await;
    let body = json!({"model": "m", "input": "go", "stream": true, "tools": [shell_tool()], "tool_choice": "required"});
    let frames = parse_sse(
        &post(&server, &client, &body)
            .await
            .text()
            .await
            .expect("body"),
    );
    let deltas: Vec<String> = frames
        .iter()
        .filter(|f| f.event.as_deref() == Some("response.function_call_arguments.delta"))
        .map(|f| f.json()["delta"].as_str().unwrap_or("").to_string())
        .collect();
    assert!(deltas.len() >= 3, "{deltas:?}");
    let done = frames
        .iter()
        .find(|f| f.event.as_deref() == Some("response.function_call_arguments.done"))
        .map(|f| f.json())
        .unwrap_or_default();
    assert_eq!(done["arguments"].as_str(), Some(deltas.concat().as_str()));
}

#[tokio::test]
async fn faults_and_errors() {
    let (server, client) = start().await;
    let v = post(
        &server,
        &client,
        &json!({"model": "m-fail-429", "input": "x"}),
    )
    .await;
    assert_eq!(v.status(), 429);
    assert!(v.headers().contains_key("retry-after"));
    let v = post(&server, &client, &json!({"model": "m"})).await;
    assert_eq!(v.status(), 400);
    assert_eq!(json(v).await["error"]["param"], "input");
    let v = client
        .post(format!("{}/v1/responses", server.base_url()))
        .json(&json!({"model": "m", "input": "x"}))
        .send()
        .await
        .expect("request");
    assert_eq!(v.status(), 401);
}

#[tokio::test]
async fn scripted_agent_runs_one_command() {
    let (server, client) = start().await;
    let task = json!({"model": "gpt-agent", "tools": [shell_tool()],
        "input": [{"role": "user", "content": [{"type": "input_text", "text": "Run `cat notes.txt` and report"}]}]});
    let v = json(post(&server, &client, &task).await).await;
    assert_eq!(
        v["output"][0]["arguments"],
        "{\"command\":[\"bash\",\"-lc\",\"cat notes.txt\"]}"
    );
    let mut input = task["input"].as_array().cloned().unwrap_or_default();
    input.push(v["output"][0].clone());
    input.push(json!({"type": "function_call_output", "call_id": v["output"][0]["call_id"], "output": "buy milk"}));
    let v = json(
        post(
            &server,
            &client,
            &json!({"model": "gpt-agent", "input": input}),
        )
        .await,
    )
    .await;
    assert_eq!(
        v["output"][0]["content"][0]["text"],
        "The command printed:\nbuy milk"
    );
}
