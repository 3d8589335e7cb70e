//! The `Ledger` handle and its writer task. The request path only ever calls `try_send` on
//! a bounded channel: a full channel drops the row and counts it (`/metrics`,
//! `/health`). One task drains the channel in batches (`recv_many`: large batches when
//! busy, single rows when idle), retries a failed write briefly, prunes rows past the
//! retention age in small batches, and acknowledges a flush once everything queued before
//! it is written, which is how graceful shutdown loses nothing.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio::task::JoinHandle;

use super::feedback::Recent;
use super::{Batch, Feedback, LedgerConfig, Record, Store};

/// Rows deleted per prune statement; small enough not to hold a lock for long.
const PRUNE_BATCH: usize = 5_000;
/// Prune statements per tick, so a large backlog is worked off without starving writes.
const PRUNE_BATCHES_PER_TICK: usize = 20;
const PRUNE_EVERY: Duration = Duration::from_secs(60);
const WRITE_RETRIES: u32 = 3;
/// After a partial batch the writer waits this long before reading again: rows gather
/// into larger batches, and `try_send` on the request path rarely has to wake a parked
/// writer thread (a futex syscall, the largest part of its cost). Bounds how long a row
/// waits to be written.
const LINGER: Duration = Duration::from_millis(5);

enum Msg {
    Record(Box<Record>),
    Feedback(Feedback),
    Label(Box<super::Label>),
    Flush(oneshot::Sender<()>),
}

#[derive(Default)]
struct Counters {
    written: AtomicU64,
    feedback_written: AtomicU64,
    dropped: AtomicU64,
    write_errors: AtomicU64,
    pruned: AtomicU64,
}

/// Counters for `/metrics` and `/health`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LedgerStats {
    pub backend: &'static str,
    pub written: u64,
    pub feedback_written: u64,
    /// Rows lost: channel full, closed, or a write that kept failing.
    pub dropped: u64,
    pub write_errors: u64,
    pub pruned: u64,
    pub queued: usize,
    pub capacity: usize,
}

struct Inner {
    tx: Option<mpsc::Sender<Msg>>,
    store: Option<Arc<dyn Store>>,
    counters: Arc<Counters>,
    writer: Mutex<Option<JoinHandle<()>>>,
    /// Streams whose record is not finished yet (shutdown waits for them).
    in_flight: AtomicUsize,
    idle: Notify,
    recent: Recent,
    config: LedgerConfig,
    /// Told of every quality signal as it is queued (the model-aware router learns from it).
    listener: std::sync::OnceLock<FeedbackListener>,
    /// Told of every finished record, recorded or not (the traffic metrics).
    record_listener: std::sync::OnceLock<RecordListener>,
}

/// Called with each finished record, on the caller's thread: must not block.
pub type RecordListener = Arc<dyn Fn(&Record) + Send + Sync>;

/// Called with each quality signal, on the caller's thread: must not block. What it
/// returns (a label the model-aware router learned) is stored with the signal.
pub type FeedbackListener = Arc<dyn Fn(&Feedback) -> Option<super::Label> + Send + Sync>;

/// The ledger as the server sees it: cheap to clone, never blocks the caller.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

/// Held by a task that will still produce a record (a stream in flight).
pub struct Hold {
    inner: Arc<Inner>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if self.inner.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.inner.idle.notify_waiters();
        }
    }
}

impl Ledger {
    /// Open the configured store (migrating it) and start the writer.
    pub async fn open(cfg: &LedgerConfig) -> Result<Ledger> {
        if !cfg.enabled {
            return Ok(Ledger::disabled());
        }
        let store = super::open_store(cfg).await?;
        Ok(Ledger::with_store(store, cfg.clone()))
    }

    /// A ledger writing to `store`. Must be called inside a tokio runtime.
    pub fn with_store(store: Arc<dyn Store>, config: LedgerConfig) -> Ledger {
        let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task = tokio::spawn(run(WriterCtx {
            store: store.clone(),
            rx,
            counters: counters.clone(),
            batch: config.batch_size.max(1),
            retention_days: config.retention_days,
        }));
        Ledger::build(Some(tx), Some(store), counters, Some(task), config)
    }

