//! Ledger tests run against both backends: a temporary SQLite file, and a fresh database on
//! the PostgreSQL server named by `FRUGAL_TEST_PG_URL` (scripts/test.sh and .ci/run set
//! it). Without that variable a developer run skips the PostgreSQL half loudly; under
//! `CI=true` it fails instead.

use std::sync::Arc;

use rust_decimal::Decimal;

use super::report::{self, GroupBy};
use super::*;

pub(crate) fn temp_sqlite() -> String {
    let dir = std::env::temp_dir().join("frugal-ledger-tests");
    let _ = std::fs::create_dir_all(&dir);
    dir.join(format!("{}.sqlite", uuid::Uuid::new_v4().simple()))
        .display()
        .to_string()
}

/// The PostgreSQL server for tests, or `None` (loudly) in a developer run without one.
pub(crate) fn pg_base_url() -> Option<String> {
    match std::env::var("FRUGAL_TEST_PG_URL") {
        Ok(u) if !u.is_empty() => Some(u),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(
                !ci,
                "FRUGAL_TEST_PG_URL is not set under CI: the PostgreSQL ledger tests must run"
            );
            eprintln!(
                "\n!!! SKIPPING the PostgreSQL ledger tests: FRUGAL_TEST_PG_URL is not set \
                 (scripts/test.sh sets it) !!!\n"
            );
            None
        }
    }
}

