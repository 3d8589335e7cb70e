//! The embedded ledger: one SQLite file in WAL mode, migrated at open. rusqlite is
//! blocking, so every call runs on tokio's blocking pool behind one connection mutex.

use std::path::Path;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, Context, Result};
use futures::future::BoxFuture;
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rusqlite::{params, Connection, ToSql};

use super::columns::{self, Kind, Val, COLUMNS};
use super::{Batch, Feedback, Label, LoopEvent, Page, Record, Signal, Store};

/// Migrations in order; their position + 1 is their version.
const MIGRATIONS: [&str; 6] = [
    include_str!("migrations/sqlite_0001_init.sql"),
    include_str!("migrations/sqlite_0002_quality_labels.sql"),
    include_str!("migrations/sqlite_0003_verified.sql"),
    include_str!("migrations/sqlite_0004_keys.sql"),
    include_str!("migrations/sqlite_0005_dashboard.sql"),
    include_str!("migrations/sqlite_0006_dashboard_rollup.sql"),
];

pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

impl ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Val::Text(Some(s)) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
            Val::Int(Some(n)) => ToSqlOutput::Owned(SqlValue::Integer(*n)),
            Val::Real(Some(x)) => ToSqlOutput::Owned(SqlValue::Real(*x)),
            Val::Text(None) | Val::Int(None) | Val::Real(None) => {
                ToSqlOutput::Owned(SqlValue::Null)
            }
        })
    }
}

impl SqliteStore {
    /// Open (creating if needed) and migrate the file at `path`.
    pub async fn open(path: &str) -> Result<SqliteStore> {
        let path = path.to_string();
        let conn = tokio::task::spawn_blocking(move || open_blocking(Path::new(&path)))
            .await
            .map_err(|e| anyhow!("sqlite open task: {e}"))??;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Run `f` on the connection in the blocking pool.
    fn run<T, F>(&self, f: F) -> BoxFuture<'static, Result<T>>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        run_blocking(&self.conn, f)
    }
}

/// Run `f` on a shared connection in the blocking pool (the ledger's store and the
/// limits store each hold one connection to the ledger file).
pub(crate) fn run_blocking<T, F>(
    conn: &Arc<Mutex<Connection>>,
    f: F,
) -> BoxFuture<'static, Result<T>>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
{
    let conn = conn.clone();
    Box::pin(async move {
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| anyhow!("sqlite connection poisoned"))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| anyhow!("sqlite task: {e}"))?
    })
}

fn open_blocking(path: &Path) -> Result<Connection> {
    let mut conn = connect(path)?;
    migrate(&mut conn).with_context(|| format!("migrating the ledger {}", path.display()))?;
    Ok(conn)
}

