"""Per-entity extras: search queries, CSV exchange and reports, with their tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import kwargs, plural, render, texts
from masterplan.sim.scripted.entities import EntityInfo
from masterplan.sim.scripted.naming import title_words


def make_function(entity: EntityInfo) -> str:
    return render(
        """
        def make(n: int) -> $Entity:
            samples = {
                1: dict(
        $k1
                ),
                2: dict(
        $k2
                ),
                3: dict(
        $k3
                ),
            }
            return $Entity(**samples[n])
        """,
        Entity=entity.name, k1=kwargs(entity, 1, "            "), k2=kwargs(entity, 2, "            "),
        k3=kwargs(entity, 3, "            "),
    )  # fmt: skip


def _filters(entity: EntityInfo) -> tuple[str, str, str]:
    """Query fields, the checks that apply them, and tests, one filter per attribute."""
    fields: list[str] = []
    checks: list[str] = []
    tests: list[str] = []
    for attr in entity.attrs:
        name = attr.name
        if attr.ref is not None:
            fields.append(f"    {name}: str | None = None")
            checks.append(f"    if query.{name} is not None and item.{name} != query.{name}:\n        return False")
            tests.append(f'    ({{"{name}": "{attr.ref}-2"}}, ["{entity.name} name 2"]),')
        elif attr.type in ("int", "float"):
            fields += [f"    min_{name}: float | None = None", f"    max_{name}: float | None = None"]
            checks.append(
                f"    if query.min_{name} is not None and item.{name} < query.min_{name}:\n        return False\n"
                f"    if query.max_{name} is not None and item.{name} > query.max_{name}:\n        return False"
            )
            low, high = (4, 5) if attr.type == "int" else (13.5, 14.5)
            tests.append(f'    ({{"min_{name}": {high}}}, ["{entity.name} name 2", "{entity.name} name 3"]),')
            tests.append(f'    ({{"max_{name}": {low}}}, ["{entity.name} name 1"]),')
        elif attr.type == "bool":
            fields.append(f"    {name}: bool | None = None")
            checks.append(f"    if query.{name} is not None and item.{name} is not query.{name}:\n        return False")
            tests.append(f'    ({{"{name}": False}}, ["{entity.name} name 2"]),')
        elif attr.type == "datetime":
            fields += [f"    {name}_from: datetime | None = None", f"    {name}_until: datetime | None = None"]
            checks.append(
                f"    if query.{name}_from is not None and item.{name} < query.{name}_from:\n        return False\n"
                f"    if query.{name}_until is not None and item.{name} > query.{name}_until:\n        return False"
            )
            tests.append(f'    ({{"{name}_from": datetime(2024, 1, 13)}}, ["{entity.name} name 3"]),')
            tests.append(f'    ({{"{name}_until": datetime(2024, 1, 12)}}, ["{entity.name} name 1"]),')
    return "\n".join(fields), "\n".join(checks) or "    pass", "\n".join(tests)


def _no_filter_case(entity: EntityInfo) -> str:
    names = ", ".join(f'"{entity.name} name {n}"' for n in (1, 2, 3))
    return f"    ({{}}, [{names}]),"


def queries_files(package: str, entity: EntityInfo) -> dict[str, str]:
    filter_fields, filter_checks, filter_tests = _filters(entity)
    text_fields = [a.name for a in texts(entity)]
    sortable = ["id", *[a.name for a in entity.attrs if a.type != "list[str]"]]
    plural_name = plural(entity.snake)
    source = render(
        '''
        """Searching ${words}s: free text over the text fields, sorting and pages."""

        from __future__ import annotations

        from dataclasses import dataclass
        from datetime import datetime

        from $package.models.$entity import $Entity
        from $package.repositories.${entity}_repository import ${Entity}Repository

        TEXT_FIELDS = $text_fields
        SORTABLE_FIELDS = $sortable
        MAX_LIMIT = 100


        @dataclass(frozen=True)
        class ${Entity}Query:
            text: str = ""
            sort_by: str = "name"
            descending: bool = False
            offset: int = 0
            limit: int = 20
        $filter_fields

            def __post_init__(self) -> None:
                if self.sort_by not in SORTABLE_FIELDS:
                    raise ValueError(f"sort_by must be one of {SORTABLE_FIELDS}, got {self.sort_by!r}")
                if self.offset < 0:
                    raise ValueError("offset must not be negative")
                if not 1 <= self.limit <= MAX_LIMIT:
                    raise ValueError(f"limit must be between 1 and {MAX_LIMIT}")


        @dataclass(frozen=True)
        class ${Entity}Page:
            items: list[$Entity]
            total: int
            offset: int
            limit: int

            @property
            def has_more(self) -> bool:
                return self.offset + len(self.items) < self.total


        def matches(item: $Entity, text: str) -> bool:
            """Whether any text field contains ``text`` (ignoring case)."""
            wanted = text.strip().casefold()
            return not wanted or any(wanted in str(getattr(item, name)).casefold() for name in TEXT_FIELDS)


        def passes_filters(item: $Entity, query: ${Entity}Query) -> bool:
            """Whether ``item`` satisfies every filter set on ``query`` (unset filters pass)."""
        $filter_checks
            return True


        def search_$plural(repository: ${Entity}Repository, query: ${Entity}Query | None = None) -> ${Entity}Page:
            query = query or ${Entity}Query()
            found = [item for item in repository.list() if matches(item, query.text) and passes_filters(item, query)]
            found.sort(key=lambda item: getattr(item, query.sort_by), reverse=query.descending)
            window = found[query.offset : query.offset + query.limit]
            return ${Entity}Page(items=window, total=len(found), offset=query.offset, limit=query.limit)
        ''',
        package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        text_fields=repr(tuple(text_fields)), sortable=repr(tuple(sortable)), plural=plural_name,
        filter_fields=filter_fields, filter_checks=filter_checks,
    )  # fmt: skip
    tests = render(
        '''
        """Searching ${words}s."""

        from datetime import datetime

        import pytest

        from $package.models.$entity import $Entity
        from $package.queries.${entity}_queries import ${Entity}Query, search_$plural
        from $package.repositories.${entity}_repository import ${Entity}Repository


        $make


        @pytest.fixture
        def repository() -> ${Entity}Repository:
            return ${Entity}Repository([make(1), make(2), make(3)])


        def test_an_empty_query_returns_everything_sorted_by_name(repository: ${Entity}Repository) -> None:
            page = search_$plural(repository)
            assert [item.name for item in page.items] == ["$Entity name 1", "$Entity name 2", "$Entity name 3"]
            assert page.total == 3
            assert not page.has_more


        def test_text_matches_any_text_field_ignoring_case(repository: ${Entity}Repository) -> None:
            page = search_$plural(repository, ${Entity}Query(text="${upper_name} 2"))
            assert [item.name for item in page.items] == ["$Entity name 2"]
            assert search_$plural(repository, ${Entity}Query(text="nothing like this")).total == 0


        def test_descending_sort_and_pages(repository: ${Entity}Repository) -> None:
            page = search_$plural(repository, ${Entity}Query(descending=True, limit=2))
            assert [item.name for item in page.items] == ["$Entity name 3", "$Entity name 2"]
            assert page.has_more
            last = search_$plural(repository, ${Entity}Query(descending=True, limit=2, offset=2))
            assert [item.name for item in last.items] == ["$Entity name 1"]
            assert not last.has_more


        @pytest.mark.parametrize("field_name", $sortable)
        def test_every_sortable_field_sorts(repository: ${Entity}Repository, field_name: str) -> None:
            page = search_$plural(repository, ${Entity}Query(sort_by=field_name))
            values = [getattr(item, field_name) for item in page.items]
            assert values == sorted(values)


        @pytest.mark.parametrize(
            ("filters", "names"),
            [
        $filter_tests
            ],
        )
        def test_each_filter_narrows_the_results(
            repository: ${Entity}Repository, filters: dict, names: list[str]
        ) -> None:
            page = search_$plural(repository, ${Entity}Query(**filters))
            assert [item.name for item in page.items] == names


        @pytest.mark.parametrize(
            "arguments",
            [{"sort_by": "colour"}, {"offset": -1}, {"limit": 0}, {"limit": 101}],
        )
        def test_bad_queries_are_refused(arguments: dict) -> None:
            with pytest.raises(ValueError):
                ${Entity}Query(**arguments)
        ''',
        package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        plural=plural_name, make=make_function(entity).rstrip(), sortable=repr(sortable),
        upper_name=f"{entity.name} NAME".upper(), filter_tests=filter_tests or _no_filter_case(entity),
    )  # fmt: skip
    return {
        f"{package}/queries/{entity.snake}_queries.py": source,
        f"tests/test_{entity.snake}_queries.py": tests,
    }
