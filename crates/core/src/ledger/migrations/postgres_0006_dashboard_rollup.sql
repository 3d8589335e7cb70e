-- frugal ledger, PostgreSQL: the dashboard's rollups, kept by statement-level triggers.
-- The sums per (hour, tier, model) and per (hour, key_hash) are kept up to date as batches
-- are written and rows deleted (retention), in the same transaction, so the dashboard
-- reads a few thousand rollup rows instead of summing the ledger (ledger/dashboard/
-- postgres.rs). Each trigger aggregates its statement's rows (a transition table) and
-- upserts them in key order, so replicas writing at once lock rollup rows in the same
-- order and cannot deadlock. Money stays NUMERIC (exact). A missing tier or model is ''.
-- The covering index of migration 5 is no longer read.
DROP INDEX IF EXISTS requests_dashboard_ts;

CREATE TABLE IF NOT EXISTS dashboard_rollup (
    hour BIGINT NOT NULL,
    tier TEXT NOT NULL,
    model TEXT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    fallbacks BIGINT NOT NULL DEFAULT 0,
    verified BIGINT NOT NULL DEFAULT 0,
    cost_usd NUMERIC NOT NULL DEFAULT 0,
    baseline_cost_usd NUMERIC NOT NULL DEFAULT 0,
    savings_routing_usd NUMERIC NOT NULL DEFAULT 0,
    savings_compression_usd NUMERIC NOT NULL DEFAULT 0,
    savings_caching_usd NUMERIC NOT NULL DEFAULT 0,
    verify_cost_usd NUMERIC NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    overhead_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    overhead_n BIGINT NOT NULL DEFAULT 0,
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, tier, model)
);

CREATE TABLE IF NOT EXISTS dashboard_key_rollup (
    hour BIGINT NOT NULL,
    key_hash TEXT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0,
    errors BIGINT NOT NULL DEFAULT 0,
    cost_usd NUMERIC NOT NULL DEFAULT 0,
    baseline_cost_usd NUMERIC NOT NULL DEFAULT 0,
    savings_usd NUMERIC NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, key_hash)
);

