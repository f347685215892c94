-- Named queries for PostgreSQL. Parameters are :name, compiled to $n by masterplan/store/queries.py.

-- name: ping
SELECT 1 AS ok;

-- name: write_probe
-- A write that changes nothing: it fails on a read-only database (file, directory or server), where ping passes.
DELETE FROM schema_migrations WHERE version < 0;

-- name: advisory_lock
SELECT pg_advisory_xact_lock(:key);

-- name: create_schema_migrations
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INTEGER PRIMARY KEY,
    name        TEXT        NOT NULL,
    applied_at  TIMESTAMPTZ NOT NULL
);

-- name: applied_migrations
SELECT version, name FROM schema_migrations ORDER BY version;

-- name: record_migration
INSERT INTO schema_migrations (version, name, applied_at) VALUES (:version, :name, :applied_at);

-- name: schema_objects
SELECT 'table' AS kind, tablename AS name FROM pg_tables WHERE schemaname = current_schema()
UNION ALL
SELECT 'index' AS kind, indexname AS name FROM pg_indexes WHERE schemaname = current_schema();

-- name: insert_run
INSERT INTO runs (id, request, options, status, budget_nanousd, workspace, questions, answers, created_at, updated_at)
VALUES (:id, :request, :options::jsonb, :status, :budget_nanousd, :workspace, :questions::jsonb, :answers::jsonb,
        :created_at, :updated_at);

-- name: get_run
SELECT * FROM runs WHERE id = :id;

-- name: get_run_for_update
SELECT * FROM runs WHERE id = :id FOR UPDATE;

-- name: list_runs
SELECT * FROM runs ORDER BY created_at DESC, id DESC LIMIT :limit;

-- name: list_unfinished_runs
SELECT * FROM runs
WHERE status NOT IN ('completed', 'completed_with_failures', 'failed', 'cancelled', 'budget_exceeded')
ORDER BY created_at, id;

-- name: update_run_status
UPDATE runs SET status = :status, error = :error, updated_at = :updated_at WHERE id = :id;

-- name: update_run_discovery
UPDATE runs SET questions = :questions::jsonb, answers = :answers::jsonb, updated_at = :updated_at WHERE id = :id;

-- name: next_event_seq
UPDATE runs SET last_event_seq = last_event_seq + 1 WHERE id = :run_id RETURNING last_event_seq AS seq;

-- name: insert_event
INSERT INTO events (run_id, seq, type, ts, data) VALUES (:run_id, :seq, :type, :ts, :data::jsonb);

-- name: events_after
SELECT run_id, seq, type, ts, data FROM events WHERE run_id = :run_id AND seq > :after ORDER BY seq LIMIT :limit;

-- name: insert_task
INSERT INTO tasks (run_id, task_id, position, definition, status, attempts, model, cost_nanousd, output,
                   check_passed, error, updated_at)
VALUES (:run_id, :task_id, :position, :definition::jsonb, :status, :attempts, :model, :cost_nanousd, :output::jsonb,
        :check_passed, :error, :updated_at);

-- name: update_task
UPDATE tasks SET status = :status, attempts = :attempts, model = :model, cost_nanousd = :cost_nanousd,
                 output = :output::jsonb, check_passed = :check_passed, error = :error, updated_at = :updated_at
WHERE run_id = :run_id AND task_id = :task_id;

-- name: get_task
SELECT * FROM tasks WHERE run_id = :run_id AND task_id = :task_id;

-- name: list_tasks
SELECT * FROM tasks WHERE run_id = :run_id ORDER BY position;

-- name: count_tasks_by_status
SELECT status, COUNT(*) AS tasks FROM tasks WHERE run_id = :run_id GROUP BY status;

-- name: finished_task_attempts
-- How many answers the finished tasks of earlier runs needed: the forecast's expected retries.
SELECT COUNT(*) AS tasks, COALESCE(SUM(attempts), 0) AS attempts FROM tasks
WHERE status IN ('completed', 'failed') AND attempts > 0 AND run_id <> :exclude_run_id;

-- name: recent_call_speeds
-- The newest answered calls of one model: the forecast's time to first token and output speed.
SELECT latency_ms, ttft_ms, output_tokens FROM llm_calls
WHERE model = :model AND outcome = 'ok' AND ttft_ms IS NOT NULL AND output_tokens > 0
  AND (run_id IS NULL OR run_id <> :exclude_run_id)
ORDER BY id DESC
LIMIT :limit;

-- name: list_llm_calls
SELECT * FROM llm_calls WHERE run_id = :run_id ORDER BY id;

-- name: upsert_artifact
INSERT INTO artifacts (run_id, name, content_type, content, created_at)
VALUES (:run_id, :name, :content_type, :content, :created_at)
ON CONFLICT (run_id, name) DO UPDATE SET content_type = excluded.content_type, content = excluded.content,
                                         created_at = excluded.created_at;

-- name: get_artifact
SELECT * FROM artifacts WHERE run_id = :run_id AND name = :name;

-- name: list_artifacts
SELECT * FROM artifacts WHERE run_id = :run_id ORDER BY name;

-- name: latest_prompt
SELECT * FROM role_prompts WHERE name = :name ORDER BY version DESC LIMIT 1;

-- name: get_prompt_version
SELECT * FROM role_prompts WHERE name = :name AND version = :version;

-- name: insert_prompt
INSERT INTO role_prompts (name, version, body, sha256, created_at)
VALUES (:name, :version, :body, :sha256, :created_at);

-- name: list_latest_prompts
SELECT DISTINCT ON (name) * FROM role_prompts ORDER BY name, version DESC;

-- name: list_prompt_versions
SELECT * FROM role_prompts WHERE name = :name ORDER BY version;

