"""The entity exchange module of a generated project: CSV and JSON lines, preview and merge."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.exchange_tests import exchange_tests
from masterplan.sim.scripted.codegen.values import ordered, plural, render
from masterplan.sim.scripted.entities import EntityInfo
from masterplan.sim.scripted.naming import title_words

_EXCHANGE = '''
"""${Entity}s as CSV and JSON lines: export, import with numbered problems, preview and merge.

CSV encoding: booleans as ``true``/``false``, datetimes as ISO 8601, lists joined with ``|``
(so a list item holding ``|`` cannot be exported). The header names the columns: on import
they may come in any order, in any case and with spaces for underscores (``Due At`` is
``due_at``), and optional columns may be left out, but an unknown, repeated or missing
required column is refused by name. Every bad line is reported with its number and
nothing is imported unless everything is valid. Imported ids are reserved, so ids handed out
later never collide with them.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from $package.core.errors import ValidationError
from $package.core.ids import reserve_id
from $package.models.$entity import REQUIRED_FIELDS, $Entity

COLUMNS = $columns
FIELD_TYPES = $types
REQUIRED_COLUMNS = frozenset({"id", *REQUIRED_FIELDS})
LIST_SEPARATOR = "|"
Conflict = Literal["skip", "replace", "fail"]


def _encode(kind: str, value: Any) -> str:
    if kind == "bool":
        return "true" if value else "false"
    if kind == "datetime":
        return value.isoformat()
    if kind == "list[str]":
        if any(LIST_SEPARATOR in item for item in value):
            raise ValueError(f"a list item holds the separator {LIST_SEPARATOR!r}: {value!r}")
        return LIST_SEPARATOR.join(value)
    return str(value)


def _decode(kind: str, text: str) -> Any:
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        if text not in ("true", "false"):
            raise ValueError(f"expected true or false, got {text!r}")
        return text == "true"
    if kind == "datetime":
        return datetime.fromisoformat(text)
    if kind == "list[str]":
        return [item for item in text.split(LIST_SEPARATOR) if item]
    return text


def export_$plural(items: Iterable[$Entity], columns: Sequence[str] = COLUMNS, delimiter: str = ",") -> str:
    """CSV with a header row; ``columns`` picks and orders the columns (the id among them)."""
    unknown = [name for name in columns if name not in COLUMNS]
    if unknown:
        raise ValueError(f"unknown columns {unknown}; columns are {COLUMNS}")
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\\n")
    writer.writerow(columns)
    for item in items:
        cells = [item.id if name == "id" else _encode(FIELD_TYPES[name], getattr(item, name)) for name in columns]
        writer.writerow(cells)
    return buffer.getvalue()


