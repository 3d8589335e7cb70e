//! The `requests` table's columns, once, for both backends: their names, their kinds, and
//! the conversion of a `Record` to and from a row of plain values. Decimals travel as text
//! (TEXT in SQLite, NUMERIC in PostgreSQL) so they stay exact.

use std::str::FromStr;

use anyhow::{anyhow, Result};
use rust_decimal::Decimal;

use super::Record;

/// How a column is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Int,
    Real,
    /// Exact decimal: TEXT in SQLite, NUMERIC in PostgreSQL; text in Rust.
    Dec,
}

/// The `requests` columns in insert order (the sequence number `seq` is not listed).
pub const COLUMNS: [(&str, Kind); 39] = [
    ("request_id", Kind::Text),
    ("ts_ms", Kind::Int),
    ("project", Kind::Text),
    ("key_hash", Kind::Text),
    ("session", Kind::Text),
    ("format", Kind::Text),
    ("decision", Kind::Text),
    ("requested_model", Kind::Text),
    ("tier", Kind::Text),
    ("score", Kind::Real),
    ("confidence", Kind::Real),
    ("stage", Kind::Text),
    ("model", Kind::Text),
    ("baseline_model", Kind::Text),
    ("fallback_attempts", Kind::Int),
    ("failed_models", Kind::Text),
    ("input_tokens", Kind::Int),
    ("output_tokens", Kind::Int),
    ("cached_tokens", Kind::Int),
    ("cache_write_tokens", Kind::Int),
    ("compression_tokens_saved", Kind::Int),
    ("cost_usd", Kind::Dec),
    ("baseline_cost_usd", Kind::Dec),
    ("savings_routing_usd", Kind::Dec),
    ("savings_compression_usd", Kind::Dec),
    ("savings_caching_usd", Kind::Dec),
    ("latency_ms", Kind::Real),
    ("ttft_ms", Kind::Real),
    ("status", Kind::Int),
    ("error", Kind::Text),
    ("stream", Kind::Int),
    ("conversation_hash", Kind::Text),
    ("prompt", Kind::Text),
    ("verify", Kind::Text),
    ("verify_confidence", Kind::Real),
    ("verify_cost_usd", Kind::Dec),
    ("verify_delay_ms", Kind::Real),
    ("calls", Kind::Text),
    ("overhead_ms", Kind::Real),
];

/// One cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Val {
    Text(Option<String>),
    Int(Option<i64>),
    Real(Option<f64>),
}

fn t(s: &str) -> Val {
    Val::Text(Some(s.to_string()))
}
fn ot(s: &Option<String>) -> Val {
    Val::Text(s.clone())
}
fn i(n: i64) -> Val {
    Val::Int(Some(n))
}
fn d(x: Decimal) -> Val {
    Val::Text(Some(x.normalize().to_string()))
}

/// A record as cells, in `COLUMNS` order.
pub fn to_row(r: &Record) -> Vec<Val> {
    vec![
        t(&r.request_id),
        i(r.ts_ms),
        t(&r.project),
        t(&r.key_hash),
        t(&r.session),
        t(&r.format),
        t(&r.decision),
        t(&r.requested_model),
        ot(&r.tier),
        Val::Real(r.score),
        Val::Real(r.confidence),
        ot(&r.stage),
        ot(&r.model),
        ot(&r.baseline_model),
        i(r.fallback_attempts),
        t(&r.failed_models),
        i(r.input_tokens),
        i(r.output_tokens),
        i(r.cached_tokens),
        i(r.cache_write_tokens),
        i(r.compression_tokens_saved),
        d(r.cost_usd),
        d(r.baseline_cost_usd),
        d(r.savings_routing_usd),
        d(r.savings_compression_usd),
        d(r.savings_caching_usd),
        Val::Real(Some(r.latency_ms)),
        Val::Real(r.ttft_ms),
        i(r.status),
        ot(&r.error),
        i(i64::from(r.stream)),
        t(&r.conversation_hash),
        ot(&r.prompt),
        ot(&r.verify),
        Val::Real(r.verify_confidence),
        d(r.verify_cost_usd),
        Val::Real(r.verify_delay_ms),
        ot(&r.calls),
        Val::Real(r.overhead_ms),
    ]
}

