//! The limit store on SQLite: a connection of its own to the ledger file. A request's
//! holds run in one IMMEDIATE transaction (SQLite's write lock), with the same conditional
//! upsert as PostgreSQL, so replicas sharing the file are exact too; a refusal rolls back.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Result};
use futures::future::BoxFuture;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::store::*;

pub struct SqliteLimits {
    conn: Arc<Mutex<Connection>>,
}

/// SQLite numbers its parameters `?N`; the shared statements are written `$N`.
fn sqlite(sql: &str) -> String {
    sql.replace('$', "?")
}

impl SqliteLimits {
    pub async fn open(path: &str) -> Result<SqliteLimits> {
        let path = path.to_string();
        let conn =
            tokio::task::spawn_blocking(move || crate::ledger::sqlite::connect(Path::new(&path)))
                .await
                .map_err(|e| anyhow!("sqlite open task: {e}"))??;
        Ok(SqliteLimits {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn run<T, F>(&self, f: F) -> BoxFuture<'static, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        crate::ledger::sqlite::run_blocking(&self.conn, f)
    }
}

fn stored_key(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredKey> {
    Ok(StoredKey {
        name: r.get(0)?,
        project: r.get(1)?,
        secret_sha256: r.get(2)?,
        prev_secret_sha256: r.get(3)?,
        prev_expires_ms: r.get(4)?,
        policy: r.get(5)?,
        created_ms: r.get(6)?,
        rotated_ms: r.get(7)?,
        disabled_ms: r.get(8)?,
    })
}

impl LimitStore for SqliteLimits {
    fn reserve(&self, holds: Vec<Hold>) -> BoxFuture<'_, Result<Reserved>> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut used = Vec::with_capacity(holds.len());
            {
                let mut stmt = tx.prepare_cached(&sqlite(RESERVE_SQL))?;
                for (i, h) in holds.iter().enumerate() {
                    let fitted: Option<i64> = stmt
                        .query_row(
                            params![h.scope, h.win, h.amount_nanos, h.limit_nanos],
                            |r| r.get(0),
                        )
                        .optional()?;
                    match fitted {
                        Some(u) => used.push(u),
                        // Dropping the transaction rolls back the holds already taken.
                        None => return Ok(Err(i)),
                    }
                }
            }
            tx.commit()?;
            Ok(Ok(used))
        })
    }

    fn settle(&self, settles: Vec<Settle>) -> BoxFuture<'_, Result<()>> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            {
                let mut stmt = tx.prepare_cached(&sqlite(SETTLE_SQL))?;
                for s in &settles {
                    stmt.execute(params![s.scope, s.win, s.reserved_nanos, s.spent_nanos])?;
                }
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn counters(&self, keys: Vec<(String, String)>) -> BoxFuture<'_, Result<Vec<Counter>>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT scope, win, spent_nanos, reserved_nanos, settled FROM budget_counters WHERE scope = ?1 AND win = ?2",
            )?;
            let mut out = vec![];
            for (scope, win) in &keys {
                let row = stmt
                    .query_row(params![scope, win], |r| {
                        Ok(Counter {
                            scope: r.get(0)?,
                            win: r.get(1)?,
                            spent_nanos: r.get(2)?,
                            reserved_nanos: r.get(3)?,
                            settled: r.get(4)?,
                        })
                    })
                    .optional()?;
                out.extend(row);
            }
            Ok(out)
        })
    }

    fn rate_sync(
        &self,
        deltas: Vec<RateDelta>,
        since_minute: i64,
    ) -> BoxFuture<'_, Result<Vec<RateDelta>>> {
        self.run(move |c| {
            if !deltas.is_empty() {
                let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
                {
                    let mut stmt = tx.prepare_cached(&sqlite(RATE_ADD_SQL))?;
                    for d in &deltas {
                        stmt.execute(params![d.key, d.minute, d.requests, d.tokens])?;
                    }
                    tx.execute(
                        "DELETE FROM rate_counters WHERE minute < ?1",
                        params![since_minute - RATE_KEEP_MINUTES],
                    )?;
                }
                tx.commit()?;
            }
            let mut stmt = c.prepare_cached(&sqlite(RATE_READ_SQL))?;
            let rows = stmt.query_map(params![since_minute], |r| {
                Ok(RateDelta {
                    key: r.get(0)?,
                    minute: r.get(1)?,
                    requests: r.get(2)?,
                    tokens: r.get(3)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn keys(&self) -> BoxFuture<'_, Result<Vec<StoredKey>>> {
        self.run(|c| {
            let mut stmt =
                c.prepare_cached(&format!("SELECT {KEY_COLUMNS} FROM api_keys ORDER BY name"))?;
            let rows = stmt.query_map([], stored_key)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn create_key(&self, k: StoredKey, ledger_hash: String) -> BoxFuture<'_, Result<bool>> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                &format!(
                    "INSERT INTO api_keys ({KEY_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (name) DO NOTHING"
                ),
                params![
                    k.name,
                    k.project,
                    k.secret_sha256,
                    k.prev_secret_sha256,
                    k.prev_expires_ms,
                    k.policy,
                    k.created_ms,
                    k.rotated_ms,
                    k.disabled_ms
                ],
            )?;
            if n == 1 {
                tx.execute(
                    "INSERT OR IGNORE INTO api_key_hashes (ledger_hash, name) VALUES (?1, ?2)",
                    params![ledger_hash, k.name],
                )?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    fn rotate_key(&self, r: Rotation) -> BoxFuture<'_, Result<bool>> {
        self.run(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE api_keys SET prev_secret_sha256 = secret_sha256, prev_expires_ms = ?3, \
                 secret_sha256 = ?2, rotated_ms = ?4 WHERE name = ?1 AND disabled_ms IS NULL",
                params![r.name, r.secret_sha256, r.old_valid_until_ms, r.now_ms],
            )?;
            if n == 1 {
                tx.execute(
                    "INSERT OR IGNORE INTO api_key_hashes (ledger_hash, name) VALUES (?1, ?2)",
                    params![r.ledger_hash, r.name],
                )?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
    }

    fn disable_key(&self, name: String, now_ms: i64) -> BoxFuture<'_, Result<bool>> {
        self.run(move |c| {
            let n = c.execute(
                "UPDATE api_keys SET disabled_ms = ?2 WHERE name = ?1 AND disabled_ms IS NULL",
                params![name, now_ms],
            )?;
            Ok(n == 1)
        })
    }

    fn ledger_hashes(&self) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        self.run(|c| {
            let mut stmt = c.prepare_cached("SELECT ledger_hash, name FROM api_key_hashes")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }
}
