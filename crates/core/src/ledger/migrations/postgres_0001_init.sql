-- frugal ledger, PostgreSQL, version 1. Decimals are NUMERIC (exact); times are ms since the epoch.
CREATE TABLE IF NOT EXISTS requests (
    seq BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE,
    ts_ms BIGINT NOT NULL,
    project TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL DEFAULT '',
    session TEXT NOT NULL DEFAULT '',
    format TEXT NOT NULL,
    decision TEXT NOT NULL,
    requested_model TEXT NOT NULL,
    tier TEXT,
    score DOUBLE PRECISION,
    confidence DOUBLE PRECISION,
    stage TEXT,
    model TEXT,
    baseline_model TEXT,
    fallback_attempts BIGINT NOT NULL DEFAULT 0,
    failed_models TEXT NOT NULL DEFAULT '',
    input_tokens BIGINT NOT NULL DEFAULT 0,
    output_tokens BIGINT NOT NULL DEFAULT 0,
    cached_tokens BIGINT NOT NULL DEFAULT 0,
    cache_write_tokens BIGINT NOT NULL DEFAULT 0,
    compression_tokens_saved BIGINT NOT NULL DEFAULT 0,
    cost_usd NUMERIC NOT NULL DEFAULT 0,
    baseline_cost_usd NUMERIC NOT NULL DEFAULT 0,
    savings_routing_usd NUMERIC NOT NULL DEFAULT 0,
    savings_compression_usd NUMERIC NOT NULL DEFAULT 0,
    savings_caching_usd NUMERIC NOT NULL DEFAULT 0,
    latency_ms DOUBLE PRECISION NOT NULL DEFAULT 0,
    ttft_ms DOUBLE PRECISION,
    status BIGINT NOT NULL,
    error TEXT,
    stream BIGINT NOT NULL DEFAULT 0,
    conversation_hash TEXT NOT NULL DEFAULT '',
    prompt TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts_ms);

CREATE TABLE IF NOT EXISTS feedback (
    seq BIGSERIAL PRIMARY KEY,
    request_id TEXT NOT NULL,
    ts_ms BIGINT NOT NULL,
    tier TEXT,
    model TEXT,
    score DOUBLE PRECISION NOT NULL,
    source TEXT NOT NULL,
    comment TEXT
);
CREATE INDEX IF NOT EXISTS feedback_ts ON feedback (ts_ms);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id);

CREATE TABLE IF NOT EXISTS loop_state (
    name TEXT PRIMARY KEY,
    b0 DOUBLE PRECISION NOT NULL,
    b1 DOUBLE PRECISION NOT NULL,
    b2 DOUBLE PRECISION NOT NULL,
    updated_ms BIGINT NOT NULL
);

CREATE TABLE IF NOT EXISTS loop_events (
    seq BIGSERIAL PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    tier TEXT NOT NULL,
    boundary BIGINT NOT NULL,
    old_value DOUBLE PRECISION NOT NULL,
    new_value DOUBLE PRECISION NOT NULL,
    quality DOUBLE PRECISION NOT NULL,
    lower DOUBLE PRECISION NOT NULL,
    upper DOUBLE PRECISION NOT NULL,
    samples BIGINT NOT NULL,
    reason TEXT NOT NULL,
    dry_run BIGINT NOT NULL
);
