//! Gateway keys, budgets and rate limits (docs/keys.md), enforced before a request is
//! forwarded. Two calls on the request path: `admit` (the global concurrency limit and
//! the key's requests per minute, in memory, before the body is read) and `reserve`
//! (allowed models and tiers, tokens per minute, then the budget reservation: one atomic
//! conditional statement per counter in the shared database). What they hand back is
//! attached to the request's ledger guard, which settles it with the actual cost when
//! the answer or stream ends, however it ends.

pub mod budget;
pub mod cli;
pub mod keys;
pub mod rate;
pub mod store;
mod store_pg;
mod store_sqlite;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

use crate::caller::Caller;
use crate::config::Config;
use crate::error::{GatewayError, Result};
use crate::ledger::{OnFinish, Record};
use crate::pipeline::Plan;
use crate::types::ChatRequest;
pub use keys::{Budgets, KeyPolicy, KeyRegistry, Rules};
use rate::{Measure, RateLimiter};
use store::{Hold, LimitStore, Settle};

/// `[limits]` and `[projects.*]`.
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsConfig {
    /// Chat requests in flight at once; 0 means no limit.
    pub max_concurrent_requests: usize,
    pub key_refresh: Duration,
    pub rate_sync: Duration,
    pub budget_warn_share: f64,
    pub projects: BTreeMap<String, Budgets>,
}

impl Default for LimitsConfig {
    fn default() -> LimitsConfig {
        LimitsConfig {
            max_concurrent_requests: 1024,
            key_refresh: Duration::from_secs(2),
            rate_sync: Duration::from_millis(250),
            budget_warn_share: 0.8,
            projects: BTreeMap::new(),
        }
    }
}

/// Which limit refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    Budget,
    Rate,
    Concurrency,
}

/// A request refused by a limit: 429 in the client's format (see `GatewayError::Limited`).
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub message: String,
    /// `retry-after`; none for a total budget, which never resets.
    pub retry_after_secs: Option<u64>,
}

impl Refusal {
    /// The OpenAI `error.code`.
    pub fn code(&self) -> &'static str {
        match self.kind {
            RefusalKind::Budget => "budget_exceeded",
            RefusalKind::Rate => "rate_limit_exceeded",
            RefusalKind::Concurrency => "concurrency_limit_exceeded",
        }
    }

    /// Whether an SDK should retry by itself: not for a budget, which resets in hours.
    pub fn retryable(&self) -> bool {
        self.kind != RefusalKind::Budget
    }
}

fn refuse(kind: RefusalKind, message: String, retry_after_secs: Option<u64>) -> GatewayError {
    GatewayError::Limited(Box::new(Refusal {
        kind,
        message,
        retry_after_secs,
    }))
}

/// Settlements still being written (graceful shutdown waits for them).
#[derive(Default)]
struct InFlight {
    count: AtomicUsize,
    idle: Notify,
}

/// The gateway's limits, shared by all requests.
pub struct Limits {
    config: LimitsConfig,
    keys: KeyRegistry,
    store: Option<Arc<dyn LimitStore>>,
    rates: Arc<RateLimiter>,
    concurrency: Option<Arc<Semaphore>>,
    settling: Arc<InFlight>,
}

impl Limits {
    /// Limits from the configuration; `store` holds database keys and shared counters
    /// (without it, keys come from the configuration only and rates are per replica).
    pub fn new(config: &Config, store: Option<Arc<dyn LimitStore>>) -> Limits {
        let max = config.limits.max_concurrent_requests;
        Limits {
            config: config.limits.clone(),
            keys: KeyRegistry::from_config(config),
            store,
            rates: Arc::new(RateLimiter::default()),
            concurrency: (max > 0).then(|| Arc::new(Semaphore::new(max))),
            settling: Arc::default(),
        }
    }

    pub fn keys(&self) -> &KeyRegistry {
        &self.keys
    }

    pub fn store(&self) -> Option<&Arc<dyn LimitStore>> {
        self.store.as_ref()
    }