/// A fresh, empty database on the test server; its URL.
pub(crate) async fn fresh_pg_database(base: &str) -> String {
    let now = super::now_ms() / 1000;
    let name = format!(
        "frugal_t_{now}_{}",
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .expect("connect to FRUGAL_TEST_PG_URL");
    tokio::spawn(conn);
    // Databases of earlier runs (older than ten minutes) are dropped, best effort.
    let old = client
        .query(
            "SELECT datname FROM pg_database WHERE datname LIKE 'frugal_t_%'",
            &[],
        )
        .await
        .unwrap_or_default();
    for row in old {
        let db: String = row.get(0);
        let created: i64 = db
            .split('_')
            .nth(2)
            .and_then(|t| t.parse().ok())
            .unwrap_or(0);
        if created < now - 600 {
            let _ = client
                .batch_execute(&format!("DROP DATABASE IF EXISTS {db}"))
                .await;
        }
    }
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .expect("create test database");
    let (head, _) = base.rsplit_once('/').expect("URL with a database path");
    let query = base
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{head}/{name}{query}")
}

/// Both stores (PostgreSQL only when available).
pub(super) async fn stores() -> Vec<Arc<dyn Store>> {
    let mut v: Vec<Arc<dyn Store>> = vec![Arc::new(
        sqlite::SqliteStore::open(&temp_sqlite())
            .await
            .expect("sqlite"),
    )];
    if let Some(base) = pg_base_url() {
        let url = fresh_pg_database(&base).await;
        v.push(Arc::new(
            postgres::PgStore::connect(&url).await.expect("postgres"),
        ));
    }
    v
}

pub(super) fn record(id: usize, ts_ms: i64, tier: &str) -> Record {
    Record {
        request_id: format!("frg_{id}"),
        ts_ms,
        project: "proj".into(),
        key_hash: "k_0123456789ab".into(),
        format: "openai".into(),
        decision: "routed".into(),
        requested_model: "auto".into(),
        tier: Some(tier.into()),
        score: Some(0.25),
        confidence: Some(0.5),
        stage: Some("rules".into()),
        model: Some("m-small".into()),
        baseline_model: Some("m-big".into()),
        input_tokens: 1000,
        output_tokens: 200,
        cached_tokens: 100,
        // 1e-10 precision survives both backends exactly.
        cost_usd: Decimal::new(1_234_567_891, 10),
        baseline_cost_usd: Decimal::new(5, 3),
        savings_routing_usd: Decimal::new(3_765_432_109, 13) * Decimal::from(10),
        savings_caching_usd: Decimal::new(1, 10),
        latency_ms: 12.5,
        status: 200,
        conversation_hash: format!("c_{id}"),
        ..Default::default()
    }
}

#[tokio::test]
async fn records_round_trip_exactly_and_ids_are_unique() {
    for store in stores().await {
        let mut batch = Batch::default();
        for i in 0..250 {
            batch.records.push(record(i, 1_000 + i as i64, "simple"));
        }
        batch.records[3].error = Some("stream_interrupted".into());
        batch.records[3].ttft_ms = Some(3.25);
        batch.records[3].stream = true;
        batch.records[4].prompt = Some("{\"messages\":[]}".into());
        batch.records[5].tier = None;
        store.insert(Arc::new(batch)).await.expect("insert");
        // The same id again is ignored, not a second row.
        let dup = Batch {
            records: vec![record(0, 9_999, "medium")],
            ..Default::default()
        };
        store.insert(Arc::new(dup)).await.expect("duplicate insert");
        let page = store
            .records(Page {
                since_ms: 0,
                after_seq: 0,
                limit: 1000,
            })
            .await
            .expect("read");
        assert_eq!(page.len(), 250, "{}", store.backend());
        let (_, r3) = &page[3];
        assert_eq!(r3, &{
            let mut r = record(3, 1_003, "simple");
            r.error = Some("stream_interrupted".into());
            r.ttft_ms = Some(3.25);
            r.stream = true;
            r
        });
        assert_eq!(page[0].1.cost_usd.to_string(), "0.1234567891");
        assert_eq!(page[5].1.tier, None);
        assert_eq!(
            store
                .lookup("frg_4")
                .await
                .expect("lookup")
                .and_then(|r| r.prompt)
                .as_deref(),
            Some("{\"messages\":[]}")
        );
        assert!(store.lookup("frg_nope").await.expect("lookup").is_none());
        // Keyset paging.
        let next = store
            .records(Page {
                since_ms: 0,
                after_seq: page[99].0,
                limit: 100,
            })
            .await
            .expect("page 2");
        assert_eq!(next[0].1.request_id, "frg_100");
    }
}

#[tokio::test]
async fn pruning_removes_only_old_rows_in_batches() {
    for store in stores().await {
        let mut batch = Batch::default();
        for i in 0..120 {
            batch
                .records
                .push(record(i, if i < 100 { 10 } else { 10_000 }, "simple"));
        }
        store.insert(Arc::new(batch)).await.expect("insert");
        assert_eq!(store.prune(5_000, 40).await.expect("prune"), 40);
        assert_eq!(store.prune(5_000, 40).await.expect("prune"), 40);
        assert_eq!(store.prune(5_000, 40).await.expect("prune"), 20);
        assert_eq!(store.prune(5_000, 40).await.expect("prune"), 0);
        let left = store
            .records(Page {
                since_ms: 0,
                after_seq: 0,
                limit: 1000,
            })
            .await
            .expect("read");
        assert_eq!(left.len(), 20, "{}", store.backend());
    }
}

#[tokio::test]
async fn feedback_boundaries_and_events() {
    for store in stores().await {
        let f = Feedback {
            request_id: "frg_1".into(),
            ts_ms: 50,
            tier: Some("simple".into()),
            model: Some("m-small".into()),
            score: 0.25,
            source: Signal::Retry,
            comment: Some("again".into()),
        };
        store
            .insert(Arc::new(Batch {
                feedback: vec![f.clone()],
                ..Default::default()
            }))
            .await
            .expect("insert");
        assert_eq!(store.feedback_since(0).await.expect("read"), vec![f]);
        assert!(store.feedback_since(51).await.expect("read").is_empty());
        assert_eq!(store.load_boundaries().await.expect("load"), None);
        let mut e = LoopEvent {
            ts_ms: 7,
            tier: "simple".into(),
            boundary: 0,
            old_value: 0.3,
            new_value: 0.25,
            quality: 0.6,
            lower: 0.55,
            upper: 0.65,
            samples: 100,
            reason: "below the floor".into(),
            dry_run: true,
        };
        store
            .save_event(&e, [0.25, 0.55, 0.8])
            .await
            .expect("dry run");
        assert_eq!(
            store.load_boundaries().await.expect("load"),
            None,
            "dry run changes nothing"
        );
        e.dry_run = false;
        store.save_event(&e, [0.25, 0.55, 0.8]).await.expect("save");
        store
            .save_event(&e, [0.2, 0.55, 0.8])
            .await
            .expect("save again");
        assert_eq!(
            store.load_boundaries().await.expect("load"),
            Some([0.2, 0.55, 0.8])
        );
        assert_eq!(store.events_since(0).await.expect("events").len(), 3);
    }
}

#[tokio::test]
async fn writer_batches_everything_and_flush_loses_nothing() {
    for store in stores().await {
        let cfg = LedgerConfig {
            batch_size: 500,
            ..LedgerConfig::default()
        };
        let ledger = Ledger::with_store(store.clone(), cfg);
        for i in 0..5_000 {
            ledger.record(record(i, super::now_ms(), "medium"));
        }
        ledger.shutdown(std::time::Duration::from_secs(1)).await;
        let s = ledger.stats();
        assert_eq!((s.written, s.dropped), (5_000, 0), "{}", store.backend());
        let mut n = 0;
        let mut after = 0;
        loop {
            let p = store
                .records(Page {
                    since_ms: 0,
                    after_seq: after,
                    limit: 2_000,
                })
                .await
                .expect("read");
            let Some((last, _)) = p.last() else { break };
            after = *last;
            n += p.len();
        }
        assert_eq!(n, 5_000);
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_full_channel_drops_and_counts_instead_of_waiting() {
    let store: Arc<dyn Store> = Arc::new(
        sqlite::SqliteStore::open(&temp_sqlite())
            .await
            .expect("sqlite"),
    );
    let cfg = LedgerConfig {
        channel_capacity: 10,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::with_store(store, cfg);
    // On a current-thread runtime the writer cannot run until we yield: 10 fit, 90 drop.
    for i in 0..100 {
        ledger.record(record(i, 1, "simple"));
    }
    assert_eq!(ledger.stats().dropped, 90);
    ledger.flush().await;
    assert_eq!(ledger.stats().written, 10);
}

#[tokio::test]
async fn held_streams_are_waited_for_at_shutdown() {
    let store: Arc<dyn Store> = Arc::new(
        sqlite::SqliteStore::open(&temp_sqlite())
            .await
            .expect("sqlite"),
    );
    let ledger = Ledger::with_store(store, LedgerConfig::default());
    let hold = ledger.hold();
    let l2 = ledger.clone();
    tokio::spawn(async move {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        l2.record(record(1, 1, "simple"));
        drop(hold);
    });
    ledger.shutdown(std::time::Duration::from_secs(5)).await;
    assert_eq!(ledger.stats().written, 1);
}

#[tokio::test]
async fn report_sums_exactly_and_groups() {
    for store in stores().await {
        let mut batch = Batch::default();
        for i in 0..30 {
            let mut r = record(
                i,
                super::now_ms(),
                if i % 3 == 0 { "complex" } else { "simple" },
            );
            if i == 0 {
                r.status = 502;
                r.fallback_attempts = 2;
            }
            batch.records.push(r);
        }
        batch.feedback.push(Feedback {
            request_id: "frg_1".into(),
            ts_ms: super::now_ms(),
            tier: Some("simple".into()),
            model: None,
            score: 1.0,
            source: Signal::Explicit,
            comment: None,
        });
        store.insert(Arc::new(batch)).await.expect("insert");
        let rep = report::build(store.as_ref(), 0, GroupBy::Tier)
            .await
            .expect("report");
        assert_eq!(rep.total.requests, 30);
        assert_eq!(rep.total.errors, 1);
        assert_eq!(rep.total.with_fallback, 1);
        assert_eq!(
            rep.total.cost_usd,
            Decimal::new(1_234_567_891, 10) * Decimal::from(30)
        );
        assert_eq!(rep.groups["complex"].requests, 10);
        assert_eq!(rep.groups["simple"].feedback, 1);
        assert_eq!(rep.tier_mix["simple"], 20);
        let csv = report::render_csv(&rep);
        assert!(
            csv.lines().count() == 4 && csv.contains("\"total\",30,"),
            "{csv}"
        );
        let json = report::render_json(&rep, GroupBy::Tier, "7d");
        assert_eq!(json["total"]["cost_usd"], "3.703703673");
        let mut out = Vec::new();
        assert_eq!(
            report::export(store.as_ref(), 0, &mut out)
                .await
                .expect("export"),
            30
        );
        let first: serde_json::Value =
            serde_json::from_slice(out.split(|b| *b == b'\n').next().unwrap_or_default())
                .expect("jsonl");
        assert_eq!(first["request_id"], "frg_0");
    }
}

#[test]
fn savings_by_source_add_up_to_baseline_minus_cost() {
    use crate::config::{Config, Env};
    struct NoEnv;
    impl Env for NoEnv {
        fn var(&self, _: &str) -> Option<String> {
            None
        }
    }
    let cfg = Config::from_toml_str(
        r#"
[providers.p]
kind = "openai"
base_url = "http://127.0.0.1:9"
no_api_key = true
[models.small]
provider = "p"
tier = "simple"
input = 0.10
output = 0.40
cached_input = 0.025
[models.big]
provider = "p"
tier = "frontier"
input = 3
output = 15
[routing]
baseline = "big"
"#,
        &NoEnv,
    )
    .expect("config");
    let usage = crate::types::Usage {
        input_tokens: 1000,
        output_tokens: 100,
        cache_read_tokens: 400,
        cache_write_tokens: 0,
    };
    let mut d = Draft::start(
        "frg_x",
        crate::types::Format::OpenAi,
        &crate::caller::Caller::default(),
    );
    d.plan_for_tests("routed", "small");
    d.usage(&cfg, &usage);
    let r = d.finish().expect("record");
    // small: 600×0.10 + 400×0.025 + 100×0.40 = 60 + 10 + 40 = 110 → $0.00011
    assert_eq!(r.cost_usd, Decimal::new(11, 5));
    // big, uncached: 1000×3 + 100×15 = 4500 → $0.0045
    assert_eq!(r.baseline_cost_usd, Decimal::new(45, 4));
    // caching: small uncached (100 + 40 = 140 → $0.00014) − $0.00011
    assert_eq!(r.savings_caching_usd, Decimal::new(3, 5));
    assert_eq!(r.savings_usd(), r.baseline_cost_usd - r.cost_usd);
    // An explicit model is its own baseline: no routing savings.
    let mut d = Draft::start(
        "frg_y",
        crate::types::Format::OpenAi,
        &crate::caller::Caller::default(),
    );
    d.plan_for_tests("explicit", "small");
    d.usage(&cfg, &usage);
    let r = d.finish().expect("record");
    assert_eq!(
        (r.savings_routing_usd, r.baseline_model.as_deref()),
        (Decimal::ZERO, Some("small"))
    );
}

#[tokio::test]
async fn loop_tick_moves_a_boundary_and_a_second_replica_adopts_it() {
    for store in stores().await {
        let cfg = LedgerConfig::default();
        let a = Ledger::with_store(store.clone(), cfg.clone());
        let now = super::now_ms();
        for i in 0..200 {
            a.feedback(Feedback {
                request_id: format!("frg_{i}"),
                ts_ms: now - 1_000,
                tier: Some("simple".into()),
                model: Some("m-small".into()),
                score: if i % 2 == 0 { 1.0 } else { 0.0 },
                source: Signal::Explicit,
                comment: None,
            });
        }
        a.flush().await;
        let loop_cfg = quality::LoopConfig {
            enabled: true,
            ..quality::LoopConfig::default()
        };
        let live = crate::pipeline::LiveBoundaries::new([0.3, 0.55, 0.8]);
        let mut ctl = quality::Controller::new(loop_cfg.clone());
        let ev = control::tick(&a, &live, &mut ctl, now).await.expect("tick");
        assert_eq!(ev.len(), 1, "{}", store.backend());
        assert!(live.get()[0] < 0.3);
        // Another replica: adopts the stored boundaries and the cool-down, moves nothing.
        let other = crate::pipeline::LiveBoundaries::new([0.3, 0.55, 0.8]);
        let mut ctl2 = quality::Controller::new(loop_cfg);
        let ev = control::tick(&a, &other, &mut ctl2, now + 1_000)
            .await
            .expect("tick");
        assert!(ev.is_empty());
        assert_eq!(other.get(), live.get());
        assert_eq!(store.events_since(0).await.expect("events").len(), 1);
    }
}

#[tokio::test]
async fn training_reads_every_page_of_rated_traffic() {
    for store in stores().await {
        // More rows than one read page (5,000), every tenth with its conversation stored.
        let records: Vec<Record> = (0..6_000)
            .map(|i| Record {
                prompt: (i % 10 == 0).then(|| {
                    serde_json::json!({"system": [], "messages": [
                        {"role": "user", "content": [{"type": "text", "text": format!("q{i}")}]}]})
                    .to_string()
                }),
                // Cheaper than the baseline: routed down.
                baseline_cost_usd: Decimal::new(5, 1),
                ..record(i, 100 + i as i64, "simple")
            })
            .collect();
        let feedback: Vec<Feedback> = (0..6_000)
            .step_by(5)
            .map(|i| Feedback {
                request_id: format!("frg_{i}"),
                ts_ms: 10_000,
                tier: Some("simple".into()),
                model: Some("m-small".into()),
                score: 0.0,
                source: Signal::Explicit,
                comment: None,
            })
            .collect();
        store
            .insert(Arc::new(Batch {
                records,
                feedback,
                ..Default::default()
            }))
            .await
            .expect("insert");
        let (records, feedback, total) = crate::train::ledger::read_rated(store.as_ref(), 0)
            .await
            .expect("read");
        // Every row is walked; only the rated ones are kept.
        assert_eq!(
            (total, records.len(), feedback.len()),
            (6_000, 1_200, 1_200)
        );
        let l = crate::train::ledger::label(&records, &feedback).expect("label");
        // Rated: every fifth; of those, every other one has its conversation stored.
        assert_eq!((l.requests.len(), l.without_prompt), (600, 600));
        assert!(l.requests.iter().all(|(_, y, _)| (*y - 1.0).abs() < 1e-12));
    }
}

#[tokio::test]
async fn quality_labels_round_trip_by_embedding_and_page() {
    for store in stores().await {
        let label = |i: usize, emb: &str| Label {
            request_id: format!("frg_{i}"),
            ts_ms: i as i64,
            model: format!("m{}", i % 3),
            score: (i % 2) as f64,
            embedding_id: emb.into(),
            embedding: vec![0.25, -1.5, i as f32],
        };
        let labels: Vec<Label> = (0..7)
            .map(|i| label(i, "static:a"))
            .chain([label(99, "full:b")])
            .collect();
        store
            .insert(Arc::new(Batch {
                labels: labels.clone(),
                ..Default::default()
            }))
            .await
            .expect("insert");
        let first = store.labels_after("static:a", 0, 4).await.expect("read");
        assert_eq!(first.len(), 4, "{}", store.backend());
        let rest = store
            .labels_after("static:a", first[3].0, 100)
            .await
            .expect("read");
        let read: Vec<Label> = first.into_iter().chain(rest).map(|(_, l)| l).collect();
        assert_eq!(read, labels[..7].to_vec(), "{}", store.backend());
        let other = store.labels_after("full:b", 0, 10).await.expect("read");
        assert_eq!(other.len(), 1);
    }
}
