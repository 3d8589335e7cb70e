//! The limit store on both backends (a temporary SQLite file, and a fresh database on
//! `FRUGAL_TEST_PG_URL`): concurrent reservations from two "replicas" (two stores on the
//! same database) never overspend, a refusal leaves nothing reserved, settlements are
//! counted exactly once, and keys are created, rotated and disabled.

use std::sync::Arc;

use super::store::{self, Hold, LimitStore, Rotation, Settle, StoredKey};
use crate::ledger::tests::{fresh_pg_database, pg_base_url, temp_sqlite};
use crate::ledger::LedgerConfig;

/// Pairs of stores on one database each: SQLite, then PostgreSQL when available.
async fn replica_pairs() -> Vec<(Arc<dyn LimitStore>, Arc<dyn LimitStore>)> {
    let mut targets = vec![temp_sqlite()];
    if let Some(base) = pg_base_url() {
        targets.push(fresh_pg_database(&base).await);
    }
    let mut out = vec![];
    for target in targets {
        let cfg = LedgerConfig {
            target,
            ..LedgerConfig::default()
        };
        let a = store::open(&cfg).await.expect("open limit store");
        let b = store::open(&cfg).await.expect("open limit store");
        out.push((a, b));
    }
    out
}

fn hold(scope: &str, limit: i64, amount: i64) -> Hold {
    Hold {
        scope: scope.into(),
        win: "total".into(),
        limit_nanos: limit,
        amount_nanos: amount,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_reservations_on_two_replicas_never_overspend() {
    const LIMIT: i64 = 20_500;
    const EST: i64 = 1_000;
    for (a, b) in replica_pairs().await {
        // 50 requests, half through each replica, each reserving EST then spending less
        // (its actual cost) after a short while, so later requests fit in what is freed.
        let mut tasks = vec![];
        for i in 0..50i64 {
            let s = if i % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let granted = s
                    .reserve(vec![hold("key:race", LIMIT, EST)])
                    .await
                    .expect("reserve");
                let Ok(used) = granted else { return None };
                assert!(
                    used[0] <= LIMIT,
                    "spent + reserved {} over the limit",
                    used[0]
                );
                tokio::time::sleep(std::time::Duration::from_millis((i % 5) as u64)).await;
                let actual = 400 + (i * 37) % 600;
                let settle = Settle {
                    scope: "key:race".into(),
                    win: "total".into(),
                    reserved_nanos: EST,
                    spent_nanos: actual,
                };
                s.settle(vec![settle]).await.expect("settle");
                Some(actual)
            }));
        }
        let mut spent = 0;
        let mut granted = 0;
        for t in tasks {
            if let Some(actual) = t.await.expect("task") {
                spent += actual;
                granted += 1;
            }
        }
        let c = a
            .counters(vec![("key:race".into(), "total".into())])
            .await
            .expect("counters");
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].reserved_nanos, 0, "every reservation was settled");
        assert_eq!(c[0].spent_nanos, spent, "every actual cost counted once");
        assert_eq!(c[0].settled, granted);
        assert!(spent <= LIMIT, "spent {spent} over the limit {LIMIT}");
        assert!(
            granted >= 20,
            "at least the 20 that fit up front: {granted}"
        );
        assert!(granted < 50, "the budget refused some: {granted}");
    }
}

#[tokio::test]
async fn a_refusing_counter_leaves_nothing_reserved() {
    for (a, _) in replica_pairs().await {
        let holds = vec![
            hold("key:k", 10_000, 3_000),
            hold("project:p", 2_000, 3_000),
        ];
        assert_eq!(a.reserve(holds).await.expect("reserve"), Err(1));
        let fits = vec![
            hold("key:k", 10_000, 3_000),
            hold("project:p", 5_000, 3_000),
        ];
        assert_eq!(
            a.reserve(fits).await.expect("reserve"),
            Ok(vec![3_000, 3_000])
        );
        let c = a
            .counters(vec![
                ("key:k".into(), "total".into()),
                ("project:p".into(), "total".into()),
            ])
            .await
            .expect("counters");
        assert_eq!(c.iter().map(|c| c.reserved_nanos).sum::<i64>(), 6_000);
        // A request larger than the whole budget is refused even on an empty counter.
        assert_eq!(
            a.reserve(vec![hold("key:fresh", 100, 101)])
                .await
                .expect("reserve"),
            Err(0)
        );
    }
}

