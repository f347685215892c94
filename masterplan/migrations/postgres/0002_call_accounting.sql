-- Accounting that never goes silently to zero (issue 10, item 7).
-- usage_estimated: the server reported no input tokens, so the usage is masterplan's own estimate.
-- worst_case_nanousd: the most the attempt could cost; while the row is 'started' (sent, no answer recorded yet)
--   or 'abandoned' (the service stopped before the answer), it counts against the run's budget.
-- runs.reserved_nanousd: the sum of those worst cases for the run, kept with the rows in the same transactions.
ALTER TABLE llm_calls ADD COLUMN usage_estimated BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE llm_calls ADD COLUMN worst_case_nanousd BIGINT NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN reserved_nanousd BIGINT NOT NULL DEFAULT 0;
CREATE INDEX llm_calls_started_idx ON llm_calls (run_id) WHERE outcome = 'started';
