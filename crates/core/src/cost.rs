//! Cost arithmetic in exact decimals: what a usage costs on a model, and what the same
//! tokens would have cost on the baseline. Never floats, never a silent $0.

use rust_decimal::Decimal;

use crate::catalog::Prices;
use crate::types::Usage;

const PER_MILLION: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

/// Dollars for `usage` at `prices` (USD per 1M tokens), each token class at its own price.
pub fn cost_usd(prices: &Prices, usage: &Usage) -> Decimal {
    let t = |n: u64| Decimal::from(n);
    (t(usage.uncached_input_tokens()) * prices.input
        + t(usage.cache_read_tokens) * prices.cached_input
        + t(usage.cache_write_tokens) * prices.cache_write
        + t(usage.output_tokens) * prices.output)
        / PER_MILLION
}

/// Dollars for the same tokens on the baseline model, billed without any prompt caching
/// (the baseline is "what you would pay without frugal").
pub fn baseline_cost_usd(baseline: &Prices, usage: &Usage) -> Decimal {
    let uncached = Usage {
        input_tokens: usage.input_tokens,
        output_tokens: usage.output_tokens,
        cache_read_tokens: 0,
        cache_write_tokens: 0,
    };
    cost_usd(baseline, &uncached)
}

/// A cost as text for headers and JSON: rounded to 10 decimal places (a one-token request
/// on the cheapest model is ~1e-8 USD, so fewer places would show $0), trailing zeros removed.
pub fn format_usd(d: Decimal) -> String {
    d.round_dp(10).normalize().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn prices() -> Prices {
        Prices {
            input: Decimal::new(300, 2),       // $3.00
            output: Decimal::new(1500, 2),     // $15.00
            cached_input: Decimal::new(30, 2), // $0.30
            cache_write: Decimal::new(375, 2), // $3.75
        }
    }

    #[test]
    fn hand_computed() {
        // 1,000 input of which 600 cache reads and 100 cache writes, 200 output:
        // 300*3 + 600*0.3 + 100*3.75 + 200*15 = 900 + 180 + 375 + 3000 = 4455 → $0.004455
        let u = Usage {
            input_tokens: 1000,
            output_tokens: 200,
            cache_read_tokens: 600,
            cache_write_tokens: 100,
        };
        assert_eq!(cost_usd(&prices(), &u), Decimal::new(4455, 6));
        // Baseline bills all 1,000 input at $3: 3000 + 3000 = 6000 → $0.006
        assert_eq!(baseline_cost_usd(&prices(), &u), Decimal::new(6, 3));
        assert_eq!(format_usd(Decimal::new(4455, 6)), "0.004455");
    }

    #[test]
    fn exact_for_prices_that_floats_round() {
        let p = Prices {
            input: Decimal::new(1, 1),
            output: Decimal::new(2, 1),
            cached_input: Decimal::new(1, 1),
            cache_write: Decimal::new(1, 1),
        };
        let u = Usage {
            input_tokens: 3,
            output_tokens: 0,
            ..Default::default()
        };
        // 3 × 0.1 is exactly 0.3 (a float would give 0.30000000000000004).
        assert_eq!(cost_usd(&p, &u) * PER_MILLION, Decimal::new(3, 1));
    }

    proptest! {
        #[test]
        fn cost_is_monotone_in_tokens(i in 0u64..10_000_000, o in 0u64..1_000_000, extra in 1u64..10_000) {
            let base = Usage { input_tokens: i, output_tokens: o, ..Default::default() };
            let more_in = Usage { input_tokens: i + extra, ..base };
            let more_out = Usage { output_tokens: o + extra, ..base };
            prop_assert!(cost_usd(&prices(), &more_in) > cost_usd(&prices(), &base));
            prop_assert!(cost_usd(&prices(), &more_out) > cost_usd(&prices(), &base));
        }

        #[test]
        fn caching_never_costs_more_than_baseline_on_same_prices(i in 0u64..1_000_000, r in 0u64..1_000_000) {
            let u = Usage { input_tokens: i + r, output_tokens: 10, cache_read_tokens: r, cache_write_tokens: 0 };
            prop_assert!(cost_usd(&prices(), &u) <= baseline_cost_usd(&prices(), &u));
        }
    }
}
