"""The entity repository: storage with uniqueness checks and finders per attribute."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.storage_tests import repository_tests
from masterplan.sim.scripted.codegen.values import plural, render, texts, unique_fields
from masterplan.sim.scripted.entities import Attr, EntityInfo
from masterplan.sim.scripted.naming import title_words


def _ref_finders(entity: EntityInfo, attr: Attr) -> str:
    ref, name, many = attr.ref or "", attr.name, plural(entity.snake)
    return render(
        '''
        def for_$ref(self, $name: str) -> list[$Entity]:
            """The $many that belong to one ${ref_words}."""
            return self.filter(lambda item: item.$name == $name)

        def count_per_$ref(self) -> dict[str, int]:
            """How many $many each ${ref_words} has, by ${ref_words} id (only ids that occur)."""
            return {key: len(items) for key, items in self.group_by("$name").items()}
        ''',
        ref=ref, name=name, many=many, Entity=entity.name, ref_words=title_words(ref),
    )  # fmt: skip


def _text_finders(entity: EntityInfo, attr: Attr) -> str:
    return render(
        '''
        def find_by_$name(self, value: str) -> list[$Entity]:
            """Exact match on $name, ignoring case and surrounding spaces."""
            wanted = value.strip().casefold()
            return self.filter(lambda item: item.$name.strip().casefold() == wanted)

        def ${name}_containing(self, text: str) -> list[$Entity]:
            """The $many whose $name contains ``text``, ignoring case."""
            wanted = text.strip().casefold()
            return self.filter(lambda item: wanted in item.$name.casefold())
        ''',
        name=attr.name, Entity=entity.name, many=plural(entity.snake),
    )  # fmt: skip


def _number_finders(entity: EntityInfo, attr: Attr) -> str:
    return render(
        '''
        def with_${name}_between(self, low: float, high: float) -> list[$Entity]:
            """$name within [low, high], both ends included."""
            if low > high:
                raise ValueError(f"low {low} is above high {high}")
            return self.filter(lambda item: low <= item.$name <= high)

        def total_$name(self) -> $annotation:
            """The sum of $name over every stored $words (0 when there are none)."""
            return sum((item.$name for item in self.list()), $zero)

        def top_by_$name(self, n: int = 3) -> list[$Entity]:
            """The ``n`` $many with the highest $name, highest first (ties keep storage order)."""
            if n < 1:
                raise ValueError(f"n must be at least 1, got {n}")
            return sorted(self.list(), key=lambda item: item.$name, reverse=True)[:n]
        ''',
        name=attr.name, Entity=entity.name, words=title_words(entity.name), many=plural(entity.snake),
        annotation=attr.type, zero="0" if attr.type == "int" else "0.0",
    )  # fmt: skip


def _flag_finders(entity: EntityInfo, attr: Attr) -> str:
    return render(
        '''
        def where_$name(self, value: bool = True) -> list[$Entity]:
            return self.filter(lambda item: item.$name is value)

        def share_$name(self) -> float:
            """The share of stored $many with $name set, from 0 to 1 (0 when there are none)."""
            count = self.count()
            return len(self.where_$name(True)) / count if count else 0.0
        ''',
        name=attr.name, Entity=entity.name, many=plural(entity.snake),
    )  # fmt: skip


def _moment_finders(entity: EntityInfo, attr: Attr) -> str:
    return render(
        '''
        def ${name}_before(self, moment: datetime) -> list[$Entity]:
            """$name strictly before ``moment``."""
            return self.filter(lambda item: item.$name < moment)

        def ${name}_after(self, moment: datetime) -> list[$Entity]:
            """$name strictly after ``moment``."""
            return self.filter(lambda item: item.$name > moment)

        def ${name}_between(self, start: datetime, end: datetime) -> list[$Entity]:
            """$name within [start, end], both ends included."""
            if start > end:
                raise ValueError(f"start {start.isoformat()} is after end {end.isoformat()}")
            return self.filter(lambda item: start <= item.$name <= end)
        ''',
        name=attr.name, Entity=entity.name,
    )  # fmt: skip


def _list_finders(entity: EntityInfo, attr: Attr) -> str:
    return render(
        '''
        def with_${name}_item(self, value: str) -> list[$Entity]:
            return self.filter(lambda item: value in item.$name)

        def all_$name(self) -> list[str]:
            """Every different item of $name over the stored $many, sorted."""
            return sorted({value for item in self.list() for value in item.$name})
        ''',
        name=attr.name, Entity=entity.name, many=plural(entity.snake),
    )  # fmt: skip


def finders(entity: EntityInfo, attr: Attr) -> str:
    """The finder methods of one attribute, indented as methods."""
    if attr.ref is not None:
        text = _ref_finders(entity, attr)
    else:
        by_type = {
            "str": _text_finders, "int": _number_finders, "float": _number_finders, "bool": _flag_finders,
            "datetime": _moment_finders, "list[str]": _list_finders,
        }  # fmt: skip
        text = by_type[attr.type](entity, attr)
    return "".join(f"    {line}" if line.strip() else "\n" for line in text.splitlines(keepends=True))


_REPOSITORY = '''
"""Storage of ${Entity} entities: uniqueness checks and finders per attribute.

