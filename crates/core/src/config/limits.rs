//! The `[limits]` and `[projects.*]` tables and the budget/limit fields of `[keys.*]`: raw
//! TOML shapes, their merge, and validation into `limits::LimitsConfig` and
//! `limits::Rules`. Money is read as exact decimals.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::time::Duration;

use rust_decimal::Decimal;
use serde::Deserialize;

use super::raw::{RawDecimal, RawKey};
use crate::limits::{Budgets, LimitsConfig, Rules};
use crate::types::Tier;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    /// Chat requests in flight at once (answers and streams); more get 429 + retry-after.
    pub max_concurrent_requests: Option<usize>,
    /// How often database keys (`frugal keys`) are re-read.
    pub key_refresh_secs: Option<u64>,
    /// How often each replica shares its rate counts and reads everyone's.
    pub rate_sync_ms: Option<u64>,
    /// Share of a budget after which answers carry `x-frugal-budget-warning`.
    pub budget_warn_share: Option<f64>,
}

/// `[projects.NAME]`: budgets over every key of a project.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawProject {
    pub budget_day_usd: Option<RawDecimal>,
    pub budget_month_usd: Option<RawDecimal>,
    pub budget_total_usd: Option<RawDecimal>,
}

fn usd(field: &str, v: &Option<RawDecimal>) -> Result<Option<Decimal>, String> {
    let Some(RawDecimal(text)) = v else {
        return Ok(None);
    };
    let d = Decimal::from_str(text.trim())
        .map_err(|_| format!("{field}: `{text}` is not a number of dollars"))?;
    if d.is_sign_negative() {
        return Err(format!("{field}: {d} must be 0 or more"));
    }
    Ok(Some(d))
}

fn budgets(
    prefix: &str,
    day: &Option<RawDecimal>,
    month: &Option<RawDecimal>,
    total: &Option<RawDecimal>,
) -> Result<Budgets, String> {
    Ok(Budgets {
        day_usd: usd(&format!("{prefix}.budget_day_usd"), day)?,
        month_usd: usd(&format!("{prefix}.budget_month_usd"), month)?,
        total_usd: usd(&format!("{prefix}.budget_total_usd"), total)?,
    })
}

pub fn validate_limits(
    raw: Option<RawLimits>,
    projects: &BTreeMap<String, RawProject>,
) -> Result<LimitsConfig, String> {
    let raw = raw.unwrap_or_default();
    let d = LimitsConfig::default();
    let share = raw.budget_warn_share.unwrap_or(d.budget_warn_share);
    if !(share.is_finite() && share > 0.0 && share <= 1.0) {
        return Err(format!(
            "limits.budget_warn_share: {share} must be within (0, 1]"
        ));
    }
    let key_refresh = match raw.key_refresh_secs {
        Some(0) => return Err("limits.key_refresh_secs: must be at least 1".into()),
        Some(s) => Duration::from_secs(s),
        None => d.key_refresh,
    };
    let rate_sync = match raw.rate_sync_ms {
        Some(ms) if !(10..=60_000).contains(&ms) => {
            return Err(format!(
                "limits.rate_sync_ms: {ms} must be within 10..60000"
            ))
        }
        Some(ms) => Duration::from_millis(ms),
        None => d.rate_sync,
    };
    let mut out = BTreeMap::new();
    for (name, p) in projects {
        let prefix = format!("projects.{name}");
        out.insert(
            name.clone(),
            budgets(
                &prefix,
                &p.budget_day_usd,
                &p.budget_month_usd,
                &p.budget_total_usd,
            )?,
        );
    }
    Ok(LimitsConfig {
        max_concurrent_requests: raw
            .max_concurrent_requests
            .unwrap_or(d.max_concurrent_requests),
        key_refresh,
        rate_sync,
        budget_warn_share: share,
        projects: out,
    })
}

/// The allow-lists, budgets and rate limits of one `[keys.NAME]`.
pub fn key_rules(name: &str, k: &RawKey) -> Result<Rules, String> {
    let prefix = format!("keys.{name}");
    let mut tiers = vec![];
    for t in k.tiers.iter().flatten() {
        tiers.push(Tier::parse(t).ok_or_else(|| format!("{prefix}.tiers: `{t}` is not a tier"))?);
    }
    let positive = |field: &str, v: Option<u64>| match v {
        Some(0) => Err(format!("{prefix}.{field}: must be at least 1")),
        v => Ok(v),
    };
    Ok(Rules {
        models: k.models.clone().unwrap_or_default(),
        tiers,
        min_tier: None,
        lambda: None,
        verify: k.verify,
        budget: budgets(
            &prefix,
            &k.budget_day_usd,
            &k.budget_month_usd,
            &k.budget_total_usd,
        )?,
        requests_per_min: positive("requests_per_min", k.requests_per_min)?,
        tokens_per_min: positive("tokens_per_min", k.tokens_per_min)?,
    })
}
