//! `frugal keys create|list|show|disable|rotate`: keys kept in the ledger's database
//! (hashed; the plain key is printed once, on standard output, and nowhere else), and the
//! budget status `frugal keys show` and `frugal report --by key|project` print.

use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use rust_decimal::Decimal;
use serde_json::json;

use super::budget::{self, Period};
use super::keys::{self, Budgets, Rules};
use super::store::{self, LimitStore, Rotation, StoredKey};
use crate::config::Config;
use crate::cost::format_usd;
use crate::ledger::report::{parse_since, LedgerArg};
use crate::types::Tier;

#[derive(Args, Debug)]
pub struct KeysArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    #[command(subcommand)]
    pub command: KeysCommand,
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Create a key and print it (once).
    Create(CreateArgs),
    /// Every key, from the configuration and the database.
    List {
        #[arg(long)]
        json: bool,
    },
    /// One key: its rules, spend and remaining budget, and this minute's rate.
    Show {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Stop accepting a key (within `limits.key_refresh_secs` on running gateways).
    Disable { name: String },
    /// Issue a new value for a key; the old one stays valid for the grace period.
    Rotate {
        name: String,
        /// How long the old value is still accepted: 0s, 30m, 24h, 7d...
        #[arg(long, default_value = "24h")]
        grace: String,
    },
}

#[derive(Args, Debug, Default)]
pub struct CreateArgs {
    pub name: String,
    /// Project its spend is counted (and budgeted) under; default: the key's name.
    #[arg(long)]
    pub project: Option<String>,
    /// Models and aliases it may ask for, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub models: Vec<String>,
    /// Tiers whose models may serve it, comma-separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub tiers: Vec<String>,
    /// Never route its requests below this tier.
    #[arg(long)]
    pub min_tier: Option<String>,
    /// Its price of quality for routed requests.
    #[arg(long)]
    pub lambda: Option<f64>,
    /// Verified answers for its routed requests (`true`) or never (`false`), whatever the
    /// alias says.
    #[arg(long)]
    pub verify: Option<bool>,
    /// USD per UTC day.
    #[arg(long)]
    pub budget_day: Option<Decimal>,
    /// USD per UTC calendar month.
    #[arg(long)]
    pub budget_month: Option<Decimal>,
    /// USD in total.
    #[arg(long)]
    pub budget_total: Option<Decimal>,
    /// Requests per minute.
    #[arg(long)]
    pub rpm: Option<u64>,
    /// Tokens (prompt + answer) per minute.
    #[arg(long)]
    pub tpm: Option<u64>,
}

fn tier(s: &str) -> Result<Tier> {
    Tier::parse(s)
        .with_context(|| format!("`{s}` is not a tier (simple, medium, complex, frontier)"))
}

fn non_negative(name: &str, v: Option<Decimal>) -> Result<Option<Decimal>> {
    if v.is_some_and(|d| d.is_sign_negative()) {
        bail!("--{name} must be 0 or more");
    }
    Ok(v)
}

impl CreateArgs {
    fn rules(&self) -> Result<Rules> {
        if self.rpm == Some(0) || self.tpm == Some(0) {
            bail!("--rpm and --tpm must be at least 1");
        }
        Ok(Rules {
            models: self.models.clone(),
            tiers: self.tiers.iter().map(|t| tier(t)).collect::<Result<_>>()?,
            min_tier: self.min_tier.as_deref().map(tier).transpose()?,
            lambda: self.lambda,
            verify: self.verify,
            budget: Budgets {
                day_usd: non_negative("budget-day", self.budget_day)?,
                month_usd: non_negative("budget-month", self.budget_month)?,
                total_usd: non_negative("budget-total", self.budget_total)?,
            },
            requests_per_min: self.rpm,
            tokens_per_min: self.tpm,
        })
    }
}

pub fn keys_command(args: &KeysArgs) -> Result<()> {
    let config = args.ledger.config.load()?;
    let mut ledger = config.ledger.clone();
    if let Some(t) = &args.ledger.ledger {
        ledger.target = t.clone();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let store = store::open(&ledger).await?;
        match &args.command {
            KeysCommand::Create(c) => create(&config, store.as_ref(), c).await,
            KeysCommand::List { json } => list(&config, store.as_ref(), *json).await,
            KeysCommand::Show { name, json } => show(&config, store, name, *json).await,
            KeysCommand::Disable { name } => disable(&config, store.as_ref(), name).await,
            KeysCommand::Rotate { name, grace } => {
                rotate(&config, store.as_ref(), name, grace).await
            }
        }
    })
}

