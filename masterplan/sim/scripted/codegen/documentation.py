"""The documentation of a generated project (README and architecture notes) and the tests that keep it true."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.project_setup import LAYER_ROLES, LAYER_USES
from masterplan.sim.scripted.codegen.values import (
    has_default,
    kwargs,
    plural,
    render,
    rule_text,
    unique_fields,
    with_article,
)
from masterplan.sim.scripted.entities import EntityInfo, Project
from masterplan.sim.scripted.naming import title_words

_README = """
# $package

A Python service that keeps $entities.

Everything lives in memory: validated entities, use cases with their rules, JSON handlers,
search, CSV and JSON-lines exchange, and reports.

## Quick start

```python
from datetime import datetime

from $package.app import build_application

app = build_application()
$example
print(app.summary())
```

Run the tests with `python -m pytest`.

## Entities

$sections

## Rules

- Every value is checked when an entity is created or changed; a `ValidationError` lists
  every broken rule at once, each problem starting with its field name.
- Unique fields (each entity's name, and its code when it has one) are unique ignoring case.
- A reference must point at a stored entity, and `Application.safe_delete` refuses to delete
  an entity something still refers to.
- Batches (`create_many`, `update_many`, `delete_many`, imports) are all-or-nothing.
- A deleted entity can be restored by its service until the application stops.

## Events

Every change publishes an event on the application's `EventBus`:

| event | when |
| --- | --- |
$events

## Errors

| error | code | HTTP status |
| --- | --- | --- |
| `ValidationError` | `validation` | 400 |
| `NotFoundError` | `not_found` | 404 |
| `ConflictError` | `conflict` | 409 |
| `StateError` | `state` | 409 |

See [docs/architecture.md](docs/architecture.md) for the layers.
"""

_ARCHITECTURE = """
# Architecture of $package

Each layer is a subpackage and imports only the layers listed for it;
`tests/test_package.py` checks every module against these rules.

| layer | holds | imports from |
| --- | --- | --- |
$layers

1. `$package/core`: errors, ids, validation checks and the event bus.
2. `$package/models`: one frozen dataclass per entity, validated on creation.
3. `$package/repositories`: in-memory storage with finders per attribute and transactions.
4. `$package/services`: use cases; unique fields, existing references, batches, restore, events.
5. `$package/api`, `$package/queries`, `$package/exchange`, `$package/reports`: the ways in and out.
6. `$package/app.py`: wires one repository and service per entity to a shared event bus,
   and keeps the rules that span entities (safe deletes, dangling references, snapshots).

## Why in memory

The domain and its rules do not depend on storage: repositories are the only place that
keeps data, behind a small interface (`add`, `get`, `update`, `remove`, `filter`,
`transaction`). A database-backed repository can replace the in-memory one without touching
models, services or handlers.
"""

_TESTS = '''
"""The documentation names what exists, and its example runs."""

import re
from pathlib import Path

import pytest

from $package import LAYERS
from $package.core import errors

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
ARCHITECTURE = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
ATTRIBUTES = $attributes


def test_the_readme_lists_every_entity_and_attribute() -> None:
    for entity, names in ATTRIBUTES.items():
        assert f"### {entity}" in README
        section = README.split(f"### {entity}", 1)[1].split("###", 1)[0]
        for name in names:
            assert f"| {name} |" in section, f"{entity}.{name}"


def test_the_quick_start_runs(capsys: pytest.CaptureFixture[str]) -> None:
    code = README.split("```python", 1)[1].split("```", 1)[0]
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    printed = capsys.readouterr().out
    assert "$first_entity: 1" in printed
    app = namespace["app"]
    for kind in app.bus.kinds():  # type: ignore[attr-defined]
        assert f"`{kind}`" in README


@pytest.mark.parametrize("row", re.findall(r"^\\| `(\\w+Error)` \\| `(\\w+)` \\| (\\d+) \\|$$", README, re.MULTILINE))
def test_the_error_table_matches_the_code(row: tuple[str, str, str]) -> None:
    name, code, status = row
    error_class = getattr(errors, name)
    assert (error_class.code, error_class.http_status) == (code, int(status))


def test_the_error_table_covers_every_error() -> None:
    documented = set(re.findall(r"^\\| `(\\w+Error)` \\|", README, re.MULTILINE))
    defined = {name for name, value in vars(errors).items() if isinstance(value, type) and name.endswith("Error")}
    assert documented == defined - {"DomainError"}


def test_every_path_the_architecture_names_exists() -> None:
    paths = [part.split("`")[0] for part in ARCHITECTURE.split("`$package")[1:]]
    assert paths
    for path in paths:
        assert (ROOT / ("$package" + path)).exists(), path


def test_the_layer_table_matches_the_package() -> None:
    for layer, role in LAYERS.items():
        assert f"| {layer} | {role} |" in ARCHITECTURE
'''


def _section(entity: EntityInfo, project: Project) -> str:
    refs = [project.entity(ref) for ref in entity.refs]
    refers = ", ".join(f"{ref.name} (`{ref.snake}_id`)" for ref in refs if ref is not None) or "nothing"
    unique = ", ".join(f"`{name}`" for name in unique_fields(entity))
    rows = "\n".join(
        f"| {a.name} | {a.type} | {'no' if has_default(a) else 'yes'} | {rule_text(a)} |" for a in entity.attrs
    )
    return (
        f"### {entity.name}\n\n{with_article(title_words(entity.name)).capitalize()}. "
        f"Refers to: {refers}. Unique: {unique}.\n\n"
        f"| attribute | type | required | rule |\n| --- | --- | --- | --- |\n{rows}"
    )


def _example(project: Project) -> str:
    first = project.entities[0]
    plain = [line for line in kwargs(first, 1, "    ").split("\n") if not any(f" {r}_id=" in line for r in first.refs)]
    return f"{first.snake} = app.{first.snake}_service.create(\n" + "\n".join(plain) + "\n)"


def _listed(words: list[str]) -> str:
    return ", ".join(words[:-1]) + " and " + words[-1] if len(words) > 1 else "".join(words)


def docs_files(package: str, project: Project) -> dict[str, str]:
    entities = project.entities
    actions = {"created": "is created", "updated": "is changed", "deleted": "is deleted", "restored": "is restored"}
    events = "\n".join(
        f"| `{e.snake}.{action}` | {with_article(title_words(e.name))} {when} |"
        for e in entities
        for action, when in actions.items()
    )
    readme = render(
        _README, package=package, example=_example(project), events=events,
        sections="\n\n".join(_section(e, project) for e in entities),
        entities=_listed([plural(title_words(e.name)) for e in entities]),
    )  # fmt: skip
    layers = "\n".join(
        f"| {layer} | {role} | {', '.join(u for u in LAYER_USES[layer] if u != layer) or 'nothing'} |"
        for layer, role in LAYER_ROLES.items()
    )
    tests = render(
        _TESTS, package=package, first_entity=entities[0].name,
        attributes="{\n" + "".join(f"    {e.name!r}: {[a.name for a in e.attrs]!r},\n" for e in entities) + "}",
    )  # fmt: skip
    return {
        "README.md": readme,
        "docs/architecture.md": render(_ARCHITECTURE, package=package, layers=layers),
        "tests/test_docs.py": tests,
    }
