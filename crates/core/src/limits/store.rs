//! Where keys, budget counters and rate counters live: the ledger's own database (SQLite
//! or PostgreSQL, tables from the `*_0004_keys` migration), through a connection of their
//! own so a reservation never waits behind a ledger batch. Every budget change is one
//! conditional statement per counter, so replicas sharing the database stay exact.

use std::sync::Arc;

use anyhow::Result;
use futures::future::BoxFuture;

use crate::ledger::LedgerConfig;

/// One budget counter a request reserves against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hold {
    /// `key:NAME` or `project:NAME`.
    pub scope: String,
    /// `day:YYYY-MM-DD`, `month:YYYY-MM` or `total`.
    pub win: String,
    pub limit_nanos: i64,
    pub amount_nanos: i64,
}

/// A counter's state, as read back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counter {
    pub scope: String,
    pub win: String,
    pub spent_nanos: i64,
    pub reserved_nanos: i64,
    /// Requests whose actual cost has been added to `spent_nanos`.
    pub settled: i64,
}

/// A reservation's end: the amount it held comes off `reserved`, the actual cost goes on
/// `spent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settle {
    pub scope: String,
    pub win: String,
    pub reserved_nanos: i64,
    pub spent_nanos: i64,
}

/// What a replica adds to (or, after reconciliation, takes from) one key's rate counter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateDelta {
    pub key: String,
    pub minute: i64,
    pub requests: i64,
    pub tokens: i64,
}

/// A key made by `frugal keys create`, as stored.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StoredKey {
    pub name: String,
    pub project: String,
    /// Hex SHA-256 of the key; the key itself is never stored.
    pub secret_sha256: String,
    pub prev_secret_sha256: Option<String>,
    pub prev_expires_ms: Option<i64>,
    /// `keys::Rules` as JSON.
    pub policy: String,
    pub created_ms: i64,
    pub rotated_ms: Option<i64>,
    pub disabled_ms: Option<i64>,
}

/// A rotation: the new key's hashes and until when the old one is still accepted.
#[derive(Debug, Clone, PartialEq)]
pub struct Rotation {
    pub name: String,
    pub secret_sha256: String,
    pub ledger_hash: String,
    pub now_ms: i64,
    pub old_valid_until_ms: i64,
}

/// Spent + reserved of each counter after the holds, or the index of one that refused.
pub type Reserved = std::result::Result<Vec<i64>, usize>;

pub trait LimitStore: Send + Sync {
    /// Reserve every hold or none: `Ok(Ok(used))` when all fitted (each counter's spent +
    /// reserved after the hold), else `Ok(Err(i))` for a hold that did not fit (nothing
    /// stays reserved).
    fn reserve(&self, holds: Vec<Hold>) -> BoxFuture<'_, Result<Reserved>>;
    fn settle(&self, settles: Vec<Settle>) -> BoxFuture<'_, Result<()>>;
    /// Counters by (scope, window); missing ones are absent.
    fn counters(&self, keys: Vec<(String, String)>) -> BoxFuture<'_, Result<Vec<Counter>>>;
    /// Add this replica's deltas, then read every key's totals for minutes >= `since`.
    fn rate_sync(
        &self,
        deltas: Vec<RateDelta>,
        since_minute: i64,
    ) -> BoxFuture<'_, Result<Vec<RateDelta>>>;
    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoredKey>>>;
    /// Insert a new key; false when the name is taken.
    fn create_key(&self, key: StoredKey, ledger_hash: String) -> BoxFuture<'_, Result<bool>>;
    /// Replace a key's secret; false when there is no enabled key of that name.
    fn rotate_key(&self, rotation: Rotation) -> BoxFuture<'_, Result<bool>>;
    /// Disable a key now; false when there is no enabled key of that name.
    fn disable_key(&self, name: String, now_ms: i64) -> BoxFuture<'_, Result<bool>>;
    /// Every ledger key hash a stored key has had, with its name.
    fn ledger_hashes(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>>;
}

/// Open the limit store in the ledger's database (migrating it first, as the ledger does).
pub async fn open(cfg: &LedgerConfig) -> Result<Arc<dyn LimitStore>> {
    // The ledger's open runs the migrations (under an advisory lock on PostgreSQL).
    drop(crate::ledger::open_store(cfg).await?);
    if cfg.is_postgres() {
        Ok(Arc::new(
            super::store_pg::PgLimits::connect(&cfg.target).await?,
        ))
    } else {
        Ok(Arc::new(
            super::store_sqlite::SqliteLimits::open(&cfg.target).await?,
        ))
    }
}

/// The upsert that reserves on one counter: it creates the counter or adds to it, only
/// when spent + reserved + amount stays within the limit. One statement, so it is atomic
/// on PostgreSQL (the conflicting row is locked and the condition re-read) and SQLite.
/// Parameters: scope, window, amount, limit.
pub const RESERVE_SQL: &str = "INSERT INTO budget_counters (scope, win, reserved_nanos, limit_nanos) \
     SELECT $1, $2, $3, $4 WHERE $3 <= $4 \
     ON CONFLICT (scope, win) DO UPDATE SET reserved_nanos = budget_counters.reserved_nanos + EXCLUDED.reserved_nanos, \
     limit_nanos = EXCLUDED.limit_nanos \
     WHERE budget_counters.spent_nanos + budget_counters.reserved_nanos + EXCLUDED.reserved_nanos <= EXCLUDED.limit_nanos \
     RETURNING budget_counters.spent_nanos + budget_counters.reserved_nanos";

pub const SETTLE_SQL: &str = "UPDATE budget_counters SET reserved_nanos = reserved_nanos - $3, \
     spent_nanos = spent_nanos + $4, settled = settled + 1 WHERE scope = $1 AND win = $2";

/// Taking back a reservation that was made while another counter of the same request
/// refused (PostgreSQL holds are independent statements).
pub const RELEASE_SQL: &str =
    "UPDATE budget_counters SET reserved_nanos = reserved_nanos - $3 WHERE scope = $1 AND win = $2";

pub const RATE_ADD_SQL: &str = "INSERT INTO rate_counters (key_name, minute, requests, tokens) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (key_name, minute) DO UPDATE SET requests = rate_counters.requests + EXCLUDED.requests, \
     tokens = rate_counters.tokens + EXCLUDED.tokens";

pub const RATE_READ_SQL: &str =
    "SELECT key_name, minute, requests, tokens FROM rate_counters WHERE minute >= $1";

/// Rate rows older than this many minutes are deleted during a sync.
pub const RATE_KEEP_MINUTES: i64 = 10;

pub const KEY_COLUMNS: &str = "name, project, secret_sha256, prev_secret_sha256, prev_expires_ms, policy, created_ms, rotated_ms, disabled_ms";