fn from_config<'a>(config: &'a Config, name: &str) -> Option<&'a crate::config::ClientKey> {
    config.keys.iter().find(|k| k.name == name)
}

fn refuse_config_key(config: &Config, name: &str) -> Result<()> {
    if from_config(config, name).is_some() {
        bail!("key `{name}` is declared in the configuration ([keys.{name}]): change it there, not with `frugal keys`");
    }
    Ok(())
}

async fn create(config: &Config, store: &dyn LimitStore, c: &CreateArgs) -> Result<()> {
    refuse_config_key(config, &c.name)?;
    if c.name.is_empty() || c.name.len() > 128 || c.name.contains(char::is_whitespace) {
        bail!("a key name is 1-128 characters without spaces");
    }
    let rules = c.rules()?;
    let secret = keys::generate();
    let key = StoredKey {
        name: c.name.clone(),
        project: c.project.clone().unwrap_or_else(|| c.name.clone()),
        secret_sha256: keys::secret_sha256(&secret),
        policy: serde_json::to_string(&rules)?,
        created_ms: crate::ledger::now_ms(),
        ..Default::default()
    };
    if !store
        .create_key(key, crate::caller::key_hash(&secret))
        .await?
    {
        bail!(
            "a key named `{}` already exists (rotate it, or choose another name)",
            c.name
        );
    }
    eprintln!(
        "created key `{}`; it is shown once, below, and stored only as a hash:",
        c.name
    );
    println!("{secret}");
    Ok(())
}

/// Every key: the configuration's, then the database's.
pub async fn all_keys(config: &Config, store: &dyn LimitStore) -> Result<Vec<(StoredKey, Rules)>> {
    let mut out = vec![];
    let registry = keys::KeyRegistry::from_config(config);
    for k in &config.keys {
        if let Some(p) = registry.by_name(&k.name) {
            let key = StoredKey {
                name: k.name.clone(),
                project: k.project.clone(),
                ..Default::default()
            };
            out.push((key, p.rules.clone()));
        }
    }
    for k in store.keys().await? {
        if from_config(config, &k.name).is_some() {
            continue;
        }
        let rules = serde_json::from_str(&k.policy).unwrap_or_default();
        out.push((k, rules));
    }
    Ok(out)
}

pub fn status(k: &StoredKey, now: i64) -> String {
    if k.created_ms == 0 {
        return "config".into();
    }
    if let Some(d) = k.disabled_ms {
        return format!("disabled {}", budget::iso(d));
    }
    match k.prev_expires_ms {
        Some(until) if until > now => {
            format!("rotated; old value valid until {}", budget::iso(until))
        }
        _ => "active".into(),
    }
}

fn rules_text(r: &Rules) -> String {
    let mut parts = vec![];
    let b = &r.budget;
    for (label, v) in [
        ("day", b.day_usd),
        ("month", b.month_usd),
        ("total", b.total_usd),
    ] {
        if let Some(v) = v {
            parts.push(format!("${}/{label}", format_usd(v)));
        }
    }
    if let Some(n) = r.requests_per_min {
        parts.push(format!("{n} req/min"));
    }
    if let Some(n) = r.tokens_per_min {
        parts.push(format!("{n} tok/min"));
    }
    if !r.models.is_empty() {
        parts.push(format!("models {}", r.models.join("|")));
    }
    if !r.tiers.is_empty() {
        let t: Vec<&str> = r.tiers.iter().map(|t| t.as_str()).collect();
        parts.push(format!("tiers {}", t.join("|")));
    }
    if let Some(t) = r.min_tier {
        parts.push(format!("min tier {}", t.as_str()));
    }
    if parts.is_empty() {
        "no limits".into()
    } else {
        parts.join(", ")
    }
}