/// Reads cells back in `COLUMNS` order.
struct Cells<I: Iterator<Item = Val>>(I);

impl<I: Iterator<Item = Val>> Cells<I> {
    fn next(&mut self) -> Result<Val> {
        self.0.next().ok_or_else(|| anyhow!("ledger row is short"))
    }
    fn opt_text(&mut self) -> Result<Option<String>> {
        match self.next()? {
            Val::Text(s) => Ok(s),
            other => Err(anyhow!("expected text, got {other:?}")),
        }
    }
    fn text(&mut self) -> Result<String> {
        Ok(self.opt_text()?.unwrap_or_default())
    }
    fn int(&mut self) -> Result<i64> {
        match self.next()? {
            Val::Int(n) => Ok(n.unwrap_or(0)),
            other => Err(anyhow!("expected an integer, got {other:?}")),
        }
    }
    fn real(&mut self) -> Result<Option<f64>> {
        match self.next()? {
            Val::Real(x) => Ok(x),
            Val::Int(n) => Ok(n.map(|n| n as f64)),
            other => Err(anyhow!("expected a number, got {other:?}")),
        }
    }
    fn dec(&mut self) -> Result<Decimal> {
        match self.opt_text()? {
            None => Ok(Decimal::ZERO),
            Some(s) => Decimal::from_str(&s)
                .or_else(|_| Decimal::from_scientific(&s))
                .map_err(|e| anyhow!("ledger decimal `{s}`: {e}")),
        }
    }
}

/// A record from cells in `COLUMNS` order.
pub fn from_row(cells: Vec<Val>) -> Result<Record> {
    let mut c = Cells(cells.into_iter());
    Ok(Record {
        request_id: c.text()?,
        ts_ms: c.int()?,
        project: c.text()?,
        key_hash: c.text()?,
        session: c.text()?,
        format: c.text()?,
        decision: c.text()?,
        requested_model: c.text()?,
        tier: c.opt_text()?,
        score: c.real()?,
        confidence: c.real()?,
        stage: c.opt_text()?,
        model: c.opt_text()?,
        baseline_model: c.opt_text()?,
        fallback_attempts: c.int()?,
        failed_models: c.text()?,
        input_tokens: c.int()?,
        output_tokens: c.int()?,
        cached_tokens: c.int()?,
        cache_write_tokens: c.int()?,
        compression_tokens_saved: c.int()?,
        cost_usd: c.dec()?,
        baseline_cost_usd: c.dec()?,
        savings_routing_usd: c.dec()?,
        savings_compression_usd: c.dec()?,
        savings_caching_usd: c.dec()?,
        latency_ms: c.real()?.unwrap_or(0.0),
        ttft_ms: c.real()?,
        status: c.int()?,
        error: c.opt_text()?,
        stream: c.int()? != 0,
        conversation_hash: c.text()?,
        prompt: c.opt_text()?,
        verify: c.opt_text()?,
        verify_confidence: c.real()?,
        verify_cost_usd: c.dec()?,
        verify_delay_ms: c.real()?,
        calls: c.opt_text()?,
        overhead_ms: c.real()?,
    })
}

/// `a, b, c` of every column name.
pub fn names() -> String {
    COLUMNS.map(|c| c.0).join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_cells() {
        let r = Record {
            request_id: "frg_1".into(),
            ts_ms: 42,
            tier: Some("simple".into()),
            score: Some(0.25),
            cost_usd: Decimal::new(4455, 9),
            savings_caching_usd: Decimal::new(-1, 10),
            stream: true,
            ttft_ms: Some(1.5),
            ..Default::default()
        };
        let row = to_row(&r);
        assert_eq!(row.len(), COLUMNS.len());
        assert_eq!(from_row(row).expect("valid"), r);
    }
}
