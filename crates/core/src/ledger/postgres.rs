//! The shared ledger for several replicas: PostgreSQL through tokio-postgres, same tables
//! as SQLite (NUMERIC for money), migrations applied at start-up under an advisory lock so
//! replicas starting together do not race. A batch is one `INSERT ... SELECT FROM UNNEST`
//! of column arrays: one round trip, no parameter-count limit. The connection is
//! re-opened when the server dropped it.

use std::sync::Arc;

use anyhow::{anyhow, Context, Result};
use futures::future::BoxFuture;
use tokio::sync::Mutex;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};

use super::columns::{self, Kind, Val, COLUMNS};
use super::{Batch, Feedback, Label, LoopEvent, Page, Record, Signal, Store};

const MIGRATIONS: [&str; 6] = [
    include_str!("migrations/postgres_0001_init.sql"),
    include_str!("migrations/postgres_0002_quality_labels.sql"),
    include_str!("migrations/postgres_0003_verified.sql"),
    include_str!("migrations/postgres_0004_keys.sql"),
    include_str!("migrations/postgres_0005_dashboard.sql"),
    include_str!("migrations/postgres_0006_dashboard_rollup.sql"),
];
/// Advisory lock key serialising migrations across replicas ("frugal" in ASCII, roughly).
const MIGRATION_LOCK: i64 = 0x6672_7567_616c;

pub struct PgStore {
    url: String,
    client: Mutex<Client>,
}

async fn connect(url: &str) -> Result<Client> {
    let (client, connection) = tokio_postgres::connect(url, NoTls)
        .await
        .with_context(|| format!("cannot connect to {}", super::redact_target(url)))?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::warn!(error = %e, "ledger PostgreSQL connection closed");
        }
    });
    Ok(client)
}

async fn migrate(client: &mut Client) -> Result<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS frugal_migrations (version BIGINT PRIMARY KEY, applied_ms BIGINT NOT NULL)",
    )
    .await?;
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0)::BIGINT FROM frugal_migrations",
            &[],
        )
        .await?
        .get(0);
    for (i, sql) in MIGRATIONS.iter().enumerate() {
        let version = i as i64 + 1;
        if version > current {
            tx.batch_execute(sql)
                .await
                .with_context(|| format!("migration {version}"))?;
            tx.execute(
                "INSERT INTO frugal_migrations (version, applied_ms) VALUES ($1, $2)",
                &[&version, &super::now_ms()],
            )
            .await?;
        }
    }
    tx.commit().await?;
    Ok(())
}

/// One column of a batch, as a PostgreSQL array parameter.
enum ColumnArray {
    Text(Vec<Option<String>>),
    Int(Vec<Option<i64>>),
    Real(Vec<Option<f64>>),
}

impl ColumnArray {
    fn as_param(&self) -> &(dyn ToSql + Sync) {
        match self {
            ColumnArray::Text(v) => v,
            ColumnArray::Int(v) => v,
            ColumnArray::Real(v) => v,
        }
    }
}

fn insert_sql() -> String {
    let arrays: Vec<String> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, (_, kind))| {
            let n = i + 1;
            match kind {
                Kind::Text => format!("${n}::text[]"),
                Kind::Int => format!("${n}::int8[]"),
                Kind::Real => format!("${n}::float8[]"),
                Kind::Dec => format!("${n}::text[]::numeric[]"),
            }
        })
        .collect();
    format!(
        "INSERT INTO requests ({}) SELECT * FROM UNNEST({}) ON CONFLICT (request_id) DO NOTHING",
        columns::names(),
        arrays.join(", ")
    )
}

fn column_arrays(records: &[Record]) -> Vec<ColumnArray> {
    let mut cols: Vec<ColumnArray> = COLUMNS
        .iter()
        .map(|(_, kind)| match kind {
            Kind::Text | Kind::Dec => ColumnArray::Text(Vec::with_capacity(records.len())),
            Kind::Int => ColumnArray::Int(Vec::with_capacity(records.len())),
            Kind::Real => ColumnArray::Real(Vec::with_capacity(records.len())),
        })
        .collect();
    for r in records {
        for (col, cell) in cols.iter_mut().zip(columns::to_row(r)) {
            match (col, cell) {
                (ColumnArray::Text(v), Val::Text(x)) => v.push(x),
                (ColumnArray::Int(v), Val::Int(x)) => v.push(x),
                (ColumnArray::Real(v), Val::Real(x)) => v.push(x),
                // `to_row` and `COLUMNS` agree by construction (tested in columns.rs).
                _ => {}
            }
        }
    }
    cols
}

