//! Models list, the request log endpoints and the binary's startup/shutdown contract.

use serde_json::Value;

use crate::common::{json, openai, start};

#[tokio::test]
async fn models_in_both_styles() {
    let (server, client) = start().await;
    let url = format!("{}/v1/models", server.base_url());
    let resp = client.get(&url).send().await.expect("send");
    assert_eq!(resp.status(), 401);
    let v = json(
        client
            .get(&url)
            .bearer_auth("sk")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(v["object"], "list");
    assert_eq!(v["data"][0]["object"], "model");
    let v = json(
        client
            .get(&url)
            .header("x-api-key", "k")
            .header("anthropic-version", "2023-06-01")
            .send()
            .await
            .expect("send"),
    )
    .await;
    assert_eq!(v["data"][0]["type"], "model");
    assert_eq!(v["has_more"], false);
}

#[tokio::test]
async fn request_log_endpoints() {
    let (server, client) = start().await;
    let body = serde_json::json!({"model": "m", "messages": [{"role": "user", "content": "hi"}]});
    openai(&server, &client, &body, &[("x-trace", "t1")]).await;
    let url = format!("{}/mock/requests", server.base_url());
    let v: Vec<mock_upstream::RecordedRequest> = client
        .get(&url)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].model, "m");
    assert_eq!(v[0].header("x-trace"), Some("t1"));
    assert_eq!(v[0].header("authorization"), Some(mock_upstream::REDACTED));
    let resp = client.delete(&url).send().await.expect("send");
    assert_eq!(resp.status(), 204);
    let v: Value = json(client.get(&url).send().await.expect("send")).await;
    assert_eq!(v, serde_json::json!([]));
    assert!(server.requests().is_empty());
}

#[cfg(unix)]
#[tokio::test]
async fn binary_prints_its_url_and_stops_on_sigterm() {
    use std::io::BufRead;
    use std::time::{Duration, Instant};

    // std::process (tokio's "process" feature is not enabled); the blocking read is fine here
    // because nothing else runs on this test's runtime meanwhile.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_mock-upstream"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn binary");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read line");
    let base = line
        .trim_end()
        .strip_prefix("mock-upstream listening on ")
        .expect("listening line")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{base}");

    let client = reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("client");
    let resp = client
        .get(format!("{base}/v1/models"))
        .bearer_auth("sk")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), 200);

    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("mock-upstream did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(status.success(), "{status:?}");
}
