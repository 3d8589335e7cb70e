-- frugal ledger, PostgreSQL, version 3: verified answers. Every model a verified request
-- called (answer, check, escalations) is listed in `calls`; `cost_usd` already includes them
-- all, and `verify_cost_usd` is the part whose answer was not served.
ALTER TABLE requests ADD COLUMN IF NOT EXISTS verify TEXT;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS verify_confidence DOUBLE PRECISION;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS verify_cost_usd NUMERIC NOT NULL DEFAULT 0;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS verify_delay_ms DOUBLE PRECISION;
ALTER TABLE requests ADD COLUMN IF NOT EXISTS calls TEXT;
-- frugal's own time per request (latency minus upstream waiting).
ALTER TABLE requests ADD COLUMN IF NOT EXISTS overhead_ms DOUBLE PRECISION;