fn select_list() -> String {
    COLUMNS
        .iter()
        .map(|(name, kind)| match kind {
            Kind::Dec => format!("{name}::text"),
            _ => name.to_string(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

fn read_record(row: &Row, offset: usize) -> Result<Record> {
    let mut cells = Vec::with_capacity(COLUMNS.len());
    for (i, (_, kind)) in COLUMNS.iter().enumerate() {
        let idx = i + offset;
        cells.push(match kind {
            Kind::Text | Kind::Dec => Val::Text(row.try_get(idx)?),
            Kind::Int => Val::Int(row.try_get(idx)?),
            Kind::Real => Val::Real(row.try_get(idx)?),
        });
    }
    columns::from_row(cells)
}

impl PgStore {
    pub async fn connect(url: &str) -> Result<PgStore> {
        let mut client = connect(url).await?;
        migrate(&mut client)
            .await
            .with_context(|| format!("migrating the ledger at {}", super::redact_target(url)))?;
        Ok(PgStore {
            url: url.to_string(),
            client: Mutex::new(client),
        })
    }

    /// The client, reconnected first if the server dropped the connection.
    async fn client(&self) -> Result<tokio::sync::MutexGuard<'_, Client>> {
        let mut guard = self.client.lock().await;
        if guard.is_closed() {
            tracing::warn!("ledger PostgreSQL connection lost; reconnecting");
            *guard = connect(&self.url).await?;
        }
        Ok(guard)
    }

    async fn insert_batch(&self, batch: &Batch) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !batch.records.is_empty() {
            let cols = column_arrays(&batch.records);
            let params: Vec<&(dyn ToSql + Sync)> = cols.iter().map(ColumnArray::as_param).collect();
            let stmt = tx.prepare(&insert_sql()).await?;
            tx.execute(&stmt, &params).await?;
        }
        if !batch.feedback.is_empty() {
            let f = &batch.feedback;
            let ids: Vec<&str> = f.iter().map(|x| x.request_id.as_str()).collect();
            let ts: Vec<i64> = f.iter().map(|x| x.ts_ms).collect();
            let tiers: Vec<Option<&str>> = f.iter().map(|x| x.tier.as_deref()).collect();
            let models: Vec<Option<&str>> = f.iter().map(|x| x.model.as_deref()).collect();
            let scores: Vec<f64> = f.iter().map(|x| x.score).collect();
            let sources: Vec<&str> = f.iter().map(|x| x.source.as_str()).collect();
            let comments: Vec<Option<&str>> = f.iter().map(|x| x.comment.as_deref()).collect();
            tx.execute(
                "INSERT INTO feedback (request_id, ts_ms, tier, model, score, source, comment) \
                 SELECT * FROM UNNEST($1::text[], $2::int8[], $3::text[], $4::text[], $5::float8[], $6::text[], $7::text[])",
                &[&ids, &ts, &tiers, &models, &scores, &sources, &comments],
            )
            .await?;
        }
        if !batch.labels.is_empty() {
            let stmt = tx
                .prepare(
                    "INSERT INTO quality_labels (ts_ms, request_id, model, score, embedding_id, embedding) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .await?;
            for l in &batch.labels {
                let bytes = l.embedding_bytes();
                tx.execute(
                    &stmt,
                    &[
                        &l.ts_ms,
                        &l.request_id,
                        &l.model,
                        &l.score,
                        &l.embedding_id,
                        &bytes,
                    ],
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    async fn labels(
        &self,
        embedding_id: &str,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Label)>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT seq, ts_ms, request_id, model, score, embedding FROM quality_labels \
                 WHERE embedding_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
                &[&embedding_id, &after_seq, &(limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let bytes: Vec<u8> = r.try_get(5)?;
                Ok((
                    r.try_get(0)?,
                    Label {
                        ts_ms: r.try_get(1)?,
                        request_id: r.try_get(2)?,
                        model: r.try_get(3)?,
                        score: r.try_get(4)?,
                        embedding_id: embedding_id.to_string(),
                        embedding: Label::embedding_from_bytes(&bytes)?,
                    },
                ))
            })
            .collect()
    }

    async fn prune_batch(&self, before_ms: i64, limit: usize) -> Result<u64> {
        let client = self.client().await?;
        let limit = limit as i64;
        let a = client
            .execute(
                "DELETE FROM requests WHERE seq IN (SELECT seq FROM requests WHERE ts_ms < $1 ORDER BY seq LIMIT $2)",
                &[&before_ms, &limit],
            )
            .await?;
        let b = client
            .execute(
                "DELETE FROM feedback WHERE seq IN (SELECT seq FROM feedback WHERE ts_ms < $1 ORDER BY seq LIMIT $2)",
                &[&before_ms, &limit],
            )
            .await?;
        Ok(a.max(b))
    }

    async fn page(&self, page: Page) -> Result<Vec<(i64, Record)>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT seq, {} FROM requests WHERE ts_ms >= $1 AND seq > $2 ORDER BY seq LIMIT $3",
            select_list()
        );
        let rows = client
            .query(
                &sql,
                &[&page.since_ms, &page.after_seq, &(page.limit as i64)],
            )
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, read_record(r, 1)?)))
            .collect()
    }

    async fn find(&self, request_id: &str) -> Result<Option<Record>> {
        let client = self.client().await?;
        let sql = format!(
            "SELECT {} FROM requests WHERE request_id = $1",
            select_list()
        );
        match client.query_opt(&sql, &[&request_id]).await? {
            None => Ok(None),
            Some(row) => Ok(Some(read_record(&row, 0)?)),
        }
    }

    async fn feedback(&self, since_ms: i64) -> Result<Vec<Feedback>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT request_id, ts_ms, tier, model, score, source, comment FROM feedback WHERE ts_ms >= $1 ORDER BY seq",
                &[&since_ms],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let source: String = r.try_get(5)?;
                Ok(Feedback {
                    request_id: r.try_get(0)?,
                    ts_ms: r.try_get(1)?,
                    tier: r.try_get(2)?,
                    model: r.try_get(3)?,
                    score: r.try_get(4)?,
                    source: Signal::parse(&source).unwrap_or(Signal::Explicit),
                    comment: r.try_get(6)?,
                })
            })
            .collect()
    }

    async fn boundaries(&self) -> Result<Option<[f64; 3]>> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                "SELECT b0, b1, b2 FROM loop_state WHERE name = 'boundaries'",
                &[],
            )
            .await?;
        row.map(|r| Ok([r.try_get(0)?, r.try_get(1)?, r.try_get(2)?]))
            .transpose()
    }

    async fn event(&self, e: &LoopEvent, b: [f64; 3]) -> Result<()> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let dry = i64::from(e.dry_run);
        tx.execute(
            "INSERT INTO loop_events (ts_ms, tier, boundary, old_value, new_value, quality, lower, upper, samples, reason, dry_run) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[&e.ts_ms, &e.tier, &e.boundary, &e.old_value, &e.new_value, &e.quality, &e.lower, &e.upper, &e.samples, &e.reason, &dry],
        )
        .await?;
        if !e.dry_run {
            tx.execute(
                "INSERT INTO loop_state (name, b0, b1, b2, updated_ms) VALUES ('boundaries', $1, $2, $3, $4) \
                 ON CONFLICT (name) DO UPDATE SET b0 = excluded.b0, b1 = excluded.b1, b2 = excluded.b2, updated_ms = excluded.updated_ms",
                &[&b[0], &b[1], &b[2], &e.ts_ms],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn events(&self, since_ms: i64) -> Result<Vec<LoopEvent>> {
        let client = self.client().await?;
        let rows = client
            .query(
                "SELECT ts_ms, tier, boundary, old_value, new_value, quality, lower, upper, samples, reason, dry_run FROM loop_events WHERE ts_ms >= $1 ORDER BY seq",
                &[&since_ms],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LoopEvent {
                    ts_ms: r.try_get(0)?,
                    tier: r.try_get(1)?,
                    boundary: r.try_get(2)?,
                    old_value: r.try_get(3)?,
                    new_value: r.try_get(4)?,
                    quality: r.try_get(5)?,
                    lower: r.try_get(6)?,
                    upper: r.try_get(7)?,
                    samples: r.try_get(8)?,
                    reason: r.try_get(9)?,
                    dry_run: r.try_get::<_, i64>(10)? != 0,
                })
            })
            .collect::<Result<Vec<_>>>()
            .map_err(|e: anyhow::Error| anyhow!("reading loop events: {e}"))
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }
    fn insert(&self, batch: Arc<Batch>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move { self.insert_batch(&batch).await })
    }
    fn prune(&self, before_ms: i64, limit: usize) -> BoxFuture<'_, Result<u64>> {
        Box::pin(self.prune_batch(before_ms, limit))
    }
    fn records(&self, page: Page) -> BoxFuture<'_, Result<Vec<(i64, Record)>>> {
        Box::pin(self.page(page))
    }
    fn lookup<'a>(&'a self, request_id: &'a str) -> BoxFuture<'a, Result<Option<Record>>> {
        Box::pin(self.find(request_id))
    }
    fn feedback_since(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<Feedback>>> {
        Box::pin(self.feedback(since_ms))
    }
    fn load_boundaries(&self) -> BoxFuture<'_, Result<Option<[f64; 3]>>> {
        Box::pin(self.boundaries())
    }
    fn save_event<'a>(
        &'a self,
        event: &'a LoopEvent,
        boundaries: [f64; 3],
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(self.event(event, boundaries))
    }
    fn events_since(&self, since_ms: i64) -> BoxFuture<'_, Result<Vec<LoopEvent>>> {
        Box::pin(self.events(since_ms))
    }
    fn labels_after<'a>(
        &'a self,
        embedding_id: &'a str,
        after_seq: i64,
        limit: usize,
    ) -> BoxFuture<'a, Result<Vec<(i64, Label)>>> {
        Box::pin(self.labels(embedding_id, after_seq, limit))
    }
    fn dashboard(
        &self,
        q: super::dashboard::Query,
    ) -> BoxFuture<'_, Result<super::dashboard::Answer>> {
        Box::pin(async move {
            let client = self.client().await?;
            super::dashboard::postgres::run(&client, q).await
        })
    }
}
