-- frugal ledger, SQLite, version 3: verified answers. Every model a verified request called
-- (answer, check, escalations) is listed in `calls`; `cost_usd` already includes them all,
-- and `verify_cost_usd` is the part whose answer was not served (checks, discarded answers).
ALTER TABLE requests ADD COLUMN verify TEXT;
ALTER TABLE requests ADD COLUMN verify_confidence REAL;
ALTER TABLE requests ADD COLUMN verify_cost_usd TEXT NOT NULL DEFAULT '0';
ALTER TABLE requests ADD COLUMN verify_delay_ms REAL;
ALTER TABLE requests ADD COLUMN calls TEXT;
-- frugal's own time per request (latency minus upstream waiting).
ALTER TABLE requests ADD COLUMN overhead_ms REAL;
