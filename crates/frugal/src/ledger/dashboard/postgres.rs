//! The dashboard's queries on PostgreSQL: the rollup is a hash aggregate over the time
//! range, read from the `requests_dashboard_ts` index (migration
//! `postgres_0005_dashboard.sql`: `ts_ms` with every summed column INCLUDEd, so the scan
//! is index-only once autovacuum has run). Money is NUMERIC, summed exactly and handed
//! over as a double for display.

use anyhow::Result;
use tokio_postgres::Client;

use super::{Answer, KeyRow, QualityRow, Query, RecentRow, Sum, KEY_SUMS, ROLLUP_SUMS};

fn render(s: Sum) -> String {
    match s {
        Sum::Rows => "COUNT(*)".into(),
        Sum::Count(cond) => format!("COUNT(*) FILTER (WHERE {cond})"),
        Sum::Real(col) => format!("COALESCE(SUM({col}), 0)::float8"),
        Sum::Int(col) => format!("COALESCE(SUM({col}), 0)::int8"),
        Sum::Present(col) => format!("COUNT({col})"),
    }
}

pub(crate) fn rollup_sql() -> String {
    let sums: Vec<String> = ROLLUP_SUMS.iter().map(|s| render(*s)).collect();
    format!(
        "SELECT ts_ms / 3600000, tier, model, {} FROM requests \
         WHERE ts_ms >= $1 GROUP BY 1, 2, 3",
        sums.join(", ")
    )
}

/// Spend per key over the time range, from the same covering index as the rollup
/// (`key_hash` is among its INCLUDEd columns since migration 0006).
pub(crate) fn keys_sql() -> String {
    let sums: Vec<String> = KEY_SUMS.iter().map(|s| render(*s)).collect();
    format!(
        "SELECT key_hash, {} FROM requests WHERE ts_ms >= $1 GROUP BY 1",
        sums.join(", ")
    )
}

const RECENT_SQL: &str = "SELECT seq, request_id, ts_ms, format, decision, tier, stage, model, \
     cost_usd::text, baseline_cost_usd::text, latency_ms, overhead_ms, status, error, \
     fallback_attempts, stream, verify FROM requests WHERE seq < $1 ORDER BY seq DESC LIMIT $2";

/// Answer one dashboard query on the client.
pub async fn run(c: &Client, q: Query) -> Result<Answer> {
    match q {
        Query::Rollup { since_hour } => {
            let since_ms = since_hour.saturating_mul(super::HOUR_MS);
            let rows = c.query(&rollup_sql(), &[&since_ms]).await?;
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
            let rows = c.query(&keys_sql(), &[&since_ms]).await?;
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
