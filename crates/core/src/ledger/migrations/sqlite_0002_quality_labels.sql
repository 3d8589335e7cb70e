-- frugal ledger, SQLite, version 2: labels of the model-aware router (a rated answer: the
-- request's embedding and the model's score), so what traffic taught survives restarts.
CREATE TABLE IF NOT EXISTS quality_labels (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_ms INTEGER NOT NULL,
    request_id TEXT NOT NULL,
    model TEXT NOT NULL,
    score REAL NOT NULL,
    embedding_id TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS quality_labels_embedding ON quality_labels (embedding_id, seq);
