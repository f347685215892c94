-- masterplan schema, SQLite. Timestamps are ISO 8601 text in UTC; money is integer nano-dollars.
CREATE TABLE runs (
    id                  TEXT PRIMARY KEY,
    request             TEXT    NOT NULL,
    options             TEXT    NOT NULL,
    status              TEXT    NOT NULL,
    budget_nanousd      INTEGER NOT NULL,
    cost_nanousd        INTEGER NOT NULL DEFAULT 0,
    input_tokens        INTEGER NOT NULL DEFAULT 0,
    cache_write_tokens  INTEGER NOT NULL DEFAULT 0,
    cache_read_tokens   INTEGER NOT NULL DEFAULT 0,
    output_tokens       INTEGER NOT NULL DEFAULT 0,
    workspace           TEXT    NOT NULL,
    error               TEXT,
    questions           TEXT    NOT NULL DEFAULT '[]',
    answers             TEXT    NOT NULL DEFAULT '{}',
    last_event_seq      INTEGER NOT NULL DEFAULT 0,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL
);
CREATE INDEX runs_status_idx ON runs (status);
CREATE INDEX runs_created_at_idx ON runs (created_at);

CREATE TABLE tasks (
    run_id        TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id       TEXT    NOT NULL,
    position      INTEGER NOT NULL,
    definition    TEXT    NOT NULL,
    status        TEXT    NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    model         TEXT,
    cost_nanousd  INTEGER NOT NULL DEFAULT 0,
    output        TEXT,
    check_passed  INTEGER,
    error         TEXT,
    updated_at    TEXT    NOT NULL,
    PRIMARY KEY (run_id, task_id)
);
CREATE INDEX tasks_run_status_idx ON tasks (run_id, status);

CREATE TABLE artifacts (
    run_id        TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    name          TEXT NOT NULL,
    content_type  TEXT NOT NULL,
    content       TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (run_id, name)
);

CREATE TABLE llm_calls (
    id                     INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id                 TEXT REFERENCES runs (id) ON DELETE CASCADE,
    task_id                TEXT,
    phase                  TEXT    NOT NULL,
    role                   TEXT    NOT NULL,
    prompt_name            TEXT    NOT NULL,
    prompt_version         INTEGER NOT NULL,
    model                  TEXT    NOT NULL,
    input_tokens           INTEGER NOT NULL,
    cache_write_tokens     INTEGER NOT NULL,
    cache_write_1h_tokens  INTEGER NOT NULL,
    cache_read_tokens      INTEGER NOT NULL,
    output_tokens          INTEGER NOT NULL,
    cost_nanousd           INTEGER NOT NULL,
    latency_ms             REAL    NOT NULL,
    ttft_ms                REAL,
    attempt                INTEGER NOT NULL,
    outcome                TEXT    NOT NULL,
    error                  TEXT,
    request_id             TEXT,
    created_at             TEXT    NOT NULL
);
CREATE INDEX llm_calls_run_idx ON llm_calls (run_id, id);

CREATE TABLE events (
    run_id  TEXT    NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    type    TEXT    NOT NULL,
    ts      TEXT    NOT NULL,
    data    TEXT    NOT NULL,
    PRIMARY KEY (run_id, seq)
);

CREATE TABLE role_prompts (
    name        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    body        TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (name, version)
);

CREATE TABLE phase_configs (
    phase       TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    config      TEXT    NOT NULL,
    sha256      TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    PRIMARY KEY (phase, version)
);

CREATE TABLE learnings (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    task_id     TEXT NOT NULL,
    text        TEXT NOT NULL,
    files       TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX learnings_run_idx ON learnings (run_id);

CREATE VIRTUAL TABLE learnings_fts USING fts5 (text, content = 'learnings', content_rowid = 'id');

CREATE TRIGGER learnings_fts_insert AFTER INSERT ON learnings BEGIN
    INSERT INTO learnings_fts (rowid, text) VALUES (new.id, new.text);
END;

CREATE TRIGGER learnings_fts_delete AFTER DELETE ON learnings BEGIN
    INSERT INTO learnings_fts (learnings_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
