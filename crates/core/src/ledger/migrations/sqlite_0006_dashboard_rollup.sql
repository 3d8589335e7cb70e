-- frugal ledger, SQLite: the dashboard's rollups, kept by triggers. Summing a million
-- request rows at read time takes over a second here (money is TEXT), so the sums per
-- (hour, tier, model) and per (hour, key_hash) are kept up to date as rows are written and
-- deleted (retention), in the same transaction, and the dashboard reads a few thousand
-- rollup rows instead (ledger/dashboard/sqlite.rs). Money is summed as REAL: the
-- dashboard's figures are for display, `frugal report` stays the exact account. A missing
-- tier or model is stored as '' (a primary key column cannot be NULL). The covering index
-- of migration 5 is no longer read.
DROP INDEX IF EXISTS requests_dashboard_hour;

CREATE TABLE IF NOT EXISTS dashboard_rollup (
    hour INTEGER NOT NULL,
    tier TEXT NOT NULL,
    model TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    fallbacks INTEGER NOT NULL DEFAULT 0,
    verified INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    baseline_cost_usd REAL NOT NULL DEFAULT 0,
    savings_routing_usd REAL NOT NULL DEFAULT 0,
    savings_compression_usd REAL NOT NULL DEFAULT 0,
    savings_caching_usd REAL NOT NULL DEFAULT 0,
    verify_cost_usd REAL NOT NULL DEFAULT 0,
    latency_ms REAL NOT NULL DEFAULT 0,
    overhead_ms REAL NOT NULL DEFAULT 0,
    overhead_n INTEGER NOT NULL DEFAULT 0,
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, tier, model)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS dashboard_key_rollup (
    hour INTEGER NOT NULL,
    key_hash TEXT NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    errors INTEGER NOT NULL DEFAULT 0,
    cost_usd REAL NOT NULL DEFAULT 0,
    baseline_cost_usd REAL NOT NULL DEFAULT 0,
    savings_usd REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (hour, key_hash)
) WITHOUT ROWID;

CREATE TRIGGER IF NOT EXISTS requests_rollup_insert AFTER INSERT ON requests BEGIN
    INSERT INTO dashboard_rollup (hour, tier, model, requests, errors, fallbacks, verified, cost_usd, baseline_cost_usd, savings_routing_usd, savings_compression_usd, savings_caching_usd, verify_cost_usd, latency_ms, overhead_ms, overhead_n, input_tokens, output_tokens)
    VALUES (NEW.ts_ms / 3600000, COALESCE(NEW.tier, ''), COALESCE(NEW.model, ''), 1, (NEW.status <> 200 OR NEW.error IS NOT NULL), (NEW.fallback_attempts > 0), COALESCE(NEW.verify IN ('trusted', 'escalated', 'escalation_failed'), 0), CAST(NEW.cost_usd AS REAL), CAST(NEW.baseline_cost_usd AS REAL), CAST(NEW.savings_routing_usd AS REAL), CAST(NEW.savings_compression_usd AS REAL), CAST(NEW.savings_caching_usd AS REAL), CAST(NEW.verify_cost_usd AS REAL), NEW.latency_ms, COALESCE(NEW.overhead_ms, 0), (NEW.overhead_ms IS NOT NULL), NEW.input_tokens, NEW.output_tokens)
    ON CONFLICT (hour, tier, model) DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors, fallbacks = fallbacks + excluded.fallbacks, verified = verified + excluded.verified, cost_usd = cost_usd + excluded.cost_usd, baseline_cost_usd = baseline_cost_usd + excluded.baseline_cost_usd, savings_routing_usd = savings_routing_usd + excluded.savings_routing_usd, savings_compression_usd = savings_compression_usd + excluded.savings_compression_usd, savings_caching_usd = savings_caching_usd + excluded.savings_caching_usd, verify_cost_usd = verify_cost_usd + excluded.verify_cost_usd, latency_ms = latency_ms + excluded.latency_ms, overhead_ms = overhead_ms + excluded.overhead_ms, overhead_n = overhead_n + excluded.overhead_n, input_tokens = input_tokens + excluded.input_tokens, output_tokens = output_tokens + excluded.output_tokens;
    INSERT INTO dashboard_key_rollup (hour, key_hash, requests, errors, cost_usd, baseline_cost_usd, savings_usd)
    VALUES (NEW.ts_ms / 3600000, NEW.key_hash, 1, (NEW.status <> 200 OR NEW.error IS NOT NULL), CAST(NEW.cost_usd AS REAL), CAST(NEW.baseline_cost_usd AS REAL), CAST(NEW.savings_routing_usd AS REAL) + CAST(NEW.savings_compression_usd AS REAL) + CAST(NEW.savings_caching_usd AS REAL))
    ON CONFLICT (hour, key_hash) DO UPDATE SET requests = requests + excluded.requests, errors = errors + excluded.errors, cost_usd = cost_usd + excluded.cost_usd, baseline_cost_usd = baseline_cost_usd + excluded.baseline_cost_usd, savings_usd = savings_usd + excluded.savings_usd;