Finders return lists in storage (insertion) order unless they say otherwise. Text finders
ignore case and surrounding spaces, range finders include both ends, and ``sorted_by``,
``group_by``, ``count_by`` and ``distinct`` accept the fields in ``SORTABLE_FIELDS``.
"""

from __future__ import annotations
$datetime_import
from $package.models.$entity import $Entity
from $package.repositories.base import InMemoryRepository

SORTABLE_FIELDS = $sortable
TEXT_FIELDS = $text_fields
UNIQUE_FIELDS = $unique
"""Fields no two stored ${words_plural} may share (text compared ignoring case)."""


class ${Entity}Repository(InMemoryRepository[$Entity]):
    """The ${words_plural}, in memory."""

    entity_name = "$Entity"
    sortable_fields = SORTABLE_FIELDS

    def find_by_name(self, name: str) -> list[$Entity]:
        wanted = name.strip().casefold()
        return self.filter(lambda item: item.name.strip().casefold() == wanted)

    def value_taken(self, field_name: str, value: object, except_id: str | None = None) -> bool:
        """Whether a stored $words other than ``except_id`` has this value of a unique field."""
        if field_name not in UNIQUE_FIELDS:
            raise ValueError(f"{field_name!r} is not unique; unique fields are {UNIQUE_FIELDS}")
        wanted = value.strip().casefold() if isinstance(value, str) else value
        for item in self.list():
            stored = getattr(item, field_name)
            if item.id != except_id and (stored.strip().casefold() if isinstance(stored, str) else stored) == wanted:
                return True
        return False

    def name_taken(self, name: str, except_id: str | None = None) -> bool:
        """Whether another $words already uses ``name`` (ignoring case)."""
        return self.value_taken("name", name, except_id)

    def names(self) -> list[str]:
        return sorted(item.name for item in self.list())

    def search_text(self, text: str) -> list[$Entity]:
        """The ${words_plural} with ``text`` in any text field, ignoring case; blank text finds them all."""
        wanted = text.strip().casefold()
        return self.filter(lambda item: any(wanted in str(getattr(item, name)).casefold() for name in TEXT_FIELDS))

$finders'''


def repository_source(package: str, entity: EntityInfo) -> str:
    methods = "\n".join(finders(entity, attr) for attr in entity.attrs if attr.name != "name")
    sortable = [a.name for a in entity.attrs if a.type != "list[str]"]
    return render(
        _REPOSITORY, package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        sortable=repr(tuple(["id", *sortable])), text_fields=repr(tuple(a.name for a in texts(entity))),
        unique=repr(tuple(unique_fields(entity))), finders=methods.rstrip() + "\n",
        datetime_import="\nfrom datetime import datetime\n" if any(a.type == "datetime" for a in entity.attrs) else "",
    )  # fmt: skip


def repository_files(package: str, entity: EntityInfo) -> dict[str, str]:
    return {
        f"{package}/repositories/{entity.snake}_repository.py": repository_source(package, entity),
        f"tests/test_{entity.snake}_repository.py": repository_tests(package, entity),
    }