    /// Read the database's keys now (before the first request).
    pub async fn load_keys(&self) -> anyhow::Result<usize> {
        let Some(store) = &self.store else {
            return Ok(0);
        };
        let stored = store.keys().await?;
        self.keys.replace_stored(&stored);
        Ok(stored.iter().filter(|k| k.disabled_ms.is_none()).count())
    }

    /// The key refresh and rate sync loops (stopped by aborting the handles).
    pub fn spawn(self: &Arc<Self>) -> Vec<JoinHandle<()>> {
        let Some(store) = self.store.clone() else {
            return vec![];
        };
        let me = self.clone();
        let refresh = tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.config.key_refresh);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = me.load_keys().await {
                    tracing::warn!(
                        error = format!("{e:#}"),
                        "cannot re-read keys; keeping the known ones"
                    );
                }
            }
        });
        let me = self.clone();
        let sync = tokio::spawn(async move {
            let mut tick = tokio::time::interval(me.config.rate_sync);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                // No key with a rate limit: nothing to share, no query.
                if me.keys.has_rate_limits() {
                    sync_rates(&me.rates, store.as_ref()).await;
                }
            }
        });
        vec![refresh, sync]
    }

    /// Before the body is read: a slot under the concurrency limit and, for a key with a
    /// request rate, one request of it. In memory only.
    pub fn admit(&self, caller: &Caller) -> Result<Admission> {
        let permit = match &self.concurrency {
            Some(s) => Some(s.clone().try_acquire_owned().map_err(|_| {
                refuse(
                    RefusalKind::Concurrency,
                    format!(
                        "the gateway is at its limit of {} concurrent requests (limits.max_concurrent_requests); retry shortly",
                        self.config.max_concurrent_requests
                    ),
                    Some(1),
                )
            })?),
            None => None,
        };
        if let Some(k) = &caller.key {
            if let Some(rpm) = k.rules.requests_per_min {
                self.rates
                    .take(&k.name, Measure::Requests, 1, rpm, crate::ledger::now_ms())
                    .map_err(|e| rate_refusal(&k.name, &e))?;
            }
        }
        Ok(Admission { _permit: permit })
    }

    /// Once the request is planned and before it is forwarded: the key's allowed models
    /// and tiers (candidates of other tiers are dropped from `plan`), its tokens per
    /// minute, and the reservation on every budget of the key and the project.
    pub async fn reserve(
        &self,
        config: &Config,
        caller: &Caller,
        req: &ChatRequest,
        plan: &mut Plan,
    ) -> Result<Grant> {
        let now = crate::ledger::now_ms();
        let output_bound = req.max_tokens.map_or(plan.est_output_tokens, u64::from);
        let est_tokens = plan.est_input_tokens.saturating_add(output_bound);
        let mut grant = Grant {
            settle: None,
            rates: None,
            warning: None,
        };
        let mut scopes = vec![];
        if let Some(k) = &caller.key {
            allowed(k, req, plan)?;
            if let Some(tpm) = k.rules.tokens_per_min {
                self.rates
                    .take(&k.name, Measure::Tokens, est_tokens, tpm, now)
                    .map_err(|e| rate_refusal(&k.name, &e))?;
                grant.rates = Some(TokenCount {
                    rates: self.rates.clone(),
                    key: k.name.clone(),
                    minute: now.div_euclid(60_000),
                    estimated: est_tokens,
                });
            }
            if !k.rules.budget.is_empty() {
                scopes.push(budget::Scope::key(&k.name, k.rules.budget));
            }
        }
        if let Some(b) = self.config.projects.get(&caller.project) {
            if !b.is_empty() {
                scopes.push(budget::Scope::project(&caller.project, *b));
            }
        }
        if scopes.is_empty() {
            return Ok(grant);
        }
        let amount = budget::to_nanos(reservation_usd(config, plan, output_bound));
        let holds = budget::holds(&scopes, amount, now);
        match self.reserve_budget(holds, now).await {
            Ok(settle) => {
                grant.warning = settle.1;
                grant.settle = Some(settle.0);
                Ok(grant)
            }
            Err(e) => {
                // Refused: the tokens it was counted for were never used.
                if let Some(t) = &grant.rates {
                    let back = i64::try_from(t.estimated).unwrap_or(i64::MAX);
                    t.rates.adjust_tokens(&t.key, t.minute, -back);
                }
                Err(e)
            }
        }
    }

    /// The atomic reservation on every counter, or the refusal naming the budget.
    async fn reserve_budget(
        &self,
        holds: Vec<Hold>,
        now: i64,
    ) -> Result<(Reservation, Option<String>)> {
        let Some(store) = &self.store else {
            return Err(GatewayError::Internal(
                "budgets are configured but the ledger database is not open".into(),
            ));
        };
        let used = match store.reserve(holds.clone()).await {
            Ok(Ok(used)) => used,
            Ok(Err(i)) => {
                let Some(hold) = holds.get(i) else {
                    return Err(GatewayError::Internal(format!(
                        "the budget store refused counter {i} of {}",
                        holds.len()
                    )));
                };
                let counters = store
                    .counters(vec![(hold.scope.clone(), hold.win.clone())])
                    .await
                    .ok();
                let used =
                    counters.and_then(|c| c.first().map(|c| c.spent_nanos + c.reserved_nanos));
                let (message, wait) = budget::refusal(hold, used, now);
                return Err(refuse(RefusalKind::Budget, message, wait));
            }
            Err(e) => {
                tracing::error!(error = format!("{e:#}"), "budget reservation failed");
                return Err(GatewayError::Overloaded(
                    "the budget store cannot be reached, so this budgeted request was not sent; retry shortly".into(),
                ));
            }
        };
        let warning = budget::warning(&holds, &used, self.config.budget_warn_share);
        self.settling.count.fetch_add(1, Ordering::AcqRel);
        let reservation = Reservation {
            store: store.clone(),
            holds,
            settling: self.settling.clone(),
        };
        Ok((reservation, warning))
    }

    /// Wait (up to `grace`) until every settlement is written.
    pub async fn shutdown(&self, grace: Duration) {
        let wait = async {
            loop {
                let idle = self.settling.idle.notified();
                if self.settling.count.load(Ordering::Acquire) == 0 {
                    return;
                }
                idle.await;
            }
        };
        if tokio::time::timeout(grace, wait).await.is_err() {
            tracing::error!(
                pending = self.settling.count.load(Ordering::Acquire),
                "budget settlements still unwritten at shutdown"
            );
        }
        // The last counts go to the other replicas too.
        if let Some(store) = &self.store {
            sync_rates(&self.rates, store.as_ref()).await;
        }
    }
}

