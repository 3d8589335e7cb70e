//! `frugal report` and `frugal export`: read the ledger (SQLite or PostgreSQL) and summarise
//! requests, tokens, cost, baseline cost and savings by source, the tier mix, quality per
//! group (from feedback), and fallback and error rates, as a table, JSON or CSV; or write
//! the raw rows as JSON lines. Sums are exact decimals, never floats.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;

use super::quality::wilson;
use super::{LedgerConfig, Record, Store};
use crate::config::ConfigArg;
use crate::cost::format_usd;

/// Where the ledger is, for commands that read it.
#[derive(Args, Debug, Clone, Default)]
pub struct LedgerArg {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Ledger SQLite file or postgres:// URL (overrides [ledger] in the config).
    #[arg(long, env = "FRUGAL_LEDGER", global = true)]
    pub ledger: Option<String>,
}

impl LedgerArg {
    /// The ledger configuration: the config file's `[ledger]`, then `--ledger`.
    pub fn resolve(&self) -> Result<LedgerConfig> {
        let mut cfg = self.config.load()?.ledger;
        if let Some(t) = &self.ledger {
            cfg.target = t.clone();
        }
        Ok(cfg)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GroupBy {
    Tier,
    Model,
    Day,
    /// The client key's name (`[keys.*]` or `frugal keys`), else its hash prefix.
    Key,
    /// The project (the key's, else `x-frugal-project`).
    Project,
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// How far back: 30m, 12h, 7d, 4w, or "all".
    #[arg(long, default_value = "7d")]
    pub since: String,
    #[arg(long, value_enum, default_value = "tier")]
    pub by: GroupBy,
    #[arg(long, conflicts_with = "csv")]
    pub json: bool,
    #[arg(long)]
    pub csv: bool,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    #[command(flatten)]
    pub ledger: LedgerArg,
    /// Write JSON lines (the only format; the flag keeps the command explicit).
    #[arg(long, required = true)]
    pub jsonl: bool,
    #[arg(long, default_value = "all")]
    pub since: String,
    /// Output file (default: standard output).
    #[arg(long, short = 'o')]
    pub output: Option<PathBuf>,
}

/// "7d" → milliseconds; "all" → everything.
pub fn parse_since(s: &str) -> Result<i64> {
    let s = s.trim();
    if s == "all" {
        return Ok(i64::MAX / 4);
    }
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (n, unit) = s.split_at(split);
    let n: i64 = n
        .parse()
        .with_context(|| format!("--since `{s}`: expected a number then s, m, h, d or w"))?;
    let unit_ms = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" | "" => 86_400_000,
        "w" => 7 * 86_400_000,
        other => bail!("--since `{s}`: unknown unit `{other}` (s, m, h, d or w)"),
    };
    Ok(n.saturating_mul(unit_ms))
}

/// Sums over a group of requests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requests: u64,
    pub errors: u64,
    pub with_fallback: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_usd: Decimal,
    pub baseline_cost_usd: Decimal,
    pub savings_routing_usd: Decimal,
    pub savings_compression_usd: Decimal,
    pub savings_caching_usd: Decimal,
    pub latency_ms_sum: f64,
    pub feedback: u64,
    pub feedback_score_sum: f64,
    /// Requests whose answer was checked (trusted, escalated or escalation_failed).
    pub verified: u64,
    pub escalated: u64,
    /// What checks and thrown-away answers cost (already in `cost_usd`).
    pub verify_cost_usd: Decimal,
    /// Net savings of the checked requests (their verification cost deducted).
    pub verified_savings_usd: Decimal,
}

impl Totals {
    pub fn add(&mut self, r: &Record) {
        self.requests += 1;
        if r.status != 200 || r.error.is_some() {
            self.errors += 1;
        }
        if r.fallback_attempts > 0 {
            self.with_fallback += 1;
        }
        self.input_tokens += r.input_tokens.max(0) as u64;
        self.output_tokens += r.output_tokens.max(0) as u64;
        self.cached_tokens += r.cached_tokens.max(0) as u64;
        self.cost_usd += r.cost_usd;
        self.baseline_cost_usd += r.baseline_cost_usd;
        self.savings_routing_usd += r.savings_routing_usd;
        self.savings_compression_usd += r.savings_compression_usd;
        self.savings_caching_usd += r.savings_caching_usd;
        self.latency_ms_sum += r.latency_ms;
        if matches!(
            r.verify.as_deref(),
            Some("trusted" | "escalated" | "escalation_failed")
        ) {
            self.verified += 1;
            self.escalated += u64::from(r.verify.as_deref() != Some("trusted"));
            self.verify_cost_usd += r.verify_cost_usd;
            self.verified_savings_usd += r.savings_usd();
        }
    }

