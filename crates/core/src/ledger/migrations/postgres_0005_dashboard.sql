-- frugal ledger, PostgreSQL: the dashboard's index. The dashboard sums requests per hour,
-- tier and model over a time range (ledger/dashboard/postgres.rs); an index on `ts_ms`
-- that INCLUDEs every column the sums read allows an index-only scan of the range (once
-- autovacuum has marked the pages all-visible), instead of reading the wide table rows.
CREATE INDEX IF NOT EXISTS requests_dashboard_ts ON requests (ts_ms) INCLUDE (
    tier, model, status, error, fallback_attempts, verify, cost_usd, baseline_cost_usd,
    savings_routing_usd, savings_compression_usd, savings_caching_usd, verify_cost_usd,
    latency_ms, overhead_ms, input_tokens, output_tokens
);
