//! Decisions in words: a recorded request (what the ledger row says happened and why) and
//! a playground plan (the same lines `frugal route` prints). No prompt text: the row's
//! fields are enough to tell the story.

use crate::config::Config;
use crate::cost::format_usd;
use crate::ledger::Record;
use crate::pipeline::Plan;

/// What happened to one recorded request, one sentence a line.
pub fn record(r: &Record) -> Vec<String> {
    let mut out = vec![];
    let tier = r.tier.as_deref().unwrap_or("-");
    match r.decision.as_str() {
        "routed" => {
            let mut line = format!("Routed `{}`: ", r.requested_model);
            match (r.stage.as_deref(), r.score) {
                (Some(stage), Some(score)) => line.push_str(&format!(
                    "the classifier's {stage} stage scored {score:.3}{} → tier {tier}.",
                    r.confidence
                        .map(|c| format!(" (confidence {c:.2})"))
                        .unwrap_or_default()
                )),
                _ => line.push_str(&format!("placed in tier {tier}.")),
            }
            out.push(line);
        }
        "explicit" => out.push(format!(
            "The client named `{}`: frugal never replaces a model the caller chose.",
            r.requested_model
        )),
        "routing_off" => out.push(format!(
            "Routing was off for `{}` (x-frugal-route: off): the baseline served it.",
            r.requested_model
        )),
        _ => out.push(format!(
            "The request failed before a plan was made ({}).",
            r.error.as_deref().unwrap_or("no error kind recorded")
        )),
    }
    if let Some(model) = &r.model {
        let mut line = format!("Answered by {model}");
        if r.fallback_attempts > 0 {
            line.push_str(&format!(
                " after {} failed attempt(s): {}",
                r.fallback_attempts,
                r.failed_models.replace(';', ", ")
            ));
        }
        line.push('.');
        out.push(line);
    }
    if r.status != 200 || r.error.is_some() {
        out.push(format!(
            "Status {}{}.",
            r.status,
            r.error
                .as_deref()
                .map(|e| format!(", error `{e}`"))
                .unwrap_or_default()
        ));
    }
    let baseline = r.baseline_model.as_deref().unwrap_or("the baseline");
    out.push(format!(
        "Cost ${} against ${} on {baseline}: saved ${} (routing ${}, compression ${}, caching ${}).",
        format_usd(r.cost_usd),
        format_usd(r.baseline_cost_usd),
        format_usd(r.savings_usd()),
        format_usd(r.savings_routing_usd),
        format_usd(r.savings_compression_usd),
        format_usd(r.savings_caching_usd),
    ));
    out.push(format!(
        "Tokens: {} in ({} cached, {} cache writes, {} removed by compression), {} out.",
        r.input_tokens,
        r.cached_tokens,
        r.cache_write_tokens,
        r.compression_tokens_saved,
        r.output_tokens
    ));
    if let Some(v) = &r.verify {
        out.push(format!(
            "Verified: {v}{}; checking cost ${}{}.",
            r.verify_confidence
                .map(|c| format!(" (confidence {c:.2})"))
                .unwrap_or_default(),
            format_usd(r.verify_cost_usd),
            r.verify_delay_ms
                .map(|d| format!(", {d:.0} ms later than the first answer"))
                .unwrap_or_default()
        ));
    }
    let mut timing = format!("Latency {:.1} ms", r.latency_ms);
    if let Some(t) = r.ttft_ms {
        timing.push_str(&format!(", first token at {t:.1} ms"));
    }
    if let Some(o) = r.overhead_ms {
        timing.push_str(&format!(", of which frugal's own time {o:.2} ms"));
    }
    timing.push('.');
    out.push(timing);
    out
}

/// The playground's plan, as `frugal route` explains it.
pub fn plan(p: &Plan, cfg: &Config) -> Vec<String> {
    let mut out = vec![format!("Tier {}: {}", p.tier.as_str(), p.reason)];
    if let Some(c) = &p.classification {
        let signals: Vec<String> = c
            .signals
            .iter()
            .take(5)
            .map(|(n, w)| format!("{n} {w:+.3}"))
            .collect();
        out.push(format!(
            "Score {:.3} (stage {}, confidence {:.2}); strongest signals: {}.",
            c.score,
            c.stage,
            c.confidence,
            signals.join(", ")
        ));
    }
    if let Some(first) = p.candidates.first() {
        out.push(format!(
            "Model {} (estimated ${}).",
            first.model,
            format_usd(first.est_cost_usd)
        ));
    }
    if let (Some(b), Some(name)) = (p.baseline_est_cost_usd, cfg.routing.baseline.as_deref()) {
        out.push(format!("Baseline {name} (estimated ${}).", format_usd(b)));
    }
    let fallbacks: Vec<&str> = p
        .candidates
        .iter()
        .skip(1)
        .map(|c| c.model.as_str())
        .collect();
    if !fallbacks.is_empty() {
        out.push(format!("Fallbacks: {}.", fallbacks.join(" → ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn a_fallback_and_its_savings_are_told() {
        let r = Record {
            decision: "routed".into(),
            requested_model: "auto".into(),
            tier: Some("simple".into()),
            stage: Some("rules".into()),
            score: Some(0.125),
            confidence: Some(0.9),
            model: Some("m-small".into()),
            baseline_model: Some("m-big".into()),
            fallback_attempts: 1,
            failed_models: "mock/m-tiny:503".into(),
            cost_usd: Decimal::new(1, 4),
            baseline_cost_usd: Decimal::new(5, 4),
            savings_routing_usd: Decimal::new(4, 4),
            status: 200,
            overhead_ms: Some(0.5),
            ..Default::default()
        };
        let text = record(&r).join("\n");
        assert!(text.contains("rules stage scored 0.125"), "{text}");
        assert!(
            text.contains("after 1 failed attempt(s): mock/m-tiny:503"),
            "{text}"
        );
        assert!(text.contains("saved $0.0004 (routing $0.0004"), "{text}");
        assert!(text.contains("frugal's own time 0.50 ms"), "{text}");
        assert!(!text.contains("Status"), "{text}");
    }
}