#[tokio::test]
async fn keys_are_created_rotated_and_disabled() {
    for (a, b) in replica_pairs().await {
        let k = StoredKey {
            name: "ci".into(),
            project: "web".into(),
            secret_sha256: "aa".into(),
            policy: "{}".into(),
            created_ms: 1,
            ..Default::default()
        };
        assert!(a.create_key(k.clone(), "k_1".into()).await.expect("create"));
        assert!(!b
            .create_key(k, "k_2".into())
            .await
            .expect("duplicate refused"));
        let rotation = Rotation {
            name: "ci".into(),
            secret_sha256: "bb".into(),
            ledger_hash: "k_3".into(),
            now_ms: 5,
            old_valid_until_ms: 10,
        };
        assert!(b.rotate_key(rotation).await.expect("rotate"));
        let keys = a.keys().await.expect("keys");
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].secret_sha256, "bb");
        assert_eq!(keys[0].prev_secret_sha256.as_deref(), Some("aa"));
        assert_eq!(keys[0].prev_expires_ms, Some(10));
        let mut hashes = a.ledger_hashes().await.expect("hashes");
        hashes.sort();
        assert_eq!(
            hashes,
            vec![("k_1".into(), "ci".into()), ("k_3".into(), "ci".into())]
        );
        assert!(a.disable_key("ci".into(), 7).await.expect("disable"));
        assert!(!a
            .disable_key("ci".into(), 8)
            .await
            .expect("already disabled"));
        assert_eq!(a.keys().await.expect("keys")[0].disabled_ms, Some(7));
    }
}

#[tokio::test]
async fn rate_counts_are_summed_across_replicas() {
    for (a, b) in replica_pairs().await {
        let d = |requests, tokens| store::RateDelta {
            key: "k".into(),
            minute: 100,
            requests,
            tokens,
        };
        a.rate_sync(vec![d(3, 300)], 99).await.expect("sync a");
        let totals = b.rate_sync(vec![d(2, -50)], 99).await.expect("sync b");
        assert_eq!(totals, vec![d(5, 250)]);
    }
}

mod planning {
    use rust_decimal::Decimal;

    use super::super::{allowed, reservation_usd, KeyPolicy, Rules};
    use crate::config::{Config, ProcessEnv};
    use crate::error::GatewayError;
    use crate::pipeline::{Candidate, Decision, Plan};
    use crate::types::{ChatRequest, Tier};

    fn plan(cfg: &Config, models: &[&str]) -> Plan {
        Plan {
            decision: Decision::Routed,
            classification: None,
            tier: Tier::Simple,
            candidates: models
                .iter()
                .map(|m| Candidate {
                    model: m.to_string(),
                    tier: cfg.model(m).map_or(Tier::Simple, |i| i.tier),
                    est_cost_usd: Decimal::ZERO,
                })
                .collect(),
            est_input_tokens: 1_000,
            est_output_tokens: 300,
            baseline_est_cost_usd: None,
            reason: String::new(),
            estimates: vec![],
            explored: false,
            embedding: None,
            verified: false,
        }
    }

    /// Two catalogue models of different tiers, cheapest first.
    fn two_tiers(cfg: &Config) -> (String, String) {
        let mut models: Vec<_> = cfg.models.values().collect();
        models.sort_by_key(|m| (m.tier, m.prices.output));
        let low = models.first().expect("a model");
        let high = models.last().expect("a model");
        assert!(low.tier < high.tier);
        (low.name.clone(), high.name.clone())
    }

    #[test]
    fn the_reservation_is_the_dearest_candidate_at_max_tokens() {
        let cfg = Config::load(None, &ProcessEnv).expect("built-in config");
        let (low, high) = two_tiers(&cfg);
        let p = plan(&cfg, &[&low, &high]);
        let h = cfg.model(&high).expect("model");
        let per_m = Decimal::from(1_000_000);
        let input = h.prices.input.max(h.prices.cache_write);
        let want = (Decimal::from(1_000) * input + Decimal::from(4_000) * h.prices.output) / per_m;
        assert_eq!(reservation_usd(&cfg, &p, 4_000), want);
        assert!(reservation_usd(&cfg, &plan(&cfg, &[&low]), 4_000) < want);
    }

    #[test]
    fn allowed_models_and_tiers() {
        let cfg = Config::load(None, &ProcessEnv).expect("built-in config");
        let (low, high) = two_tiers(&cfg);
        let low_tier = cfg.model(&low).expect("model").tier;
        let key = KeyPolicy {
            name: "k".into(),
            project: "p".into(),
            rules: Rules {
                models: vec!["auto".into()],
                tiers: vec![low_tier],
                ..Default::default()
            },
            from_config: false,
        };
        let mut req = ChatRequest {
            model: "auto".into(),
            ..Default::default()
        };
        let mut p = plan(&cfg, &[&high, &low]);
        p.tier = cfg.model(&high).expect("model").tier;
        allowed(&key, &req, &mut p).expect("allowed");
        assert_eq!(p.candidates.len(), 1);
        assert_eq!(p.candidates[0].model, low);
        assert_eq!(p.tier, low_tier);
        let mut only_high = plan(&cfg, &[&high]);
        assert!(matches!(
            allowed(&key, &req, &mut only_high),
            Err(GatewayError::Forbidden(m)) if m.contains("tiers")
        ));
        req.model = high.clone();
        assert!(matches!(
            allowed(&key, &req, &mut plan(&cfg, &[&low])),
            Err(GatewayError::Forbidden(m)) if m.contains("may not use model")
        ));
    }
}
