//! The dashboard's queries on both backends (PostgreSQL when `FRUGAL_TEST_PG_URL` is set),
//! checked against sums computed here from the same records, and its views.

use std::sync::Arc;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::views::{self, Bucket};
use super::*;
use crate::ledger::tests::{record, stores};
use crate::ledger::{Batch, Feedback, Record, Signal};

const NOW: i64 = 1_796_000_000_000;

fn traffic() -> Vec<Record> {
    let mut v = vec![];
    for i in 0..300usize {
        // Three days back to now, one request every 15 minutes.
        let ts = NOW - (i as i64) * 900_000;
        let mut r = record(i, ts, ["simple", "medium", "complex"][i % 3]);
        r.model = Some(["m-small", "m-mid"][i % 2].into());
        r.cost_usd = Decimal::new(i as i64 + 1, 6);
        r.savings_compression_usd = Decimal::new(3, 7);
        r.overhead_ms = (i % 4 != 0).then_some(1.5);
        if i % 10 == 0 {
            r.status = 502;
            r.error = Some("all_upstreams_failed".into());
        }
        if i % 7 == 0 {
            r.fallback_attempts = 1;
        }
        if i % 11 == 0 {
            r.verify = Some("trusted".into());
            r.verify_cost_usd = Decimal::new(2, 6);
        }
        if i == 5 {
            r.tier = None;
            r.model = None;
        }
        v.push(r);
    }
    v
}

fn f(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(f64::NAN)
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

#[tokio::test]
async fn rollup_sums_equal_the_records_on_both_backends() {
    let records = traffic();
    for store in stores().await {
        let batch = Batch {
            records: records.clone(),
            ..Default::default()
        };
        store.insert(Arc::new(batch)).await.expect("insert");
        let since = views::window_start(NOW, 2);
        let rows = rollup(store.as_ref(), since).await.expect("rollup");
        let mut t = views::Totals::default();
        rows.iter().for_each(|r| t.add(r));
        let want: Vec<&Record> = records
            .iter()
            .filter(|r| r.ts_ms >= since * HOUR_MS)
            .collect();
        let b = store.backend();
        assert_eq!(t.requests, want.len() as i64, "{b}");
        let errors = want.iter().filter(|r| r.error.is_some()).count() as i64;
        assert_eq!(t.errors, errors, "{b}");
        let fallbacks = want.iter().filter(|r| r.fallback_attempts > 0).count();
        assert_eq!(t.fallbacks, fallbacks as i64, "{b}");
        let verified = want.iter().filter(|r| r.verify.is_some()).count();
        assert_eq!(t.verified, verified as i64, "{b}");
        let cost: Decimal = want.iter().map(|r| r.cost_usd).sum();
        assert!(close(t.cost_usd, f(cost)), "{b}: {} vs {cost}", t.cost_usd);
        let saved: Decimal = want.iter().map(|r| r.savings_usd()).sum();
        assert!(close(t.savings_usd, f(saved)), "{b}");
        let vcost: Decimal = want.iter().map(|r| r.verify_cost_usd).sum();
        assert!(close(t.verify_cost_usd, f(vcost)), "{b}");
        let with_overhead = want.iter().filter(|r| r.overhead_ms.is_some()).count();
        assert_eq!(t.overhead_ms_avg, Some(1.5), "{b}");
        assert!(with_overhead < want.len());
        // The row without tier or model is its own group.
        assert!(rows.iter().any(|r| r.tier.is_none() && r.model.is_none()));
        // Each group is one hour, tier and model.
        let mut keys: Vec<_> = rows.iter().map(|r| (r.hour, &r.tier, &r.model)).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), rows.len(), "{b}");
    }
}