    /// Records nothing (recording switched off, or a library user without a ledger).
    pub fn disabled() -> Ledger {
        let config = LedgerConfig {
            enabled: false,
            ..LedgerConfig::default()
        };
        Ledger::build(None, None, Arc::default(), None, config)
    }

    fn build(
        tx: Option<mpsc::Sender<Msg>>,
        store: Option<Arc<dyn Store>>,
        counters: Arc<Counters>,
        writer: Option<JoinHandle<()>>,
        config: LedgerConfig,
    ) -> Ledger {
        Ledger {
            inner: Arc::new(Inner {
                tx,
                store,
                counters,
                writer: Mutex::new(writer),
                in_flight: AtomicUsize::new(0),
                idle: Notify::new(),
                recent: Recent::new(config.retry_window_secs),
                config,
                listener: std::sync::OnceLock::new(),
                record_listener: std::sync::OnceLock::new(),
            }),
        }
    }

    pub fn config(&self) -> &LedgerConfig {
        &self.inner.config
    }

    pub fn store(&self) -> Option<&Arc<dyn Store>> {
        self.inner.store.as_ref()
    }

    /// Recently finished requests (feedback lookups, retry detection).
    pub fn recent(&self) -> &Recent {
        &self.inner.recent
    }

    fn send(&self, msg: Msg) -> bool {
        let Some(tx) = &self.inner.tx else {
            return false;
        };
        if tx.try_send(msg).is_err() {
            self.inner.counters.dropped.fetch_add(1, Ordering::Relaxed);
            return false;
        }
        true
    }

    /// Queue a finished record; a retry of an earlier answered conversation also queues a
    /// negative signal against it. Never waits.
    pub fn record(&self, record: Record) {
        if let Some(listen) = self.inner.record_listener.get() {
            listen(&record);
        }
        if self.inner.tx.is_none() {
            return;
        }
        let implicit = self.inner.recent.observe(&record);
        self.send(Msg::Record(Box::new(record)));
        if let Some(f) = implicit {
            tracing::debug!(request_id = %f.request_id, source = f.source.as_str(), "implicit negative feedback");
            self.feedback(f);
        }
    }

    /// Be told of every quality signal from now on (one listener; later calls are ignored).
    pub fn on_feedback(&self, listener: FeedbackListener) {
        let _ = self.inner.listener.set(listener);
    }

    /// Be told of every finished record from now on, whether or not the ledger keeps it
    /// (one listener; later calls are ignored).
    pub fn on_record(&self, listener: RecordListener) {
        let _ = self.inner.record_listener.set(listener);
    }

    /// Queue a finished draft (nothing when it was moved elsewhere). Never waits.
    pub fn finish(&self, draft: super::Draft) {
        if let Some(r) = draft.finish() {
            self.record(r);
        }
    }

    /// Queue a quality signal. Never waits.
    pub fn feedback(&self, f: Feedback) -> bool {
        if let Some(label) = self.inner.listener.get().and_then(|listen| listen(&f)) {
            self.send(Msg::Label(Box::new(label)));
        }
        self.send(Msg::Feedback(f))
    }

    /// Mark a record that will be finished later (a stream); shutdown waits for it.
    pub fn hold(&self) -> Hold {
        self.inner.in_flight.fetch_add(1, Ordering::AcqRel);
        Hold {
            inner: self.inner.clone(),
        }
    }

    /// A record by id: the recent cache first (it may still be queued), then the store.
    pub async fn lookup(&self, request_id: &str) -> Result<Option<Record>> {
        if let Some(r) = self.inner.recent.get(request_id) {
            return Ok(Some(r));
        }
        match &self.inner.store {
            Some(s) => s.lookup(request_id).await,
            None => Ok(None),
        }
    }

    pub fn stats(&self) -> LedgerStats {
        let c = &self.inner.counters;
        let (queued, capacity) = match &self.inner.tx {
            Some(tx) => (tx.max_capacity() - tx.capacity(), tx.max_capacity()),
            None => (0, 0),
        };
        LedgerStats {
            backend: self.inner.store.as_ref().map_or("off", |s| s.backend()),
            written: c.written.load(Ordering::Relaxed),
            feedback_written: c.feedback_written.load(Ordering::Relaxed),
            dropped: c.dropped.load(Ordering::Relaxed),
            write_errors: c.write_errors.load(Ordering::Relaxed),
            pruned: c.pruned.load(Ordering::Relaxed),
            queued,
            capacity,
        }
    }

