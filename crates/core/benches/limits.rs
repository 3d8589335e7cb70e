//! What keys and limits add to a request. In memory (every request): identifying the
//! caller (SHA-256 of the presented key, one map lookup among 1,000 keys), the
//! concurrency slot and the key's requests-per-minute, then its tokens-per-minute. In the
//! database (budgeted requests only): the reservation (one conditional upsert per counter,
//! pipelined on PostgreSQL, one IMMEDIATE transaction on SQLite) and the settlement, one
//! at a time and with 32 requests at once split over two replicas' connections.
//!
//! `cargo bench -p frugal-core --bench limits` (PostgreSQL from FRUGAL_TEST_PG_URL, default
//! postgres://postgres@127.0.0.1:5432/postgres; a fresh database is created and dropped).

use std::sync::Arc;
use std::time::{Duration, Instant};

use frugal_core::caller::Caller;
use frugal_core::config::{Config, ProcessEnv};
use frugal_core::ledger::LedgerConfig;
use frugal_core::limits::store::{self, Hold, LimitStore, Settle, StoredKey};
use frugal_core::limits::{budget, keys, rate, Limits};
use http::{HeaderMap, HeaderValue};
use rust_decimal::Decimal;

fn percentiles(mut v: Vec<Duration>) -> (f64, f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q) as usize).min(v.len() - 1)].as_secs_f64() * 1e6;
    (at(0.5), at(0.99), at(0.999))
}

fn print(label: &str, v: Vec<Duration>) {
    let (p50, p99, p999) = percentiles(v);
    println!("{label:<58} p50 {p50:>9.2} µs   p99 {p99:>9.2} µs   p99.9 {p999:>9.2} µs");
}

fn in_memory() {
    let cfg = Config::load(None, &ProcessEnv).expect("built-in config");
    let limits = Limits::new(&cfg, None);
    let policy = r#"{"requests_per_min": 1000000000, "tokens_per_min": 1000000000000}"#;
    let stored: Vec<StoredKey> = (0..1_000)
        .map(|i| StoredKey {
            name: format!("key-{i}"),
            project: format!("p{}", i % 10),
            secret_sha256: keys::secret_sha256(&format!("fk-bench-{i:04}")),
            policy: policy.into(),
            ..Default::default()
        })
        .collect();
    limits.keys().replace_stored(&stored);
    let rates = rate::RateLimiter::default();
    let n = 200_000;
    let mut admit = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    for i in 0..n {
        let mut h = HeaderMap::new();
        let v = format!("Bearer fk-bench-{:04}", i % 1_000);
        h.insert("authorization", HeaderValue::from_str(&v).expect("header"));
        let t = Instant::now();
        let caller = Caller::identify(&h, limits.keys());
        let a = limits.admit(&caller).expect("admitted");
        admit.push(t.elapsed());
        let name = &caller.key.as_ref().expect("recognised").name;
        let t = Instant::now();
        let now = frugal_core::ledger::now_ms();
        rates
            .take(name, rate::Measure::Tokens, 1_500, 1_000_000_000_000, now)
            .expect("under the limit");
        tokens.push(t.elapsed());
        drop(a);
    }
    print("identify + admit (concurrency slot, requests/min)", admit);
    print("tokens/min check", tokens);
}

fn holds(key: usize, now: i64) -> Vec<Hold> {
    let b = keys::Budgets {
        day_usd: Some(Decimal::from(1_000_000)),
        total_usd: Some(Decimal::from(1_000_000)),
        ..Default::default()
    };
    let scopes = [
        budget::Scope::key(&format!("k{key}"), b),
        budget::Scope::project("bench", b),
    ];
    budget::holds(&scopes, 12_345, now)
}

fn settles(h: &[Hold]) -> Vec<Settle> {
    h.iter()
        .map(|h| Settle {
            scope: h.scope.clone(),
            win: h.win.clone(),
            reserved_nanos: h.amount_nanos,
            spent_nanos: 10_000,
        })
        .collect()
}

async fn database(label: &str, a: Arc<dyn LimitStore>, b: Arc<dyn LimitStore>) {
    let now = frugal_core::ledger::now_ms();
    let (mut reserve, mut settle) = (vec![], vec![]);
    for i in 0..2_000 {
        let h = holds(i % 8, now);
        let t = Instant::now();
        let granted = a.reserve(h.clone()).await.expect("reserve");
        reserve.push(t.elapsed());
        assert!(granted.is_ok());
        let t = Instant::now();
        a.settle(settles(&h)).await.expect("settle");
        settle.push(t.elapsed());
    }
    print(
        &format!("{label}: reserve, 4 counters, one at a time"),
        reserve,
    );
    print(
        &format!("{label}: settle, 4 counters, one at a time"),
        settle,
    );
    // 32 requests at once on one key, half on each replica's connection.
    let started = Instant::now();
    let mut tasks = vec![];
    for t in 0..32 {
        let s = if t % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let mut lat = vec![];
            for _ in 0..100 {
                let h = holds(0, now);
                let t = Instant::now();
                s.reserve(h.clone()).await.expect("reserve").expect("fits");
                lat.push(t.elapsed());
                s.settle(settles(&h)).await.expect("settle");
            }
            lat
        }));
    }
    let mut all = vec![];
    for t in tasks {
        all.extend(t.await.expect("task"));
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{label}: 32 concurrent on one key, 2 replicas: {:.0} reserve+settle pairs/s",
        all.len() as f64 / secs
    );
    print(&format!("{label}: reserve under that load"), all);
}

async fn fresh_pg(base: &str) -> Option<(String, String)> {
    let (client, conn) = tokio_postgres::connect(base, tokio_postgres::NoTls)
        .await
        .ok()?;
    tokio::spawn(conn);
    let name = format!("frugal_bench_limits_{}", std::process::id());
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

fn main() {
    in_memory();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let dir = std::env::temp_dir().join(format!("frugal-bench-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let cfg = LedgerConfig {
            target: dir.join("l.sqlite").display().to_string(),
            ..LedgerConfig::default()
        };
        let a = store::open(&cfg).await.expect("sqlite");
        let b = store::open(&cfg).await.expect("sqlite");
        database("SQLite", a, b).await;
        let _ = std::fs::remove_dir_all(&dir);
        let base = std::env::var("FRUGAL_TEST_PG_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        match fresh_pg(&base).await {
            Some((url, name)) => {
                let cfg = LedgerConfig {
                    target: url,
                    ..LedgerConfig::default()
                };
                let a = store::open(&cfg).await.expect("postgres");
                let b = store::open(&cfg).await.expect("postgres");
                database("PostgreSQL", a, b).await;
                if let Ok((c, conn)) = tokio_postgres::connect(&base, tokio_postgres::NoTls).await {
                    tokio::spawn(conn);
                    let _ = c
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .await;
                }
            }
            None => println!("PostgreSQL: not reachable at {base}; skipped"),
        }
    });
}
