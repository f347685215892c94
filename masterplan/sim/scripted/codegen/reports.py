"""The entity report of a generated project: statistics as data, Markdown and CSV, with its tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import (
    check_function,
    flags,
    make_function,
    numeric,
    plural,
    render,
    sample,
)
from masterplan.sim.scripted.entities import EntityInfo
from masterplan.sim.scripted.naming import title_words

_REPORT = '''
"""Statistics over ${words_plural}: counts, number summaries, flag shares, groups, date ranges and top items.

``build_${entity}_report`` reads every matching $words (page by page, however many there are,
optionally narrowed by a free-text query) and returns a frozen report. ``to_dict`` gives it as
JSON-ready data, ``render_${entity}_report`` as Markdown for people, and ``render_${entity}_csv``
gives the number summaries as CSV for a spreadsheet.
"""

from __future__ import annotations

import csv
import io
import statistics
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from $package.queries.${entity}_queries import ${Entity}Query, iterate_$plural
from $package.repositories.${entity}_repository import ${Entity}Repository

NUMBER_FIELDS = $number_fields
FLAG_FIELDS = $flag_fields
GROUP_FIELDS = $group_fields
"""Fields whose values are counted one by one (choices and references)."""
DATETIME_FIELDS = $moment_fields
LIST_FIELDS = $list_fields
TOP_ITEMS = 5
"""How many of the most common list items the report keeps per list field."""


@dataclass(frozen=True)
class NumberSummary:
    count: int
    minimum: float
    maximum: float
    total: float
    mean: float
    median: float
    spread: float
    """The population standard deviation: 0 when every value is the same."""


@dataclass(frozen=True)
class DateRange:
    earliest: datetime | None
    latest: datetime | None

    @property
    def span_days(self) -> float:
        """Days from the earliest to the latest moment (0 without moments)."""
        if self.earliest is None or self.latest is None:
            return 0.0
        return (self.latest - self.earliest).total_seconds() / 86400


@dataclass(frozen=True)
class ${Entity}Report:
    count: int
    numbers: dict[str, NumberSummary] = field(default_factory=dict)
    flags_set: dict[str, int] = field(default_factory=dict)
    groups: dict[str, dict[str, int]] = field(default_factory=dict)
    dates: dict[str, DateRange] = field(default_factory=dict)
    top_items: dict[str, list[tuple[str, int]]] = field(default_factory=dict)

    def share(self, flag: str) -> float:
        """The share of ${words_plural} with ``flag`` set (0 when there are none)."""
        return self.flags_set[flag] / self.count if self.count else 0.0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data: datetimes as ISO 8601 text, item counts as ``[item, count]`` pairs."""
        return {
            "count": self.count,
            "numbers": {name: asdict(summary) for name, summary in self.numbers.items()},
            "flags_set": dict(self.flags_set),
            "groups": {name: dict(counts) for name, counts in self.groups.items()},
            "dates": {
                name: {
                    "earliest": span.earliest.isoformat() if span.earliest else None,
                    "latest": span.latest.isoformat() if span.latest else None,
                }
                for name, span in self.dates.items()
            },
            "top_items": {name: [list(pair) for pair in pairs] for name, pairs in self.top_items.items()},
        }


