//! Building a ledger `Record` along the request path: a `Draft` is started when a request
//! arrives, filled in as the request is parsed, planned and served, priced once usage is
//! known, and handed to the ledger when the answer (or the stream) ends. Costs and the
//! three savings sources are computed here, in exact decimals. Never stores an API key.

use std::time::Duration;

use rust_decimal::Decimal;
use sha2::{Digest, Sha256};

use super::Record;
use crate::caller::Caller;
use crate::config::Config;
use crate::cost::{baseline_cost_usd, cost_usd};
use crate::error::{AttemptError, GatewayError};
use crate::pipeline::{Decision, Plan};
use crate::types::{ChatRequest, Format, StopReason, Usage};

const PER_MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// One model called for a verified request.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifyCall {
    pub model: String,
    /// "answer", "check" or "escalation".
    pub role: &'static str,
    /// Whether this call's answer went to the client.
    pub served: bool,
    /// `None` when the call failed (nothing billed).
    pub usage: Option<Usage>,
    pub latency_ms: f64,
    pub confidence: Option<f64>,
    pub flags: Vec<String>,
    pub error: Option<String>,
}

/// What verifying one request did.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// "trusted", "escalated" or "escalation_failed" (see `Record::verify`).
    pub outcome: &'static str,
    /// Confidence in the first answer.
    pub confidence: Option<f64>,
    /// How much later the answer came than the first model's answer alone.
    pub delay: std::time::Duration,
    pub calls: Vec<VerifyCall>,
}

/// A record under construction. `None` once it has been handed over (see `take`).
#[derive(Debug, Default)]
pub struct Draft {
    record: Option<Box<Record>>,
    started: Option<std::time::Instant>,
}

pub use crate::caller::key_hash;

/// SHA-256 prefix of what the model is asked (system prompt, messages, tools), so that a
/// regenerate of the same conversation is recognised without storing it.
pub fn conversation_hash(req: &ChatRequest) -> String {
    let mut h = Sha256::new();
    // Serialising our own types cannot fail; an empty hash would only miss a retry.
    h.update(serde_json::to_vec(&req.system).unwrap_or_default());
    h.update(serde_json::to_vec(&req.messages).unwrap_or_default());
    h.update(serde_json::to_vec(&req.tools).unwrap_or_default());
    format!("c_{}", crate::hashing::hex(&h.finalize()[..12]))
}

/// A short, secret-free name for what went wrong (by status, so new error variants need
/// no change here).
pub fn error_kind(e: &GatewayError) -> ErrorKind {
    match e {
        GatewayError::AllAttemptsFailed(_) => return ErrorKind::AllUpstreamsFailed,
        GatewayError::UpstreamRejected { .. } => return ErrorKind::UpstreamRejected,
        GatewayError::Limited(r) if r.kind == crate::limits::RefusalKind::Budget => {
            return ErrorKind::BudgetExceeded
        }
        _ => {}
    }
    match e.status().as_u16() {
        400 => ErrorKind::InvalidRequest,
        401 => ErrorKind::Unauthorized,
        403 => ErrorKind::Forbidden,
        404 => ErrorKind::NotFound,
        413 => ErrorKind::PayloadTooLarge,
        422 => ErrorKind::NoCandidate,
        408 => ErrorKind::RequestTimeout,
        429 => ErrorKind::RateLimited,
        503 => ErrorKind::Overloaded,
        500 => ErrorKind::Internal,
        _ => ErrorKind::Other,
    }
}

/// The ledger's `error` column: what went wrong, in the documented words (docs/ledger.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    AllUpstreamsFailed,
    UpstreamRejected,
    InvalidRequest,
    Unauthorized,
    /// The key may not use the model or tier asked for.
    Forbidden,
    NotFound,
    PayloadTooLarge,
    NoCandidate,
    RateLimited,
    /// A key's or project's budget refused the request (docs/keys.md).
    BudgetExceeded,
    RequestTimeout,
    Overloaded,
    Internal,
    Other,
    /// A stream that began and then failed.
    StreamInterrupted,
    /// The client left before its answer (the upstream call was still made).
    ClientDisconnected,
    /// The request's task ended without finishing its record (a panic, a forced shutdown).
    Abandoned,
}

