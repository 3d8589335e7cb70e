//! Ledger throughput: rows/s sustained through the real `Ledger` (bounded channel →
//! batching writer → store) into SQLite and PostgreSQL, the cost of `Ledger::record` on
//! the request path, and side by side a baseline that writes one row per transaction.
//!
//! `cargo bench -p frugal-core --bench ledger` (PostgreSQL from FRUGAL_TEST_PG_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; a fresh database is created and dropped).
//! Rows: FRUGAL_BENCH_ROWS (default 200000).

use std::sync::Arc;
use std::time::{Duration, Instant};

use frugal_core::ledger::{
    postgres::PgStore, sqlite::SqliteStore, Batch, Ledger, LedgerConfig, Record, Store,
};
use rust_decimal::Decimal;

fn record(i: usize) -> Record {
    Record {
        request_id: format!("frg_bench_{i:012}"),
        ts_ms: frugal_core::ledger::now_ms(),
        project: "bench".into(),
        key_hash: "k_0123456789ab".into(),
        format: "openai".into(),
        decision: "routed".into(),
        requested_model: "auto".into(),
        tier: Some("simple".into()),
        score: Some(0.21),
        confidence: Some(0.6),
        stage: Some("rules".into()),
        model: Some("gpt-4.1-nano".into()),
        baseline_model: Some("claude-sonnet-4".into()),
        input_tokens: 1200,
        output_tokens: 300,
        cached_tokens: 200,
        cost_usd: Decimal::new(24_000_001, 12),
        baseline_cost_usd: Decimal::new(81, 4),
        savings_routing_usd: Decimal::new(79, 4),
        savings_caching_usd: Decimal::new(15, 7),
        latency_ms: 412.5,
        ttft_ms: Some(95.0),
        status: 200,
        conversation_hash: format!("c_{i:024x}"),
        ..Default::default()
    }
}

struct Result {
    rows_per_s: f64,
    record_ns: f64,
    dropped: u64,
}

/// Push `n` rows through a `Ledger` as fast as the writer sustains (backing off only when
/// the channel is nearly full, so nothing is dropped), then flush.
async fn through_ledger(store: Arc<dyn Store>, n: usize) -> Result {
    let cfg = LedgerConfig {
        batch_size: 2_000,
        channel_capacity: 65_536,
        ..LedgerConfig::default()
    };
    let ledger = Ledger::with_store(store, cfg);
    let started = Instant::now();
    let mut in_record = Duration::ZERO;
    for i in 0..n {
        let r = record(i);
        let t = Instant::now();
        ledger.record(r);
        in_record += t.elapsed();
        if i % 1024 == 0 {
            while ledger.stats().queued > 60_000 {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
    }
    ledger.flush().await;
    let elapsed = started.elapsed();
    let s = ledger.stats();
    ledger.close().await;
    Result {
        rows_per_s: s.written as f64 / elapsed.as_secs_f64(),
        record_ns: in_record.as_nanos() as f64 / n as f64,
        dropped: s.dropped,
    }
}

/// Baseline: one row per transaction, no channel.
async fn one_per_transaction(store: &dyn Store, n: usize) -> f64 {
    let started = Instant::now();
    for i in 0..n {
        let batch = Batch {
            records: vec![record(10_000_000 + i)],
            ..Default::default()
        };
        if let Err(e) = store.insert(Arc::new(batch)).await {
            eprintln!("baseline insert failed: {e}");
            return 0.0;
        }
    }
    n as f64 / started.elapsed().as_secs_f64()
}

async fn pg_database(base: &str) -> Option<(String, String)> {
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(conn);
    let name = format!("frugal_bench_{}", std::process::id());
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await
        .ok()?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .ok()?;
    let (head, _) = base.rsplit_once('/')?;
    Some((format!("{head}/{name}"), name))
}

async fn drop_pg_database(base: &str, name: &str) {
    if let Ok((client, conn)) = tokio_postgres::connect(base, tokio_postgres::NoTls).await {
        tokio::spawn(conn);
        let _ = client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
    }
}

fn main() -> anyhow::Result<()> {
    let n: usize = std::env::var("FRUGAL_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let baseline_n = (n / 20).max(1_000);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let mut table = vec![];
        let dir = std::env::temp_dir().join(format!("frugal-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        let path = dir.join("ledger.sqlite").display().to_string();
        let sqlite: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await?);
        let r = through_ledger(sqlite.clone(), n).await;
        let base = one_per_transaction(sqlite.as_ref(), baseline_n).await;
        table.push(("sqlite (WAL, synchronous=NORMAL)", r, base));
        let _ = std::fs::remove_dir_all(&dir);

        let pg_base = std::env::var("FRUGAL_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        match pg_database(&pg_base).await {
            Some((url, name)) => {
                let pg: Arc<dyn Store> = Arc::new(PgStore::connect(&url).await?);
                let r = through_ledger(pg.clone(), n).await;
                let base = one_per_transaction(pg.as_ref(), baseline_n).await;
                drop(pg);
                drop_pg_database(&pg_base, &name).await;
                table.push(("postgres (UNNEST batches)", r, base));
            }
            None => eprintln!("!!! PostgreSQL not reachable at {pg_base}: skipped"),
        }
        println!("\nledger throughput, {n} rows through Ledger::record (baseline: {baseline_n} rows, one per transaction)\n");
        println!("{:<34} {:>14} {:>10} {:>18} {:>16}", "backend", "batched rows/s", "dropped", "baseline rows/s", "record() ns/row");
        for (name, r, base) in table {
            println!("{name:<34} {:>14.0} {:>10} {:>18.0} {:>16.0}", r.rows_per_s, r.dropped, base, r.record_ns);
        }
        anyhow::Ok(())
    })
}
