//! The dashboard's queries on PostgreSQL. The rollup and the spend per key read the tables
//! the statement-level triggers of migration `postgres_0006_dashboard_rollup.sql` keep
//! (primary keys lead with the hour); money is NUMERIC there, summed exactly and handed
//! over as a double for display.

use anyhow::Result;
use tokio_postgres::Client;

use super::{Answer, KeyRow, QualityRow, Query, RecentRow, ROLLUP_COLUMNS};

pub(crate) fn rollup_sql() -> String {
    let cols: Vec<String> = ROLLUP_COLUMNS
        .iter()
        .map(|(c, real)| format!("{c}::{}", if *real { "float8" } else { "int8" }))
        .collect();
    format!(
        "SELECT hour, NULLIF(tier, ''), NULLIF(model, ''), {} FROM dashboard_rollup \
         WHERE hour >= $1",
        cols.join(", ")
    )
}

/// Spend per key from the hour `$1` on.
const KEYS_SQL: &str = "SELECT key_hash, SUM(requests)::int8, SUM(errors)::int8, \
     SUM(cost_usd)::float8, SUM(baseline_cost_usd)::float8, SUM(savings_usd)::float8 \
     FROM dashboard_key_rollup WHERE hour >= $1 GROUP BY key_hash";

const RECENT_SQL: &str = "SELECT seq, request_id, ts_ms, format, decision, tier, stage, model, \
     cost_usd::text, baseline_cost_usd::text, latency_ms, overhead_ms, status, error, \
     fallback_attempts, stream, verify FROM requests WHERE seq < $1 ORDER BY seq DESC LIMIT $2";

/// Answer one dashboard query on the client.
pub async fn run(c: &Client, q: Query) -> Result<Answer> {
    match q {
        Query::Rollup { since_hour } => {
            let rows = c.query(&rollup_sql(), &[&since_hour]).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let (ints, reals) = super::split_sums(
                    |k| Ok(r.try_get::<_, i64>(k + 3)?),
                    |k| Ok(r.try_get::<_, f64>(k + 3)?),
                )?;
                out.push(super::rollup_row(
                    r.try_get(0)?,
                    r.try_get(1)?,
                    r.try_get(2)?,
                    &ints,
                    &reals,
                ));
            }
            Ok(Answer::Rollup(out))
        }
        Query::Recent { limit, before_seq } => {
            let before = before_seq.unwrap_or(i64::MAX);
            let rows = c.query(RECENT_SQL, &[&before, &(limit as i64)]).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(RecentRow {
                    seq: r.try_get(0)?,
                    request_id: r.try_get(1)?,
                    ts_ms: r.try_get(2)?,
                    format: r.try_get(3)?,
                    decision: r.try_get(4)?,
                    tier: r.try_get(5)?,
                    stage: r.try_get(6)?,
                    model: r.try_get(7)?,
                    cost_usd: r.try_get(8)?,
                    baseline_cost_usd: r.try_get(9)?,
                    latency_ms: r.try_get(10)?,
                    overhead_ms: r.try_get(11)?,
                    status: r.try_get(12)?,
                    error: r.try_get(13)?,
                    fallback_attempts: r.try_get(14)?,
                    stream: r.try_get::<_, i64>(15)? != 0,
                    verify: r.try_get(16)?,
                });
            }
            Ok(Answer::Recent(out))
        }
        Query::Quality { since_ms } => {
            let rows = c
                .query(
                    "SELECT tier, model, COUNT(*), COALESCE(SUM(score), 0)::float8 FROM feedback \
                     WHERE ts_ms >= $1 GROUP BY tier, model ORDER BY tier, model",
                    &[&since_ms],
                )
                .await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(QualityRow {
                    tier: r.try_get(0)?,
                    model: r.try_get(1)?,
                    samples: r.try_get(2)?,
                    score_sum: r.try_get(3)?,
                });
            }
            Ok(Answer::Quality(out))
        }
        Query::Keys { since_ms } => {
            let since_hour = since_ms.div_euclid(super::HOUR_MS);
            let rows = c.query(KEYS_SQL, &[&since_hour]).await?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(KeyRow {
                    key_hash: r.try_get(0)?,
                    requests: r.try_get(1)?,
                    errors: r.try_get(2)?,
                    cost_usd: r.try_get(3)?,
                    baseline_cost_usd: r.try_get(4)?,
                    savings_usd: r.try_get(5)?,
                });
            }
            super::sort_keys(&mut out);
            Ok(Answer::Keys(out))
        }
    }
}