async fn list(config: &Config, store: &dyn LimitStore, as_json: bool) -> Result<()> {
    let now = crate::ledger::now_ms();
    let keys = all_keys(config, store).await?;
    if as_json {
        let v: Vec<_> = keys
            .iter()
            .map(|(k, r)| json!({"name": k.name, "project": k.project, "status": status(k, now), "rules": r}))
            .collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("{:<20} {:<16} {:<44} limits", "name", "project", "status");
    for (k, r) in &keys {
        println!(
            "{:<20} {:<16} {:<44} {}",
            k.name,
            k.project,
            status(k, now),
            rules_text(r)
        );
    }
    Ok(())
}

/// One budget's state now.
#[derive(Debug, Clone, PartialEq)]
pub struct BudgetStatus {
    pub period: Period,
    pub limit: Decimal,
    pub spent: Decimal,
    pub reserved: Decimal,
    /// Requests whose cost is in `spent`.
    pub settled: i64,
    pub resets_ms: Option<i64>,
}

impl BudgetStatus {
    pub fn remaining(&self) -> Decimal {
        (self.limit - self.spent - self.reserved).max(Decimal::ZERO)
    }

    pub fn json(&self) -> serde_json::Value {
        json!({
            "period": self.period.label(),
            "limit_usd": format_usd(self.limit),
            "spent_usd": format_usd(self.spent),
            "reserved_usd": format_usd(self.reserved),
            "remaining_usd": format_usd(self.remaining()),
            "settled_requests": self.settled,
            "resets_at": self.resets_ms.map(budget::iso),
        })
    }

    pub fn text(&self) -> String {
        let pct = if self.limit.is_zero() {
            100.0
        } else {
            ((self.spent + self.reserved) * Decimal::ONE_HUNDRED / self.limit)
                .round_dp(1)
                .to_string()
                .parse()
                .unwrap_or(0.0)
        };
        format!(
            "{:<8} ${} of ${} spent ({pct}%), ${} reserved, ${} left{}",
            self.period.label(),
            format_usd(self.spent.round_dp(6)),
            format_usd(self.limit),
            format_usd(self.reserved.round_dp(6)),
            format_usd(self.remaining().round_dp(6)),
            self.resets_ms
                .map(|r| format!("; resets {}", budget::iso(r)))
                .unwrap_or_default()
        )
    }
}

/// The budgets of one scope (`key:NAME` / `project:NAME`) with their counters now.
pub async fn budget_status(
    store: &dyn LimitStore,
    scope: &str,
    budgets: &Budgets,
) -> Result<Vec<BudgetStatus>> {
    let now = crate::ledger::now_ms();
    let mut wanted = vec![];
    for (period, limit) in [
        (Period::Day, budgets.day_usd),
        (Period::Month, budgets.month_usd),
        (Period::Total, budgets.total_usd),
    ] {
        if let Some(limit) = limit {
            let (win, resets) = budget::window(period, now);
            wanted.push((period, limit, win, resets));
        }
    }
    let counters = store
        .counters(
            wanted
                .iter()
                .map(|w| (scope.to_string(), w.2.clone()))
                .collect(),
        )
        .await?;
    Ok(wanted
        .into_iter()
        .map(|(period, limit, win, resets_ms)| {
            let c = counters
                .iter()
                .find(|c| c.win == win)
                .cloned()
                .unwrap_or_default();
            BudgetStatus {
                period,
                limit,
                spent: budget::from_nanos(c.spent_nanos),
                reserved: budget::from_nanos(c.reserved_nanos),
                settled: c.settled,
                resets_ms,
            }
        })
        .collect())
}

async fn show(
    config: &Config,
    store: Arc<dyn LimitStore>,
    name: &str,
    as_json: bool,
) -> Result<()> {
    let now = crate::ledger::now_ms();
    let keys = all_keys(config, store.as_ref()).await?;
    let Some((key, rules)) = keys.into_iter().find(|(k, _)| k.name == name) else {
        bail!("no key named `{name}` (see `frugal keys list`)");
    };
    let key_budgets = budget_status(store.as_ref(), &format!("key:{name}"), &rules.budget).await?;
    let project_budgets = match config.limits.projects.get(&key.project) {
        Some(b) => budget_status(store.as_ref(), &format!("project:{}", key.project), b).await?,
        None => vec![],
    };
    let minute = now.div_euclid(60_000);
    let rates = store.rate_sync(vec![], minute).await?;
    let (req, tok) = rates
        .iter()
        .find(|r| r.key == name && r.minute == minute)
        .map_or((0, 0), |r| (r.requests, r.tokens));
    if as_json {
        let v = json!({
            "name": key.name,
            "project": key.project,
            "status": status(&key, now),
            "rules": rules,
            "budgets": key_budgets.iter().map(BudgetStatus::json).collect::<Vec<_>>(),
            "project_budgets": project_budgets.iter().map(BudgetStatus::json).collect::<Vec<_>>(),
            "this_minute": {"requests": req, "tokens": tok},
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    println!("key       {}", key.name);
    println!("project   {}", key.project);
    println!("status    {}", status(&key, now));
    if key.created_ms > 0 {
        println!("created   {}", budget::iso(key.created_ms));
    }
    println!("limits    {}", rules_text(&rules));
    for b in &key_budgets {
        println!("budget    {}", b.text());
    }
    for b in &project_budgets {
        println!("project   {}", b.text());
    }
    let per_min = |v: i64, limit: Option<u64>| match limit {
        Some(l) => format!("{v} of {l}"),
        None => v.to_string(),
    };
    println!(
        "this min  {} requests, {} tokens (shared counts)",
        per_min(req, rules.requests_per_min),
        per_min(tok, rules.tokens_per_min)
    );
    Ok(())
}

async fn disable(config: &Config, store: &dyn LimitStore, name: &str) -> Result<()> {
    refuse_config_key(config, name)?;
    if !store
        .disable_key(name.to_string(), crate::ledger::now_ms())
        .await?
    {
        bail!("no enabled key named `{name}`");
    }
    eprintln!(
        "disabled key `{name}`; running gateways stop accepting it within {} s",
        config.limits.key_refresh.as_secs()
    );
    Ok(())
}

async fn rotate(config: &Config, store: &dyn LimitStore, name: &str, grace: &str) -> Result<()> {
    refuse_config_key(config, name)?;
    let grace_ms = if grace.trim() == "0" {
        0
    } else {
        parse_since(grace)?
    };
    let secret = keys::generate();
    let now = crate::ledger::now_ms();
    let rotation = Rotation {
        name: name.to_string(),
        secret_sha256: keys::secret_sha256(&secret),
        ledger_hash: crate::caller::key_hash(&secret),
        now_ms: now,
        old_valid_until_ms: now + grace_ms,
    };
    if !store.rotate_key(rotation).await? {
        bail!("no enabled key named `{name}`");
    }
    eprintln!(
        "rotated key `{name}`: the old value is accepted until {}; the new one, shown once:",
        budget::iso(now + grace_ms)
    );
    println!("{secret}");
    Ok(())
}

/// What `frugal report --by key|project` adds: key names by ledger hash, and every
/// budgeted key's (or project's) budgets with their counters now.
#[derive(Debug, Default)]
pub struct Spend {
    pub names: crate::ledger::report::KeyNames,
    pub budgets: std::collections::BTreeMap<String, Vec<BudgetStatus>>,
}

pub async fn spend_against_budget(
    config: &Config,
    ledger: &crate::ledger::LedgerConfig,
    by_project: bool,
) -> Result<Spend> {
    let store = store::open(ledger).await?;
    let mut spend = Spend::default();
    for k in &config.keys {
        spend
            .names
            .insert(crate::caller::key_hash(k.key.expose()), k.name.clone());
    }
    for (hash, name) in store.ledger_hashes().await? {
        spend.names.entry(hash).or_insert(name);
    }
    if by_project {
        for (project, b) in &config.limits.projects {
            let s = budget_status(store.as_ref(), &format!("project:{project}"), b).await?;
            spend.budgets.insert(project.clone(), s);
        }
    } else {
        for (k, rules) in all_keys(config, store.as_ref()).await? {
            if !rules.budget.is_empty() {
                let s = budget_status(store.as_ref(), &format!("key:{}", k.name), &rules.budget)
                    .await?;
                spend.budgets.insert(k.name, s);
            }
        }
    }
    Ok(spend)
}

pub fn budgets_json(
    budgets: &std::collections::BTreeMap<String, Vec<BudgetStatus>>,
) -> serde_json::Value {
    budgets
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                json!(v.iter().map(BudgetStatus::json).collect::<Vec<_>>()),
            )
        })
        .collect::<serde_json::Map<_, _>>()
        .into()
}

pub fn budgets_text(budgets: &std::collections::BTreeMap<String, Vec<BudgetStatus>>) -> String {
    if budgets.is_empty() {
        return String::new();
    }
    let mut out = String::from("\nspend against budget (now):\n");
    for (name, list) in budgets {
        for b in list {
            out.push_str(&format!("  {name:<20} {}\n", b.text()));
        }
    }
    out
}
