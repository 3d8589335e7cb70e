//! The `[ledger]` and `[feedback]` tables: raw TOML shapes, their field-wise merge, and
//! validation into `ledger::LedgerConfig` / `ledger::quality::LoopConfig`.

use serde::Deserialize;

use crate::ledger::quality::LoopConfig;
use crate::ledger::LedgerConfig;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLedger {
    /// SQLite file (default `frugal.sqlite` in the working directory).
    pub path: Option<String>,
    /// `postgres://...` for a ledger shared by several replicas (wins over `path`).
    pub url: Option<String>,
    pub enabled: Option<bool>,
    pub store_prompts: Option<bool>,
    pub retention_days: Option<u32>,
    pub batch_size: Option<usize>,
    pub channel_capacity: Option<usize>,
    pub retry_window_secs: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFeedback {
    /// Let the controller move the boundaries (`false`: quality is only measured).
    pub enabled: Option<bool>,
    /// Log the moves it would make without applying them.
    pub dry_run: Option<bool>,
    pub floor: Option<f64>,
    pub ceiling: Option<f64>,
    pub min_samples: Option<u64>,
    pub max_step: Option<f64>,
    pub window_secs: Option<u64>,
    pub interval_secs: Option<u64>,
    pub cooldown_secs: Option<u64>,
    /// `per-tier` (each tier's quality above the floor) or `blended` (all traffic just
    /// above the floor; see ledger/blended.rs).
    pub controller: Option<String>,
    /// Sampled LLM grading of routed-down answers: the grading model (catalogue name),
    /// the share of such answers graded, and a daily spending cap in USD.
    pub grade_model: Option<String>,
    pub grade_rate: Option<f64>,
    pub grade_daily_budget_usd: Option<f64>,
}

pub fn validate_ledger(raw: Option<RawLedger>) -> Result<LedgerConfig, String> {
    let raw = raw.unwrap_or_default();
    let d = LedgerConfig::default();
    let target = match (raw.url, raw.path) {
        (Some(u), _) => {
            if !crate::ledger::is_postgres_url(&u) {
                return Err("ledger.url: must start with postgres:// or postgresql:// (use ledger.path for SQLite)".into());
            }
            u
        }
        (None, Some(p)) if p.trim().is_empty() => {
            return Err("ledger.path: must not be empty".into())
        }
        (None, Some(p)) => p,
        (None, None) => d.target,
    };
    let positive = |v: Option<usize>, dflt: usize, f: &str| match v.unwrap_or(dflt) {
        0 => Err(format!("ledger.{f}: must be greater than 0")),
        n => Ok(n),
    };
    Ok(LedgerConfig {
        target,
        enabled: raw.enabled.unwrap_or(d.enabled),
        store_prompts: raw.store_prompts.unwrap_or(d.store_prompts),
        retention_days: raw.retention_days.unwrap_or(d.retention_days),
        batch_size: positive(raw.batch_size, d.batch_size, "batch_size")?,
        channel_capacity: positive(raw.channel_capacity, d.channel_capacity, "channel_capacity")?,
        retry_window_secs: raw.retry_window_secs.unwrap_or(d.retry_window_secs),
    })
}

pub fn validate_feedback(raw: Option<RawFeedback>) -> Result<LoopConfig, String> {
    let raw = raw.unwrap_or_default();
    let d = LoopConfig::default();
    let c = LoopConfig {
        enabled: raw.enabled.unwrap_or(d.enabled),
        dry_run: raw.dry_run.unwrap_or(d.dry_run),
        floor: raw.floor.unwrap_or(d.floor),
        ceiling: raw.ceiling.unwrap_or(d.ceiling),
        min_samples: raw.min_samples.unwrap_or(d.min_samples),
        max_step: raw.max_step.unwrap_or(d.max_step),
        window_secs: raw.window_secs.unwrap_or(d.window_secs),
        interval_secs: raw.interval_secs.unwrap_or(d.interval_secs),
        cooldown_secs: raw.cooldown_secs.unwrap_or(d.cooldown_secs),
        grading: match &raw.grade_model {
            None => None,
            Some(model) => {
                let rate = raw.grade_rate.unwrap_or(0.05);
                let budget = raw.grade_daily_budget_usd.unwrap_or(1.0);
                if !(rate.is_finite() && (0.0..=1.0).contains(&rate)) {
                    return Err(format!("feedback.grade_rate: {rate} must be within 0..1"));
                }
                if !(budget.is_finite() && budget >= 0.0) {
                    return Err(format!(
                        "feedback.grade_daily_budget_usd: {budget} must be >= 0"
                    ));
                }
                Some(crate::ledger::quality::GradingConfig {
                    model: model.clone(),
                    rate,
                    daily_budget_usd: budget,
                })
            }
        },
        controller: match raw.controller.as_deref() {
            None => d.controller,
            Some("per-tier") => crate::ledger::blended::ControllerKind::PerTier,
            Some("blended") => crate::ledger::blended::ControllerKind::Blended,
            Some(other) => {
                return Err(format!(
                    "feedback.controller: `{other}` is not `per-tier` or `blended`"
                ))
            }
        },
    };
    let unit = |x: f64| x.is_finite() && (0.0..=1.0).contains(&x);
    if !unit(c.floor) || !unit(c.ceiling) || c.floor >= c.ceiling {
        return Err(format!(
            "feedback.floor, feedback.ceiling: need 0 <= floor < ceiling <= 1, got {} and {}",
            c.floor, c.ceiling
        ));
    }
    if !(c.max_step > 0.0 && c.max_step <= 0.2) {
        return Err(format!(
            "feedback.max_step: {} must be in (0, 0.2]",
            c.max_step
        ));
    }
    if c.min_samples == 0 || c.interval_secs == 0 || c.window_secs == 0 {
        return Err(
            "feedback.min_samples, interval_secs, window_secs: must be greater than 0".into(),
        );
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_defaults_and_errors() {
        let c = validate_ledger(None).expect("defaults");
        assert_eq!(c.target, "frugal.sqlite");
        assert!(!c.store_prompts);
        let url = RawLedger {
            url: Some("mysql://x".into()),
            ..Default::default()
        };
        assert!(validate_ledger(Some(url)).is_err_and(|e| e.contains("ledger.url")));
        let zero = RawLedger {
            batch_size: Some(0),
            ..Default::default()
        };
        assert!(validate_ledger(Some(zero)).is_err_and(|e| e.contains("batch_size")));
        let bad = RawFeedback {
            floor: Some(0.99),
            ..Default::default()
        };
        assert!(validate_feedback(Some(bad)).is_err_and(|e| e.contains("floor")));
    }
}
