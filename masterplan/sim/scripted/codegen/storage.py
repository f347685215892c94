"""The entity repository (finders per attribute) and its tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import kwargs, plural, render, sample
from masterplan.sim.scripted.entities import Attr, EntityInfo
from masterplan.sim.scripted.naming import title_words


def _finder(entity: EntityInfo, attr: Attr) -> str:
    e, name = entity.name, attr.name
    if attr.ref is not None:
        return (
            f"    def for_{attr.ref}(self, {name}: str) -> list[{e}]:\n"
            f'        """The {plural(entity.snake)} that belong to one {title_words(attr.ref)}."""\n'
            f"        return self.filter(lambda item: item.{name} == {name})\n"
        )
    if attr.type == "str":
        return (
            f"    def find_by_{name}(self, value: str) -> list[{e}]:\n"
            f'        """Exact match on {name}, ignoring case and surrounding spaces."""\n'
            f"        wanted = value.strip().casefold()\n"
            f"        return self.filter(lambda item: item.{name}.strip().casefold() == wanted)\n"
        )
    if attr.type in ("int", "float"):
        return (
            f"    def with_{name}_between(self, low: float, high: float) -> list[{e}]:\n"
            f'        """{name} within [low, high], both ends included."""\n'
            f"        if low > high:\n"
            f'            raise ValueError(f"low {{low}} is above high {{high}}")\n'
            f"        return self.filter(lambda item: low <= item.{name} <= high)\n"
        )
    if attr.type == "bool":
        return (
            f"    def where_{name}(self, value: bool = True) -> list[{e}]:\n"
            f"        return self.filter(lambda item: item.{name} is value)\n"
        )
    if attr.type == "datetime":
        return (
            f"    def {name}_before(self, moment: datetime) -> list[{e}]:\n"
            f'        """{name} strictly before ``moment``."""\n'
            f"        return self.filter(lambda item: item.{name} < moment)\n"
        )
    return (
        f"    def with_{name}_item(self, value: str) -> list[{e}]:\n"
        f"        return self.filter(lambda item: value in item.{name})\n"
    )


def _finder_test(entity: EntityInfo, attr: Attr) -> str:
    name, repo = attr.name, f"{entity.snake}_repository"
    if attr.ref is not None:
        return render(
            """
            def test_for_${ref}_selects_by_reference($repo: $Repo) -> None:
                assert [item.$name for item in $repo.for_$ref($second)] == [$second]
                assert $repo.for_$ref("$ref-404") == []
            """,
            ref=attr.ref, repo=repo, Repo=f"{entity.name}Repository", name=name, second=sample(entity, attr, 2),
        )  # fmt: skip
    if attr.type == "str":
        value = sample(entity, attr, 2)
        return render(
            """
            def test_find_by_${name}_ignores_case_and_spaces($repo: $Repo) -> None:
                found = $repo.find_by_$name("  " + $value.upper() + " ")
                assert [item.$name for item in found] == [$value]
                assert $repo.find_by_$name("no such value") == []
            """,
            name=name, repo=repo, Repo=f"{entity.name}Repository", value=value,
        )  # fmt: skip
    if attr.type in ("int", "float"):
        return render(
            """
            def test_with_${name}_between_includes_both_ends($repo: $Repo) -> None:
                found = $repo.with_${name}_between($low, $high)
                assert [item.$name for item in found] == [$low, $high]
                with pytest.raises(ValueError, match="is above"):
                    $repo.with_${name}_between(10, 1)
            """,
            name=name, repo=repo, Repo=f"{entity.name}Repository",
            low=sample(entity, attr, 1), high=sample(entity, attr, 2),
        )  # fmt: skip
    if attr.type == "bool":
        return render(
            """
            def test_where_${name}_splits_by_flag($repo: $Repo) -> None:
                assert len($repo.where_$name(True)) == 2
                assert len($repo.where_$name(False)) == 1
            """,
            name=name, repo=repo, Repo=f"{entity.name}Repository",
        )  # fmt: skip
    if attr.type == "datetime":
        return render(
            """
            def test_${name}_before_is_strict($repo: $Repo) -> None:
                assert [item.$name for item in $repo.${name}_before($second)] == [$first]
                assert $repo.${name}_before($first) == []
            """,
            name=name, repo=repo, Repo=f"{entity.name}Repository",
            first=sample(entity, attr, 1), second=sample(entity, attr, 2),
        )  # fmt: skip
    return render(
        """
        def test_with_${name}_item_finds_members($repo: $Repo) -> None:
            assert len($repo.with_${name}_item("alpha3")) == 1
            assert $repo.with_${name}_item("omega") == []
        """,
        name=name, repo=repo, Repo=f"{entity.name}Repository",
    )  # fmt: skip


def repository_source(package: str, entity: EntityInfo) -> str:
    finders = "\n".join(_finder(entity, attr) for attr in entity.attrs if attr.name != "name")
    sortable = [a.name for a in entity.attrs if a.type != "list[str]"]
    return render(
        '''
        """Storage of ${Entity} entities, with a finder per attribute."""

        from __future__ import annotations

        from datetime import datetime
        from typing import Any

        from $package.core.errors import ConflictError
        from $package.models.$entity import $Entity
        from $package.repositories.base import InMemoryRepository

        SORTABLE_FIELDS = $sortable


        class ${Entity}Repository(InMemoryRepository[$Entity]):
            """The ${words}s, in memory. Finders return lists in insertion order."""

            entity_name = "$Entity"

            def find_by_name(self, name: str) -> list[$Entity]:
                wanted = name.strip().casefold()
                return self.filter(lambda item: item.name.strip().casefold() == wanted)

            def name_taken(self, name: str, except_id: str | None = None) -> bool:
                """Whether another $words already uses ``name`` (ignoring case)."""
                return any(item.id != except_id for item in self.find_by_name(name))

            def names(self) -> list[str]:
                return sorted(item.name for item in self.list())

            def add_all(self, items: list[$Entity]) -> list[$Entity]:
                """Add every item, or none of them when one id is already stored."""
                taken = [item.id for item in items if item.id in self]
                if taken:
                    raise ConflictError("$Entity", taken[0], "already stored")
                return [self.add(item) for item in items]

            def upsert(self, item: $Entity) -> bool:
                """Store ``item``, replacing a stored one with its id; True when it was new."""
                is_new = item.id not in self
                if is_new:
                    self.add(item)
                else:
                    self.update(item)
                return is_new

            def group_by(self, field_name: str) -> dict[Any, list[$Entity]]:
                """The ${words}s grouped by the value of a sortable field, groups in first-seen order."""
                self._check_field(field_name)
                groups: dict[Any, list[$Entity]] = {}
                for item in self.list():
                    groups.setdefault(getattr(item, field_name), []).append(item)
                return groups

            def count_by(self, field_name: str) -> dict[Any, int]:
                return {value: len(items) for value, items in self.group_by(field_name).items()}

            def distinct(self, field_name: str) -> list[Any]:
                """The different values of a field, sorted."""
                return sorted(self.group_by(field_name))

            def snapshot(self) -> list[$Entity]:
                """Every stored $words; ``restore`` puts exactly these back."""
                return self.list()

            def restore(self, items: list[$Entity]) -> None:
                self.clear()
                self.add_all(items)

            def _check_field(self, field_name: str) -> None:
                if field_name not in SORTABLE_FIELDS:
                    raise ValueError(f"cannot use {field_name!r}; choose one of {SORTABLE_FIELDS}")

            def sorted_by(self, field_name: str, descending: bool = False) -> list[$Entity]:
                if field_name not in SORTABLE_FIELDS:
                    raise ValueError(f"cannot sort ${words}s by {field_name!r}; choose one of {SORTABLE_FIELDS}")
                return sorted(self.list(), key=lambda item: getattr(item, field_name), reverse=descending)

        $finders
        ''',
        package=package, Entity=entity.name, entity=entity.snake, words=title_words(entity.name),
        sortable=repr(tuple(["id", *sortable])), finders=finders.rstrip() + "\n",
    )  # fmt: skip


def repository_tests(package: str, entity: EntityInfo) -> str:
    e = entity.snake
    tests = "\n\n".join(_finder_test(entity, attr) for attr in entity.attrs if attr.name != "name")
    return render(
        '''
        """The $Entity repository: storage and finders."""

        from datetime import datetime

        import pytest

        from $package.core.errors import ConflictError, NotFoundError
        from $package.models.$entity import $Entity
        from $package.repositories.${entity}_repository import ${Entity}Repository


        def make(n: int) -> $Entity:
            samples = {
                1: dict(
        $kwargs1
                ),
                2: dict(
        $kwargs2
                ),
                3: dict(
        $kwargs3
                ),
            }
            return $Entity(**samples[n])


        @pytest.fixture
        def ${entity}_repository() -> ${Entity}Repository:
            return ${Entity}Repository([make(1), make(2), make(3)])


        def test_stored_${entity}s_come_back_in_order(${entity}_repository: ${Entity}Repository) -> None:
            assert [item.name for item in ${entity}_repository.list()] == [$name1, $name2, $name3]
            assert ${entity}_repository.count() == 3


        def test_get_and_remove_unknown_ids_raise_not_found(${entity}_repository: ${Entity}Repository) -> None:
            with pytest.raises(NotFoundError, match="$Entity"):
                ${entity}_repository.get("$entity-404")
            with pytest.raises(NotFoundError):
                ${entity}_repository.remove("$entity-404")


        def test_the_same_${entity}_cannot_be_added_twice(${entity}_repository: ${Entity}Repository) -> None:
            with pytest.raises(ConflictError):
                ${entity}_repository.add(${entity}_repository.list()[0])


        def test_find_by_name_and_name_taken(${entity}_repository: ${Entity}Repository) -> None:
            first = ${entity}_repository.list()[0]
            assert ${entity}_repository.find_by_name(first.name.upper()) == [first]
            assert ${entity}_repository.name_taken(first.name)
            assert not ${entity}_repository.name_taken(first.name, except_id=first.id)
            assert not ${entity}_repository.name_taken("a name nobody uses")


        def test_names_are_sorted(${entity}_repository: ${Entity}Repository) -> None:
            assert ${entity}_repository.names() == sorted([$name1, $name2, $name3])


        def test_sorted_by_orders_and_refuses_unknown_fields(${entity}_repository: ${Entity}Repository) -> None:
            names = [item.name for item in ${entity}_repository.sorted_by("name", descending=True)]
            assert names == sorted([$name1, $name2, $name3], reverse=True)
            with pytest.raises(ValueError, match="cannot sort"):
                ${entity}_repository.sorted_by("colour")


        def test_update_replaces_the_stored_${entity}(${entity}_repository: ${Entity}Repository) -> None:
            first = ${entity}_repository.list()[0]
            ${entity}_repository.update(first.with_changes(name="Changed"))
            assert ${entity}_repository.get(first.id).name == "Changed"


        def test_add_all_is_all_or_nothing(${entity}_repository: ${Entity}Repository) -> None:
            fresh = make(1)
            with pytest.raises(ConflictError):
                ${entity}_repository.add_all([fresh, ${entity}_repository.list()[0]])
            assert fresh.id not in ${entity}_repository
            assert ${entity}_repository.add_all([fresh]) == [fresh]


        def test_upsert_adds_then_replaces(${entity}_repository: ${Entity}Repository) -> None:
            fresh = make(2)
            assert ${entity}_repository.upsert(fresh) is True
            assert ${entity}_repository.upsert(fresh.with_changes(name="Replaced")) is False
            assert ${entity}_repository.get(fresh.id).name == "Replaced"


        @pytest.mark.parametrize("field_name", $sortable_fields)
        def test_group_by_and_count_by_agree(${entity}_repository: ${Entity}Repository, field_name: str) -> None:
            groups = ${entity}_repository.group_by(field_name)
            counts = ${entity}_repository.count_by(field_name)
            assert {value: len(items) for value, items in groups.items()} == counts
            assert sum(counts.values()) == 3
            assert ${entity}_repository.distinct(field_name) == sorted(counts)


        def test_group_by_refuses_unknown_fields(${entity}_repository: ${Entity}Repository) -> None:
            with pytest.raises(ValueError, match="cannot use"):
                ${entity}_repository.group_by("colour")


        def test_restore_puts_back_a_snapshot(${entity}_repository: ${Entity}Repository) -> None:
            saved = ${entity}_repository.snapshot()
            ${entity}_repository.remove(saved[0].id)
            ${entity}_repository.add(make(3))
            ${entity}_repository.restore(saved)
            assert ${entity}_repository.list() == saved


        $tests
        ''',
        package=package, Entity=entity.name, entity=e,
        kwargs1=kwargs(entity, 1, "            "), kwargs2=kwargs(entity, 2, "            "),
        kwargs3=kwargs(entity, 3, "            "),
        name1=repr(f"{entity.name} name 1"), name2=repr(f"{entity.name} name 2"), name3=repr(f"{entity.name} name 3"),
        tests=tests, sortable_fields=repr([a.name for a in entity.attrs if a.type != "list[str]"]),
    )  # fmt: skip


def repository_files(package: str, entity: EntityInfo) -> dict[str, str]:
    return {
        f"{package}/repositories/{entity.snake}_repository.py": repository_source(package, entity),
        f"tests/test_{entity.snake}_repository.py": repository_tests(package, entity),
    }