CREATE OR REPLACE FUNCTION frugal_rollup_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_rollup AS r (hour, tier, model, requests, errors, fallbacks, verified, cost_usd, baseline_cost_usd, savings_routing_usd, savings_compression_usd, savings_caching_usd, verify_cost_usd, latency_ms, overhead_ms, overhead_n, input_tokens, output_tokens)
        SELECT ts_ms / 3600000, COALESCE(tier, ''), COALESCE(model, ''), COUNT(*), COUNT(*) FILTER (WHERE status <> 200 OR error IS NOT NULL), COUNT(*) FILTER (WHERE fallback_attempts > 0), COUNT(*) FILTER (WHERE verify IN ('trusted', 'escalated', 'escalation_failed')), SUM(cost_usd), SUM(baseline_cost_usd), SUM(savings_routing_usd), SUM(savings_compression_usd), SUM(savings_caching_usd), SUM(verify_cost_usd), SUM(latency_ms), COALESCE(SUM(overhead_ms), 0), COUNT(overhead_ms), SUM(input_tokens), SUM(output_tokens)
        FROM new_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (hour, tier, model) DO UPDATE SET requests = r.requests + EXCLUDED.requests, errors = r.errors + EXCLUDED.errors, fallbacks = r.fallbacks + EXCLUDED.fallbacks, verified = r.verified + EXCLUDED.verified, cost_usd = r.cost_usd + EXCLUDED.cost_usd, baseline_cost_usd = r.baseline_cost_usd + EXCLUDED.baseline_cost_usd, savings_routing_usd = r.savings_routing_usd + EXCLUDED.savings_routing_usd, savings_compression_usd = r.savings_compression_usd + EXCLUDED.savings_compression_usd, savings_caching_usd = r.savings_caching_usd + EXCLUDED.savings_caching_usd, verify_cost_usd = r.verify_cost_usd + EXCLUDED.verify_cost_usd, latency_ms = r.latency_ms + EXCLUDED.latency_ms, overhead_ms = r.overhead_ms + EXCLUDED.overhead_ms, overhead_n = r.overhead_n + EXCLUDED.overhead_n, input_tokens = r.input_tokens + EXCLUDED.input_tokens, output_tokens = r.output_tokens + EXCLUDED.output_tokens;
    INSERT INTO dashboard_key_rollup AS r (hour, key_hash, requests, errors, cost_usd, baseline_cost_usd, savings_usd)
        SELECT ts_ms / 3600000, key_hash, COUNT(*), COUNT(*) FILTER (WHERE status <> 200 OR error IS NOT NULL), SUM(cost_usd), SUM(baseline_cost_usd), SUM(savings_routing_usd + savings_compression_usd + savings_caching_usd)
        FROM new_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (hour, key_hash) DO UPDATE SET requests = r.requests + EXCLUDED.requests, errors = r.errors + EXCLUDED.errors, cost_usd = r.cost_usd + EXCLUDED.cost_usd, baseline_cost_usd = r.baseline_cost_usd + EXCLUDED.baseline_cost_usd, savings_usd = r.savings_usd + EXCLUDED.savings_usd;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION frugal_rollup_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO dashboard_rollup AS r (hour, tier, model, requests, errors, fallbacks, verified, cost_usd, baseline_cost_usd, savings_routing_usd, savings_compression_usd, savings_caching_usd, verify_cost_usd, latency_ms, overhead_ms, overhead_n, input_tokens, output_tokens)
        SELECT ts_ms / 3600000, COALESCE(tier, ''), COALESCE(model, ''), COUNT(*), COUNT(*) FILTER (WHERE status <> 200 OR error IS NOT NULL), COUNT(*) FILTER (WHERE fallback_attempts > 0), COUNT(*) FILTER (WHERE verify IN ('trusted', 'escalated', 'escalation_failed')), SUM(cost_usd), SUM(baseline_cost_usd), SUM(savings_routing_usd), SUM(savings_compression_usd), SUM(savings_caching_usd), SUM(verify_cost_usd), SUM(latency_ms), COALESCE(SUM(overhead_ms), 0), COUNT(overhead_ms), SUM(input_tokens), SUM(output_tokens)
        FROM old_rows GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
        ON CONFLICT (hour, tier, model) DO UPDATE SET requests = r.requests - EXCLUDED.requests, errors = r.errors - EXCLUDED.errors, fallbacks = r.fallbacks - EXCLUDED.fallbacks, verified = r.verified - EXCLUDED.verified, cost_usd = r.cost_usd - EXCLUDED.cost_usd, baseline_cost_usd = r.baseline_cost_usd - EXCLUDED.baseline_cost_usd, savings_routing_usd = r.savings_routing_usd - EXCLUDED.savings_routing_usd, savings_compression_usd = r.savings_compression_usd - EXCLUDED.savings_compression_usd, savings_caching_usd = r.savings_caching_usd - EXCLUDED.savings_caching_usd, verify_cost_usd = r.verify_cost_usd - EXCLUDED.verify_cost_usd, latency_ms = r.latency_ms - EXCLUDED.latency_ms, overhead_ms = r.overhead_ms - EXCLUDED.overhead_ms, overhead_n = r.overhead_n - EXCLUDED.overhead_n, input_tokens = r.input_tokens - EXCLUDED.input_tokens, output_tokens = r.output_tokens - EXCLUDED.output_tokens;
    INSERT INTO dashboard_key_rollup AS r (hour, key_hash, requests, errors, cost_usd, baseline_cost_usd, savings_usd)
        SELECT ts_ms / 3600000, key_hash, COUNT(*), COUNT(*) FILTER (WHERE status <> 200 OR error IS NOT NULL), SUM(cost_usd), SUM(baseline_cost_usd), SUM(savings_routing_usd + savings_compression_usd + savings_caching_usd)
        FROM old_rows GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (hour, key_hash) DO UPDATE SET requests = r.requests - EXCLUDED.requests, errors = r.errors - EXCLUDED.errors, cost_usd = r.cost_usd - EXCLUDED.cost_usd, baseline_cost_usd = r.baseline_cost_usd - EXCLUDED.baseline_cost_usd, savings_usd = r.savings_usd - EXCLUDED.savings_usd;
    DELETE FROM dashboard_rollup WHERE requests <= 0
        AND hour IN (SELECT DISTINCT ts_ms / 3600000 FROM old_rows);
    DELETE FROM dashboard_key_rollup WHERE requests <= 0
        AND hour IN (SELECT DISTINCT ts_ms / 3600000 FROM old_rows);
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS requests_rollup_insert ON requests;
CREATE TRIGGER requests_rollup_insert AFTER INSERT ON requests
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION frugal_rollup_insert();
DROP TRIGGER IF EXISTS requests_rollup_delete ON requests;
CREATE TRIGGER requests_rollup_delete AFTER DELETE ON requests
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION frugal_rollup_delete();

-- The rows already written.
INSERT INTO dashboard_rollup (hour, tier, model, requests, errors, fallbacks, verified, cost_usd, baseline_cost_usd, savings_routing_usd, savings_compression_usd, savings_caching_usd, verify_cost_usd, latency_ms, overhead_ms, overhead_n, input_tokens, output_tokens)
    SELECT ts_ms / 3600000, COALESCE(tier, ''), COALESCE(model, ''), COUNT(*), COUNT(*) FILTER (WHERE status <> 200 OR error IS NOT NULL), COUNT(*) FILTER (WHERE fallback_attempts > 0), COUNT(*) FILTER (WHERE verify IN ('trusted', 'escalated', 'escalation_failed')), SUM(cost_usd), SUM(baseline_cost_usd), SUM(savings_routing_usd), SUM(savings_compression_usd), SUM(savings_caching_usd), SUM(verify_cost_usd), SUM(latency_ms), COALESCE(SUM(overhead_ms), 0), COUNT(overhead_ms), SUM(input_tokens), SUM(output_tokens)
        FROM requests GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
INSERT INTO dashboard_key_rollup (hour, key_hash, requests, errors, cost_usd, baseline_cost_usd, savings_usd)
    SELECT ts_ms / 3600000, key_hash, COUNT(*), COUNT(*) FILTER (WHERE status <> 200 OR error IS NOT NULL), SUM(cost_usd), SUM(baseline_cost_usd), SUM(savings_routing_usd + savings_compression_usd + savings_caching_usd)
        FROM requests GROUP BY 1, 2 ORDER BY 1, 2;
