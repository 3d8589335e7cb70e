//! mock-upstream: a fake OpenAI (Chat Completions and Responses) + Anthropic provider for frugal's end-to-end tests and benchmarks.
//! It answers deterministically in both wire formats (JSON and SSE), records every request, and
//! misbehaves on demand (see [`faults`]). It must never need the network or real keys.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! let server = mock_upstream::spawn().await?;
//! let openai_base = format!("{}/v1", server.base_url());
//! # let _ = openai_base;
//! # Ok(())
//! # }
//! ```

mod agent_messages;
mod agent_responses;
mod answer;
mod anthropic;
pub mod echo;
mod embeddings;
pub mod faults;
mod log;
mod openai;
mod quiz;
mod responses;
mod wire;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::serve::ListenerExt;
use axum::{Json, Router};
use serde_json::{json, Value};

pub use agent_messages::AGENT_HEADER;
pub use faults::{parse_fault, Fault, FAULT_HEADER};
pub use log::{RecordedRequest, REDACTED};
pub use wire::CACHED_TOKENS_HEADER;

/// How many requests the log keeps by default before dropping the oldest.
pub const DEFAULT_LOG_CAPACITY: usize = 10_000;

/// Real providers accept bodies of tens of megabytes (Anthropic: 32 MB); axum's 2 MB default
/// would reject long-context benchmark prompts before they reach the handler.
const BODY_LIMIT: usize = 32 * 1024 * 1024;

/// Shared state: the request log and the memory behind `fail-once-500`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct MockState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    log: log::RequestLog,
    /// Whether log entries keep the raw body bytes as well (`--log-raw-bodies`).
    keep_raw: bool,
    seen_models: Mutex<HashSet<String>>,
}

impl Default for MockState {
    fn default() -> Self {
        Self::new()
    }
}

impl MockState {
    pub fn new() -> Self {
        Self::with_log_capacity(DEFAULT_LOG_CAPACITY)
    }

    /// A state whose log keeps at most `capacity` requests (the oldest are dropped first).
    pub fn with_log_capacity(capacity: usize) -> Self {
        Self::with_log(capacity, false)
    }

    /// A state whose log keeps at most `capacity` requests and, with `keep_raw`, each
    /// body's exact bytes beside the parsed body (twice the memory per entry).
    pub fn with_log(capacity: usize, keep_raw: bool) -> Self {
        Self {
            inner: Arc::new(Inner {
                keep_raw,
                log: log::RequestLog::new(capacity),
                seen_models: Mutex::new(HashSet::new()),
            }),
        }
    }

    /// Requests received so far, oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.inner.log.snapshot()
    }

    /// Forgets the recorded requests (the `fail-once-500` memory is kept).
    pub fn clear_requests(&self) {
        self.inner.log.clear();
    }

    pub(crate) fn keeps_raw_bodies(&self) -> bool {
        self.inner.keep_raw
    }

    pub(crate) fn record(&self, request: RecordedRequest) {
        tracing::debug!(path = %request.path, model = %request.model, "mock request");
        self.inner.log.push(request);
    }

    /// True the first time `model` is seen; used by `fail-once-500`.
    pub(crate) fn first_sighting(&self, model: &str) -> bool {
        self.inner
            .seen_models
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(model.to_string())
    }
}

/// All routes of the mock provider.
pub fn router(state: MockState) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai::chat_completions))
        .route("/v1/messages", post(anthropic::messages))
        .route("/v1/responses", post(responses::responses))
        .route("/v1/messages/count_tokens", post(anthropic::count_tokens))
        .route("/v1/embeddings", post(embeddings::embeddings))
        .route("/v1/models", get(models))
        .route("/mock/requests", get(list_requests).delete(clear_requests))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// A mock server running in the current tokio runtime.
#[derive(Debug, Clone)]
pub struct MockServer {
    pub addr: SocketAddr,
    pub state: MockState,
}

impl MockServer {
    /// `http://127.0.0.1:PORT`, without `/v1` (clients add their own path prefix).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests()
    }
}

/// Binds 127.0.0.1 on a free port and serves in a background task until the runtime stops.
pub async fn spawn() -> anyhow::Result<MockServer> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let state = MockState::new();
    let app = router(state.clone());
    tokio::spawn(async move {
        if let Err(err) = axum::serve(listener.tap_io(no_delay), app).await {
            tracing::error!(%err, "mock-upstream server stopped");
        }
    });
    Ok(MockServer { addr, state })
}

/// TCP_NODELAY on every accepted socket: a stream's last small frame must not wait for the
/// client's delayed ACK (it would add ~40 ms to every stream and hide the same defect in
/// the gateway from the overhead benchmarks).
pub fn no_delay(tcp: &mut tokio::net::TcpStream) {
    if let Err(err) = tcp.set_nodelay(true) {
        tracing::debug!(%err, "cannot set TCP_NODELAY");
    }
}

async fn list_requests(State(state): State<MockState>) -> Json<Vec<RecordedRequest>> {
    Json(state.requests())
}

async fn clear_requests(State(state): State<MockState>) -> StatusCode {
    state.clear_requests();
    StatusCode::NO_CONTENT
}

const OPENAI_MODELS: &[&str] = &[
    "gpt-4o",
    "gpt-4o-mini",
    "gpt-4.1",
    "gpt-4.1-mini",
    "o4-mini",
];
const ANTHROPIC_MODELS: &[(&str, &str)] = &[
    ("claude-sonnet-4-5", "Claude Sonnet 4.5"),
    ("claude-haiku-4-5", "Claude Haiku 4.5"),
    ("claude-opus-4-1", "Claude Opus 4.1"),
];

/// `GET /v1/models`, in Anthropic's list format when called the Anthropic way (x-api-key plus
/// anthropic-version), else in OpenAI's. Any model name is accepted by the chat endpoints; this
/// list only exists for clients that probe it.
async fn models(State(state): State<MockState>, headers: HeaderMap) -> Response {
    state.record(RecordedRequest::new(
        "/v1/models",
        "",
        Value::Null,
        &headers,
    ));
    let anthropic_style = headers.contains_key("anthropic-version");
    if anthropic_style {
        if let Some(response) = anthropic::auth_rejection(&headers) {
            return response;
        }
        let data: Vec<Value> = ANTHROPIC_MODELS
            .iter()
            .map(|(id, name)| {
                json!({"type": "model", "id": id, "display_name": name,
                       "created_at": "2025-01-01T00:00:00Z"})
            })
            .collect();
        let first = ANTHROPIC_MODELS.first().map(|m| m.0);
        let last = ANTHROPIC_MODELS.last().map(|m| m.0);
        return Json(json!({"data": data, "has_more": false, "first_id": first, "last_id": last}))
            .into_response();
    }
    if let Some(response) = openai::auth_rejection(&headers) {
        return response;
    }
    let data: Vec<Value> = OPENAI_MODELS
        .iter()
        .map(|id| json!({"id": id, "object": "model", "created": 1_700_000_000, "owned_by": "openai"}))
        .collect();
    Json(json!({"object": "list", "data": data})).into_response()
}