    /// `verified: N requests, E escalated (x%), checks cost $, net saved $`, when any were.
    pub fn verification_line(&self) -> Option<String> {
        (self.verified > 0).then(|| {
            format!(
                "verified: {} requests, {} escalated ({:.1}%), verification cost {}, net saved on them {}",
                self.verified,
                self.escalated,
                100.0 * self.escalated as f64 / self.verified as f64,
                format_usd(self.verify_cost_usd.round_dp(6)),
                format_usd(self.verified_savings_usd.round_dp(6)),
            )
        })
    }

    pub fn savings_usd(&self) -> Decimal {
        self.savings_routing_usd + self.savings_compression_usd + self.savings_caching_usd
    }

    fn rate(&self, n: u64) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            n as f64 / self.requests as f64
        }
    }

    /// Mean feedback score with its 95% Wilson interval, when there is feedback.
    pub fn quality(&self) -> Option<(f64, f64, f64)> {
        (self.feedback > 0).then(|| {
            let mean = self.feedback_score_sum / self.feedback as f64;
            let (lo, hi) = wilson(self.feedback_score_sum, self.feedback as f64);
            (mean, lo, hi)
        })
    }

    fn json(&self, key: &str) -> serde_json::Value {
        let saved = self.savings_usd();
        let pct = percent(saved, self.baseline_cost_usd);
        json!({
            "key": key,
            "requests": self.requests,
            "error_rate": self.rate(self.errors),
            "fallback_rate": self.rate(self.with_fallback),
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cached_tokens": self.cached_tokens,
            "cost_usd": format_usd(self.cost_usd),
            "baseline_cost_usd": format_usd(self.baseline_cost_usd),
            "savings_usd": format_usd(saved),
            "savings_pct": pct,
            "savings_by_source_usd": {
                "routing": format_usd(self.savings_routing_usd),
                "compression": format_usd(self.savings_compression_usd),
                "caching": format_usd(self.savings_caching_usd),
            },
            "mean_latency_ms": if self.requests == 0 { 0.0 } else { self.latency_ms_sum / self.requests as f64 },
            "feedback": self.feedback,
            "quality": self.quality().map(|(m, lo, hi)| json!({"mean": m, "lower": lo, "upper": hi})),
            "verification": {
                "requests": self.verified,
                "escalated": self.escalated,
                "escalation_rate": if self.verified == 0 { None } else { Some(self.escalated as f64 / self.verified as f64) },
                "cost_usd": format_usd(self.verify_cost_usd),
                "net_savings_usd": format_usd(self.verified_savings_usd),
            },
        })
    }
}

fn percent(part: Decimal, whole: Decimal) -> Option<f64> {
    if whole.is_zero() {
        return None;
    }
    let p = part * Decimal::ONE_HUNDRED / whole;
    p.round_dp(2).to_string().parse().ok()
}

/// The whole report.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub total: Totals,
    pub groups: BTreeMap<String, Totals>,
    /// Requests per tier regardless of `--by` (the tier mix).
    pub tier_mix: BTreeMap<String, u64>,
}

