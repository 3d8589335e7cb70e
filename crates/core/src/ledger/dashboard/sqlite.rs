//! The dashboard's queries on SQLite. The rollup and the spend per key read the tables the
//! triggers of migration `sqlite_0006_dashboard_rollup.sql` keep (primary keys lead with
//! the hour, so a range is one seek); tier and model are stored as '' when absent and read
//! back as NULL.

use anyhow::Result;
use rusqlite::{params, Connection};

use super::{Answer, KeyRow, QualityRow, Query, RecentRow, ROLLUP_COLUMNS};

pub(crate) fn rollup_sql() -> String {
    let cols: Vec<&str> = ROLLUP_COLUMNS.iter().map(|(c, _)| *c).collect();
    format!(
        "SELECT hour, NULLIF(tier, ''), NULLIF(model, ''), {} FROM dashboard_rollup \
         WHERE hour >= ?1",
        cols.join(", ")
    )
}

/// Spend per key from the hour `?1` on.
pub(crate) const KEYS_SQL: &str = "SELECT key_hash, SUM(requests), SUM(errors), TOTAL(cost_usd), \
     TOTAL(baseline_cost_usd), TOTAL(savings_usd) FROM dashboard_key_rollup WHERE hour >= ?1 \
     GROUP BY key_hash";

const RECENT_COLUMNS: &str = "seq, request_id, ts_ms, format, decision, tier, stage, model, \
     cost_usd, baseline_cost_usd, latency_ms, overhead_ms, status, error, fallback_attempts, \
     stream, verify";

/// Answer one dashboard query on the connection (called on the blocking pool).
pub fn run(c: &mut Connection, q: Query) -> Result<Answer> {
    match q {
        Query::Rollup { since_hour } => {
            let mut stmt = c.prepare_cached(&rollup_sql())?;
            let mut rows = stmt.query(params![since_hour])?;
            let mut out = vec![];
            while let Some(r) = rows.next()? {
                let (ints, reals) = super::split_sums(
                    |k| Ok(r.get::<_, i64>(k + 3)?),
                    |k| Ok(r.get::<_, f64>(k + 3)?),
                )?;
                out.push(super::rollup_row(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    &ints,
                    &reals,
                ));
            }
            Ok(Answer::Rollup(out))
        }
        Query::Recent { limit, before_seq } => {
            let sql = format!(
                "SELECT {RECENT_COLUMNS} FROM requests WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows =
                stmt.query_map(params![before_seq.unwrap_or(i64::MAX), limit as i64], |r| {
                    Ok(RecentRow {
                        seq: r.get(0)?,
                        request_id: r.get(1)?,
                        ts_ms: r.get(2)?,
                        format: r.get(3)?,
                        decision: r.get(4)?,
                        tier: r.get(5)?,
                        stage: r.get(6)?,
                        model: r.get(7)?,
                        cost_usd: r.get(8)?,
                        baseline_cost_usd: r.get(9)?,
                        latency_ms: r.get(10)?,
                        overhead_ms: r.get(11)?,
                        status: r.get(12)?,
                        error: r.get(13)?,
                        fallback_attempts: r.get(14)?,
                        stream: r.get::<_, i64>(15)? != 0,
                        verify: r.get(16)?,
                    })
                })?;
            Ok(Answer::Recent(rows.collect::<rusqlite::Result<_>>()?))
        }
        Query::Quality { since_ms } => {
            let mut stmt = c.prepare_cached(
                "SELECT tier, model, COUNT(*), TOTAL(score) FROM feedback WHERE ts_ms >= ?1 \
                 GROUP BY tier, model ORDER BY tier, model",
            )?;
            let rows = stmt.query_map(params![since_ms], |r| {
                Ok(QualityRow {
                    tier: r.get(0)?,
                    model: r.get(1)?,
                    samples: r.get(2)?,
                    score_sum: r.get(3)?,
                })
            })?;
            Ok(Answer::Quality(rows.collect::<rusqlite::Result<_>>()?))
        }
        Query::Keys { since_ms } => {
            let mut stmt = c.prepare_cached(KEYS_SQL)?;
            let since_hour = since_ms.div_euclid(super::HOUR_MS);
            let rows = stmt.query_map(params![since_hour], |r| {
                Ok(KeyRow {
                    key_hash: r.get(0)?,
                    requests: r.get(1)?,
                    errors: r.get(2)?,
                    cost_usd: r.get(3)?,
                    baseline_cost_usd: r.get(4)?,
                    savings_usd: r.get(5)?,
                })
            })?;
            let mut out = rows.collect::<rusqlite::Result<Vec<_>>>()?;
            super::sort_keys(&mut out);
            Ok(Answer::Keys(out))
        }
    }
}