    /// Wait until everything queued so far is written. Not for the request path.
    pub async fn flush(&self) {
        let Some(tx) = &self.inner.tx else { return };
        let (ack, done) = oneshot::channel();
        if tx.send(Msg::Flush(ack)).await.is_ok() {
            let _ = done.await;
        }
    }

    /// Graceful stop: wait (up to `grace`) for streams still producing records, then
    /// flush. Called after the HTTP server has stopped accepting requests.
    pub async fn shutdown(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let notified = self.inner.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a hold dropped in between still wakes us.
            notified.as_mut().enable();
            if self.inner.in_flight.load(Ordering::Acquire) == 0 {
                break;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                tracing::warn!(
                    streams = self.inner.in_flight.load(Ordering::Acquire),
                    "ledger shutdown: streams still open after the grace period"
                );
                break;
            }
        }
        self.flush().await;
        let s = self.stats();
        tracing::info!(written = s.written, dropped = s.dropped, "ledger flushed");
    }

    /// Stop the writer task (tests, benches): flush, then end it.
    pub async fn close(&self) {
        self.flush().await;
        let task = self.inner.writer.lock().ok().and_then(|mut g| g.take());
        if let Some(t) = task {
            t.abort();
        }
    }
}

struct WriterCtx {
    store: Arc<dyn Store>,
    rx: mpsc::Receiver<Msg>,
    counters: Arc<Counters>,
    batch: usize,
    retention_days: u32,
}

async fn run(mut ctx: WriterCtx) {
    let mut buf: Vec<Msg> = Vec::with_capacity(ctx.batch);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            n = ctx.rx.recv_many(&mut buf, ctx.batch) => {
                if n == 0 {
                    break;
                }
                write(&ctx, std::mem::take(&mut buf)).await;
                buf.reserve(ctx.batch);
                if n < ctx.batch {
                    tokio::time::sleep(LINGER).await;
                }
            }
            _ = prune.tick(), if ctx.retention_days > 0 => prune_old(&ctx).await,
        }
    }
}

async fn write(ctx: &WriterCtx, msgs: Vec<Msg>) {
    let mut batch = Batch::default();
    let mut acks = vec![];
    for m in msgs {
        match m {
            Msg::Record(r) => batch.records.push(*r),
            Msg::Feedback(f) => batch.feedback.push(f),
            Msg::Label(l) => batch.labels.push(*l),
            Msg::Flush(ack) => acks.push(ack),
        }
    }
    if !batch.is_empty() {
        let (records, feedback) = (batch.records.len() as u64, batch.feedback.len() as u64);
        let batch = Arc::new(batch);
        let mut attempt = 0;
        loop {
            match ctx.store.insert(batch.clone()).await {
                Ok(()) => {
                    ctx.counters.written.fetch_add(records, Ordering::Relaxed);
                    ctx.counters
                        .feedback_written
                        .fetch_add(feedback, Ordering::Relaxed);
                    break;
                }
                Err(e) => {
                    ctx.counters.write_errors.fetch_add(1, Ordering::Relaxed);
                    attempt += 1;
                    if attempt >= WRITE_RETRIES {
                        tracing::error!(error = %e, rows = records + feedback, "ledger write failed; rows dropped");
                        ctx.counters
                            .dropped
                            .fetch_add(records + feedback, Ordering::Relaxed);
                        break;
                    }
                    tracing::warn!(error = %e, attempt, "ledger write failed; retrying");
                    tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                }
            }
        }
    }
    for ack in acks {
        let _ = ack.send(());
    }
}

async fn prune_old(ctx: &WriterCtx) {
    let before = super::now_ms() - i64::from(ctx.retention_days) * 86_400_000;
    for _ in 0..PRUNE_BATCHES_PER_TICK {
        match ctx.store.prune(before, PRUNE_BATCH).await {
            Ok(n) => {
                ctx.counters.pruned.fetch_add(n, Ordering::Relaxed);
                if n < PRUNE_BATCH as u64 {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "ledger retention pruning failed");
                break;
            }
        }
    }
}