/// UTC calendar date of a timestamp (days-from-civil, inverted).
pub fn day_of(ts_ms: i64) -> String {
    let z = ts_ms.div_euclid(86_400_000) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Key names by ledger `key_hash`, for `--by key`.
pub type KeyNames = HashMap<String, String>;

fn group_key(r: &Record, by: GroupBy, names: &KeyNames) -> String {
    let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    let dash_if_empty = |s: &str| {
        if s.is_empty() {
            "-".into()
        } else {
            s.to_string()
        }
    };
    match by {
        GroupBy::Tier => or_dash(&r.tier),
        GroupBy::Model => or_dash(&r.model),
        GroupBy::Day => day_of(r.ts_ms),
        GroupBy::Key => names
            .get(&r.key_hash)
            .cloned()
            .unwrap_or_else(|| dash_if_empty(&r.key_hash)),
        GroupBy::Project => dash_if_empty(&r.project),
    }
}

/// Read the ledger since `since_ms` and aggregate it.
pub async fn build(store: &dyn Store, since_ms: i64, by: GroupBy) -> Result<Report> {
    build_named(store, since_ms, by, &KeyNames::new()).await
}

/// `build`, naming keys by their ledger hash.
pub async fn build_named(
    store: &dyn Store,
    since_ms: i64,
    by: GroupBy,
    names: &KeyNames,
) -> Result<Report> {
    let mut report = Report::default();
    let mut group_of: HashMap<String, String> = HashMap::new();
    super::each_record(store, since_ms, |_, r| {
        let key = group_key(&r, by, names);
        report.total.add(&r);
        report.groups.entry(key.clone()).or_default().add(&r);
        if let Some(t) = &r.tier {
            *report.tier_mix.entry(t.clone()).or_default() += 1;
        }
        group_of.insert(r.request_id, key);
        Ok(())
    })
    .await?;
    for f in store.feedback_since(since_ms).await? {
        let key = group_of.get(&f.request_id).cloned().or(match by {
            GroupBy::Tier => f.tier.clone(),
            GroupBy::Model => f.model.clone(),
            _ => None,
        });
        report.total.feedback += 1;
        report.total.feedback_score_sum += f.score;
        if let Some(k) = key {
            let g = report.groups.entry(k).or_default();
            g.feedback += 1;
            g.feedback_score_sum += f.score;
        }
    }
    Ok(report)
}

pub fn render_json(report: &Report, by: GroupBy, since: &str) -> serde_json::Value {
    json!({
        "since": since,
        "by": format!("{by:?}").to_lowercase(),
        "total": report.total.json("total"),
        "tier_mix": report.tier_mix,
        "groups": report.groups.iter().map(|(k, t)| t.json(k)).collect::<Vec<_>>(),
    })
}

const CSV_HEADER: &str = "key,requests,error_rate,fallback_rate,input_tokens,output_tokens,cached_tokens,cost_usd,baseline_cost_usd,savings_usd,savings_routing_usd,savings_compression_usd,savings_caching_usd,feedback,quality";

fn csv_line(key: &str, t: &Totals) -> String {
    let quoted = format!("\"{}\"", key.replace('"', "\"\""));
    format!(
        "{quoted},{},{:.4},{:.4},{},{},{},{},{},{},{},{},{},{},{}",
        t.requests,
        t.rate(t.errors),
        t.rate(t.with_fallback),
        t.input_tokens,
        t.output_tokens,
        t.cached_tokens,
        format_usd(t.cost_usd),
        format_usd(t.baseline_cost_usd),
        format_usd(t.savings_usd()),
        format_usd(t.savings_routing_usd),
        format_usd(t.savings_compression_usd),
        format_usd(t.savings_caching_usd),
        t.feedback,
        t.quality()
            .map(|q| format!("{:.4}", q.0))
            .unwrap_or_default()
    )
}

pub fn render_csv(report: &Report) -> String {
    let mut out = String::from(CSV_HEADER);
    out.push('\n');
    for (k, t) in &report.groups {
        out.push_str(&csv_line(k, t));
        out.push('\n');
    }
    out.push_str(&csv_line("total", &report.total));
    out.push('\n');
    out
}

fn table_line(key: &str, t: &Totals, total_requests: u64) -> String {
    let share = if total_requests == 0 {
        0.0
    } else {
        100.0 * t.requests as f64 / total_requests as f64
    };
    let quality = t
        .quality()
        .map(|(m, lo, hi)| format!("{m:.2} [{lo:.2},{hi:.2}] n={}", t.feedback))
        .unwrap_or_else(|| "-".into());
    let pct = percent(t.savings_usd(), t.baseline_cost_usd)
        .map(|p| format!("{p:.1}%"))
        .unwrap_or_else(|| "-".into());
    format!(
        "{key:<22} {:>8} {:>6.1}% {:>6.1}% {:>6.1}% {:>10} {:>10} {:>12} {:>12} {:>12} {:>7} {:>11} {:>11} {:>11}  {quality}",
        t.requests,
        share,
        100.0 * t.rate(t.errors),
        100.0 * t.rate(t.with_fallback),
        t.input_tokens,
        t.output_tokens,
        format_usd(t.cost_usd.round_dp(6)),
        format_usd(t.baseline_cost_usd.round_dp(6)),
        format_usd(t.savings_usd().round_dp(6)),
        pct,
        format_usd(t.savings_routing_usd.round_dp(6)),
        format_usd(t.savings_compression_usd.round_dp(6)),
        format_usd(t.savings_caching_usd.round_dp(6)),
    )
}

pub fn render_table(report: &Report, by: GroupBy, header: &str) -> String {
    let by_name = format!("{by:?}").to_lowercase();
    let mut out = format!("{header}\n\n");
    out.push_str(&format!(
        "{:<22} {:>8} {:>7} {:>7} {:>7} {:>10} {:>10} {:>12} {:>12} {:>12} {:>7} {:>11} {:>11} {:>11}  {}\n",
        by_name, "requests", "share", "errors", "fallbk", "in tok", "out tok", "cost $",
        "baseline $", "saved $", "saved", "routing $", "compress $", "caching $", "quality (95% CI)"
    ));
    let n = report.total.requests;
    for (k, t) in &report.groups {
        out.push_str(&table_line(k, t, n));
        out.push('\n');
    }
    out.push_str(&table_line("TOTAL", &report.total, n));
    out.push('\n');
    if by != GroupBy::Tier && !report.tier_mix.is_empty() {
        let mix: Vec<String> = report
            .tier_mix
            .iter()
            .map(|(t, c)| format!("{t} {:.1}%", 100.0 * *c as f64 / n.max(1) as f64))
            .collect();
        out.push_str(&format!("\ntier mix: {}\n", mix.join(", ")));
    }
    if let Some(line) = report.total.verification_line() {
        out.push_str(&format!("{line}\n"));
    }
    out
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

pub fn report_command(args: &ReportArgs) -> Result<()> {
    let cfg = args.ledger.resolve()?;
    let window = parse_since(&args.since)?;
    let since_ms = super::now_ms().saturating_sub(window);
    let rt = runtime()?;
    let by_budget = matches!(args.by, GroupBy::Key | GroupBy::Project);
    let (report, budgets) = rt.block_on(async {
        let store = super::open_store(&cfg).await?;
        let spend = match by_budget {
            true => {
                let config = args.ledger.config.load()?;
                crate::limits::cli::spend_against_budget(&config, &cfg, args.by == GroupBy::Project)
                    .await?
            }
            false => Default::default(),
        };
        let report = build_named(store.as_ref(), since_ms, args.by, &spend.names).await?;
        anyhow::Ok((report, spend.budgets))
    })?;
    let text = if args.json {
        let mut v = render_json(&report, args.by, &args.since);
        if by_budget {
            v["budgets"] = crate::limits::cli::budgets_json(&budgets);
        }
        serde_json::to_string_pretty(&v)? + "\n"
    } else if args.csv {
        render_csv(&report)
    } else {
        let header = format!(
            "frugal report: since {} ({}), {} requests",
            args.since,
            super::redact_target(&cfg.target),
            report.total.requests
        );
        render_table(&report, args.by, &header) + &crate::limits::cli::budgets_text(&budgets)
    };
    std::io::stdout().write_all(text.as_bytes())?;
    Ok(())
}

/// Write every row since `since_ms` as one JSON object per line; returns the row count.
pub async fn export(store: &dyn Store, since_ms: i64, out: &mut dyn Write) -> Result<u64> {
    let mut n = 0;
    super::each_record(store, since_ms, |seq, r| {
        let mut v = serde_json::to_value(&r)?;
        v["seq"] = json!(seq);
        serde_json::to_writer(&mut *out, &v)?;
        out.write_all(b"\n")?;
        n += 1;
        Ok(())
    })
    .await?;
    out.flush()?;
    Ok(n)
}

pub fn export_command(args: &ExportArgs) -> Result<()> {
    let cfg = args.ledger.resolve()?;
    let since_ms = super::now_ms().saturating_sub(parse_since(&args.since)?);
    let mut out: Box<dyn Write> = match &args.output {
        Some(p) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    let n = runtime()?.block_on(async {
        let store = super::open_store(&cfg).await?;
        export(store.as_ref(), since_ms, &mut *out).await
    })?;
    eprintln!("exported {n} rows");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_units() {
        assert_eq!(parse_since("7d").ok(), Some(7 * 86_400_000));
        assert_eq!(parse_since("30m").ok(), Some(1_800_000));
        assert!(parse_since("7y").is_err());
        assert!(parse_since("all").is_ok_and(|v| v > 1 << 50));
    }

    #[test]
    fn days() {
        assert_eq!(day_of(0), "1970-01-01");
        assert_eq!(day_of(951_782_400_000), "2000-02-29");
        assert_eq!(day_of(1_767_225_599_000), "2025-12-31");
    }
}
