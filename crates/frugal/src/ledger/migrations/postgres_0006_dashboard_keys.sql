-- frugal ledger, PostgreSQL: spend per key on the dashboard (ledger/dashboard/postgres.rs
-- groups requests by key_hash over a time range). The dashboard's covering index on ts_ms
-- gains key_hash among its INCLUDEd columns, so that query is an index-only scan too,
-- without a second index to maintain on every insert.
DROP INDEX IF EXISTS requests_dashboard_ts;
CREATE INDEX IF NOT EXISTS requests_dashboard_ts ON requests (ts_ms) INCLUDE (
    tier, model, status, error, fallback_attempts, verify, cost_usd, baseline_cost_usd,
    savings_routing_usd, savings_compression_usd, savings_caching_usd, verify_cost_usd,
    latency_ms, overhead_ms, input_tokens, output_tokens, key_hash
);