impl ErrorKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::AllUpstreamsFailed => "all_upstreams_failed",
            ErrorKind::UpstreamRejected => "upstream_rejected",
            ErrorKind::InvalidRequest => "invalid_request",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Forbidden => "forbidden",
            ErrorKind::NotFound => "not_found",
            ErrorKind::PayloadTooLarge => "payload_too_large",
            ErrorKind::NoCandidate => "no_candidate",
            ErrorKind::RateLimited => "rate_limited",
            ErrorKind::BudgetExceeded => "budget_exceeded",
            ErrorKind::RequestTimeout => "request_timeout",
            ErrorKind::Overloaded => "overloaded",
            ErrorKind::Internal => "internal",
            ErrorKind::Other => "error",
            ErrorKind::StreamInterrupted => "stream_interrupted",
            ErrorKind::ClientDisconnected => "client_disconnected",
            ErrorKind::Abandoned => "abandoned",
        }
    }
}

fn attempts_text(attempts: &[AttemptError]) -> String {
    attempts
        .iter()
        .map(|a| match a.status {
            Some(s) => format!("{}/{}:{s}", a.provider, a.model),
            None => format!("{}/{}:-", a.provider, a.model),
        })
        .collect::<Vec<_>>()
        .join(";")
}

impl Draft {
    /// Start a record for a request that just arrived.
    pub fn start(request_id: &str, format: Format, caller: &Caller) -> Draft {
        let record = Record {
            request_id: request_id.to_string(),
            ts_ms: super::now_ms(),
            project: caller.project.clone(),
            key_hash: caller.key_hash.clone(),
            session: caller.session_id.clone().unwrap_or_default(),
            format: format.as_str().to_string(),
            decision: "none".into(),
            status: 200,
            ..Default::default()
        };
        Draft {
            record: Some(Box::new(record)),
            started: Some(std::time::Instant::now()),
        }
    }

    /// Move the record out (to a stream's completion task), leaving an empty draft behind.
    pub fn take(&mut self) -> Draft {
        std::mem::take(self)
    }

    pub fn is_empty(&self) -> bool {
        self.record.is_none()
    }

    fn with(&mut self, f: impl FnOnce(&mut Record)) {
        if let Some(r) = self.record.as_deref_mut() {
            f(r);
        }
    }

    /// The parsed request: requested model, session fallback, conversation hash and (opt-in)
    /// the conversation itself.
    pub fn request(&mut self, req: &ChatRequest, store_prompts: bool) {
        self.with(|r| {
            r.requested_model = req.model.chars().take(200).collect();
            r.stream = req.stream;
            if r.session.is_empty() {
                r.session = req.user.clone().unwrap_or_default();
            }
            r.conversation_hash = conversation_hash(req);
            if store_prompts {
                // A pasted provider key is removed here too: the ledger never holds one.
                r.prompt = serde_json::to_string(&serde_json::json!({
                    "system": req.system, "messages": req.messages,
                }))
                .ok()
                .map(|p| crate::secrets::redact(&p));
            }
        });
    }

    pub fn plan(&mut self, plan: &Plan) {
        self.with(|r| {
            r.decision = match plan.decision {
                Decision::Routed => "routed",
                Decision::Explicit => "explicit",
                Decision::RoutingOff => "routing_off",
            }
            .into();
            r.tier = Some(plan.tier.as_str().to_string());
            if let Some(c) = &plan.classification {
                r.score = Some(c.score);
                r.confidence = Some(c.confidence);
                r.stage = Some(c.stage.to_string());
            }
            r.model = plan.candidates.first().map(|c| c.model.clone());
        });
    }

