//! The limit store on PostgreSQL, shared by replicas. One connection of its own, whose
//! client pipelines concurrent statements: a request's holds (up to six counters) go out
//! together and cost one round trip. Each hold is a single conditional upsert (atomic
//! under its row lock, the condition re-read after a concurrent update) committed on its
//! own, so no lock is held while waiting for another and no two requests can deadlock. A
//! single multi-row upsert (one commit) was measured and rejected: it holds the first
//! counter's lock while waiting for the next, and 32 requests on one key fell from 732 to
//! 84 reservations/s (docs/benchmarks.md). A request refused by one counter gives back
//! what its other holds took.

use std::sync::Arc;

use anyhow::{Context, Result};
use futures::future::{join_all, BoxFuture};
use tokio::sync::RwLock;
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::store::*;

struct Conn {
    client: Client,
    reserve: Statement,
    settle: Statement,
    release: Statement,
}

pub struct PgLimits {
    url: String,
    conn: RwLock<Arc<Conn>>,
}

async fn connect(url: &str) -> Result<Conn> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to {}", crate::ledger::redact_target(url)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "limits PostgreSQL connection closed");
        }
    });
    let reserve = client
        .prepare(
            &RESERVE_SQL
                .replace(
                    "SELECT $1, $2, $3, $4",
                    "SELECT $1::text, $2::text, $3::int8, $4::int8",
                )
                .replace("WHERE $3 <= $4", "WHERE $3::int8 <= $4::int8"),
        )
        .await?;
    let settle = client.prepare(SETTLE_SQL).await?;
    let release = client.prepare(RELEASE_SQL).await?;
    Ok(Conn {
        client,
        reserve,
        settle,
        release,
    })
}

impl PgLimits {
    pub async fn connect(url: &str) -> Result<PgLimits> {
        Ok(PgLimits {
            url: url.to_string(),
            conn: RwLock::new(Arc::new(connect(url).await?)),
        })
    }

    /// The connection, re-opened first when the server dropped it.
    async fn conn(&self) -> Result<Arc<Conn>> {
        let current = self.conn.read().await.clone();
        if !current.client.is_closed() {
            return Ok(current);
        }
        let mut w = self.conn.write().await;
        if w.client.is_closed() {
            tracing::warn!("limits PostgreSQL connection lost; reconnecting");
            *w = Arc::new(connect(&self.url).await?);
        }
        Ok(w.clone())
    }
}

fn stored_key(r: &Row) -> Result<StoredKey> {
    Ok(StoredKey {
        name: r.try_get(0)?,
        project: r.try_get(1)?,
        secret_sha256: r.try_get(2)?,
        prev_secret_sha256: r.try_get(3)?,
        prev_expires_ms: r.try_get(4)?,
        policy: r.try_get(5)?,
        created_ms: r.try_get(6)?,
        rotated_ms: r.try_get(7)?,
        disabled_ms: r.try_get(8)?,
    })
}