def normalise_header(name: str) -> str:
    """``" Due At "`` -> ``"due_at"``: headers typed by people still match the columns."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def csv_template() -> str:
    """A header row with every column, required ones first, for people to fill in."""
    return ",".join(sorted(COLUMNS, key=lambda name: name not in REQUIRED_COLUMNS)) + "\\n"


def _header_problems(header: list[str]) -> list[str]:
    problems = [f"unknown column {name}" for name in header if name not in COLUMNS]
    problems += [f"column {name} appears more than once" for name in sorted({n for n in header if header.count(n) > 1})]
    problems += [f"missing column {name}" for name in COLUMNS if name in REQUIRED_COLUMNS and name not in header]
    return problems


@dataclass(frozen=True)
class ImportPreview:
    """What an import would give: the valid ${words_plural} and the problems of the others."""

    items: list[$Entity] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def _row_item(header: list[str], row: list[str]) -> $Entity:
    values = {name: _decode(FIELD_TYPES[name], cell) for name, cell in zip(header, row, strict=True) if name != "id"}
    return $Entity(id=row[header.index("id")], **values)


def preview_$plural(text: str, delimiter: str = ",") -> ImportPreview:
    """Parse CSV like ``import_$plural`` without raising or reserving ids: a dry run."""
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    raw_header = next(reader, None)
    if raw_header is None:
        return ImportPreview(problems=["the file is empty: expected a header row"])
    header = [normalise_header(name) for name in raw_header]
    problems = _header_problems(header)
    if problems:
        return ImportPreview(problems=problems)
    items: list[$Entity] = []
    first_line: dict[str, int] = {}
    for line_number, row in enumerate(reader, start=2):
        if len(row) != len(header):
            problems.append(f"line {line_number}: expected {len(header)} columns, got {len(row)}")
            continue
        try:
            item = _row_item(header, row)
        except ValidationError as error:
            problems.extend(error.prefixed(f"line {line_number}: ").problems)
            continue
        except ValueError as error:
            problems.append(f"line {line_number}: {error}")
            continue
        if item.id in first_line:
            problems.append(f"line {line_number}: id {item.id} repeats line {first_line[item.id]}")
            continue
        first_line[item.id] = line_number
        items.append(item)
    return ImportPreview(items=items, problems=problems)


def import_$plural(text: str, delimiter: str = ",") -> list[$Entity]:
    """Parse CSV made by ``export_$plural``; every bad line is reported, none is half-imported."""
    preview = preview_$plural(text, delimiter)
    if not preview.ok:
        raise ValidationError("$Entity", preview.problems)
    for item in preview.items:
        reserve_id(item.id)
    return preview.items


def export_${plural}_jsonl(items: Iterable[$Entity]) -> str:
    """One JSON object per line, as ``$Entity.to_dict`` gives it."""
    return "".join(json.dumps(item.to_dict(), sort_keys=True) + "\\n" for item in items)


def import_${plural}_jsonl(text: str) -> list[$Entity]:
    """Parse JSON lines; blank lines are skipped, bad lines reported by number."""
    items: list[$Entity] = []
    problems: list[str] = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                raise ValueError("expected a JSON object")
            items.append($Entity.from_dict(data))
        except ValidationError as error:
            problems.extend(error.prefixed(f"line {line_number}: ").problems)
        except ValueError as error:
            problems.append(f"line {line_number}: {error}")
    if problems:
        raise ValidationError("$Entity", problems)
    for item in items:
        reserve_id(item.id)
    return items


@dataclass(frozen=True)
class ImportChanges:
    """What an import would change: ids it adds, and for each known id the fields it changes."""

    added: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)


def changes_from_import(existing: list[$Entity], incoming: list[$Entity]) -> ImportChanges:
    """Compare incoming ${words_plural} with the existing ones by id, before merging with ``replace``."""
    known = {item.id: item for item in existing}
    changes = ImportChanges()
    for item in incoming:
        if item.id not in known:
            changes.added.append(item.id)
        elif diff := known[item.id].diff(item):
            changes.changed[item.id] = sorted(diff)
        else:
            changes.unchanged.append(item.id)
    return changes


@dataclass(frozen=True)
class MergeResult:
    """The ${words_plural} after a merge, and the ids that were added, replaced or skipped."""

    items: list[$Entity]
    added: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def merge_$plural(existing: list[$Entity], incoming: list[$Entity], on_conflict: Conflict = "skip") -> MergeResult:
    """Combine incoming ${words_plural} with existing ones by id.

    An incoming $words with a new id is added at the end. One whose id exists is skipped
    (``skip``), takes the existing one's place (``replace``), or makes the whole merge fail
    with a ValidationError naming every clashing id (``fail``).
    """
    if on_conflict not in ("skip", "replace", "fail"):
        raise ValueError(f"on_conflict must be skip, replace or fail, got {on_conflict!r}")
    merged = {item.id: item for item in existing}
    clashes = [item.id for item in incoming if item.id in merged]
    if clashes and on_conflict == "fail":
        raise ValidationError("$Entity", [f"id {item_id} already exists" for item_id in clashes])
    result = MergeResult(items=[])
    for item in incoming:
        if item.id not in merged:
            result.added.append(item.id)
        elif on_conflict == "skip":
            result.skipped.append(item.id)
            continue
        else:
            result.replaced.append(item.id)
        merged[item.id] = item
    result.items.extend(merged.values())
    return result
'''


def exchange_source(package: str, entity: EntityInfo) -> str:
    return render(
        _EXCHANGE, package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural(entity.snake), types=repr({a.name: a.type for a in entity.attrs}),
        columns=repr(["id", *[a.name for a in ordered(entity)]]),
    )  # fmt: skip


def exchange_files(package: str, entity: EntityInfo) -> dict[str, str]:
    return {
        f"{package}/exchange/{entity.snake}_csv.py": exchange_source(package, entity),
        f"tests/test_{entity.snake}_exchange.py": exchange_tests(package, entity),
    }