#[tokio::test]
async fn recent_pages_newest_first_and_quality_groups_feedback() {
    for store in stores().await {
        let mut batch = Batch {
            records: traffic().into_iter().take(30).collect(),
            ..Default::default()
        };
        for (i, score) in [(1usize, 1.0), (2, 0.0), (4, 0.5), (8, 1.0)] {
            let r = &batch.records[i];
            batch.feedback.push(Feedback {
                request_id: r.request_id.clone(),
                ts_ms: NOW,
                tier: r.tier.clone(),
                model: r.model.clone(),
                score,
                source: Signal::Explicit,
                comment: None,
            });
        }
        store.insert(Arc::new(batch)).await.expect("insert");
        let b = store.backend();
        let first = recent(store.as_ref(), 10, None).await.expect("recent");
        assert_eq!(first.len(), 10, "{b}");
        // Inserted in order frg_0..frg_29: the newest row is the last inserted.
        assert_eq!(first[0].request_id, "frg_29", "{b}");
        assert!(first.windows(2).all(|w| w[0].seq > w[1].seq));
        let next = recent(store.as_ref(), 10, first.last().map(|r| r.seq))
            .await
            .expect("page 2");
        assert_eq!(next[0].request_id, "frg_19", "{b}");
        assert_eq!(first[9].cost_usd, "0.000021", "{b}: exact decimal text");
        let q = quality(store.as_ref(), NOW - 1).await.expect("quality");
        let samples: i64 = q.iter().map(|r| r.samples).sum();
        assert_eq!(samples, 4, "{b}");
        let sum: f64 = q.iter().map(|r| r.score_sum).sum();
        assert!(close(sum, 2.5), "{b}");
        assert!(quality(store.as_ref(), NOW + 1)
            .await
            .expect("q")
            .is_empty());
    }
}

fn row(hour: i64, tier: &str, model: &str, requests: i64, cost: f64) -> RollupRow {
    RollupRow {
        hour,
        tier: Some(tier.into()),
        model: Some(model.into()),
        requests,
        cost_usd: cost,
        baseline_cost_usd: cost * 4.0,
        savings_routing_usd: cost * 3.0,
        latency_ms_sum: 100.0 * requests as f64,
        ..Default::default()
    }
}

#[test]
fn views_cut_windows_buckets_and_mix() {
    let now_hour = views::hour_of(NOW);
    let since = views::window_start(NOW, 30);
    let rows = vec![
        row(now_hour, "simple", "a", 3, 1.0),
        row(now_hour - 30, "medium", "b", 3, 2.0),
        row(now_hour - 24 * 10, "simple", "b", 5, 4.0),
        row(since, "complex", "c", 7, 8.0),
    ];
    let s = views::summary(&rows, NOW, 30);
    let names: Vec<&str> = s.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["today", "7d", "30d"]);
    assert_eq!(s[2].totals.requests, 18);
    assert_eq!(s[1].totals.requests, 6);
    assert!(s[0].totals.requests >= 3 && s[0].totals.requests <= 6);
    assert!(close(s[2].totals.savings_pct, 75.0));
    assert_eq!(s[2].totals.latency_ms_avg, Some(100.0));

    let days = views::timeseries(&rows, Bucket::Day, since, NOW);
    assert!(days.len() == 30 || days.len() == 31, "{}", days.len());
    assert_eq!(days.iter().map(|p| p.totals.requests).sum::<i64>(), 18);
    assert!(days.windows(2).all(|w| w[1].t - w[0].t == 24 * HOUR_MS));
    let hours = views::timeseries(&rows, Bucket::Hour, now_hour - 47, NOW);
    assert_eq!(hours.len(), 48);
    assert_eq!(hours.iter().map(|p| p.totals.requests).sum::<i64>(), 6);

    let m = views::mix(&rows, Bucket::Day, since, NOW);
    assert_eq!(m.tiers[0].name, "simple");
    assert_eq!(m.tiers[0].totals.requests, 8);
    assert_eq!(m.models[0].name, "b");
    assert_eq!(m.models[0].totals.requests, 8);
    assert_eq!(m.models[0].series.iter().sum::<i64>(), 8);
    assert_eq!(m.buckets.len(), m.tiers[0].series.len());
}

