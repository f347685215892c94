"""The tests of an entity's exchange module: round trips, header rules, numbered problems, merge."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import has_default, make_function, plural, render
from masterplan.sim.scripted.entities import EntityInfo

_TESTS = '''
"""CSV and JSON-lines exchange of ${Entity}s."""

from datetime import datetime

import pytest

from $package.core.errors import ValidationError
from $package.core.ids import new_id, parse_id
from $package.exchange.${entity}_csv import (
    COLUMNS,
    REQUIRED_COLUMNS,
    changes_from_import,
    csv_template,
    export_$plural,
    export_${plural}_jsonl,
    import_$plural,
    import_${plural}_jsonl,
    merge_$plural,
    normalise_header,
    preview_$plural,
)
from $package.models.$entity import $Entity


$make


def test_export_writes_a_header_and_a_row_per_${entity}() -> None:
    text = export_$plural([make(1), make(2)])
    lines = text.splitlines()
    assert lines[0] == ",".join(COLUMNS)
    assert len(lines) == 3


def test_export_then_import_gives_the_same_${plural}() -> None:
    originals = [make(1), make(2), make(3)]
    assert import_$plural(export_$plural(originals)) == originals


def test_columns_may_come_in_any_order() -> None:
    originals = [make(1), make(2)]
    assert import_$plural(export_$plural(originals, columns=list(reversed(COLUMNS)))) == originals


def test_headers_typed_by_people_still_match() -> None:
    lines = export_$plural([make(1)]).splitlines()
    shouted = ",".join(" " + name.upper().replace("_", " ") + " " for name in COLUMNS)
    assert import_$plural("\\n".join([shouted, lines[1]])) == import_$plural("\\n".join(lines))
    assert normalise_header("  Due-At ") == "due_at"


def test_the_template_has_every_column_required_ones_first() -> None:
    header = csv_template().strip().split(",")
    assert sorted(header) == sorted(COLUMNS)
    assert all(name in REQUIRED_COLUMNS for name in header[: len(REQUIRED_COLUMNS)])
    preview = preview_$plural(csv_template())
    assert (preview.ok, preview.items) == (True, [])


def test_another_delimiter_round_trips() -> None:
    originals = [make(1), make(3)]
    text = export_$plural(originals, delimiter=";")
    assert text.splitlines()[0] == ";".join(COLUMNS)
    assert import_$plural(text, delimiter=";") == originals


def test_an_empty_export_imports_as_nothing() -> None:
    assert import_$plural(export_$plural([])) == []


def test_exporting_an_unknown_column_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown columns"):
        export_$plural([make(1)], columns=["id", "colour"])


def test_a_wrong_header_is_refused_by_name() -> None:
    with pytest.raises(ValidationError) as info:
        import_$plural("id,name,name,colour\\n")
    problems = info.value.problems
    assert "unknown column colour" in problems
    assert "column name appears more than once" in problems
    assert any(problem.startswith("missing column") for problem in problems) == bool(REQUIRED_COLUMNS - {"id", "name"})
    with pytest.raises(ValidationError, match="the file is empty"):
        import_$plural("")


def test_bad_lines_are_reported_with_their_numbers() -> None:
    good = export_$plural([make(1)]).splitlines()
    short_line = "only,two"
    blank_name = good[1].replace("$Entity name 1", " ")
    with pytest.raises(ValidationError) as info:
        import_$plural("\\n".join([good[0], good[1], short_line, blank_name]) + "\\n")
    problems = info.value.problems
    assert any(problem.startswith("line 3: expected") for problem in problems)
    assert any(problem.startswith("line 4: name") for problem in problems)


def test_a_repeated_id_is_a_problem() -> None:
    lines = export_$plural([make(1)]).splitlines()
    with pytest.raises(ValidationError, match="repeats line 2"):
        import_$plural("\\n".join([lines[0], lines[1], lines[1]]))


def test_preview_reports_without_raising() -> None:
    lines = export_$plural([make(1), make(2)]).splitlines()
    preview = preview_$plural("\\n".join([*lines, "only,two"]))
    assert not preview.ok
    assert [item.name for item in preview.items] == ["$Entity name 1", "$Entity name 2"]
    assert preview.problems == [f"line 4: expected {len(COLUMNS)} columns, got 2"]
    assert preview_$plural(export_$plural([make(3)])).ok


def test_imported_ids_are_reserved() -> None:
    far_ahead = $Entity.from_dict({**make(1).to_dict(), "id": "$entity-5000"})
    import_$plural(export_$plural([far_ahead]))
    assert parse_id(new_id("$entity"))[1] > 5000


def test_json_lines_round_trip() -> None:
    originals = [make(1), make(2), make(3)]
    text = export_${plural}_jsonl(originals)
    assert len(text.splitlines()) == 3
    assert import_${plural}_jsonl(text + "\\n\\n") == originals


def test_bad_json_lines_are_reported_with_their_numbers() -> None:
    good = export_${plural}_jsonl([make(1)]).strip()
    with pytest.raises(ValidationError) as info:
        import_${plural}_jsonl("\\n".join([good, "not json", "[1, 2]", good.replace('"name": ', '"nom": ')]))
    problems = info.value.problems
    assert any(problem.startswith("line 2:") for problem in problems)
    assert any(problem.startswith("line 3: expected a JSON object") for problem in problems)
    assert any(problem.startswith("line 4: unknown field nom") for problem in problems)


def test_changes_from_import_say_what_a_replace_would_change() -> None:
    first, second, third = make(1), make(2), make(3)
    changes = changes_from_import([first, second], [first.with_changes(name="Changed"), second, third])
    assert changes.added == [third.id]
    assert changes.changed == {first.id: ["name"]}
    assert changes.unchanged == [second.id]


def test_merge_adds_new_ids_and_skips_known_ones_by_default() -> None:
    first, second, third = make(1), make(2), make(3)
    changed = first.with_changes(name="Changed")
    result = merge_$plural([first, second], [changed, third])
    assert result.items == [first, second, third]
    assert (result.added, result.replaced, result.skipped) == ([third.id], [], [first.id])


def test_merge_can_replace_or_fail_on_known_ids() -> None:
    first, second = make(1), make(2)
    changed = first.with_changes(name="Changed")
    replaced = merge_$plural([first, second], [changed], on_conflict="replace")
    assert replaced.items == [changed, second]
    assert replaced.replaced == [first.id]
    with pytest.raises(ValidationError, match=f"id {first.id} already exists"):
        merge_$plural([first, second], [changed], on_conflict="fail")
    with pytest.raises(ValueError, match="on_conflict must be"):
        merge_$plural([first], [], on_conflict="overwrite")  # type: ignore[arg-type]
'''

_OPTIONAL_TEST = """