END;

CREATE TRIGGER IF NOT EXISTS requests_rollup_delete AFTER DELETE ON requests BEGIN
    UPDATE dashboard_rollup SET requests = requests - (1), errors = errors - ((OLD.status <> 200 OR OLD.error IS NOT NULL)), fallbacks = fallbacks - ((OLD.fallback_attempts > 0)), verified = verified - (COALESCE(OLD.verify IN ('trusted', 'escalated', 'escalation_failed'), 0)), cost_usd = cost_usd - (CAST(OLD.cost_usd AS REAL)), baseline_cost_usd = baseline_cost_usd - (CAST(OLD.baseline_cost_usd AS REAL)), savings_routing_usd = savings_routing_usd - (CAST(OLD.savings_routing_usd AS REAL)), savings_compression_usd = savings_compression_usd - (CAST(OLD.savings_compression_usd AS REAL)), savings_caching_usd = savings_caching_usd - (CAST(OLD.savings_caching_usd AS REAL)), verify_cost_usd = verify_cost_usd - (CAST(OLD.verify_cost_usd AS REAL)), latency_ms = latency_ms - (OLD.latency_ms), overhead_ms = overhead_ms - (COALESCE(OLD.overhead_ms, 0)), overhead_n = overhead_n - ((OLD.overhead_ms IS NOT NULL)), input_tokens = input_tokens - (OLD.input_tokens), output_tokens = output_tokens - (OLD.output_tokens)
    WHERE hour = OLD.ts_ms / 3600000 AND tier = COALESCE(OLD.tier, '') AND model = COALESCE(OLD.model, '');
    UPDATE dashboard_key_rollup SET requests = requests - (1), errors = errors - ((OLD.status <> 200 OR OLD.error IS NOT NULL)), cost_usd = cost_usd - (CAST(OLD.cost_usd AS REAL)), baseline_cost_usd = baseline_cost_usd - (CAST(OLD.baseline_cost_usd AS REAL)), savings_usd = savings_usd - (CAST(OLD.savings_routing_usd AS REAL) + CAST(OLD.savings_compression_usd AS REAL) + CAST(OLD.savings_caching_usd AS REAL))
    WHERE hour = OLD.ts_ms / 3600000 AND key_hash = OLD.key_hash;
    DELETE FROM dashboard_rollup WHERE hour = OLD.ts_ms / 3600000
        AND tier = COALESCE(OLD.tier, '') AND model = COALESCE(OLD.model, '') AND requests <= 0;
    DELETE FROM dashboard_key_rollup WHERE hour = OLD.ts_ms / 3600000
        AND key_hash = OLD.key_hash AND requests <= 0;
END;

-- The rows already written.
INSERT INTO dashboard_rollup (hour, tier, model, requests, errors, fallbacks, verified, cost_usd, baseline_cost_usd, savings_routing_usd, savings_compression_usd, savings_caching_usd, verify_cost_usd, latency_ms, overhead_ms, overhead_n, input_tokens, output_tokens)
SELECT ts_ms / 3600000, COALESCE(tier, ''), COALESCE(model, ''), COUNT(*), SUM((status <> 200 OR error IS NOT NULL)), SUM((fallback_attempts > 0)), SUM(COALESCE(verify IN ('trusted', 'escalated', 'escalation_failed'), 0)), TOTAL(CAST(cost_usd AS REAL)), TOTAL(CAST(baseline_cost_usd AS REAL)), TOTAL(CAST(savings_routing_usd AS REAL)), TOTAL(CAST(savings_compression_usd AS REAL)), TOTAL(CAST(savings_caching_usd AS REAL)), TOTAL(CAST(verify_cost_usd AS REAL)), TOTAL(latency_ms), TOTAL(COALESCE(overhead_ms, 0)), SUM((overhead_ms IS NOT NULL)), SUM(input_tokens), SUM(output_tokens)
FROM requests WHERE true GROUP BY 1, 2, 3;
INSERT INTO dashboard_key_rollup (hour, key_hash, requests, errors, cost_usd, baseline_cost_usd, savings_usd)
SELECT ts_ms / 3600000, key_hash, COUNT(*), SUM((status <> 200 OR error IS NOT NULL)), TOTAL(CAST(cost_usd AS REAL)), TOTAL(CAST(baseline_cost_usd AS REAL)), TOTAL(CAST(savings_routing_usd AS REAL) + CAST(savings_compression_usd AS REAL) + CAST(savings_caching_usd AS REAL))
FROM requests WHERE true GROUP BY 1, 2;
