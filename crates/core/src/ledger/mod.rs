//! The request ledger: one row per request (routed or passed through, answered or failed),
//! explicit and implicit feedback, and the routing loop's shared state. Owns the record
//! types, the `Store` trait (SQLite by default, PostgreSQL for replicas) and the `Ledger`
//! handle the server holds. Must not block the request path: rows go through a bounded
//! channel to a batching writer (`writer.rs`), and a full channel drops (and counts) a row.

pub mod blended;
pub mod columns;
pub mod control;
pub mod dashboard;
pub mod feedback;
pub mod postgres;
pub mod quality;
pub mod record;
pub mod report;
pub mod simulate;
pub mod sqlite;
pub mod writer;

#[cfg(test)]
pub(crate) mod tests;

use std::sync::Arc;

use anyhow::Result;
use futures::future::BoxFuture;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

pub use record::{
    Draft, ErrorKind, Meter, Metered, OnFinish, StreamOutcome, Verification, VerifyCall,
};
pub use writer::{Ledger, LedgerStats};

/// Where the ledger lives and how it behaves (`[ledger]` in frugal.toml).
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerConfig {
    /// A SQLite file path, or a `postgres://` / `postgresql://` URL.
    pub target: String,
    /// `false` turns recording off entirely (nothing is written, nothing counted).
    pub enabled: bool,
    /// Store the conversation text (off by default: only its hash is kept).
    pub store_prompts: bool,
    /// Rows older than this many days are pruned; 0 keeps everything.
    pub retention_days: u32,
    /// Most rows written in one transaction.
    pub batch_size: usize,
    /// Rows buffered between the request path and the writer before rows are dropped.
    pub channel_capacity: usize,
    /// A repeat of the same conversation within this many seconds counts against the model
    /// that answered the first one.
    pub retry_window_secs: u64,
}

impl Default for LedgerConfig {
    fn default() -> LedgerConfig {
        LedgerConfig {
            target: DEFAULT_SQLITE_FILE.to_string(),
            enabled: true,
            store_prompts: false,
            retention_days: 90,
            batch_size: 1000,
            channel_capacity: 65_536,
            retry_window_secs: 120,
        }
    }
}

/// The embedded default: a SQLite file in the working directory.
pub const DEFAULT_SQLITE_FILE: &str = "frugal.sqlite";

impl LedgerConfig {
    /// True when `target` names a PostgreSQL server rather than a SQLite file.
    pub fn is_postgres(&self) -> bool {
        is_postgres_url(&self.target)
    }
}