impl LimitStore for PgLimits {
    fn reserve(&self, holds: Vec<Hold>) -> BoxFuture<'_, Result<Reserved>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let c = &conn;
            let results = join_all(holds.iter().map(|h| async move {
                c.client
                    .query_opt(
                        &c.reserve,
                        &[&h.scope, &h.win, &h.amount_nanos, &h.limit_nanos],
                    )
                    .await
            }))
            .await;
            let mut refused = None;
            let mut error = None;
            let mut taken = vec![];
            let mut used = vec![];
            for (i, r) in results.into_iter().enumerate() {
                match r.map(|row| row.map(|row| row.try_get::<_, i64>(0))) {
                    Ok(Some(Ok(u))) => {
                        taken.push(&holds[i]);
                        used.push(u);
                    }
                    Ok(Some(Err(e))) | Err(e) => error = error.or(Some(e)),
                    Ok(None) => refused = refused.or(Some(i)),
                }
            }
            if refused.is_none() && error.is_none() {
                return Ok(Ok(used));
            }
            // All or nothing: give back what the other counters took.
            let back = join_all(taken.iter().map(|h| async move {
                c.client
                    .execute(&c.release, &[&h.scope, &h.win, &h.amount_nanos])
                    .await
            }))
            .await;
            for b in back {
                b.context("giving back a partial budget reservation")?;
            }
            match (error, refused) {
                (Some(e), _) => Err(e).context("reserving budget"),
                (None, Some(i)) => Ok(Err(i)),
                (None, None) => Ok(Ok(used)),
            }
        })
    }

    fn settle(&self, settles: Vec<Settle>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            let conn = self.conn().await?;
            let c = &conn;
            let done = join_all(settles.iter().map(|s| async move {
                c.client
                    .execute(
                        &c.settle,
                        &[&s.scope, &s.win, &s.reserved_nanos, &s.spent_nanos],
                    )
                    .await
            }))
            .await;
            for d in done {
                d.context("settling a budget reservation")?;
            }
            Ok(())
        })
    }

    fn counters(&self, keys: Vec<(String, String)>) -> BoxFuture<'_, Result<Vec<Counter>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let (scopes, wins): (Vec<String>, Vec<String>) = keys.into_iter().unzip();
            let rows = c
                .client
                .query(
                    "SELECT c.scope, c.win, c.spent_nanos, c.reserved_nanos, c.settled \
                     FROM budget_counters c JOIN UNNEST($1::text[], $2::text[]) AS k(scope, win) \
                     ON c.scope = k.scope AND c.win = k.win",
                    &[&scopes, &wins],
                )
                .await?;
            rows.iter()
                .map(|r| {
                    Ok(Counter {
                        scope: r.try_get(0)?,
                        win: r.try_get(1)?,
                        spent_nanos: r.try_get(2)?,
                        reserved_nanos: r.try_get(3)?,
                        settled: r.try_get(4)?,
                    })
                })
                .collect()
        })
    }

    fn rate_sync(
        &self,
        deltas: Vec<RateDelta>,
        since_minute: i64,
    ) -> BoxFuture<'_, Result<Vec<RateDelta>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            if !deltas.is_empty() {
                let keys: Vec<&str> = deltas.iter().map(|d| d.key.as_str()).collect();
                let minutes: Vec<i64> = deltas.iter().map(|d| d.minute).collect();
                let requests: Vec<i64> = deltas.iter().map(|d| d.requests).collect();
                let tokens: Vec<i64> = deltas.iter().map(|d| d.tokens).collect();
                c.client
                    .execute(
                        "INSERT INTO rate_counters (key_name, minute, requests, tokens) \
                         SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[], $4::int8[]) \
                         ON CONFLICT (key_name, minute) DO UPDATE SET \
                         requests = rate_counters.requests + EXCLUDED.requests, \
                         tokens = rate_counters.tokens + EXCLUDED.tokens",
                        &[&keys, &minutes, &requests, &tokens],
                    )
                    .await?;
                c.client
                    .execute(
                        "DELETE FROM rate_counters WHERE minute < $1",
                        &[&(since_minute - RATE_KEEP_MINUTES)],
                    )
                    .await?;
            }
            let rows = c.client.query(RATE_READ_SQL, &[&since_minute]).await?;
            rows.iter()
                .map(|r| {
                    Ok(RateDelta {
                        key: r.try_get(0)?,
                        minute: r.try_get(1)?,
                        requests: r.try_get(2)?,
                        tokens: r.try_get(3)?,
                    })
                })
                .collect()
        })
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoredKey>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let rows = c
                .client
                .query(
                    &format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY name"),
                    &[],
                )
                .await?;
            rows.iter().map(stored_key).collect()
        })
    }

    fn create_key(&self, k: StoredKey, ledger_hash: String) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let n = c
                .client
                .execute(
                    &format!(
                        "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                         ON CONFLICT (name) DO NOTHING"
                    ),
                    &[
                        &k.name,
                        &k.project,
                        &k.secret_sha256,
                        &k.prev_secret_sha256,
                        &k.prev_expires_ms,
                        &k.policy,
                        &k.created_ms,
                        &k.rotated_ms,
                        &k.disabled_ms,
                    ],
                )
                .await?;
            if n == 1 {
                c.client
                    .execute(
                        "INSERT INTO api_key_hashes (ledger_hash, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&ledger_hash, &k.name],
                    )
                    .await?;
            }
            Ok(n == 1)
        })
    }

    fn rotate_key(&self, r: Rotation) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let n = c
                .client
                .execute(
                    "UPDATE api_keys SET prev_secret_sha256 = secret_sha256, prev_expires_ms = $3, \
                     secret_sha256 = $2, rotated_ms = $4 WHERE name = $1 AND disabled_ms IS NULL",
                    &[&r.name, &r.secret_sha256, &r.old_valid_until_ms, &r.now_ms],
                )
                .await?;
            if n == 1 {
                c.client
                    .execute(
                        "INSERT INTO api_key_hashes (ledger_hash, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                        &[&r.ledger_hash, &r.name],
                    )
                    .await?;
            }
            Ok(n == 1)
        })
    }

    fn disable_key(&self, name: String, now_ms: i64) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let n = c
                .client
                .execute(
                    "UPDATE api_keys SET disabled_ms = $2 WHERE name = $1 AND disabled_ms IS NULL",
                    &[&name, &now_ms],
                )
                .await?;
            Ok(n == 1)
        })
    }

    fn ledger_hashes(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        Box::pin(async move {
            let c = self.conn().await?;
            let rows = c
                .client
                .query("SELECT ledger_hash, name FROM api_key_hashes", &[])
                .await?;
            rows.iter()
                .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
                .collect()
        })
    }
}
