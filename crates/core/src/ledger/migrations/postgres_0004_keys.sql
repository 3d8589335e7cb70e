-- frugal ledger, PostgreSQL: gateway keys, their budgets and rate limits (docs/keys.md).
-- Keys made by `frugal keys create`: only the SHA-256 of the key is kept; the policy
-- (allowed models and tiers, routing, budgets, limits) is JSON.
CREATE TABLE IF NOT EXISTS api_keys (
    name TEXT PRIMARY KEY,
    project TEXT NOT NULL DEFAULT '',
    secret_sha256 TEXT NOT NULL UNIQUE,
    -- The key before the last rotation, still accepted until prev_expires_ms.
    prev_secret_sha256 TEXT,
    prev_expires_ms BIGINT,
    policy TEXT NOT NULL DEFAULT '{}',
    created_ms BIGINT NOT NULL,
    rotated_ms BIGINT,
    disabled_ms BIGINT
);
-- Every ledger key_hash a key has had (one per rotation), so reports name the key.
CREATE TABLE IF NOT EXISTS api_key_hashes (
    ledger_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL
);
-- Spend per budget scope (key:NAME, project:NAME) and window (day:YYYY-MM-DD,
-- month:YYYY-MM, total), in nano-dollars. reserved_nanos is held by requests in flight.
CREATE TABLE IF NOT EXISTS budget_counters (
    scope TEXT NOT NULL,
    win TEXT NOT NULL,
    spent_nanos BIGINT NOT NULL DEFAULT 0,
    reserved_nanos BIGINT NOT NULL DEFAULT 0,
    -- The limit the last reservation was checked against.
    limit_nanos BIGINT NOT NULL DEFAULT 0,
    settled BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (scope, win)
);
-- Requests and tokens per key and minute, summed over replicas (rate limits).
CREATE TABLE IF NOT EXISTS rate_counters (
    key_name TEXT NOT NULL,
    minute BIGINT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0,
    tokens BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (key_name, minute)
);
