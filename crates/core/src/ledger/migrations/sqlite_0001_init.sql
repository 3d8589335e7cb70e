-- frugal ledger, SQLite, version 1. Decimals are TEXT (exact); times are ms since the epoch.
CREATE TABLE IF NOT EXISTS requests (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    ts_ms INTEGER NOT NULL,
    project TEXT NOT NULL DEFAULT '',
    key_hash TEXT NOT NULL DEFAULT '',
    session TEXT NOT NULL DEFAULT '',
    format TEXT NOT NULL,
    decision TEXT NOT NULL,
    requested_model TEXT NOT NULL,
    tier TEXT,
    score REAL,
    confidence REAL,
    stage TEXT,
    model TEXT,
    baseline_model TEXT,
    fallback_attempts INTEGER NOT NULL DEFAULT 0,
    failed_models TEXT NOT NULL DEFAULT '',
    input_tokens INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    cached_tokens INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens INTEGER NOT NULL DEFAULT 0,
    compression_tokens_saved INTEGER NOT NULL DEFAULT 0,
    cost_usd TEXT NOT NULL DEFAULT '0',
    baseline_cost_usd TEXT NOT NULL DEFAULT '0',
    savings_routing_usd TEXT NOT NULL DEFAULT '0',
    savings_compression_usd TEXT NOT NULL DEFAULT '0',
    savings_caching_usd TEXT NOT NULL DEFAULT '0',
    latency_ms REAL NOT NULL DEFAULT 0,
    ttft_ms REAL,
    status INTEGER NOT NULL,
    error TEXT,
    stream INTEGER NOT NULL DEFAULT 0,
    conversation_hash TEXT NOT NULL DEFAULT '',
    prompt TEXT
);
CREATE INDEX IF NOT EXISTS requests_ts ON requests (ts_ms);

CREATE TABLE IF NOT EXISTS feedback (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL,
    ts_ms INTEGER NOT NULL,
    tier TEXT,
    model TEXT,
    score REAL NOT NULL,
    source TEXT NOT NULL,
    comment TEXT
);
CREATE INDEX IF NOT EXISTS feedback_ts ON feedback (ts_ms);
CREATE INDEX IF NOT EXISTS feedback_request ON feedback (request_id);

CREATE TABLE IF NOT EXISTS loop_state (
    name TEXT PRIMARY KEY,
    b0 REAL NOT NULL,
    b1 REAL NOT NULL,
    b2 REAL NOT NULL,
    updated_ms INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS loop_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    tier TEXT NOT NULL,
    boundary INTEGER NOT NULL,
    old_value REAL NOT NULL,
    new_value REAL NOT NULL,
    quality REAL NOT NULL,
    lower REAL NOT NULL,
    upper REAL NOT NULL,
    samples INTEGER NOT NULL,
    reason TEXT NOT NULL,
    dry_run INTEGER NOT NULL
);
