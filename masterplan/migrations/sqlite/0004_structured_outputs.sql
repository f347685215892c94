-- Structured outputs (issue 14): whether an attempt sent its JSON schema as output_config.format, so parse
-- failures and re-asks can be told apart by it.
ALTER TABLE llm_calls ADD COLUMN structured_output INTEGER NOT NULL DEFAULT 0;
