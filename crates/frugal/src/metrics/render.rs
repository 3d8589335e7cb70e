//! The Prometheus text exposition format (version 0.0.4): one `# HELP` / `# TYPE` per
//! family, then its samples, label values escaped.

use std::fmt::Write;

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::{Counts, Histogram};

/// A page of metric families under construction.
#[derive(Debug, Default)]
pub struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: `kind` is "counter", "gauge" or "histogram".
    pub fn family(&mut self, name: &str, kind: &str, help: &str) -> &mut Self {
        let _ = write!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}\n");
        self
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                let _ = write!(self.text, "{k}=\"{}\"", escape(v));
            }
            self.text.push('}');
        }
        let _ = writeln!(self.text, " {}", number(value));
        self
    }

    /// A family with a single unlabelled sample.
    pub fn single(&mut self, name: &str, kind: &str, help: &str, value: f64) -> &mut Self {
        self.family(name, kind, help).sample(name, &[], value)
    }

    /// The samples of one histogram (`_bucket`, `_sum`, `_count`) under `labels`.
    pub fn histogram(&mut self, name: &str, labels: &[(&str, &str)], h: &Histogram) -> &mut Self {
        let bucket = format!("{name}_bucket");
        for (le, n) in h.cumulative() {
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, n as f64);
        }
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count as f64)
    }

    pub fn finish(self) -> String {
        self.text
    }

    /// The traffic families of `c`.
    pub fn traffic(&mut self, c: &Counts) -> &mut Self {
        self.family(
            "frugal_requests_total",
            "counter",
            "Requests by client format, routing decision, tier, model, classifier stage and HTTP status.",
        );
        for (l, n) in &c.requests {
            let labels = [
                ("format", l.format.as_str()),
                ("decision", l.decision.as_str()),
                ("tier", l.tier.as_str()),
                ("model", l.model.as_str()),
                ("stage", l.stage.as_str()),
                ("status", l.status.as_str()),
            ];
            self.sample("frugal_requests_total", &labels, *n as f64);
        }
        self.family(
            "frugal_tokens_total",
            "counter",
            "Tokens by model and kind (input includes cached and cache writes).",
        );
        for ((model, kind), n) in &c.tokens {
            self.sample(
                "frugal_tokens_total",
                &[("model", model), ("kind", kind)],
                *n as f64,
            );
        }
        self.family(
            "frugal_cost_usd_total",
            "counter",
            "What the answering models cost, by model (verification calls included).",
        );
        for (model, usd) in &c.cost_usd {
            self.sample("frugal_cost_usd_total", &[("model", model)], usd_f64(*usd));
        }
        self.family(
            "frugal_baseline_cost_usd_total",
            "counter",
            "What the baseline model would have cost for the same requests, by answering model.",
        );
        for (model, usd) in &c.baseline_cost_usd {
            self.sample(
                "frugal_baseline_cost_usd_total",
                &[("model", model)],
                usd_f64(*usd),
            );
        }
        self.family(
            "frugal_savings_usd_total",
            "counter",
            "Savings against the baseline by source (routing is net of verification).",
        );
        for (source, usd) in ["routing", "compression", "caching"]
            .iter()
            .zip(c.savings_usd)
        {
            self.sample(
                "frugal_savings_usd_total",
                &[("source", source)],
                usd_f64(usd),
            );
        }
        self.family("frugal_verified_requests_total", "counter", "Verified requests by outcome (trusted, escalated, escalation_failed, unchecked, skipped).");
        for (outcome, n) in &c.verified {
            self.sample(
                "frugal_verified_requests_total",
                &[("outcome", outcome)],
                *n as f64,
            );
        }
        self.single(
            "frugal_verification_cost_usd_total",
            "counter",
            "What checks and thrown-away answers cost (in frugal_cost_usd_total too).",
            usd_f64(c.verify_cost_usd),
        );
        self.family(
            "frugal_upstream_failures_total",
            "counter",
            "Failed upstream attempts by provider, model and HTTP status (- for none).",
        );
        for ((provider, model, status), n) in &c.upstream_failures {
            let labels = [
                ("provider", provider.as_str()),
                ("model", model.as_str()),
                ("status", status.as_str()),
            ];
            self.sample("frugal_upstream_failures_total", &labels, *n as f64);
        }
        self.single(
            "frugal_fallbacks_total",
            "counter",
            "Requests answered by a later candidate after earlier ones failed.",
            c.fallbacks as f64,
        );
        self.family(
            "frugal_request_errors_total",
            "counter",
            "Requests that ended in an error, by kind.",
        );
        for (kind, n) in &c.errors {
            self.sample("frugal_request_errors_total", &[("kind", kind)], *n as f64);
        }
        self.family("frugal_request_duration_seconds", "histogram", "Whole-request latency as the client saw it (streams: to the last event), by client format.");
        for (format, h) in &c.latency {
            self.histogram("frugal_request_duration_seconds", &[("format", format)], h);
        }
        self.family("frugal_overhead_seconds", "histogram", "frugal's own time per request: latency minus time waiting on upstreams (to the first event for streams).");
        self.histogram("frugal_overhead_seconds", &[], &c.overhead);
        self.family(
            "frugal_time_to_first_token_seconds",
            "histogram",
            "Streams: time to the first upstream event.",
        );
        self.histogram("frugal_time_to_first_token_seconds", &[], &c.ttft)
    }
}

fn usd_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// Prometheus number syntax (integers without a fraction, NaN and infinities spelled out).
fn number(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        v.to_string()
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}
