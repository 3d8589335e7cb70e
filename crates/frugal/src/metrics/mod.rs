//! Prometheus metrics of the traffic: every finished request record (the one each request
//! leaves, however it ends) updates counters and histograms here, and `/metrics` renders
//! them in the text exposition format beside the ledger's, the judge's and the feedback
//! loop's own gauges (server/feedback.rs). Updating takes one short lock per request;
//! rendering copies the state under the lock and formats outside it, so a scrape never
//! holds up a request for longer than a copy.

mod histogram;
mod render;

use std::collections::BTreeMap;
use std::sync::Mutex;

use rust_decimal::Decimal;

pub use histogram::Histogram;
pub use render::Exposition;

use crate::ledger::Record;

/// The labels a request is counted under.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RequestLabels {
    pub format: String,
    pub decision: String,
    pub tier: String,
    pub model: String,
    pub stage: String,
    pub status: String,
}

/// Everything counted so far (a scrape renders a copy).
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub requests: BTreeMap<RequestLabels, u64>,
    /// (model, "input" | "output" | "cached" | "cache_write") → tokens.
    pub tokens: BTreeMap<(String, &'static str), u64>,
    pub cost_usd: BTreeMap<String, Decimal>,
    pub baseline_cost_usd: BTreeMap<String, Decimal>,
    /// routing, compression, caching → USD (routing net of verification).
    pub savings_usd: [Decimal; 3],
    /// Verified requests by outcome, and what checking cost.
    pub verified: BTreeMap<String, u64>,
    pub verify_cost_usd: Decimal,
    /// (provider, model, status) of each failed upstream attempt.
    pub upstream_failures: BTreeMap<(String, String, String), u64>,
    /// Requests answered after at least one failed attempt.
    pub fallbacks: u64,
    /// Requests that ended in an error, by its kind.
    pub errors: BTreeMap<String, u64>,
    /// Whole-request latency by client format.
    pub latency: BTreeMap<String, Histogram>,
    /// frugal's own time per request (latency minus upstream waiting).
    pub overhead: Histogram,
    /// Time to the first upstream event of streams.
    pub ttft: Histogram,
}

/// The gateway's traffic metrics.
#[derive(Debug, Default)]
pub struct Metrics {
    counts: Mutex<Counts>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Counts> {
        // Plain numbers stay valid whatever a panicking holder did.
        self.counts.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Count one finished request.
    pub fn observe(&self, r: &Record) {
        let labels = RequestLabels {
            format: r.format.clone(),
            decision: r.decision.clone(),
            tier: r.tier.clone().unwrap_or_default(),
            model: r.model.clone().unwrap_or_default(),
            stage: r.stage.clone().unwrap_or_default(),
            status: r.status.to_string(),
        };
        let model = labels.model.clone();
        let mut c = self.lock();
        *c.requests.entry(labels).or_default() += 1;
        for (kind, n) in [
            ("input", r.input_tokens),
            ("output", r.output_tokens),
            ("cached", r.cached_tokens),
            ("cache_write", r.cache_write_tokens),
        ] {
            if n > 0 {
                *c.tokens.entry((model.clone(), kind)).or_default() += n as u64;
            }
        }
        *c.cost_usd.entry(model.clone()).or_default() += r.cost_usd;
        *c.baseline_cost_usd.entry(model).or_default() += r.baseline_cost_usd;
        c.savings_usd[0] += r.savings_routing_usd;
        c.savings_usd[1] += r.savings_compression_usd;
        c.savings_usd[2] += r.savings_caching_usd;
        if let Some(v) = &r.verify {
            *c.verified.entry(v.clone()).or_default() += 1;
            c.verify_cost_usd += r.verify_cost_usd;
        }
        for attempt in r.failed_models.split(';').filter(|a| !a.is_empty()) {
            *c.upstream_failures
                .entry(split_attempt(attempt))
                .or_default() += 1;
        }
        if r.fallback_attempts > 0 && r.error.is_none() {
            c.fallbacks += 1;
        }
        if let Some(e) = &r.error {
            *c.errors.entry(e.clone()).or_default() += 1;
        }
        c.latency
            .entry(r.format.clone())
            .or_default()
            .observe(r.latency_ms / 1e3);
        if let Some(o) = r.overhead_ms {
            c.overhead.observe(o / 1e3);
        }
        if let Some(t) = r.ttft_ms {
            c.ttft.observe(t / 1e3);
        }
    }

    /// A copy of the counts, taken under the lock.
    pub fn snapshot(&self) -> Counts {
        self.lock().clone()
    }
}

/// `provider/model:status` (status `-` when there was no HTTP answer).
fn split_attempt(a: &str) -> (String, String, String) {
    let (who, status) = a.rsplit_once(':').unwrap_or((a, "-"));
    let (provider, model) = who.split_once('/').unwrap_or(("", who));
    (provider.to_string(), model.to_string(), status.to_string())
}

#[cfg(test)]
mod tests;
