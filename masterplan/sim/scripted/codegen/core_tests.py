"""The tests of the core modules (errors, ids, validation) of a generated project."""

from __future__ import annotations

CORE_TESTS = '''
"""Errors, ids and validation checks."""

from datetime import datetime

import pytest

from $package.core import validation
from $package.core.errors import (
    ConflictError,
    DomainError,
    NotFoundError,
    StateError,
    ValidationError,
    error_response,
)
from $package.core.ids import IdGenerator, id_sort_key, is_valid_id, new_id, parse_id, reserve_id


def test_validation_error_lists_every_problem() -> None:
    error = ValidationError("Thing", ["name must be a non-empty string", "size must be a whole number >= 0"])
    assert error.problems == ["name must be a non-empty string", "size must be a whole number >= 0"]
    assert str(error) == "invalid Thing: name must be a non-empty string; size must be a whole number >= 0"
    assert isinstance(error, DomainError)


def test_validation_error_names_its_fields_once_each() -> None:
    error = ValidationError("Thing", ["name must be a string", "size must be >= 0", "name is too long"])
    assert error.fields == ["name", "size"]
    assert error.problems_for("name") == ["name must be a string", "name is too long"]
    assert error.problems_for("colour") == []


def test_a_validation_error_without_problems_is_a_bug() -> None:
    with pytest.raises(ValueError, match="at least one problem"):
        ValidationError("Thing", [])


def test_prefixed_problems_keep_the_entity() -> None:
    error = ValidationError("Thing", ["name must be a string"]).prefixed("row 3: ")
    assert error.entity == "Thing"
    assert error.problems == ["row 3: name must be a string"]


def test_not_found_and_conflict_name_the_entity() -> None:
    assert str(NotFoundError("Thing", "thing-9")) == "Thing 'thing-9' does not exist"
    conflict = ConflictError("Thing", "thing-1", "name already used")
    assert conflict.reason == "name already used"
    assert "thing-1" in str(conflict)
    assert str(StateError("Thing", "thing-1", "is not deleted")) == "Thing 'thing-1' is not deleted"


@pytest.mark.parametrize(
    ("error", "status", "code"),
    [
        (ValidationError("Thing", ["name must be a string"]), 400, "validation"),
        (NotFoundError("Thing", "thing-9"), 404, "not_found"),
        (ConflictError("Thing", "thing-1", "name already used"), 409, "conflict"),
        (StateError("Thing", "thing-1", "is archived"), 409, "state"),
        (DomainError("something else"), 400, "domain"),
    ],
)
def test_every_error_maps_to_a_status_and_a_payload(error: DomainError, status: int, code: str) -> None:
    answer_status, payload = error_response(error)
    assert answer_status == status
    assert payload["error"] == code
    assert error.code == code


def test_payloads_carry_what_a_client_needs() -> None:
    assert ValidationError("Thing", ["name must be a string"]).to_payload() == {
        "error": "validation",
        "entity": "Thing",
        "problems": ["name must be a string"],
    }
    assert NotFoundError("Thing", "thing-9").to_payload()["id"] == "thing-9"
    assert ConflictError("Thing", "thing-1", "taken").to_payload()["reason"] == "taken"


def test_ids_count_up_per_prefix() -> None:
    ids = IdGenerator()
    assert [ids.next_id("thing"), ids.next_id("thing"), ids.next_id("other")] == ["thing-1", "thing-2", "other-1"]


def test_peek_does_not_use_up_the_id() -> None:
    ids = IdGenerator()
    assert ids.peek("thing") == "thing-1"
    assert ids.next_id("thing") == "thing-1"
    assert ids.peek("thing") == "thing-2"


def test_reserved_ids_are_never_handed_out() -> None:
    ids = IdGenerator()
    ids.reserve("thing-7")
    assert ids.next_id("thing") == "thing-8"
    ids.reserve("thing-3")
    assert ids.next_id("thing") == "thing-9"
    assert ids.next_id("other") == "other-1"


def test_a_bad_prefix_is_refused() -> None:
    with pytest.raises(ValueError, match="snake case"):
        IdGenerator().next_id("Bad Prefix")
    with pytest.raises(ValueError, match="snake case"):
        IdGenerator().peek("9lives")


def test_new_ids_are_valid_and_distinct() -> None:
    first, second = new_id("sample"), new_id("sample")
    assert first != second
    assert is_valid_id(first)
    assert not is_valid_id("no id")
    assert not is_valid_id(7)


def test_reserve_id_moves_the_process_wide_generator_past_imported_ids() -> None:
    reserve_id("imported-500")
    reserve_id("not an id")
    assert parse_id(new_id("imported"))[1] > 500


def test_parse_id_splits_prefix_and_number() -> None:
    assert parse_id("book-12") == ("book", 12)
    assert parse_id("purchase_order-3") == ("purchase_order", 3)
    for bad in ("book", "book-", "Book-1", "book-x"):
        with pytest.raises(ValueError, match="not an entity id"):
            parse_id(bad)


def test_ids_sort_naturally() -> None:
    ids = ["book-10", "book-2", "author-3", "book-1"]
    assert sorted(ids, key=id_sort_key) == ["author-3", "book-1", "book-2", "book-10"]


@pytest.mark.parametrize(
    ("check", "good", "bad"),
    [
        (validation.require_text, "text", "  "),
        (validation.require_text, "x" * 200, "x" * 201),
        (validation.optional_text, "", 5),
        (validation.optional_text, "x" * 2000, "x" * 2001),
        (validation.require_count, 0, -1),
        (validation.require_count, 4, True),
        (validation.require_amount, 2.5, -0.1),
        (validation.require_amount, 3, float("nan")),
        (validation.require_amount, 0.0, float("inf")),
        (validation.require_flag, False, "no"),
        (validation.require_moment, datetime(2024, 1, 1), "2024-01-01"),
        (validation.require_text_list, ["a", "b"], ["a", ""]),
        (validation.require_text_list, [], ["a", "a"]),
        (validation.require_email, "ann@example.com", "ann@example"),
        (validation.require_email, "a.b+c@mail.example.org", "ann example.com"),
        (validation.require_code, "ABC-001", "abc-001"),
        (validation.require_code, "X1", "ABC 001"),
        (validation.require_status, "active", "ACTIVE"),
        (validation.require_status, "done", "finished"),
    ],
)
def test_checks_accept_good_values_and_name_the_field_of_bad_ones(check, good, bad) -> None:
    problems: list[str] = []
    check(problems, "field", good)
    assert problems == []
    check(problems, "field", bad)
    assert len(problems) == 1
    assert problems[0].startswith("field must")


def test_range_checks_include_both_ends() -> None:
    problems: list[str] = []
    for value in (0, 10):
        validation.require_in_range(problems, "level", value, 0, 10)
    assert problems == []
    for value in (-1, 11, 2.5, True):
        validation.require_in_range(problems, "level", value, 0, 10)
    assert problems == ["level must be a whole number from 0 to 10"] * 4


def test_length_problems_say_how_long_the_value_was() -> None:
    problems: list[str] = []
    validation.require_text(problems, "title", "x" * 250)
    assert problems == ["title must be at most 200 characters, got 250"]


def test_one_of_lists_the_choices() -> None:
    problems: list[str] = []
    validation.require_one_of(problems, "size", "huge", ("small", "large"))
    assert problems == ["size must be one of small, large"]


def test_normalise_text_collapses_whitespace() -> None:
    assert validation.normalise_text("  two   words\\tand\\nmore ") == "two words and more"
'''