-- name: latest_phase_config
SELECT * FROM phase_configs WHERE phase = :phase ORDER BY version DESC LIMIT 1;

-- name: insert_phase_config
INSERT INTO phase_configs (phase, version, config, sha256, created_at)
VALUES (:phase, :version, :config::jsonb, :sha256, :created_at);

-- name: list_latest_phase_configs
SELECT DISTINCT ON (phase) * FROM phase_configs ORDER BY phase, version DESC;

-- name: insert_learning
INSERT INTO learnings (run_id, task_id, text, files, created_at)
VALUES (:run_id, :task_id, :text, :files::jsonb, :created_at)
RETURNING id;

-- name: search_learnings
SELECT id, run_id, task_id, text, files, created_at FROM learnings
WHERE search @@ websearch_to_tsquery('english', :terms) AND run_id <> :exclude_run_id
ORDER BY ts_rank(search, websearch_to_tsquery('english', :terms)) DESC, id DESC
LIMIT :limit;

-- name: insert_accounted_llm_call
INSERT INTO llm_calls (run_id, task_id, phase, role, prompt_name, prompt_version, model, input_tokens,
                       cache_write_tokens, cache_write_1h_tokens, cache_read_tokens, output_tokens, cost_nanousd,
                       latency_ms, ttft_ms, attempt, part, max_tokens, structured_output, outcome, error,
                       request_id, usage_estimated, worst_case_nanousd, created_at, batch_id, custom_id)
VALUES (:run_id, :task_id, :phase, :role, :prompt_name, :prompt_version, :model, :input_tokens,
        :cache_write_tokens, :cache_write_1h_tokens, :cache_read_tokens, :output_tokens, :cost_nanousd,
        :latency_ms, :ttft_ms, :attempt, :part, :max_tokens, :structured_output, :outcome, :error,
        :request_id, :usage_estimated, :worst_case_nanousd, :created_at, :batch_id, :custom_id)
RETURNING id;

-- name: finish_started_llm_call
-- The answer of a 'started' (or, after a race with a resume, 'abandoned') attempt arrived: its real usage
-- replaces the worst case. Returns the worst case to release from the run's reserve; no row: nothing to finish.
UPDATE llm_calls SET
    input_tokens = :input_tokens,
    cache_write_tokens = :cache_write_tokens,
    cache_write_1h_tokens = :cache_write_1h_tokens,
    cache_read_tokens = :cache_read_tokens,
    output_tokens = :output_tokens,
    cost_nanousd = :cost_nanousd,
    latency_ms = :latency_ms,
    ttft_ms = :ttft_ms,
    outcome = :outcome,
    error = :error,
    request_id = :request_id,
    usage_estimated = :usage_estimated,
    created_at = :created_at
WHERE id = :id AND outcome IN ('started', 'abandoned')
RETURNING worst_case_nanousd;

-- name: settle_run_usage
UPDATE runs SET
    cost_nanousd = cost_nanousd + :cost_nanousd,
    reserved_nanousd = reserved_nanousd - :released_nanousd,
    input_tokens = input_tokens + :input_tokens,
    cache_write_tokens = cache_write_tokens + :cache_write_tokens,
    cache_read_tokens = cache_read_tokens + :cache_read_tokens,
    output_tokens = output_tokens + :output_tokens,
    updated_at = :updated_at
WHERE id = :id;

-- name: reserve_run_spend
UPDATE runs SET reserved_nanousd = reserved_nanousd + :worst_case_nanousd WHERE id = :id;

-- name: abandon_started_llm_calls
UPDATE llm_calls SET outcome = 'abandoned', error = :error
WHERE run_id = :run_id AND outcome = 'started'
RETURNING worst_case_nanousd;

-- name: insert_answer_size
INSERT INTO answer_sizes (run_id, phase, task_type, complexity, model, output_tokens, parts, cut, created_at)
VALUES (:run_id, :phase, :task_type, :complexity, :model, :output_tokens, :parts, :cut, :created_at);

-- name: recent_answer_sizes
-- The newest answers of one key; task_type and complexity match NULL to NULL (calls that are no task's).
-- exclude_run_id ('' for none) leaves out one run's own answers.
SELECT output_tokens, cut FROM answer_sizes
WHERE phase = :phase AND model = :model AND (run_id IS NULL OR run_id <> :exclude_run_id)
  AND task_type IS NOT DISTINCT FROM :task_type::text AND complexity IS NOT DISTINCT FROM :complexity::text
ORDER BY id DESC
LIMIT :limit;

-- name: recent_phase_answer_sizes
-- The newest answers of a phase and model, whatever their task type and complexity.
SELECT output_tokens, cut FROM answer_sizes
WHERE phase = :phase AND model = :model AND (run_id IS NULL OR run_id <> :exclude_run_id)
ORDER BY id DESC
LIMIT :limit;

-- name: insert_batch
INSERT INTO batches (id, run_id, requests, status, created_at)
VALUES (:id, :run_id, :requests, :status, :created_at);

-- name: assign_llm_call_batch
UPDATE llm_calls SET batch_id = :batch_id WHERE id = :id;

-- name: end_batch
UPDATE batches SET status = :status, ended_at = :ended_at WHERE id = :id AND status <> :status
RETURNING id;

-- name: list_batches
SELECT * FROM batches WHERE run_id = :run_id ORDER BY created_at, id;

-- name: batched_llm_call
-- The newest attempt of the run sent in a batch under this custom_id (a resumed run polls its batch).
SELECT id, batch_id, outcome, worst_case_nanousd, cost_nanousd FROM llm_calls
WHERE run_id = :run_id AND custom_id = :custom_id AND batch_id IS NOT NULL
ORDER BY id DESC
LIMIT 1;

-- name: llm_call_exists
SELECT id FROM llm_calls WHERE id = :id;