def summarise(values: list[float]) -> NumberSummary:
    if not values:
        return NumberSummary(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    total = float(sum(values))
    return NumberSummary(
        count=len(values),
        minimum=float(min(values)),
        maximum=float(max(values)),
        total=total,
        mean=total / len(values),
        median=float(statistics.median(values)),
        spread=statistics.pstdev(values),
    )


def date_range(values: list[datetime]) -> DateRange:
    return DateRange(min(values), max(values)) if values else DateRange(None, None)


def build_${entity}_report(repository: ${Entity}Repository, text: str = "") -> ${Entity}Report:
    """The report over every $words matching ``text`` (all of them by default)."""
    items = list(iterate_$plural(repository, ${Entity}Query(text=text, limit=100)))
    return ${Entity}Report(
        count=len(items),
        numbers={name: summarise([float(getattr(item, name)) for item in items]) for name in NUMBER_FIELDS},
        flags_set={name: sum(1 for item in items if getattr(item, name)) for name in FLAG_FIELDS},
        groups={name: dict(Counter(str(getattr(item, name)) for item in items).most_common()) for name in GROUP_FIELDS},
        dates={name: date_range([getattr(item, name) for item in items]) for name in DATETIME_FIELDS},
        top_items={
            name: Counter(value for item in items for value in getattr(item, name)).most_common(TOP_ITEMS)
            for name in LIST_FIELDS
        },
    )


def render_${entity}_report(report: ${Entity}Report) -> str:
    """The report as Markdown: a title, the count, a table of numbers, then one section per kind."""
    lines = ["# ${Entity} report", "", f"{report.count} ${words}(s)."]
    if report.numbers:
        lines += ["", "| field | min | max | total | mean | median |", "| --- | --- | --- | --- | --- | --- |"]
        for name, summary in report.numbers.items():
            cells = [f"{summary.minimum:g}", f"{summary.maximum:g}", f"{summary.total:g}"]
            cells += [f"{summary.mean:.2f}", f"{summary.median:g}"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    for name, count in report.flags_set.items():
        lines.append(f"- {name}: {count} of {report.count} ({report.share(name):.0%})")
    for name, counts in report.groups.items():
        lines += ["", f"## By {name}", ""] + [f"* {value}: {count}" for value, count in counts.items()]
    for name, span in report.dates.items():
        if span.earliest is not None and span.latest is not None:
            lines.append(f"\\n{name}: from {span.earliest.isoformat()} to {span.latest.isoformat()}")
    for name, pairs in report.top_items.items():
        lines.append(f"\\nMost common {name}: " + (", ".join(f"{item} ({count})" for item, count in pairs) or "none"))
    return "\\n".join(lines) + "\\n"


def render_${entity}_csv(report: ${Entity}Report) -> str:
    """The number summaries as CSV, one row per number field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\\n")
    writer.writerow(["field", "count", "minimum", "maximum", "total", "mean", "median", "spread"])
    for name, summary in report.numbers.items():
        writer.writerow([name, *asdict(summary).values()])
    return buffer.getvalue()
'''

_TESTS = '''
"""The $Entity report."""

import csv
import io
import json
from datetime import datetime

import pytest

from $package.models.$entity import $Entity
from $package.reports.${entity}_report import (
    DateRange,
    build_${entity}_report,
    date_range,
    render_${entity}_csv,
    render_${entity}_report,
    summarise,
)
from $package.repositories.${entity}_repository import ${Entity}Repository


$make


@pytest.fixture
def repository() -> ${Entity}Repository:
    return ${Entity}Repository([make(1), make(2), make(3)])


def test_the_report_counts_and_summarises(repository: ${Entity}Repository) -> None:
    report = build_${entity}_report(repository)
    assert report.count == 3
$number_checks$flag_checks

def test_the_report_can_be_narrowed_by_text(repository: ${Entity}Repository) -> None:
    assert build_${entity}_report(repository, text="${Entity} name 2").count == 1


def test_the_report_reads_past_one_page() -> None:
    many = ${Entity}Repository([make(1).duplicate(name=f"${Entity} bulk {n}") for n in range(120)])
    assert build_${entity}_report(many).count == 120


def test_an_empty_repository_gives_an_empty_report() -> None:
    report = build_${entity}_report(${Entity}Repository())
    assert report.count == 0
    assert all(summary.total == 0 for summary in report.numbers.values())
    assert all(span == DateRange(None, None) for span in report.dates.values())
    assert "0 ${words}(s)." in render_${entity}_report(report)


def test_summarise_computes_every_figure() -> None:
    summary = summarise([1.0, 2.0, 6.0])
    assert (summary.count, summary.minimum, summary.maximum, summary.total) == (3, 1.0, 6.0, 9.0)
    assert (summary.mean, summary.median) == (3.0, 2.0)
    assert summary.spread == pytest.approx((14 / 3) ** 0.5)
    assert summarise([]).count == 0
    assert summarise([4.0, 4.0]).spread == 0.0


def test_date_ranges_span_the_moments() -> None:
    span = date_range([datetime(2024, 1, 3), datetime(2024, 1, 1), datetime(2024, 1, 2)])
    assert (span.earliest, span.latest, span.span_days) == (datetime(2024, 1, 1), datetime(2024, 1, 3), 2.0)
    assert date_range([]).span_days == 0.0


def test_the_report_serialises_to_json(repository: ${Entity}Repository) -> None:
    data = json.loads(json.dumps(build_${entity}_report(repository).to_dict()))
    assert data["count"] == 3
    assert set(data["numbers"]) == $number_set


def test_the_markdown_report_has_a_title_a_table_row_per_number_and_a_line_per_flag(
    repository: ${Entity}Repository,
) -> None:
    text = render_${entity}_report(build_${entity}_report(repository))
    assert text.startswith("# $Entity report")
    assert text.count("\\n- ") == $flag_count
    assert sum(1 for line in text.splitlines() if line.startswith("| ") and "---" not in line) == $table_rows


def test_the_csv_has_a_row_per_number_field(repository: ${Entity}Repository) -> None:
    rows = list(csv.reader(io.StringIO(render_${entity}_csv(build_${entity}_report(repository)))))
    assert rows[0][:3] == ["field", "count", "minimum"]
    assert [row[0] for row in rows[1:]] == $number_list
'''

_GROUP_TEST = """

def test_choices_and_references_are_counted_by_value(repository: ${Entity}Repository) -> None:
    report = build_${entity}_report(repository)
    assert report.groups["$field"] == {$counts}
    assert "## By $field" in render_${entity}_report(report)
"""

_DATE_TEST = """

def test_each_datetime_field_gets_its_range(repository: ${Entity}Repository) -> None:
    span = build_${entity}_report(repository).dates["$field"]
    assert (span.earliest, span.latest) == (make(1).$field, make(3).$field)
    assert span.span_days == 2.0
"""

_LIST_TEST = """

def test_the_most_common_list_items_are_kept(repository: ${Entity}Repository) -> None:
    report = build_${entity}_report(repository)
    assert report.top_items["$field"] == [("alpha1", 1), ("beta1", 1), ("alpha2", 1), ("beta2", 1), ("alpha3", 1)]
    assert "Most common $field: alpha1 (1)" in render_${entity}_report(report)
"""


def _fields(entity: EntityInfo) -> dict[str, list[str]]:
    return {
        "numbers": [a.name for a in numeric(entity)],
        "flags": [a.name for a in flags(entity)],
        "groups": [a.name for a in entity.attrs if a.ref is not None or check_function(a) == "require_status"],
        "moments": [a.name for a in entity.attrs if a.type == "datetime"],
        "lists": [a.name for a in entity.attrs if a.type == "list[str]"],
    }


def _report_tests(package: str, entity: EntityInfo, found: dict[str, list[str]]) -> str:
    names = {"Entity": entity.name, "entity": entity.snake}
    number_checks = "".join(
        f'    assert report.numbers["{name}"].minimum == float(make(1).{name})\n'
        f'    assert report.numbers["{name}"].maximum == float(make(3).{name})\n'
        for name in found["numbers"]
    )
    text = render(
        _TESTS, package=package, words=title_words(entity.name), make=make_function(entity).rstrip(),
        number_checks=number_checks,
        flag_checks="".join(f'    assert report.flags_set["{n}"] == 2\n' for n in found["flags"]),
        flag_count=str(len(found["flags"])), table_rows=str(len(found["numbers"]) + (1 if found["numbers"] else 0)),
        number_set=repr(set(found["numbers"])) if found["numbers"] else "set()", number_list=repr(found["numbers"]),
        **names,
    )  # fmt: skip
    if found["groups"]:
        attr = next(a for a in entity.attrs if a.name == found["groups"][0])
        counts = ", ".join(f"{sample(entity, attr, n)}: 1" for n in (1, 2, 3))
        text += render(_GROUP_TEST, field=attr.name, counts=counts, **names)
    if found["moments"]:
        text += render(_DATE_TEST, field=found["moments"][0], **names)
    if found["lists"]:
        text += render(_LIST_TEST, field=found["lists"][0], **names)
    return text


def report_files(package: str, entity: EntityInfo) -> dict[str, str]:
    found = _fields(entity)
    source = render(
        _REPORT, package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural(entity.snake), number_fields=repr(tuple(found["numbers"])),
        flag_fields=repr(tuple(found["flags"])),
        group_fields=repr(tuple(found["groups"])), moment_fields=repr(tuple(found["moments"])),
        list_fields=repr(tuple(found["lists"])),
    )  # fmt: skip
    return {
        f"{package}/reports/{entity.snake}_report.py": source,
        f"tests/test_{entity.snake}_report.py": _report_tests(package, entity, found),
    }