    /// Set the decision and model directly (tests, simulation).
    pub fn plan_for_tests(&mut self, decision: &str, model: &str) {
        self.with(|r| {
            r.decision = decision.to_string();
            r.model = Some(model.to_string());
        });
    }

    /// Which model answered, after which failed attempts.
    pub fn served(&mut self, model: &str, failed: &[AttemptError]) {
        self.with(|r| {
            r.model = Some(model.to_string());
            r.fallback_attempts = failed.len() as i64;
            r.failed_models = attempts_text(failed);
        });
    }

    /// Prompt tokens compression removed (from the compression report, when wired).
    pub fn compression(&mut self, tokens_saved: u64) {
        self.with(|r| r.compression_tokens_saved = tokens_saved as i64);
    }

    /// The request's cost, baseline cost and savings, once `usage` has priced the record.
    pub fn meter(&self) -> Option<Meter> {
        let r = self.record.as_deref()?;
        r.baseline_model.as_ref()?;
        Some(Meter {
            cost: r.cost_usd,
            baseline_cost: r.baseline_cost_usd,
            savings: [
                r.savings_routing_usd,
                r.savings_caching_usd,
                r.savings_compression_usd,
            ],
        })
    }

    /// The client went away before its answer; the upstream call was still made and billed.
    pub fn client_disconnected(&mut self) {
        self.with(|r| {
            r.status = 499;
            r.error = Some(ErrorKind::ClientDisconnected.as_str().to_string());
        });
    }

    /// Price the usage: cost on the model that answered, baseline cost, savings by source.
    pub fn usage(&mut self, cfg: &Config, usage: &Usage) {
        self.with(|r| price(r, cfg, usage));
    }

    /// A verified request's calls, after `usage` priced the served one: the others (checks,
    /// answers thrown away) are added to the cost and taken from the routing savings — a
    /// discarded cheap answer is a cost, never a saving.
    pub fn verification(&mut self, cfg: &Config, v: &Verification) {
        let calls: Vec<serde_json::Value> = v
            .calls
            .iter()
            .map(|c| {
                let cost = c
                    .usage
                    .as_ref()
                    .and_then(|u| cfg.model(&c.model).map(|m| cost_usd(&m.prices, u)))
                    .unwrap_or_default();
                (c, cost)
            })
            .map(|(c, cost)| {
                serde_json::json!({
                    "model": c.model,
                    "role": c.role,
                    "served": c.served,
                    "input_tokens": c.usage.map_or(0, |u| u.input_tokens),
                    "output_tokens": c.usage.map_or(0, |u| u.output_tokens),
                    "cost_usd": cost.normalize().to_string(),
                    "latency_ms": c.latency_ms,
                    "confidence": c.confidence,
                    "flags": c.flags,
                    "error": c.error,
                })
            })
            .collect();
        let extra: Decimal = v
            .calls
            .iter()
            .filter(|c| !c.served)
            .filter_map(|c| Some(cost_usd(&cfg.model(&c.model)?.prices, c.usage.as_ref()?)))
            .sum();
        self.with(|r| {
            r.verify = Some(v.outcome.to_string());
            r.verify_confidence = v.confidence;
            r.verify_delay_ms = Some(v.delay.as_secs_f64() * 1e3);
            r.verify_cost_usd = extra;
            r.cost_usd += extra;
            r.savings_routing_usd -= extra;
            r.calls = serde_json::to_string(&calls).ok();
        });
    }

    /// A verified request whose answer was not checked (see `Record::verify`).
    pub fn unverified(&mut self, outcome: &str) {
        self.with(|r| r.verify = Some(outcome.to_string()));
    }

    /// frugal's own time on this request (latency minus upstream waiting).
    pub fn overhead(&mut self, overhead: std::time::Duration) {
        self.with(|r| r.overhead_ms = Some(overhead.as_secs_f64() * 1e3));
    }

    /// Time to the first upstream event of a stream.
    pub fn ttft(&mut self, ttft: std::time::Duration) {
        self.with(|r| r.ttft_ms = Some(ttft.as_secs_f64() * 1e3));
    }

