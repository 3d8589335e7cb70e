//! What the dashboard reads from the ledger. Aggregation happens in the database, ahead of
//! time: triggers (migration `*_0006_dashboard_rollup.sql`) keep sums per (hour, tier,
//! model) and per (hour, key_hash) as rows are written and deleted, so the first view reads
//! a few thousand rollup rows however large the ledger is — the summary, the time series
//! and the traffic mix are all derived from the one rollup (`views.rs`). Recent requests
//! are a keyset page on `seq`; quality is a GROUP BY over `feedback`. Money is summed as
//! double precision on SQLite (decimals are TEXT there) and exactly on PostgreSQL, and
//! handed over as doubles: the dashboard's figures are for display, `frugal report` stays
//! the exact-decimal account.

pub mod postgres;
pub mod sqlite;
pub mod views;

#[cfg(test)]
mod tests;

use anyhow::{bail, Result};
use serde::Serialize;

use super::Store;

/// The rollup's time unit: one hour, in milliseconds.
pub const HOUR_MS: i64 = 3_600_000;

/// One dashboard question for the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Query {
    /// Sums per (hour, tier, model) of the requests from this hour (hours since the epoch).
    Rollup { since_hour: i64 },
    /// The newest requests, older than `before_seq` when given.
    Recent {
        limit: usize,
        before_seq: Option<i64>,
    },
    /// Feedback per (tier, model) since this time.
    Quality { since_ms: i64 },
    /// Spend per ledger `key_hash` since this time.
    Keys { since_ms: i64 },
}

/// The store's answer, in the shape of the question.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Rollup(Vec<RollupRow>),
    Recent(Vec<RecentRow>),
    Quality(Vec<QualityRow>),
    Keys(Vec<KeyRow>),
}

/// Sums over the requests of one hour, tier and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RollupRow {
    /// Hours since the Unix epoch.
    pub hour: i64,
    pub tier: Option<String>,
    pub model: Option<String>,
    pub requests: i64,
    /// Status other than 200, or an error kind (a stream that failed after its 200).
    pub errors: i64,
    /// Requests answered (or failed) after at least one failed attempt.
    pub fallbacks: i64,
    /// Requests whose answer was checked (trusted, escalated, escalation_failed).
    pub verified: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub savings_routing_usd: f64,
    pub savings_compression_usd: f64,
    pub savings_caching_usd: f64,
    pub verify_cost_usd: f64,
    pub latency_ms_sum: f64,
    pub overhead_ms_sum: f64,
    /// Requests with a measured overhead (older rows have none).
    pub overhead_n: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
}

/// One request as the live list shows it: no prompt, no key hash.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RecentRow {
    pub seq: i64,
    pub request_id: String,
    pub ts_ms: i64,
    pub format: String,
    pub decision: String,
    pub tier: Option<String>,
    pub stage: Option<String>,
    pub model: Option<String>,
    /// Exact decimal, as stored.
    pub cost_usd: String,
    pub baseline_cost_usd: String,
    pub latency_ms: f64,
    pub overhead_ms: Option<f64>,
    pub status: i64,
    pub error: Option<String>,
    pub fallback_attempts: i64,
    pub stream: bool,
    pub verify: Option<String>,
}

/// Feedback on the answers of one tier and model.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct QualityRow {
    pub tier: Option<String>,
    pub model: Option<String>,
    pub samples: i64,
    pub score_sum: f64,
}

/// Spend of the requests made with one key (by the ledger's short `key_hash`; empty for
/// requests without a key). The hash never leaves the server: the API names the key.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct KeyRow {
    pub key_hash: String,
    pub requests: i64,
    pub errors: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    /// Routing + compression + caching.
    pub savings_usd: f64,
}