/// The most the request may cost: the dearest candidate the plan may try, with the
/// prompt at the higher of the input and cache-write prices and the output at the
/// client's `max_tokens` when it set one (else the plan's expected length).
fn reservation_usd(config: &Config, plan: &Plan, output_tokens: u64) -> Decimal {
    let per_million = Decimal::from(1_000_000u32);
    plan.candidates
        .iter()
        .map(|c| match config.model(&c.model) {
            Some(m) => {
                let input = m.prices.input.max(m.prices.cache_write);
                (Decimal::from(plan.est_input_tokens) * input
                    + Decimal::from(output_tokens) * m.prices.output)
                    / per_million
            }
            None => c.est_cost_usd,
        })
        .max()
        .unwrap_or_default()
}

fn allowed(k: &KeyPolicy, req: &ChatRequest, plan: &mut Plan) -> Result<()> {
    let r = &k.rules;
    if !r.models.is_empty() && !r.models.contains(&req.model) {
        return Err(GatewayError::Forbidden(format!(
            "key `{}` may not use model `{}` (allowed: {})",
            k.name,
            req.model,
            r.models.join(", ")
        )));
    }
    if !r.tiers.is_empty() {
        plan.candidates.retain(|c| r.tiers.contains(&c.tier));
        let Some(first) = plan.candidates.first() else {
            let tiers: Vec<&str> = r.tiers.iter().map(|t| t.as_str()).collect();
            return Err(GatewayError::Forbidden(format!(
                "key `{}` may only use models of the tiers {}, and none of them can serve this request",
                k.name,
                tiers.join(", ")
            )));
        };
        if !r.tiers.contains(&plan.tier) {
            plan.tier = first.tier;
        }
    }
    Ok(())
}

