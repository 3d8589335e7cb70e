//! Helpers shared by the end-to-end tests: a client, request shortcuts and an SSE parser.

use mock_upstream::MockServer;
use serde_json::Value;

pub async fn start() -> (MockServer, reqwest::Client) {
    let server = mock_upstream::spawn().await.expect("spawn mock");
    // no_proxy: a proxy from the environment must not intercept calls to 127.0.0.1.
    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    (server, client)
}

pub async fn openai(
    server: &MockServer,
    client: &reqwest::Client,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client
        .post(format!("{}/v1/chat/completions", server.base_url()))
        .bearer_auth("sk-test")
        .json(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("send")
}

pub async fn anthropic(
    server: &MockServer,
    client: &reqwest::Client,
    body: &Value,
    headers: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = client
        .post(format!("{}/v1/messages", server.base_url()))
        .header("x-api-key", "sk-ant-test")
        .header("anthropic-version", "2023-06-01")
        .json(body);
    for (name, value) in headers {
        req = req.header(*name, *value);
    }
    req.send().await.expect("send")
}

/// One SSE frame: its `event:` name (if any) and its `data:` payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    pub event: Option<String>,
    pub data: String,
}

impl Frame {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or_else(|e| panic!("bad JSON {:?}: {e}", self.data))
    }
}

/// Parses a complete SSE body; every frame must end with a blank line.
pub fn parse_sse(text: &str) -> Vec<Frame> {
    assert!(
        text.ends_with("\n\n") || text.is_empty(),
        "unterminated frame: {text:?}"
    );
    text.split("\n\n")
        .filter(|block| !block.is_empty())
        .map(|block| {
            let mut frame = Frame {
                event: None,
                data: String::new(),
            };
            for line in block.lines() {
                if let Some(name) = line.strip_prefix("event: ") {
                    frame.event = Some(name.to_string());
                } else if let Some(data) = line.strip_prefix("data: ") {
                    frame.data = data.to_string();
                } else {
                    panic!("unexpected SSE line {line:?}");
                }
            }
            frame
        })
        .collect()
}

pub async fn json(resp: reqwest::Response) -> Value {
    resp.json().await.expect("JSON body")
}

pub fn weather_tool_openai() -> Value {
    serde_json::json!({
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer"},
                    "metric": {"type": "boolean"}
                },
                "required": ["city"]
            }
        }
    })
}

pub fn weather_tool_anthropic() -> Value {
    serde_json::json!({
        "name": "get_weather",
        "description": "Weather for a city",
        "input_schema": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "days": {"type": "integer"},
                "metric": {"type": "boolean"}
            },
            "required": ["city"]
        }
    })
}