/// The columns of the `dashboard_rollup` table (migration 6) after its three keys, in
/// `RollupRow` order, and whether each is a double (else an integer). Both backends read
/// them in this order.
pub(crate) const ROLLUP_COLUMNS: [(&str, bool); 15] = [
    ("requests", false),
    ("errors", false),
    ("fallbacks", false),
    ("verified", false),
    ("cost_usd", true),
    ("baseline_cost_usd", true),
    ("savings_routing_usd", true),
    ("savings_compression_usd", true),
    ("savings_caching_usd", true),
    ("verify_cost_usd", true),
    ("latency_ms", true),
    ("overhead_ms", true),
    ("overhead_n", false),
    ("input_tokens", false),
    ("output_tokens", false),
];

/// A rollup row from its three keys and its sums in `ROLLUP_COLUMNS` order.
pub(crate) fn rollup_row(
    hour: i64,
    tier: Option<String>,
    model: Option<String>,
    ints: &[i64; 7],
    reals: &[f64; 8],
) -> RollupRow {
    RollupRow {
        hour,
        tier,
        model,
        requests: ints[0],
        errors: ints[1],
        fallbacks: ints[2],
        verified: ints[3],
        cost_usd: reals[0],
        baseline_cost_usd: reals[1],
        savings_routing_usd: reals[2],
        savings_compression_usd: reals[3],
        savings_caching_usd: reals[4],
        verify_cost_usd: reals[5],
        latency_ms_sum: reals[6],
        overhead_ms_sum: reals[7],
        overhead_n: ints[4],
        input_tokens: ints[5],
        output_tokens: ints[6],
    }
}

/// Split one row's sums (read in `ROLLUP_COLUMNS` order) into integers and doubles.
pub(crate) fn split_sums(
    mut get_int: impl FnMut(usize) -> Result<i64>,
    mut get_real: impl FnMut(usize) -> Result<f64>,
) -> Result<([i64; 7], [f64; 8])> {
    let (mut ints, mut reals) = ([0i64; 7], [0f64; 8]);
    let (mut i, mut r) = (0, 0);
    for (k, (_, real)) in ROLLUP_COLUMNS.iter().enumerate() {
        if *real {
            reals[r] = get_real(k)?;
            r += 1;
        } else {
            ints[i] = get_int(k)?;
            i += 1;
        }
    }
    Ok((ints, reals))
}

/// Longest page of recent requests.
pub const MAX_RECENT: usize = 500;

/// The rollup from `since_hour` on.
pub async fn rollup(store: &dyn Store, since_hour: i64) -> Result<Vec<RollupRow>> {
    match store.dashboard(Query::Rollup { since_hour }).await? {
        Answer::Rollup(rows) => Ok(rows),
        other => bail!("the store answered a rollup with {other:?}"),
    }
}

/// The newest `limit` requests (older than `before_seq` when given), newest first.
pub async fn recent(
    store: &dyn Store,
    limit: usize,
    before_seq: Option<i64>,
) -> Result<Vec<RecentRow>> {
    let q = Query::Recent {
        limit: limit.clamp(1, MAX_RECENT),
        before_seq,
    };
    match store.dashboard(q).await? {
        Answer::Recent(rows) => Ok(rows),
        other => bail!("the store answered recent requests with {other:?}"),
    }
}

/// Most expensive first, then by hash (a stable order for equal spend).
pub(crate) fn sort_keys(rows: &mut [KeyRow]) {
    rows.sort_by(|a, b| {
        b.cost_usd
            .total_cmp(&a.cost_usd)
            .then_with(|| a.key_hash.cmp(&b.key_hash))
    });
}

/// Spend per key since `since_ms`, most expensive first.
pub async fn keys(store: &dyn Store, since_ms: i64) -> Result<Vec<KeyRow>> {
    match store.dashboard(Query::Keys { since_ms }).await? {
        Answer::Keys(rows) => Ok(rows),
        other => bail!("the store answered key spend with {other:?}"),
    }
}

/// Feedback per tier and model since `since_ms`.
pub async fn quality(store: &dyn Store, since_ms: i64) -> Result<Vec<QualityRow>> {
    match store.dashboard(Query::Quality { since_ms }).await? {
        Answer::Quality(rows) => Ok(rows),
        other => bail!("the store answered quality with {other:?}"),
    }
}