    /// The request failed with `e` (returned to the client as its status).
    pub fn error(&mut self, e: &GatewayError) {
        self.with(|r| {
            r.status = i64::from(e.status().as_u16());
            r.error = Some(error_kind(e).as_str().to_string());
            if let GatewayError::AllAttemptsFailed(a) = e {
                r.fallback_attempts = a.len() as i64;
                r.failed_models = attempts_text(a);
            }
        });
    }

    /// A stream that began and then failed (the client already got its 200).
    pub fn stream_error(&mut self, message: &str) {
        let kind = if message.contains("client disconnected") {
            ErrorKind::ClientDisconnected
        } else {
            ErrorKind::StreamInterrupted
        };
        self.with(|r| r.error = Some(kind.as_str().to_string()));
    }

    /// The finished record (latency measured now), or `None` when it was taken.
    pub fn finish(mut self) -> Option<Record> {
        let started = self.started;
        let mut r = *self.record.take()?;
        if let Some(s) = started {
            r.latency_ms = s.elapsed().as_secs_f64() * 1e3;
        }
        Some(r)
    }
}

/// A request's record on its way to the ledger, written however the request ends: by
/// `finish` / `finish_stream`, or, when the request's task is torn down first (a panic, a
/// shutdown), by `Drop` with the request marked abandoned. Graceful shutdown waits for it.
pub struct Metered {
    draft: Draft,
    ledger: super::Ledger,
    _hold: super::writer::Hold,
    /// Told of the finished record before it is queued (limits settle their reservations).
    hooks: Vec<Box<dyn OnFinish>>,
}

/// Something that must learn how a request ended, whichever way it ends (limits: a
/// budget reservation settled with the actual cost, a concurrency slot released).
pub trait OnFinish: Send {
    fn finished(self: Box<Self>, record: &Record);
}

impl Metered {
    pub fn new(ledger: &super::Ledger, draft: Draft) -> Metered {
        Metered {
            draft,
            _hold: ledger.hold(),
            ledger: ledger.clone(),
            hooks: vec![],
        }
    }

    /// Call `hook` with the finished record (it moves with the record to a stream's task).
    pub fn on_finish(&mut self, hook: Box<dyn OnFinish>) {
        self.hooks.push(hook);
    }

    /// Hand the finished record to the hooks, then to the ledger.
    fn write(&mut self) {
        let hooks = std::mem::take(&mut self.hooks);
        let Some(record) = self.draft.take().finish() else {
            return;
        };
        for h in hooks {
            h.finished(&record);
        }
        self.ledger.record(record);
    }

    pub fn draft(&mut self) -> &mut Draft {
        &mut self.draft
    }

    /// Move the record to another task (a stream's), leaving nothing to write here.
    pub fn hand_over(&mut self) -> Metered {
        let mut moved = Metered::new(&self.ledger, self.draft.take());
        moved.hooks = std::mem::take(&mut self.hooks);
        moved
    }

    /// Write the record now.
    pub fn finish(mut self) {
        self.write();
    }

    /// A stream ended (`None`: its relay vanished without reporting); price and write it.
    pub fn finish_stream(mut self, cfg: &Config, outcome: Option<&StreamOutcome>) {
        match outcome {
            Some(o) => {
                self.draft.usage(cfg, &o.usage);
                self.draft.ttft(o.time_to_first_event);
                if let Some(e) = &o.error {
                    self.draft.stream_error(e);
                }
            }
            None => self.draft.stream_error("stream outcome lost"),
        }
        self.finish();
    }
}

impl Drop for Metered {
    fn drop(&mut self) {
        if !self.draft.is_empty() {
            self.draft.with(|r| {
                if r.error.is_none() {
                    r.error = Some(ErrorKind::Abandoned.as_str().to_string());
                }
            });
            self.write();
        }
    }
}

