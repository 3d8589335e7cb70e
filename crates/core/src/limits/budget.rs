//! Budgets: which counters a request reserves against (its key's and its project's, per
//! UTC day, UTC month and in total), the amount (the most expensive candidate the plan may
//! try, with the client's `max_tokens` as the output when it set one), the refusal naming
//! the budget and when it resets, and the soft-limit warning. Counters are in
//! nano-dollars; a cost is rounded up to the next nano-dollar.

use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;

use super::keys::Budgets;
use super::store::Hold;
use crate::cost::format_usd;

const NANOS: Decimal = Decimal::from_parts(1_000_000_000, 0, 0, false, 0);
const DAY_MS: i64 = 86_400_000;

/// USD → nano-dollars, rounded up (a cost or reservation is never under-counted).
pub fn to_nanos(usd: Decimal) -> i64 {
    (usd * NANOS).ceil().to_i64().unwrap_or(i64::MAX)
}

/// A limit in nano-dollars, rounded down.
pub fn limit_nanos(usd: Decimal) -> i64 {
    (usd * NANOS).floor().to_i64().unwrap_or(i64::MAX)
}

pub fn from_nanos(n: i64) -> Decimal {
    Decimal::from(n) / NANOS
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Day,
    Month,
    Total,
}

impl Period {
    pub fn label(self) -> &'static str {
        match self {
            Period::Day => "daily",
            Period::Month => "monthly",
            Period::Total => "total",
        }
    }

    pub fn of(win: &str) -> Period {
        if win.starts_with("day:") {
            Period::Day
        } else if win.starts_with("month:") {
            Period::Month
        } else {
            Period::Total
        }
    }
}

