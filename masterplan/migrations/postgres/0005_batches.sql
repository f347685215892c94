-- Message Batches (issue 14): a batch-mode run sends its calls in batches. A batch's id is stored the moment the
-- API created it, with the attempts it carries (llm_calls.batch_id), so a run resumed after a kill polls the same
-- batch instead of paying for a second one. custom_id names the attempt inside its batch and is the same for the
-- same call of the same run after a restart.
CREATE TABLE batches (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    requests    INTEGER NOT NULL,
    status      TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    ended_at    TIMESTAMPTZ
);
CREATE INDEX batches_run_idx ON batches (run_id);
ALTER TABLE llm_calls ADD COLUMN batch_id TEXT;
ALTER TABLE llm_calls ADD COLUMN custom_id TEXT;
CREATE INDEX llm_calls_custom_id_idx ON llm_calls (run_id, custom_id) WHERE custom_id IS NOT NULL;