pub fn is_postgres_url(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A ledger target for messages: a PostgreSQL URL without its password.
pub fn redact_target(target: &str) -> String {
    if !is_postgres_url(target) {
        return target.to_string();
    }
    match (target.find("://"), target.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &target[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{user}:***{}", &target[..scheme + 3], &target[at..])
        }
        _ => target.to_string(),
    }
}

/// One request, as the ledger keeps it. Costs are exact decimals. Never holds an API key:
/// `key_hash` is a short SHA-256 prefix of the client's key.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Record {
    pub request_id: String,
    /// Milliseconds since the Unix epoch when the request arrived.
    pub ts_ms: i64,
    /// `x-frugal-project` header, or "".
    pub project: String,
    /// `k_` + 12 hex digits of SHA-256 of the client's API key, or "".
    pub key_hash: String,
    /// `x-frugal-session` header, else the body's `user`, or "".
    pub session: String,
    /// Client wire format: "openai" or "anthropic".
    pub format: String,
    /// "routed", "explicit", "routing_off", or "none" when the request failed before planning.
    pub decision: String,
    /// The model field as the client sent it.
    pub requested_model: String,
    pub tier: Option<String>,
    pub score: Option<f64>,
    pub confidence: Option<f64>,
    /// Which classifier stage decided.
    pub stage: Option<String>,
    /// The model that answered (or the last one tried).
    pub model: Option<String>,
    /// What the savings are measured against (the requested model when passed through).
    pub baseline_model: Option<String>,
    pub fallback_attempts: i64,
    /// `provider/model:status` of each failed attempt, `;`-separated.
    pub failed_models: String,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Prompt tokens billed as cache reads.
    pub cached_tokens: i64,
    pub cache_write_tokens: i64,
    /// Prompt tokens removed by compression (0 until compression reports them).
    pub compression_tokens_saved: i64,
    pub cost_usd: Decimal,
    pub baseline_cost_usd: Decimal,
    pub savings_routing_usd: Decimal,
    pub savings_compression_usd: Decimal,
    pub savings_caching_usd: Decimal,
    pub latency_ms: f64,
    pub ttft_ms: Option<f64>,
    /// HTTP status returned to the client (200 for a stream that later failed: see `error`).
    pub status: i64,
    /// Secret-free error kind, when the request or its stream failed.
    pub error: Option<String>,
    pub stream: bool,
    /// SHA-256 prefix of the conversation (system + messages), for retry detection.
    pub conversation_hash: String,
    /// The conversation as JSON, only with `store_prompts = true`.
    pub prompt: Option<String>,
    /// Verified answers: "trusted", "escalated", "unchecked" (nothing could answer better),
    /// "skipped" (a stream with `streams = "skip"`), "escalation_failed" (the doubtful
    /// answer was served because every stronger model failed); `None` when not verified.
    pub verify: Option<String>,
    /// Confidence in the first answer (0..1).
    pub verify_confidence: Option<f64>,
    /// What verification added: the calls whose answer was not served (in `cost_usd` too).
    pub verify_cost_usd: Decimal,
    /// How much later the answer came than the first model's answer alone.
    pub verify_delay_ms: Option<f64>,
    /// Every model called for a verified request, as JSON (`[{model, role, ...}]`).
    pub calls: Option<String>,
    /// frugal's own time: latency minus upstream waiting (to the first event for streams).
    pub overhead_ms: Option<f64>,
}

impl Record {
    /// Total savings against the baseline, all sources.
    pub fn savings_usd(&self) -> Decimal {
        self.savings_routing_usd + self.savings_compression_usd + self.savings_caching_usd
    }
}

/// Where a quality signal came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Signal {
    /// `POST /v1/feedback`.
    Explicit,
    /// `x-frugal-feedback` on a later request.
    Header,
    /// The same conversation sent again within the retry window.
    Retry,
    /// The same conversation sent again naming a model explicitly.
    Escalation,
    /// Replayed from a data set (`frugal simulate`).
    Simulated,
    /// A sampled grade by the configured judge model (`[feedback] grade_model`).
    Judge,
}

impl Signal {
    pub fn as_str(self) -> &'static str {
        match self {
            Signal::Explicit => "explicit",
            Signal::Header => "header",
            Signal::Retry => "retry",
            Signal::Escalation => "escalation",
            Signal::Simulated => "simulated",
            Signal::Judge => "judge",
        }
    }

    pub fn parse(s: &str) -> Option<Signal> {
        [
            Signal::Explicit,
            Signal::Header,
            Signal::Retry,
            Signal::Escalation,
            Signal::Simulated,
            Signal::Judge,
        ]
        .into_iter()
        .find(|x| x.as_str() == s)
    }
}

/// One quality signal about an earlier request, with its tier and model copied so the
/// loop can aggregate without a join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    pub request_id: String,
    pub ts_ms: i64,
    pub tier: Option<String>,
    pub model: Option<String>,
    /// 0 (bad) ..= 1 (good).
    pub score: f64,
    pub source: Signal,
    pub comment: Option<String>,
}

/// One decision of the boundary controller, applied or (dry run) only proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoopEvent {
    pub ts_ms: i64,
    pub tier: String,
    /// Which boundary moved (0 = simple|medium, 1 = medium|complex, 2 = complex|frontier).
    pub boundary: i64,
    pub old_value: f64,
    pub new_value: f64,
    pub quality: f64,
    pub lower: f64,
    pub upper: f64,
    pub samples: i64,
    pub reason: String,
    pub dry_run: bool,
}

/// A rated answer as the model-aware router learns it: the request's embedding and the
/// answering model's score. Kept (not pruned by retention: it is what the router knows)
/// so that learning survives restarts and is shared by replicas.
#[derive(Debug, Clone, PartialEq)]
pub struct Label {
    pub request_id: String,
    pub ts_ms: i64,
    pub model: String,
    pub score: f64,
    /// Which embedding produced the vector (labels of another embedding are not read).
    pub embedding_id: String,
    pub embedding: Vec<f32>,
}

