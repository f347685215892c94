import orjson
import pytest

from masterplan.llm.parser import LLMResponseParser, Parsed, ParseFailure
from masterplan.models import TaskOutput

VALID = {"files": [{"path": "app/main.py", "content": "print('hi {there}')\n"}], "summary": "Entry point."}
VALID_TEXT = orjson.dumps(VALID).decode()

parser = LLMResponseParser()


def parse(text: str, stop_reason: str | None = "end_turn") -> Parsed[TaskOutput] | ParseFailure:
    return parser.parse(text, TaskOutput, stop_reason=stop_reason, max_tokens=16000)


def test_bare_json_answer_parses_as_a_whole() -> None:
    outcome = parse(VALID_TEXT)
    assert isinstance(outcome, Parsed)
    assert outcome.strategy == "whole_text"
    assert outcome.value.files[0].path == "app/main.py"


def test_json_in_a_fenced_block_parses() -> None:
    outcome = parse(f"Here is the result:\n\n```json\n{VALID_TEXT}\n```\nLet me know.")
    assert isinstance(outcome, Parsed)
    assert outcome.strategy == "fenced_block"


def test_json_wrapped_in_prose_parses_from_the_first_balanced_object() -> None:
    outcome = parse(f"Sure! I wrote {{the file}} as asked: {VALID_TEXT} Hope this helps.")
    assert isinstance(outcome, Parsed)
    assert outcome.strategy == "balanced_object"
    assert outcome.value.files[0].content == "print('hi {there}')\n"


def test_malformed_json_gives_a_structured_error_with_its_position() -> None:
    outcome = parse('{"files": [{"path": "a.py", "content": "x"}], "summary": "s",}')
    assert isinstance(outcome, ParseFailure)
    assert outcome.kind == "invalid_json"
    assert outcome.outcome == "parse_error"
    assert "line 1 column" in outcome.issues[0].location
    assert "malformed JSON" in outcome.feedback


def test_unclosed_object_is_reported_as_never_closed() -> None:
    outcome = parse('{"files": [{"path": "a.py", "content": "x"}]')
    assert isinstance(outcome, ParseFailure)
    assert "never closed" in outcome.issues[0].message


def test_answer_without_json_says_so() -> None:
    outcome = parse("I cannot do that task.")
    assert isinstance(outcome, ParseFailure)
    assert outcome.kind == "no_json"
    assert "no JSON object" in outcome.feedback


def test_schema_violations_list_each_location_and_message() -> None:
    answer = {"files": [{"path": "", "content": "x"}, {"content": "y"}], "summary": "s", "extra": 1}
    outcome = parse(orjson.dumps(answer).decode())
    assert isinstance(outcome, ParseFailure)
    assert outcome.kind == "validation"
    assert outcome.outcome == "validation_error"
    locations = {issue.location for issue in outcome.issues}
    assert {"files.0.path", "files.1.path", "extra"} <= locations
    assert "- files.1.path: Field required" in outcome.feedback
    assert "TaskOutput" in outcome.feedback


def test_output_cut_at_max_tokens_is_reported_as_truncated() -> None:
    outcome = parse(VALID_TEXT[:40], stop_reason="max_tokens")
    assert isinstance(outcome, ParseFailure)
    assert outcome.truncated
    assert outcome.kind == "truncated"
    assert outcome.outcome == "truncated"
    assert "cut off at the output limit (16000 tokens)" in outcome.feedback


def test_complete_json_that_ends_exactly_at_max_tokens_is_accepted() -> None:
    assert isinstance(parse(VALID_TEXT, stop_reason="max_tokens"), Parsed)


@pytest.mark.parametrize("text", ["", "   \n"])
def test_empty_answer_is_a_structured_error(text: str) -> None:
    outcome = parse(text)
    assert isinstance(outcome, ParseFailure)
    assert outcome.issues[0].message == "the answer was empty"
