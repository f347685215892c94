-- masterplan schema, PostgreSQL. Money is integer nano-dollars.
CREATE TABLE runs (
    id                  TEXT PRIMARY KEY,
    request             TEXT        NOT NULL,
    options             JSONB       NOT NULL,
    status              TEXT        NOT NULL,
    budget_nanousd      BIGINT      NOT NULL,
    cost_nanousd        BIGINT      NOT NULL DEFAULT 0,
    input_tokens        BIGINT      NOT NULL DEFAULT 0,
    cache_write_tokens  BIGINT      NOT NULL DEFAULT 0,
    cache_read_tokens   BIGINT      NOT NULL DEFAULT 0,
    output_tokens       BIGINT      NOT NULL DEFAULT 0,
    workspace           TEXT        NOT NULL,
    error               TEXT,
    questions           JSONB       NOT NULL DEFAULT '[]',
    answers             JSONB       NOT NULL DEFAULT '{}',
    last_event_seq      BIGINT      NOT NULL DEFAULT 0,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX runs_status_idx ON runs (status);
CREATE INDEX runs_created_at_idx ON runs (created_at);

CREATE TABLE tasks (
    run_id        TEXT        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id       TEXT        NOT NULL,
    position      INTEGER     NOT NULL,
    definition    JSONB       NOT NULL,
    status        TEXT        NOT NULL,
    attempts      INTEGER     NOT NULL DEFAULT 0,
    model         TEXT,
    cost_nanousd  BIGINT      NOT NULL DEFAULT 0,
    output        JSONB,
    check_passed  BOOLEAN,
    error         TEXT,
    updated_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, task_id)
);
CREATE INDEX tasks_run_status_idx ON tasks (run_id, status);

CREATE TABLE artifacts (
    run_id        TEXT        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name          TEXT        NOT NULL,
    content_type  TEXT        NOT NULL,
    content       TEXT        NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE llm_calls (
    id                     BIGSERIAL PRIMARY KEY,
    run_id                 TEXT REFERENCES runs (id) ON DELETE CASCADE,
    task_id                TEXT,
    phase                  TEXT             NOT NULL,
    role                   TEXT             NOT NULL,
    prompt_name            TEXT             NOT NULL,
    prompt_version         INTEGER          NOT NULL,
    model                  TEXT             NOT NULL,
    input_tokens           BIGINT           NOT NULL,
    cache_write_tokens     BIGINT           NOT NULL,
    cache_write_1h_tokens  BIGINT           NOT NULL,
    cache_read_tokens      BIGINT           NOT NULL,
    output_tokens          BIGINT           NOT NULL,
    cost_nanousd           BIGINT           NOT NULL,
    latency_ms             DOUBLE PRECISION NOT NULL,
    ttft_ms                DOUBLE PRECISION,
    attempt                INTEGER          NOT NULL,
    outcome                TEXT             NOT NULL,
    error                  TEXT,
    request_id             TEXT,
    created_at             TIMESTAMPTZ      NOT NULL
);
CREATE INDEX llm_calls_run_idx ON llm_calls (run_id, id);

CREATE TABLE events (
    run_id  TEXT        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq     BIGINT      NOT NULL,
    type    TEXT        NOT NULL,
    ts      TIMESTAMPTZ NOT NULL,
    data    JSONB       NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE role_prompts (
    name        TEXT        NOT NULL,
    version     INTEGER     NOT NULL,
    body        TEXT        NOT NULL,
    sha256      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE phase_configs (
    phase       TEXT        NOT NULL,
    version     INTEGER     NOT NULL,
    config      JSONB       NOT NULL,
    sha256      TEXT        NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (phase, version)
);

CREATE TABLE learnings (
    id          BIGSERIAL PRIMARY KEY,
    run_id      TEXT        NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id     TEXT        NOT NULL,
    text        TEXT        NOT NULL,
    files       JSONB       NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    search      TSVECTOR GENERATED ALWAYS AS (to_tsvector('english', text)) STORED
);
CREATE INDEX learnings_run_idx ON learnings (run_id);
CREATE INDEX learnings_search_idx ON learnings USING GIN (search);
