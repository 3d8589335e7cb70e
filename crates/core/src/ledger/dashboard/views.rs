//! The dashboard's views, derived from one rollup (sums per hour, tier and model): totals
//! for today and the last 7 and N days, a time series by hour or UTC day with every bucket
//! present, and the traffic mix per tier and model. Pure: the database did the scanning.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{RollupRow, HOUR_MS};

/// Sums over some rollup rows, and the rates and averages the dashboard shows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Totals {
    pub requests: i64,
    pub errors: i64,
    pub fallbacks: i64,
    pub verified: i64,
    pub cost_usd: f64,
    pub baseline_cost_usd: f64,
    /// Routing + compression + caching (verification cost is already in `cost_usd`).
    pub savings_usd: f64,
    pub savings_routing_usd: f64,
    pub savings_compression_usd: f64,
    pub savings_caching_usd: f64,
    pub verify_cost_usd: f64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Savings as a share of the baseline cost (0 when there is no baseline cost).
    pub savings_pct: f64,
    pub error_rate: f64,
    pub fallback_rate: f64,
    pub latency_ms_avg: Option<f64>,
    /// frugal's own time per request, over the requests that measured it.
    pub overhead_ms_avg: Option<f64>,
    #[serde(skip)]
    latency_ms_sum: f64,
    #[serde(skip)]
    overhead_ms_sum: f64,
    #[serde(skip)]
    overhead_n: i64,
}

impl Totals {
    pub fn add(&mut self, r: &RollupRow) {
        self.requests += r.requests;
        self.errors += r.errors;
        self.fallbacks += r.fallbacks;
        self.verified += r.verified;
        self.cost_usd += r.cost_usd;
        self.baseline_cost_usd += r.baseline_cost_usd;
        self.savings_routing_usd += r.savings_routing_usd;
        self.savings_compression_usd += r.savings_compression_usd;
        self.savings_caching_usd += r.savings_caching_usd;
        self.verify_cost_usd += r.verify_cost_usd;
        self.input_tokens += r.input_tokens;
        self.output_tokens += r.output_tokens;
        self.latency_ms_sum += r.latency_ms_sum;
        self.overhead_ms_sum += r.overhead_ms_sum;
        self.overhead_n += r.overhead_n;
        self.finish();
    }