#[tokio::test]
async fn key_spend_groups_by_key_hash_on_both_backends() {
    let mut records = traffic();
    for (i, r) in records.iter_mut().enumerate() {
        r.key_hash = ["k_one", "k_two", ""][i % 3].into();
    }
    for store in stores().await {
        let batch = Batch {
            records: records.clone(),
            ..Default::default()
        };
        store.insert(Arc::new(batch)).await.expect("insert");
        let since = views::hour_of(NOW - 24 * HOUR_MS) * HOUR_MS;
        let rows = keys(store.as_ref(), since).await.expect("keys");
        let b = store.backend();
        assert_eq!(rows.len(), 3, "{b}");
        for row in &rows {
            let want: Vec<&Record> = records
                .iter()
                .filter(|r| r.key_hash == row.key_hash && r.ts_ms >= since)
                .collect();
            assert_eq!(row.requests, want.len() as i64, "{b} {}", row.key_hash);
            let errors = want.iter().filter(|r| r.error.is_some()).count() as i64;
            assert_eq!(row.errors, errors, "{b}");
            let cost: Decimal = want.iter().map(|r| r.cost_usd).sum();
            assert!(
                close(row.cost_usd, f(cost)),
                "{b}: {} vs {cost}",
                row.cost_usd
            );
            let saved: Decimal = want.iter().map(|r| r.savings_usd()).sum();
            assert!(close(row.savings_usd, f(saved)), "{b}");
        }
        assert!(
            rows.windows(2).all(|w| w[0].cost_usd >= w[1].cost_usd),
            "{b}"
        );
    }
}

/// The first view must not scan the ledger: the rollup and the spend per key read only
/// their rollup tables, by primary key range.
#[tokio::test]
async fn sqlite_dashboard_queries_read_the_rollup_tables_not_the_ledger() {
    let path = std::env::temp_dir().join(format!(
        "frugal-dash-plan-{}.sqlite",
        uuid::Uuid::new_v4().simple()
    ));
    let path = path.display().to_string();
    crate::ledger::sqlite::SqliteStore::open(&path)
        .await
        .expect("open and migrate");
    let c = rusqlite::Connection::open(&path).expect("second connection");
    for (sql, table) in [
        (sqlite::rollup_sql(), "dashboard_rollup"),
        (sqlite::KEYS_SQL.to_string(), "dashboard_key_rollup"),
    ] {
        let mut stmt = c
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .expect("explain");
        let plan: Vec<String> = stmt
            .query_map([0i64], |r| r.get::<_, String>(3))
            .expect("plan")
            .collect::<rusqlite::Result<_>>()
            .expect("rows");
        let plan = plan.join(" | ");
        assert!(
            plan.contains(&format!("SEARCH {table} USING PRIMARY KEY")),
            "{plan}"
        );
        assert!(!plan.contains("requests"), "{plan}");
    }
    let _ = std::fs::remove_file(&path);
}

/// Retention deletes rows; the triggers take them off the rollups, so the dashboard keeps
/// agreeing with the ledger.
#[tokio::test]
async fn the_rollups_follow_deleted_rows_on_both_backends() {
    let mut records = traffic();
    for (i, r) in records.iter_mut().enumerate() {
        r.key_hash = ["k_one", ""][i % 2].into();
    }
    for store in stores().await {
        let batch = Batch {
            records: records.clone(),
            ..Default::default()
        };
        store.insert(Arc::new(batch)).await.expect("insert");
        // Delete the older half, in several statements as retention does.
        let cut = NOW - 36 * HOUR_MS + 1;
        while store.prune(cut, 50).await.expect("prune") == 50 {}
        let b = store.backend();
        let kept: Vec<&Record> = records.iter().filter(|r| r.ts_ms >= cut).collect();
        let rows = rollup(store.as_ref(), 0).await.expect("rollup");
        let mut t = views::Totals::default();
        rows.iter().for_each(|r| t.add(r));
        assert_eq!(t.requests, kept.len() as i64, "{b}");
        let cost: Decimal = kept.iter().map(|r| r.cost_usd).sum();
        assert!(close(t.cost_usd, f(cost)), "{b}: {} vs {cost}", t.cost_usd);
        assert!(
            rows.iter().all(|r| r.requests > 0),
            "{b}: emptied groups are removed"
        );
        let per_key = keys(store.as_ref(), 0).await.expect("keys");
        let n: i64 = per_key.iter().map(|k| k.requests).sum();
        assert_eq!(n, kept.len() as i64, "{b}");
    }
}