/// What one request cost, computed once from its priced record: the answer headers, the
/// ledger row and the report all read these same numbers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Meter {
    pub cost: Decimal,
    pub baseline_cost: Decimal,
    /// Savings by source: routing, caching, compression.
    pub savings: [Decimal; 3],
}

/// Cost and savings of `usage` on the record's model.
///
/// - caching: what the model would have cost without prompt caching, minus the actual cost;
/// - routing: the baseline model (uncached) minus the model (uncached); 0 for a request
///   that named its model or had routing off (frugal chose nothing, so the baseline is
///   the model itself);
/// - compression: the prompt tokens compression removed, at the baseline's input price
///   (they were never sent, so the baseline cost counts them back in).
fn price(r: &mut Record, cfg: &Config, usage: &Usage) {
    r.input_tokens = usage.input_tokens as i64;
    r.output_tokens = usage.output_tokens as i64;
    r.cached_tokens = usage.cache_read_tokens as i64;
    r.cache_write_tokens = usage.cache_write_tokens as i64;
    let Some(model) = r.model.as_deref().and_then(|m| cfg.model(m)) else {
        return;
    };
    let cost = cost_usd(&model.prices, usage);
    let uncached = baseline_cost_usd(&model.prices, usage);
    let baseline = match (r.decision.as_str(), cfg.baseline_model()) {
        ("routed", Some(b)) => b,
        _ => model,
    };
    let compressed = Decimal::from(r.compression_tokens_saved.max(0));
    r.savings_compression_usd = compressed * baseline.prices.input / PER_MILLION;
    r.cost_usd = cost;
    r.savings_caching_usd = uncached - cost;
    r.savings_routing_usd = baseline_cost_usd(&baseline.prices, usage) - uncached;
    r.baseline_cost_usd = baseline_cost_usd(&baseline.prices, usage) + r.savings_compression_usd;
    r.baseline_model = Some(baseline.name.clone());
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn key_is_hashed_never_kept() {
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "authorization",
            HeaderValue::from_static("Bearer sk-live-SECRET"),
        );
        h.insert("x-frugal-project", HeaderValue::from_static("billing"));
        let cfg = Config::load(None, &crate::config::ProcessEnv).expect("built-in config");
        let keys = crate::limits::KeyRegistry::from_config(&cfg);
        let d = Draft::start("frg_1", Format::OpenAi, &Caller::identify(&h, &keys));
        let r = d.finish().expect("record");
        assert_eq!(r.project, "billing");
        assert!(r.key_hash.starts_with("k_") && r.key_hash.len() == 14);
        assert!(!format!("{r:?}").contains("SECRET"));
        assert_eq!(r.key_hash, key_hash("sk-live-SECRET"));
    }

    #[test]
    fn conversation_hash_ignores_model_and_sampling() {
        let mut a = ChatRequest {
            messages: vec![crate::types::Message {
                role: crate::types::Role::User,
                content: vec![crate::types::Part::text("hi")],
            }],
            ..Default::default()
        };
        let h1 = conversation_hash(&a);
        a.model = "gpt-x".into();
        a.temperature = Some(0.3);
        assert_eq!(conversation_hash(&a), h1);
        a.messages[0].content = vec![crate::types::Part::text("hi!")];
        assert_ne!(conversation_hash(&a), h1);
    }

    #[test]
    fn taken_draft_finishes_empty() {
        let mut d = Draft::start("frg_2", Format::Anthropic, &Caller::default());
        let moved = d.take();
        assert!(d.is_empty() && d.finish().is_none());
        assert_eq!(moved.finish().map(|r| r.format), Some("anthropic".into()));
    }
}

/// How a stream ended, reported once the relay finishes (for metering).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StreamOutcome {
    pub usage: Usage,
    pub stop_reason: Option<StopReason>,
    /// True when the upstream ended the stream normally.
    pub completed: bool,
    /// What went wrong, when it did (secret-free).
    pub error: Option<String>,
    /// Time from sending the request to the first upstream event.
    pub time_to_first_event: Duration,
}