    /// Recompute the derived figures from the sums.
    fn finish(&mut self) {
        self.savings_usd =
            self.savings_routing_usd + self.savings_compression_usd + self.savings_caching_usd;
        self.savings_pct = ratio(self.savings_usd, self.baseline_cost_usd) * 100.0;
        let n = self.requests as f64;
        self.error_rate = ratio(self.errors as f64, n);
        self.fallback_rate = ratio(self.fallbacks as f64, n);
        self.latency_ms_avg = (self.requests > 0).then(|| self.latency_ms_sum / n);
        self.overhead_ms_avg =
            (self.overhead_n > 0).then(|| self.overhead_ms_sum / self.overhead_n as f64);
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// The hour `now_ms` falls in.
pub fn hour_of(ms: i64) -> i64 {
    ms.div_euclid(HOUR_MS)
}

/// The first hour of a window of `days` days ending with the current hour.
pub fn window_start(now_ms: i64, days: i64) -> i64 {
    hour_of(now_ms) - days * 24 + 1
}

/// One window of the summary.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Window {
    /// "today" (since 00:00 UTC), "7d", or "<N>d".
    pub name: String,
    pub since_ms: i64,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Totals for today (UTC), the last 7 days and the last `days` days (each window: whole
/// hours, the current one included). `rows` must start at `window_start(now_ms, days)`.
pub fn summary(rows: &[RollupRow], now_ms: i64, days: i64) -> Vec<Window> {
    let today = hour_of(now_ms).div_euclid(24) * 24;
    let mut windows: Vec<(String, i64)> = vec![("today".into(), today)];
    if days > 7 {
        windows.push(("7d".into(), window_start(now_ms, 7)));
    }
    windows.push((format!("{days}d"), window_start(now_ms, days)));
    windows
        .into_iter()
        .map(|(name, since_hour)| {
            let mut totals = Totals::default();
            for r in rows.iter().filter(|r| r.hour >= since_hour) {
                totals.add(r);
            }
            Window {
                name,
                since_ms: since_hour * HOUR_MS,
                totals,
            }
        })
        .collect()
}

/// How a time series is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    /// UTC days.
    Day,
}

impl Bucket {
    pub fn parse(s: &str) -> Option<Bucket> {
        match s {
            "hour" => Some(Bucket::Hour),
            "day" => Some(Bucket::Day),
            _ => None,
        }
    }

    fn hours(self) -> i64 {
        match self {
            Bucket::Hour => 1,
            Bucket::Day => 24,
        }
    }

    /// The bucket an hour falls in, as its first hour.
    fn of(self, hour: i64) -> i64 {
        hour.div_euclid(self.hours()) * self.hours()
    }

    /// Every bucket from the one holding `first_hour` to the one holding `last_hour`.
    fn range(self, first_hour: i64, last_hour: i64) -> impl Iterator<Item = i64> {
        let step = self.hours();
        let start = self.of(first_hour);
        (0..)
            .map(move |i| start + i * step)
            .take_while(move |h| *h <= last_hour)
    }
}

/// One bucket of the time series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Start of the bucket, ms since the epoch.
    pub t: i64,
    #[serde(flatten)]
    pub totals: Totals,
}

/// Totals per bucket, from the bucket holding `since_hour` to the one holding now, empty
/// buckets included (a chart needs its gaps).
pub fn timeseries(rows: &[RollupRow], bucket: Bucket, since_hour: i64, now_ms: i64) -> Vec<Point> {
    let mut sums: BTreeMap<i64, Totals> = bucket
        .range(since_hour, hour_of(now_ms))
        .map(|h| (h, Totals::default()))
        .collect();
    for r in rows {
        if let Some(t) = sums.get_mut(&bucket.of(r.hour)) {
            t.add(r);
        }
    }
    sums.into_iter()
        .map(|(h, totals)| Point {
            t: h * HOUR_MS,
            totals,
        })
        .collect()
}

/// One tier or model in the mix: its totals and its requests per bucket.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Share {
    pub name: String,
    #[serde(flatten)]
    pub totals: Totals,
    /// Requests in each bucket of `Mix::buckets`, in order.
    pub series: Vec<i64>,
}

/// Where traffic went: per tier and per model, over time.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mix {
    /// Bucket starts, ms since the epoch.
    pub buckets: Vec<i64>,
    /// Most requests first.
    pub tiers: Vec<Share>,
    pub models: Vec<Share>,
}

/// What a row without a tier or model is shown as (a request that failed before planning).
const NONE: &str = "none";

pub fn mix(rows: &[RollupRow], bucket: Bucket, since_hour: i64, now_ms: i64) -> Mix {
    let buckets: Vec<i64> = bucket.range(since_hour, hour_of(now_ms)).collect();
    let index: BTreeMap<i64, usize> = buckets.iter().enumerate().map(|(i, h)| (*h, i)).collect();
    let mut tiers: BTreeMap<String, (Totals, Vec<i64>)> = BTreeMap::new();
    let mut models: BTreeMap<String, (Totals, Vec<i64>)> = BTreeMap::new();
    for r in rows {
        let Some(&i) = index.get(&bucket.of(r.hour)) else {
            continue;
        };
        for (map, key) in [(&mut tiers, &r.tier), (&mut models, &r.model)] {
            let name = key.clone().unwrap_or_else(|| NONE.to_string());
            let entry = map
                .entry(name)
                .or_insert_with(|| (Totals::default(), vec![0; buckets.len()]));
            entry.0.add(r);
            entry.1[i] += r.requests;
        }
    }
    let shares = |map: BTreeMap<String, (Totals, Vec<i64>)>| {
        let mut v: Vec<Share> = map
            .into_iter()
            .map(|(name, (totals, series))| Share {
                name,
                totals,
                series,
            })
            .collect();
        v.sort_by(|a, b| {
            b.totals
                .requests
                .cmp(&a.totals.requests)
                .then(a.name.cmp(&b.name))
        });
        v
    };
    Mix {
        buckets: buckets.iter().map(|h| h * HOUR_MS).collect(),
        tiers: shares(tiers),
        models: shares(models),
    }
}
