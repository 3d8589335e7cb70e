//! `GET /api/keys`: every gateway key (configured and created with `frugal keys`) with its
//! limits, its budgets against their counters now, and what its requests cost over the
//! window (summed in the database per ledger `key_hash`, then named here). No key, hash or
//! secret is ever part of the answer: keys are shown by name.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use serde_json::{json, Value};

use super::api::{days, internal, Params};
use super::Dash;
use crate::ledger::dashboard::{self as store, KeyRow, HOUR_MS};
use crate::ledger::now_ms;
use crate::limits::cli::{budget_status, BudgetStatus};
use crate::limits::store::{LimitStore, StoredKey};
use crate::limits::Rules;

/// What a key's requests cost over the window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Spend {
    pub requests: i64,
    pub errors: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    pub savings_usd: f64,
}

impl Spend {
    fn add(&mut self, r: &KeyRow) {
        self.requests += r.requests;
        self.errors += r.errors;
        self.cost_usd += r.cost_usd;
        self.baseline_cost_usd += r.baseline_cost_usd;
        self.savings_usd += r.savings_usd;
    }
}

/// Ledger rows attributed to key names: `named` by key, `none` for requests without a
/// key, `unknown` for keys no longer known (or never recognised).
#[derive(Debug, Default, PartialEq)]
pub struct Attributed {
    pub named: HashMap<String, Spend>,
    pub none: Spend,
    pub unknown: Spend,
}

/// Attribute each row to the key whose ledger hash it carries.
pub fn attribute(rows: &[KeyRow], names: &HashMap<String, String>) -> Attributed {
    let mut out = Attributed::default();
    for r in rows {
        if r.key_hash.is_empty() {
            out.none.add(r);
        } else if let Some(name) = names.get(&r.key_hash) {
            out.named.entry(name.clone()).or_default().add(r);
        } else {
            out.unknown.add(r);
        }
    }
    out
}

pub async fn keys(State(d): State<Arc<Dash>>, q: Params) -> Response {
    let days = match days(&q) {
        Ok(n) => n,
        Err(r) => return r.into_response(),
    };
    match answer(&d, days).await {
        Ok(v) => Json(v).into_response(),
        Err(e) => internal(e),
    }
}

async fn answer(d: &Dash, days: i64) -> anyhow::Result<Value> {
    let config = &d.app.config;
    // Whole hours: the spend per key is kept per hour.
    let since = (now_ms() - days * 24 * HOUR_MS).div_euclid(HOUR_MS) * HOUR_MS;
    let rows = match d.app.ledger.store() {
        Some(st) => store::keys(st.as_ref(), since).await?,
        None => vec![],
    };
    let limits = d.app.limits.store();
    let mut names: HashMap<String, String> = config
        .keys
        .iter()
        .map(|k| (crate::caller::key_hash(k.key.expose()), k.name.clone()))
        .collect();
    let listed: Vec<(StoredKey, Rules)> = match limits {
        Some(ls) => {
            for (hash, name) in ls.ledger_hashes().await? {
                names.entry(hash).or_insert(name);
            }
            crate::limits::cli::all_keys(config, ls.as_ref()).await?
        }
        None => config
            .keys
            .iter()
            .filter_map(|k| d.app.limits.keys().by_name(&k.name))
            .map(|p| {
                let key = StoredKey {
                    name: p.name.clone(),
                    project: p.project.clone(),
                    ..Default::default()
                };
                (key, p.rules.clone())
            })
            .collect(),
    };
    let spent = attribute(&rows, &names);
    let now = now_ms();
    let mut keys = vec![];
    for (k, rules) in &listed {
        let budgets = budgets(limits, &format!("key:{}", k.name), &rules.budget).await?;
        keys.push(json!({
            "name": k.name,
            "project": k.project,
            "source": if k.created_ms == 0 { "config" } else { "database" },
            "status": crate::limits::cli::status(k, now),
            "rules": rules,
            "budgets": budgets,
            "spend": spent.named.get(&k.name).cloned().unwrap_or_default(),
        }));
    }
    let mut projects = vec![];
    for (name, b) in &config.limits.projects {
        let budgets = budgets(limits, &format!("project:{name}"), b).await?;
        projects.push(json!({ "name": name, "budgets": budgets }));
    }
    Ok(json!({
        "days": days,
        "since_ms": since,
        "require_key": config.require_key,
        "keys": keys,
        "projects": projects,
        "without_key": spent.none,
        "unrecognised_keys": spent.unknown,
    }))
}

/// A scope's budgets with their counters now (none without budgets or a limit store).
async fn budgets(
    limits: Option<&Arc<dyn LimitStore>>,
    scope: &str,
    b: &crate::limits::Budgets,
) -> anyhow::Result<Vec<Value>> {
    let Some(ls) = limits.filter(|_| !b.is_empty()) else {
        return Ok(vec![]);
    };
    let statuses = budget_status(ls.as_ref(), scope, b).await?;
    Ok(statuses.iter().map(BudgetStatus::json).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(hash: &str, requests: i64, cost: f64) -> KeyRow {
        KeyRow {
            key_hash: hash.into(),
            requests,
            cost_usd: cost,
            ..Default::default()
        }
    }

    #[test]
    fn rows_are_named_by_their_hash_and_the_rest_set_apart() {
        let names: HashMap<String, String> = [
            ("k_aaa".to_string(), "ci".to_string()),
            ("k_bbb".to_string(), "ci".to_string()), // before a rotation
            ("k_ccc".to_string(), "web".to_string()),
        ]
        .into_iter()
        .collect();
        let rows = [
            row("k_aaa", 2, 0.5),
            row("k_bbb", 1, 0.25),
            row("k_ccc", 4, 1.0),
            row("", 3, 0.125),
            row("k_zzz", 5, 2.0),
        ];
        let a = attribute(&rows, &names);
        assert_eq!(a.named["ci"].requests, 3);
        assert_eq!(a.named["ci"].cost_usd, 0.75);
        assert_eq!(a.named["web"].requests, 4);
        assert_eq!(a.none.requests, 3);
        assert_eq!(a.unknown.requests, 5);
        assert_eq!(a.unknown.cost_usd, 2.0);
    }
}