/// A connection to the ledger file, as every user of it opens one (not migrated).
pub(crate) fn connect(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path)
        .with_context(|| format!("cannot open the ledger {}", path.display()))?;
    // WAL lets `frugal report` read while the server writes; NORMAL is durable across a
    // process crash (not a power cut) and much faster than FULL.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS frugal_migrations (version INTEGER PRIMARY KEY, applied_ms INTEGER NOT NULL)",
    )?;
    let current: i64 = tx.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM frugal_migrations",
        [],
        |r| r.get(0),
    )?;
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version > current {
            tx.execute_batch(sql)
                .with_context(|| format!("migration {version}"))?;
            tx.execute(
                "INSERT INTO frugal_migrations (version, applied_ms) VALUES (?1, ?2)",
                params![version, super::now_ms()],
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn insert_sql() -> String {
    let marks: Vec<String> = (1..=COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT OR IGNORE INTO requests ({}) VALUES ({})",
        columns::names(),
        marks.join(", ")
    )
}

fn insert_blocking(conn: &mut Connection, batch: &Batch) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare_cached(&insert_sql())?;
        for r in &batch.records {
            let row = columns::to_row(r);
            stmt.execute(rusqlite::params_from_iter(row.iter()))?;
        }
        let mut fb = tx.prepare_cached(
            "INSERT INTO feedback (request_id, ts_ms, tier, model, score, source, comment) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for f in &batch.feedback {
            fb.execute(params![
                f.request_id,
                f.ts_ms,
                f.tier,
                f.model,
                f.score,
                f.source.as_str(),
                f.comment
            ])?;
        }
        let mut lb = tx.prepare_cached(
            "INSERT INTO quality_labels (ts_ms, request_id, model, score, embedding_id, embedding) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for l in &batch.labels {
            lb.execute(params![
                l.ts_ms,
                l.request_id,
                l.model,
                l.score,
                l.embedding_id,
                l.embedding_bytes()
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

fn read_record(row: &rusqlite::Row<'_>, offset: usize) -> rusqlite::Result<Vec<Val>> {
    let mut cells = Vec::with_capacity(COLUMNS.len());
    for (i, (_, kind)) in COLUMNS.iter().enumerate() {
        let idx = i + offset;
        cells.push(match kind {
            Kind::Text | Kind::Dec => Val::Text(row.get(idx)?),
            Kind::Int => Val::Int(row.get(idx)?),
            Kind::Real => Val::Real(row.get(idx)?),
        });
    }
    Ok(cells)
}

fn read_feedback(row: &rusqlite::Row<'_>) -> rusqlite::Result<(Feedback, String)> {
    let source: String = row.get(5)?;
    Ok((
        Feedback {
            request_id: row.get(0)?,
            ts_ms: row.get(1)?,
            tier: row.get(2)?,
            model: row.get(3)?,
            score: row.get(4)?,
            source: Signal::Explicit,
            comment: row.get(6)?,
        },
        source,
    ))
}

fn with_source((mut f, source): (Feedback, String)) -> Feedback {
    f.source = Signal::parse(&source).unwrap_or(Signal::Explicit);
    f
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn insert(&self, batch: Arc<Batch>) -> BoxFuture<'_, Result<()>> {
        self.run(move |c| insert_blocking(c, &batch))
    }

    fn prune(&self, before_ms: i64, limit: usize) -> BoxFuture<'_, Result<u64>> {
        self.run(move |c| {
            let limit = limit as i64;
            let a = c.execute(
                "DELETE FROM requests WHERE seq IN (SELECT seq FROM requests WHERE ts_ms < ?1 ORDER BY seq LIMIT ?2)",
                params![before_ms, limit],
            )?;
            let b = c.execute(
                "DELETE FROM feedback WHERE seq IN (SELECT seq FROM feedback WHERE ts_ms < ?1 ORDER BY seq LIMIT ?2)",
                params![before_ms, limit],
            )?;
            Ok(a.max(b) as u64)
        })
    }

    fn records(&self, page: Page) -> BoxFuture<'_, Result<Vec<(i64, Record)>>> {
        self.run(move |c| {
            let sql = format!(
                "SELECT seq, {} FROM requests WHERE ts_ms >= ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
                columns::names()
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![page.since_ms, page.after_seq, page.limit as i64],
                |row| Ok((row.get::<_, i64>(0)?, read_record(row, 1)?)),
            )?;
            let mut out = vec![];
            for row in rows {
                let (seq, cells) = row?;
                out.push((seq, columns::from_row(cells)?));
            }
            Ok(out)
        })
    }

    fn lookup<'a>(&'a self, request_id: &'a str) -> BoxFuture<'a, Result<Option<Record>>> {
        let id = request_id.to_string();
        self.run(move |c| {
            let sql = format!(
                "SELECT {} FROM requests WHERE request_id = ?1",
                columns::names()
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query_map(params![id], |row| read_record(row, 0))?;
            match rows.next() {
                None => Ok(None),
                Some(cells) => Ok(Some(columns::from_row(cells?)?)),
            }
        })
    }

    fn feedback_since(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<Feedback>>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT request_id, ts_ms, tier, model, score, source, comment FROM feedback WHERE ts_ms >= ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![since_ms], read_feedback)?;
            let mut out = vec![];
            for r in rows {
                out.push(with_source(r?));
            }
            Ok(out)
        })
    }

    fn labels_after<'a>(
        &'a self,
        embedding_id: &'a str,
        after_seq: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<(i64, Label)>>> {
        let id = embedding_id.to_string();
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, ts_ms, request_id, model, score, embedding FROM quality_labels \
                 WHERE embedding_id = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![id, after_seq, limit as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, f64>(4)?,
                    r.get::<_, Vec<u8>>(5)?,
                ))
            })?;
            let mut out = vec![];
            for row in rows {
                let (seq, ts_ms, request_id, model, score, bytes) = row?;
                out.push((
                    seq,
                    Label {
                        request_id,
                        ts_ms,
                        model,
                        score,
                        embedding_id: id.clone(),
                        embedding: Label::embedding_from_bytes(&bytes)?,
                    },
                ));
            }
            Ok(out)
        })
    }

    fn load_boundaries(&self) -> BoxFuture<'_, Result<Option<[f64; 3]>>> {
        self.run(|c| {
            let mut stmt =
                c.prepare_cached("SELECT b0, b1, b2 FROM loop_state WHERE name = 'boundaries'")?;
            let mut rows = stmt.query_map([], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]))?;
            Ok(rows.next().transpose()?)
        })
    }

    fn save_event<'a>(
        &'a self,
        event: &'a LoopEvent,
        boundaries: [f64; 3],
    ) -> BoxFuture<'a, Result<()>> {
        let e = event.clone();
        self.run(move |c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO loop_events (ts_ms, tier, boundary, old_value, new_value, quality, lower, upper, samples, reason, dry_run) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                params![e.ts_ms, e.tier, e.boundary, e.old_value, e.new_value, e.quality, e.lower, e.upper, e.samples, e.reason, e.dry_run],
            )?;
            if !e.dry_run {
                tx.execute(
                    "INSERT INTO loop_state (name, b0, b1, b2, updated_ms) VALUES ('boundaries', ?1, ?2, ?3, ?4) ON CONFLICT(name) DO UPDATE SET b0 = excluded.b0, b1 = excluded.b1, b2 = excluded.b2, updated_ms = excluded.updated_ms",
                    params![boundaries[0], boundaries[1], boundaries[2], e.ts_ms],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
    }

    fn events_since(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<LoopEvent>>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT ts_ms, tier, boundary, old_value, new_value, quality, lower, upper, samples, reason, dry_run FROM loop_events WHERE ts_ms >= ?1 ORDER BY seq",
            )?;
            let rows = stmt.query_map(params![since_ms], |r| {
                Ok(LoopEvent {
                    ts_ms: r.get(0)?,
                    tier: r.get(1)?,
                    boundary: r.get(2)?,
                    old_value: r.get(3)?,
                    new_value: r.get(4)?,
                    quality: r.get(5)?,
                    lower: r.get(6)?,
                    upper: r.get(7)?,
                    samples: r.get(8)?,
                    reason: r.get(9)?,
                    dry_run: r.get(10)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    fn dashboard(
        &self,
        q: super::dashboard::Query,
    ) -> BoxFuture<'_, Result<super::dashboard::Answer>> {
        self.run(move |c| super::dashboard::sqlite::run(c, q))
    }
}
