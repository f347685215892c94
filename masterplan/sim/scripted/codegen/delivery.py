"""The wired application and the documentation, with their tests."""

from __future__ import annotations

from masterplan.sim.scripted.codegen.values import kwargs, plural, render
from masterplan.sim.scripted.entities import Project
from masterplan.sim.scripted.naming import title_words


def app_files(package: str, project: Project) -> dict[str, str]:
    entities = project.entities
    imports = "".join(
        f"from {package}.repositories.{e.snake}_repository import {e.name}Repository\n"
        f"from {package}.services.{e.snake}_service import {e.name}Service\n"
        for e in entities
    )
    fields = "".join(
        f"    {plural(e.snake)}: {e.name}Repository = field(default_factory={e.name}Repository)\n" for e in entities
    )
    services = "".join(f"    {e.snake}_service: {e.name}Service = field(init=False)\n" for e in entities)
    wiring = "".join(
        f"        self.{e.snake}_service = {e.name}Service(\n"
        f"            self.{plural(e.snake)},"
        + "".join(f" self.{plural(ref)}," for ref in e.refs)
        + " publish=self.bus.publish\n        )\n"
        for e in entities
    )
    source = render(
        '''
        """The whole application: one repository and one service per entity, sharing an event bus."""

        from __future__ import annotations

        from dataclasses import dataclass, field

        from $package.core.events import AuditLog, EventBus
        $imports

        @dataclass
        class Application:
            bus: EventBus = field(default_factory=EventBus)
        $fields$services    audit: AuditLog = field(init=False)

            def __post_init__(self) -> None:
                self.audit = AuditLog(self.bus)
        $wiring
            def counts(self) -> dict[str, int]:
                """How many of each entity are stored."""
                return {$counts}


        def build_application() -> Application:
            return Application()
        ''',
        package=package, imports=imports, fields=fields, services=services, wiring=wiring,
        counts=", ".join(f'"{e.name}": self.{plural(e.snake)}.count()' for e in entities),
    )  # fmt: skip
    creations = ""
    for e in entities:
        ref_overrides = "".join(f"        {ref}_id=created[{ref!r}].id,\n" for ref in e.refs)
        plain = "\n".join(
            line for line in kwargs(e, 1, "        ").split("\n") if not any(f" {r}_id=" in line for r in e.refs)
        )
        creations += f"    created[{e.snake!r}] = app.{e.snake}_service.create(\n{plain}\n{ref_overrides}    )\n"
    tests = render(
        '''
        """The wired application: every service works against the shared repositories and bus."""

        from datetime import datetime
        from typing import Any

        from $package.app import build_application


        def test_a_fresh_application_is_empty() -> None:
            app = build_application()
            assert set(app.counts().values()) == {0}
            assert app.bus.history == []


        def test_every_entity_can_be_created_with_its_references() -> None:
            app = build_application()
            created: dict[str, Any] = {}
        $creations
            assert set(app.counts().values()) == {1}
            assert len(app.audit.lines) == $count
            assert all(line.split()[0].endswith(".created") for line in app.audit.lines)


        def test_applications_do_not_share_state() -> None:
            first, second = build_application(), build_application()
            assert first.bus is not second.bus
            assert first.counts() == second.counts()
        ''',
        package=package, creations=creations.rstrip("\n"), count=str(len(entities)),
    )  # fmt: skip
    return {f"{package}/app.py": source, "tests/test_app.py": tests}


def docs_files(package: str, project: Project) -> dict[str, str]:
    rows = "\n".join(
        f"| {e.name} | {', '.join(a.name for a in e.attrs)} | {', '.join(e.refs) or '-'} |" for e in project.entities
    )
    readme = render(
        """
        # $package

        A small Python service that keeps $entities, in memory, with validation,
        use cases, JSON handlers, search, CSV exchange and reports.

        ## Use it

        ```python
        from $package.app import build_application

        app = build_application()
        ```

        Run the tests with `python -m pytest`.

        ## Entities

        | entity | attributes | refers to |
        | --- | --- | --- |
        $rows

        See [docs/architecture.md](docs/architecture.md) for the layers.
        """,
        package=package, rows=rows,
        entities=", ".join(title_words(e.name) + "s" for e in project.entities),
    )  # fmt: skip
    architecture = render(
        """
        # Architecture of $package

        Each layer is a subpackage and imports only the layers below it:

        1. `$package/core`: errors, ids, validation checks and the event bus.
        2. `$package/models`: one frozen dataclass per entity, validated on creation.
        3. `$package/repositories`: in-memory storage with finders per attribute.
        4. `$package/services`: use cases; names are unique, references must exist, changes publish events.
        5. `$package/api`, `$package/queries`, `$package/exchange`, `$package/reports`: the ways in and out.
        6. `$package/app.py`: wires one repository and service per entity to a shared event bus.
        """,
        package=package,
    )
    tests = render(
        '''
        """The documentation names what exists."""

        from pathlib import Path

        ROOT = Path(__file__).resolve().parent.parent


        def test_the_readme_lists_every_entity() -> None:
            readme = (ROOT / "README.md").read_text(encoding="utf-8")
            for name in $names:
                assert f"| {name} |" in readme


        def test_every_path_the_architecture_names_exists() -> None:
            text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
            paths = [part.split("`")[0] for part in text.split("`$package")[1:]]
            assert paths
            for path in paths:
                assert (ROOT / ("$package" + path)).exists(), path
        ''',
        package=package,
        names=repr([e.name for e in project.entities]),
    )
    return {"README.md": readme, "docs/architecture.md": architecture, "tests/test_docs.py": tests}
