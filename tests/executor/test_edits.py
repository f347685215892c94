"""Search/replace edits: exactly one match applies; a miss or a double match is explained to the model."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from masterplan.executor.edits import EditMismatch, FileEdit, apply_edits, closest_lines

STOCK = '''class Stock:
    def __init__(self) -> None:
        self._quantities: dict[str, int] = {}

    def remove(self, name: str, quantity: int) -> None:
        """Hand out ``quantity`` units of ``name``."""
        self._quantities[name] = max(0, self._quantities.get(name, 0) - quantity)

    def count(self, name: str) -> int:
        return self._quantities.get(name, 0)
'''


def edit(search: str, replace: str) -> FileEdit:
    return FileEdit(path="inventory/stock.py", search=search, replace=replace)


def test_edits_apply_in_order_each_to_the_result_of_the_last() -> None:
    changed = apply_edits(
        "inventory/stock.py",
        STOCK,
        [
            edit(
                "        self._quantities[name] = max(0, self._quantities.get(name, 0) - quantity)\n",
                "        held = self._quantities.get(name, 0)\n        if quantity > held:\n"
                "            raise ValueError(f'only {held} held')\n        self._quantities[name] = held - quantity\n",
            ),
            edit("if quantity > held:", "if quantity > held or quantity < 0:"),
        ],
    )
    assert "raise ValueError(f'only {held} held')" in changed
    assert "if quantity > held or quantity < 0:" in changed
    assert "max(0," not in changed
    assert changed.endswith("        return self._quantities.get(name, 0)\n")


def test_a_search_text_that_is_absent_is_answered_with_the_closest_lines() -> None:
    wrong = "        self._quantities[name] = max(0, self._quantities.get(name) - quantity)\n"
    with pytest.raises(EditMismatch) as refused:
        apply_edits("inventory/stock.py", STOCK, [edit("def count", "def total"), edit(wrong, "")])
    assert refused.value.cause == "absent"
    assert refused.value.index == 2
    message = str(refused.value)
    assert message.startswith("edit 2 of inventory/stock.py: the search text is not in the file.")
    assert "(lines 7-7)" in message
    assert "    7|         self._quantities[name] = max(0, self._quantities.get(name, 0) - quantity)" in message
    assert "    4| " in message  # context before
    assert "   10|         return" in message  # and after


def test_a_search_text_that_matches_twice_names_where() -> None:
    with pytest.raises(EditMismatch) as refused:
        apply_edits("inventory/stock.py", STOCK, [edit("self._quantities.get(name, 0)", "0")])
    assert refused.value.cause == "ambiguous"
    assert "2 times (starting on lines 7, 10)" in str(refused.value)


def test_an_empty_file_and_an_empty_search_are_explained() -> None:
    assert closest_lines("", "x") == "The file is empty."
    with pytest.raises(ValueError, match="at least 1 character"):
        FileEdit(path="a.py", search="", replace="x")


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300), st.text(min_size=1, max_size=40), st.text(max_size=40))
def test_an_edit_applies_exactly_when_its_search_text_is_there_once(content: str, search: str, replace: str) -> None:
    edits = [FileEdit(path="f.txt", search=search, replace=replace)]
    if content.count(search) == 1:
        before, _, after = content.partition(search)
        assert apply_edits("f.txt", content, edits) == before + replace + after
        return
    with pytest.raises(EditMismatch) as refused:
        apply_edits("f.txt", content, edits)
    assert refused.value.cause == ("absent" if search not in content else "ambiguous")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.text(max_size=80), min_size=1, max_size=400), st.text(min_size=1, max_size=200))
def test_the_closest_lines_are_found_in_any_file(lines: list[str], search: str) -> None:
    assert closest_lines("\n".join(lines), search)
