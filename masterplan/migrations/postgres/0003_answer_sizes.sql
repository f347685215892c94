-- Answer-sized max_tokens (issue 11, item 3).
-- llm_calls.part: 1 for the request itself, 2.. for the continuations of an answer cut at max_tokens
--   (each continuation is a call of its own, with its own attempts, usage and cost).
-- llm_calls.max_tokens: what the attempt asked for (NULL for rows written before this migration).
-- answer_sizes: one row per answer that completed (a continued answer once, joined), across runs: what the
--   next calls of the same phase, task type, complexity and model choose their max_tokens from.
--   task_type and complexity are set for task calls only. cut: the answer still ended at max_tokens (its
--   true size is at least output_tokens).
ALTER TABLE llm_calls ADD COLUMN part INTEGER NOT NULL DEFAULT 1;
ALTER TABLE llm_calls ADD COLUMN max_tokens INTEGER;

CREATE TABLE answer_sizes (
    id             BIGSERIAL PRIMARY KEY,
    run_id         TEXT REFERENCES runs (id) ON DELETE SET NULL,
    phase          TEXT        NOT NULL,
    task_type      TEXT,
    complexity     TEXT,
    model          TEXT        NOT NULL,
    output_tokens  INTEGER     NOT NULL,
    parts          INTEGER     NOT NULL,
    cut            BOOLEAN     NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL
);
CREATE INDEX answer_sizes_key_idx ON answer_sizes (phase, model, task_type, complexity, id);
