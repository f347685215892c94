"""Per-entity CSV and JSON-lines exchange and reports, with their tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import flags, make_function, numeric, ordered, plural, render
from masterplan.sim.scripted.entities import EntityInfo
from masterplan.sim.scripted.naming import title_words


def _csv_codecs(entity: EntityInfo) -> tuple[str, str]:
    kinds = {a.name: a.type for a in entity.attrs}
    encode = repr({name: kind for name, kind in kinds.items()})
    return encode, repr(["id", *[a.name for a in ordered(entity)]])


def exchange_files(package: str, entity: EntityInfo) -> dict[str, str]:
    types, columns = _csv_codecs(entity)
    plural_name = plural(entity.snake)
    source = render(
        '''
        """${Entity}s as CSV: export with a header row, import with line-numbered errors.

        Encoding: booleans as ``true``/``false``, datetimes as ISO 8601, lists joined with ``|``.
        """

        from __future__ import annotations

        import csv
        import io
        import json
        from collections.abc import Iterable
        from datetime import datetime
        from typing import Any

        from $package.core.errors import ValidationError
        from $package.models.$entity import $Entity

        COLUMNS = $columns
        FIELD_TYPES = $types


        def _encode(kind: str, value: Any) -> str:
            if kind == "bool":
                return "true" if value else "false"
            if kind == "datetime":
                return value.isoformat()
            if kind == "list[str]":
                return "|".join(value)
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
                return [item for item in text.split("|") if item]
            return text


        def export_$plural(items: Iterable[$Entity]) -> str:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\\n")
            writer.writerow(COLUMNS)
            for item in items:
                row = [item.id]
                row += [_encode(FIELD_TYPES[name], getattr(item, name)) for name in COLUMNS[1:]]
                writer.writerow(row)
            return buffer.getvalue()


        def import_$plural(text: str) -> list[$Entity]:
            """Parse CSV made by ``export_$plural``; every bad line is reported, none is half-imported."""
            reader = csv.reader(io.StringIO(text))
            header = next(reader, None)
            if header != COLUMNS:
                raise ValidationError("$Entity", [f"header must be {','.join(COLUMNS)}"])
            items: list[$Entity] = []
            problems: list[str] = []
            for line_number, row in enumerate(reader, start=2):
                if len(row) != len(COLUMNS):
                    problems.append(f"line {line_number}: expected {len(COLUMNS)} columns, got {len(row)}")
                    continue
                try:
                    values = {name: _decode(FIELD_TYPES[name], cell) for name, cell in zip(COLUMNS[1:], row[1:])}
                    values["id"] = row[0]
                    items.append($Entity(**values))
                except ValidationError as error:
                    problems.extend(f"line {line_number}: {problem}" for problem in error.problems)
                except ValueError as error:
                    problems.append(f"line {line_number}: {error}")
            if problems:
                raise ValidationError("$Entity", problems)
            return items


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
                    problems.extend(f"line {line_number}: {problem}" for problem in error.problems)
                except ValueError as error:
                    problems.append(f"line {line_number}: {error}")
            if problems:
                raise ValidationError("$Entity", problems)
            return items
        ''',
        package=package, Entity=entity.name, entity=entity.snake, plural=plural_name, columns=columns, types=types,
    )  # fmt: skip
    tests = render(
        '''
        """${Entity}s to CSV and back."""

        from datetime import datetime

        import pytest

        from $package.core.errors import ValidationError
        from $package.exchange.${entity}_csv import (
            COLUMNS,
            export_$plural,
            export_${plural}_jsonl,
            import_$plural,
            import_${plural}_jsonl,
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


        def test_an_empty_export_imports_as_nothing() -> None:
            assert import_$plural(export_$plural([])) == []


        def test_a_wrong_header_is_refused() -> None:
            with pytest.raises(ValidationError, match="header must be"):
                import_$plural("colour,size\\nred,3\\n")


        def test_bad_lines_are_reported_with_their_numbers() -> None:
            good = export_$plural([make(1)]).splitlines()
            short_line = "only,two"
            blank_name = good[1].replace("$Entity name 1", " ")
            with pytest.raises(ValidationError) as info:
                import_$plural("\\n".join([good[0], good[1], short_line, blank_name]) + "\\n")
            problems = info.value.problems
            assert any(problem.startswith("line 3: expected") for problem in problems)
            assert any(problem.startswith("line 4: name") for problem in problems)


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
        ''',
        package=package, Entity=entity.name, entity=entity.snake, plural=plural_name,
        make=make_function(entity).rstrip(),
    )  # fmt: skip
    return {f"{package}/exchange/{entity.snake}_csv.py": source, f"tests/test_{entity.snake}_exchange.py": tests}


def report_files(package: str, entity: EntityInfo) -> dict[str, str]:
    number_fields = [a.name for a in numeric(entity)]
    flag_fields = [a.name for a in flags(entity)]
    plural_name = plural(entity.snake)
    source = render(
        '''
        """Statistics over ${words}s: counts, numeric summaries and flag shares, as data and as Markdown."""

        from __future__ import annotations

        from dataclasses import dataclass, field

        from $package.queries.${entity}_queries import ${Entity}Query, search_$plural
        from $package.repositories.${entity}_repository import ${Entity}Repository

        NUMBER_FIELDS = $number_fields
        FLAG_FIELDS = $flag_fields


        @dataclass(frozen=True)
        class NumberSummary:
            minimum: float
            maximum: float
            total: float
            mean: float


        @dataclass(frozen=True)
        class ${Entity}Report:
            count: int
            numbers: dict[str, NumberSummary] = field(default_factory=dict)
            flags_set: dict[str, int] = field(default_factory=dict)

            def share(self, flag: str) -> float:
                """The share of ${words}s with ``flag`` set (0 when there are none)."""
                return self.flags_set[flag] / self.count if self.count else 0.0


        def summarise(values: list[float]) -> NumberSummary:
            if not values:
                return NumberSummary(0.0, 0.0, 0.0, 0.0)
            total = float(sum(values))
            return NumberSummary(float(min(values)), float(max(values)), total, total / len(values))


        def build_${entity}_report(repository: ${Entity}Repository, text: str = "") -> ${Entity}Report:
            """The report over every $words matching ``text`` (all of them by default)."""
            items = search_$plural(repository, ${Entity}Query(text=text, limit=100)).items
            numbers = {name: summarise([float(getattr(item, name)) for item in items]) for name in NUMBER_FIELDS}
            flags_set = {name: sum(1 for item in items if getattr(item, name)) for name in FLAG_FIELDS}
            return ${Entity}Report(count=len(items), numbers=numbers, flags_set=flags_set)


        def render_${entity}_report(report: ${Entity}Report) -> str:
            lines = [f"# ${Entity} report", "", f"{report.count} ${words}(s)."]
            if report.numbers:
                lines += ["", "| field | min | max | total | mean |", "| --- | --- | --- | --- | --- |"]
                for name, summary in report.numbers.items():
                    cells = [f"{summary.minimum:g}", f"{summary.maximum:g}", f"{summary.total:g}"]
                    cells.append(f"{summary.mean:.2f}")
                    lines.append(f"| {name} | " + " | ".join(cells) + " |")
            for name, count in report.flags_set.items():
                lines.append(f"- {name}: {count} of {report.count} ({report.share(name):.0%})")
            return "\\n".join(lines) + "\\n"
        ''',
        package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural_name, number_fields=repr(tuple(number_fields)), flag_fields=repr(tuple(flag_fields)),
    )  # fmt: skip
    number_checks = "".join(
        f'    assert report.numbers["{name}"].minimum == float(make(1).{name})\n'
        f'    assert report.numbers["{name}"].maximum == float(make(3).{name})\n'
        for name in number_fields
    )
    flag_checks = "".join(f'    assert report.flags_set["{name}"] == 2\n' for name in flag_fields)
    tests = render(
        '''
        """The $Entity report."""

        from datetime import datetime

        from $package.models.$entity import $Entity
        from $package.reports.${entity}_report import build_${entity}_report, render_${entity}_report, summarise
        from $package.repositories.${entity}_repository import ${Entity}Repository


        $make


        def test_the_report_counts_and_summarises() -> None:
            report = build_${entity}_report(${Entity}Repository([make(1), make(2), make(3)]))
            assert report.count == 3
        $number_checks$flag_checks

        def test_the_report_can_be_narrowed_by_text() -> None:
            report = build_${entity}_report(${Entity}Repository([make(1), make(2), make(3)]), text="${Entity} name 2")
            assert report.count == 1


        def test_an_empty_repository_gives_an_empty_report() -> None:
            report = build_${entity}_report(${Entity}Repository())
            assert report.count == 0
            assert all(summary.total == 0 for summary in report.numbers.values())
            assert "0 ${words}(s)." in render_${entity}_report(report)


        def test_summarise_computes_min_max_total_and_mean() -> None:
            summary = summarise([1.0, 2.0, 6.0])
            assert (summary.minimum, summary.maximum, summary.total, summary.mean) == (1.0, 6.0, 9.0, 3.0)


        def test_the_markdown_report_has_a_title_and_a_line_per_flag() -> None:
            text = render_${entity}_report(build_${entity}_report(${Entity}Repository([make(1), make(2)])))
            assert text.startswith("# $Entity report")
            assert text.count("\\n- ") == $flag_count
        ''',
        package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        make=make_function(entity).rstrip(), number_checks=number_checks, flag_checks=flag_checks,
        flag_count=str(len(flag_fields)),
    )  # fmt: skip
    return {f"{package}/reports/{entity.snake}_report.py": source, f"tests/test_{entity.snake}_report.py": tests}
