-- frugal ledger, PostgreSQL, version 2: labels of the model-aware router (a rated answer:
-- the request's embedding and the model's score), shared by every replica.
CREATE TABLE IF NOT EXISTS quality_labels (
    seq BIGSERIAL PRIMARY KEY,
    ts_ms BIGINT NOT NULL,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    score DOUBLE PRECISION NOT NULL,
    embedding_id TEXT NOT NULL,
    embedding BYTEA NOT NULL
);
CREATE INDEX IF NOT EXISTS quality_labels_embedding ON quality_labels (embedding_id, seq);