impl Label {
    /// The vector as stored: f32 little-endian.
    pub fn embedding_bytes(&self) -> Vec<u8> {
        self.embedding
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect()
    }

    pub fn embedding_from_bytes(b: &[u8]) -> Result<Vec<f32>> {
        if b.len() % 4 != 0 {
            anyhow::bail!(
                "a stored embedding has {} bytes, not whole f32 values",
                b.len()
            );
        }
        Ok(b.chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect())
    }
}

/// What the writer hands the store in one transaction.
#[derive(Debug, Default)]
pub struct Batch {
    pub records: Vec<Record>,
    pub feedback: Vec<Feedback>,
    pub labels: Vec<Label>,
}

impl Batch {
    pub fn len(&self) -> usize {
        self.records.len() + self.feedback.len() + self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A page of the ledger in arrival order, for reports and exports.
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub since_ms: i64,
    /// Only rows with a sequence number above this one.
    pub after_seq: i64,
    pub limit: usize,
}

/// The storage backend. Object-safe (boxed futures) so the server holds `Arc<dyn Store>`;
/// the SQLite implementation runs its blocking calls on tokio's blocking pool.
pub trait Store: Send + Sync {
    /// "sqlite" or "postgres".
    fn backend(&self) -> &'static str;
    /// Write records and feedback in one transaction.
    fn insert(&self, batch: Arc<Batch>) -> BoxFuture<'_, Result<()>>;
    /// Delete up to `limit` requests and feedback rows older than `before_ms`; returns how
    /// many went (callers loop until it is below `limit`).
    fn prune(&self, before_ms: i64, limit: usize) -> BoxFuture<'_, Result<u64>>;
    /// Records in sequence order, each with its sequence number.
    fn records(&self, page: Page) -> BoxFuture<'_, Result<Vec<(i64, Record)>>>;
    fn lookup<'a>(&'a self, request_id: &'a str) -> BoxFuture<'a, Result<Option<Record>>>;
    fn feedback_since(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<Feedback>>>;
    /// The live boundaries every replica routes with, if the loop has set them.
    fn load_boundaries(&self) -> BoxFuture<'_, Result<Option<[f64; 3]>>>;
    /// Record a controller event and, unless it is a dry run, the new boundaries.
    fn save_event<'a>(
        &'a self,
        event: &'a LoopEvent,
        boundaries: [f64; 3],
    ) -> BoxFuture<'a, Result<()>>;
    fn events_since(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<LoopEvent>>>;
    /// Labels of one embedding with a sequence number above `after_seq`, oldest first.
    fn labels_after<'a>(
        &'a self,
        embedding_id: &'a str,
        after_seq: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<(i64, Label)>>>;
    /// A dashboard aggregate, computed in the database (ledger/dashboard/).
    fn dashboard(&self, q: dashboard::Query) -> BoxFuture<'_, Result<dashboard::Answer>>;
}

/// Records per read by commands that walk the whole ledger.
const READ_PAGE: usize = 5_000;

/// Call `f` on every record since `since_ms` with its sequence number, oldest first, reading
/// page by page so a large ledger is never held twice.
pub async fn each_record(
    store: &dyn Store,
    since_ms: i64,
    mut f: impl FnMut(i64, Record) -> Result<()>,
) -> Result<()> {
    let mut after_seq = 0;
    loop {
        let page = store
            .records(Page {
                since_ms,
                after_seq,
                limit: READ_PAGE,
            })
            .await?;
        let full = page.len() == READ_PAGE;
        for (seq, r) in page {
            after_seq = seq;
            f(seq, r)?;
        }
        if !full {
            return Ok(());
        }
    }
}

/// Open (and migrate) the store a configuration names.
pub async fn open_store(cfg: &LedgerConfig) -> Result<Arc<dyn Store>> {
    if cfg.is_postgres() {
        Ok(Arc::new(postgres::PgStore::connect(&cfg.target).await?))
    } else {
        Ok(Arc::new(sqlite::SqliteStore::open(&cfg.target).await?))
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