fn rate_refusal(key: &str, e: &rate::Exceeded) -> GatewayError {
    let what = match e.measure {
        Measure::Requests => "requests per minute",
        Measure::Tokens => "tokens per minute",
    };
    refuse(
        RefusalKind::Rate,
        format!(
            "rate limit exceeded: key `{key}` is limited to {} {what}; retry in {} s",
            e.limit, e.retry_after_secs
        ),
        Some(e.retry_after_secs),
    )
}

async fn sync_rates(rates: &RateLimiter, store: &dyn LimitStore) {
    let deltas = rates.take_pending();
    let now = crate::ledger::now_ms();
    match store.rate_sync(deltas, now.div_euclid(60_000) - 1).await {
        Ok(totals) => rates.apply_sync(Some(totals), now),
        Err(e) => {
            tracing::warn!(
                error = format!("{e:#}"),
                "rate counters not shared this time"
            );
            rates.apply_sync(None, now);
        }
    }
}

/// A slot under the concurrency limit, released when the request's record is finished.
pub struct Admission {
    _permit: Option<OwnedSemaphorePermit>,
}

impl OnFinish for Admission {
    fn finished(self: Box<Self>, _: &Record) {}
}

/// What `reserve` granted: a budget reservation and a token count to settle with the
/// actual usage, and the soft-limit warning for the answer's headers.
pub struct Grant {
    settle: Option<Reservation>,
    rates: Option<TokenCount>,
    pub warning: Option<String>,
}

struct TokenCount {
    rates: Arc<RateLimiter>,
    key: String,
    minute: i64,
    estimated: u64,
}

struct Reservation {
    store: Arc<dyn LimitStore>,
    holds: Vec<Hold>,
    settling: Arc<InFlight>,
}

/// Attempts at writing a settlement before it is given up (and logged).
const SETTLE_TRIES: u32 = 5;

impl Reservation {
    fn settle(self, cost: Decimal) {
        let spent = budget::to_nanos(cost.max(Decimal::ZERO));
        let settles: Vec<Settle> = self
            .holds
            .iter()
            .map(|h| Settle {
                scope: h.scope.clone(),
                win: h.win.clone(),
                reserved_nanos: h.amount_nanos,
                spent_nanos: spent,
            })
            .collect();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            tracing::error!("no runtime to settle a budget reservation on");
            self.done();
            return;
        };
        rt.spawn(async move {
            for attempt in 1..=SETTLE_TRIES {
                match self.store.settle(settles.clone()).await {
                    Ok(()) => break,
                    Err(e) if attempt == SETTLE_TRIES => {
                        tracing::error!(error = format!("{e:#}"), "budget settlement lost");
                    }
                    Err(e) => {
                        tracing::warn!(
                            error = format!("{e:#}"),
                            attempt,
                            "budget settlement failed; retrying"
                        );
                        tokio::time::sleep(Duration::from_millis(100 << attempt)).await;
                    }
                }
            }
            self.done();
        });
    }

    fn done(&self) {
        if self.settling.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.settling.idle.notify_waiters();
        }
    }
}

impl OnFinish for Grant {
    /// The actual cost is the ledger row's: spend counters and the ledger agree.
    fn finished(self: Box<Self>, record: &Record) {
        if let Some(t) = &self.rates {
            let actual = (record.input_tokens.max(0) + record.output_tokens.max(0)) as u64;
            let delta = i64::try_from(actual).unwrap_or(i64::MAX)
                - i64::try_from(t.estimated).unwrap_or(i64::MAX);
            t.rates.adjust_tokens(&t.key, t.minute, delta);
        }
        if let Some(r) = self.settle {
            r.settle(record.cost_usd);
        }
    }
}

#[cfg(test)]
mod tests;
