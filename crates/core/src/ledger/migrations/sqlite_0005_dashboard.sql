-- frugal ledger, SQLite: the dashboard's index. The dashboard groups requests by hour, tier
-- and model (ledger/dashboard/sqlite.rs); an index in exactly that order, holding every
-- column the sums read, lets SQLite aggregate by walking the index alone: no table reads
-- and no temporary B-tree for the GROUP BY. `ts_ms` is last so the index covers the query.
CREATE INDEX IF NOT EXISTS requests_dashboard_hour ON requests (
    (ts_ms / 3600000), tier, model, status, error, fallback_attempts, verify,
    cost_usd, baseline_cost_usd, savings_routing_usd, savings_compression_usd,
    savings_caching_usd, verify_cost_usd, latency_ms, overhead_ms, input_tokens,
    output_tokens, ts_ms
);