/// The counter's window name at `now_ms`, and when it resets (never, for the total).
pub fn window(period: Period, now_ms: i64) -> (String, Option<i64>) {
    let day = crate::ledger::report::day_of(now_ms);
    match period {
        Period::Day => (
            format!("day:{day}"),
            Some((now_ms.div_euclid(DAY_MS) + 1) * DAY_MS),
        ),
        Period::Month => {
            let (y, m) = (
                day.get(..4)
                    .and_then(|y| y.parse::<i64>().ok())
                    .unwrap_or(1970),
                day.get(5..7)
                    .and_then(|m| m.parse::<i64>().ok())
                    .unwrap_or(1),
            );
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (
                format!("month:{y:04}-{m:02}"),
                Some(days_from_civil(ny, nm, 1) * DAY_MS),
            )
        }
        Period::Total => ("total".to_string(), None),
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An ISO-8601 UTC time, for messages.
pub fn iso(ms: i64) -> String {
    let day = crate::ledger::report::day_of(ms);
    let s = ms.div_euclid(1000).rem_euclid(86_400);
    format!("{day}T{:02}:{:02}:{:02}Z", s / 3600, (s / 60) % 60, s % 60)
}

/// One budget scope: `key:NAME` or `project:NAME`, for messages "key `NAME`".
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub id: String,
    pub budgets: Budgets,
}

impl Scope {
    pub fn key(name: &str, budgets: Budgets) -> Scope {
        Scope {
            id: format!("key:{name}"),
            budgets,
        }
    }

    pub fn project(name: &str, budgets: Budgets) -> Scope {
        Scope {
            id: format!("project:{name}"),
            budgets,
        }
    }
}

/// "key `ci`" from "key:ci".
pub fn describe_scope(id: &str) -> String {
    match id.split_once(':') {
        Some((kind, name)) => format!("{kind} `{name}`"),
        None => id.to_string(),
    }
}

/// The holds for `amount_nanos` on every limited window of every scope, in a fixed order
/// (scope, then day, month, total).
pub fn holds(scopes: &[Scope], amount_nanos: i64, now_ms: i64) -> Vec<Hold> {
    let mut out = vec![];
    for s in scopes {
        let b = &s.budgets;
        for (period, limit) in [
            (Period::Day, b.day_usd),
            (Period::Month, b.month_usd),
            (Period::Total, b.total_usd),
        ] {
            if let Some(limit) = limit {
                out.push(Hold {
                    scope: s.id.clone(),
                    win: window(period, now_ms).0,
                    limit_nanos: limit_nanos(limit),
                    amount_nanos,
                });
            }
        }
    }
    out
}

/// What the client is told when a budget refuses: which budget, how much is used, and
/// when it resets; plus the seconds until then (none for a total budget).
pub fn refusal(hold: &Hold, used_nanos: Option<i64>, now_ms: i64) -> (String, Option<u64>) {
    let period = Period::of(&hold.win);
    let reset = match period {
        Period::Total => None,
        p => window(p, now_ms).1,
    };
    let used = used_nanos
        .map(|u| {
            format!(
                ", ${} already spent or reserved",
                format_usd(from_nanos(u).round_dp(6))
            )
        })
        .unwrap_or_default();
    let when = match reset {
        Some(ms) => format!("; it resets at {}", iso(ms)),
        None => "; it does not reset (raise it or use another key)".to_string(),
    };
    let message = format!(
        "budget exceeded: the {} {} budget of ${}{used}, and this request may cost up to ${}{when}",
        describe_scope(&hold.scope),
        period.label(),
        format_usd(from_nanos(hold.limit_nanos)),
        format_usd(from_nanos(hold.amount_nanos).round_dp(6)),
    );
    let wait = reset.map(|ms| u64::try_from((ms - now_ms).div_euclid(1000).max(1)).unwrap_or(1));
    (message, wait)
}

/// The soft-limit warning for the most used budget at or above `share`, if any.
pub fn warning(holds: &[Hold], used_after: &[i64], share: f64) -> Option<String> {
    let mut worst: Option<(f64, &Hold)> = None;
    for (h, used) in holds.iter().zip(used_after) {
        if h.limit_nanos <= 0 {
            continue;
        }
        let s = *used as f64 / h.limit_nanos as f64;
        if s >= share && worst.is_none_or(|(w, _)| s > w) {
            worst = Some((s, h));
        }
    }
    worst.map(|(s, h)| {
        format!(
            "{} {} budget {:.0}% used (${} of ${})",
            describe_scope(&h.scope).replace('`', ""),
            Period::of(&h.win).label(),
            100.0 * s,
            format_usd(from_nanos(used_after_for(holds, used_after, h)).round_dp(6)),
            format_usd(from_nanos(h.limit_nanos)),
        )
    })
}

fn used_after_for(holds: &[Hold], used: &[i64], h: &Hold) -> i64 {
    holds
        .iter()
        .zip(used)
        .find(|(x, _)| *x == h)
        .map_or(0, |(_, u)| *u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_resets() {
        // 2026-12-07T12:00:00Z
        let now = days_from_civil(2026, 12, 7) * DAY_MS + 12 * 3_600_000;
        assert_eq!(iso(now), "2026-12-07T12:00:00Z");
        let (d, reset) = window(Period::Day, now);
        assert_eq!(d, "day:2026-12-07");
        assert_eq!(reset.map(iso).as_deref(), Some("2026-12-08T00:00:00Z"));
        let (m, reset) = window(Period::Month, now);
        assert_eq!(m, "month:2026-12");
        assert_eq!(reset.map(iso).as_deref(), Some("2027-01-01T00:00:00Z"));
        assert_eq!(window(Period::Total, now), ("total".to_string(), None));
    }

    #[test]
    fn nanos_round_against_the_spender() {
        assert_eq!(to_nanos(Decimal::new(1, 10)), 1); // 1e-10 USD costs a whole nano-dollar
        assert_eq!(limit_nanos(Decimal::new(15, 1)), 1_500_000_000);
        assert_eq!(from_nanos(1_500_000_000), Decimal::new(15, 1));
    }

    #[test]
    fn refusal_names_the_budget_and_reset() {
        let now = days_from_civil(2026, 12, 7) * DAY_MS;
        let b = Budgets {
            day_usd: Some(Decimal::ONE),
            total_usd: Some(Decimal::TEN),
            ..Default::default()
        };
        let hs = holds(&[Scope::key("ci", b)], 5_000, now);
        assert_eq!(hs.len(), 2);
        let (msg, wait) = refusal(&hs[0], Some(999_999_000), now);
        assert!(msg.contains("key `ci` daily budget of $1"), "{msg}");
        assert!(msg.contains("2026-12-08T00:00:00Z"), "{msg}");
        assert_eq!(wait, Some(86_400));
        let (msg, wait) = refusal(&hs[1], None, now);
        assert!(msg.contains("total budget") && wait.is_none(), "{msg}");
        let warn = warning(&hs, &[900_000_000, 1], 0.8).expect("warns");
        assert!(warn.starts_with("key ci daily budget 90% used"), "{warn}");
        assert!(warning(&hs, &[1, 1], 0.8).is_none());
    }
}
