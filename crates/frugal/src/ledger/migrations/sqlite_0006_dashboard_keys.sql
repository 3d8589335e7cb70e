-- frugal ledger, SQLite: spend per key on the dashboard (ledger/dashboard/sqlite.rs groups
-- requests by key_hash over a time range). Leading with key_hash and holding every summed
-- column, this index lets SQLite aggregate in group order from the index alone.
CREATE INDEX IF NOT EXISTS requests_dashboard_key ON requests (
    key_hash, ts_ms, status, error, cost_usd, baseline_cost_usd, savings_routing_usd,
    savings_compression_usd, savings_caching_usd
);