def test_optional_columns_may_be_left_out() -> None:
    columns = [name for name in COLUMNS if name not in $optional]
    imported = import_$plural(export_$plural([make(1)], columns=columns))
    assert imported[0].name == "$Entity name 1"
    assert imported[0].diff(make(1)) == {$defaults}
"""

_LIST_TEST = """

def test_a_list_item_holding_the_separator_cannot_be_exported() -> None:
    with pytest.raises(ValueError, match="separator"):
        export_$plural([make(1).with_changes($field=["a|b"])])
"""


def exchange_tests(package: str, entity: EntityInfo) -> str:
    names = {"Entity": entity.name, "entity": entity.snake, "plural": plural(entity.snake)}
    text = render(_TESTS, package=package, make=make_function(entity).rstrip(), **names)
    optional = [a for a in entity.attrs if has_default(a)]
    if optional:
        empty = {"str": '""', "list[str]": "[]"}
        defaults = ", ".join(f'"{a.name}": ({empty[a.type]}, make(1).{a.name})' for a in optional)
        text += render(_OPTIONAL_TEST, optional=repr([a.name for a in optional]), defaults=defaults, **names)
    lists = [a for a in entity.attrs if a.type == "list[str]"]
    if lists:
        text += render(_LIST_TEST, field=lists[0].name, **names)
    return text
