"""Files for a task the scripted model has no template for: small, real and tested."""

from __future__ import annotations

import re

from masterplan.sim.scripted.naming import snake


def _module_name(path: str) -> str:
    return path[: -len(".py")].replace("/", ".")


def generic_files(files: list[str], title: str) -> dict[str, str]:
    """A module per listed .py source with a describe() function, a test per module, text for the rest."""
    sources = [p for p in files if p.endswith(".py") and not p.rsplit("/", 1)[-1].startswith("test_")]
    generated: dict[str, str] = {}
    for path in sources:
        generated[path] = (
            f'"""{title}."""\n\n\ndef describe() -> str:\n    """What this module is for."""\n    return {title!r}\n'
        )
    tests = [p for p in files if p.endswith(".py") and p.rsplit("/", 1)[-1].startswith("test_")]
    importable = [p for p in sources if re.fullmatch(r"[A-Za-z_][\w/]*\.py", p) and "/" in p]
    for path in tests or ([f"tests/test_{snake(title)}.py"] if importable else []):
        lines = [f"import {_module_name(p)}" for p in importable]
        body = "".join(
            f"\n\ndef test_{snake(_module_name(p))}_describes_itself() -> None:\n"
            f"    assert {_module_name(p)}.describe() == {title!r}\n"
            for p in importable
        )
        generated[path] = (
            "\n".join(lines) + body if lines else f"def test_{snake(title)}() -> None:\n    assert {title!r}\n"
        )
    for path in files:
        if path not in generated:
            generated[path] = f"# {title}\n\nWritten for the task {title!r}.\n"
    if not generated:
        generated["NOTES.md"] = f"# {title}\n\nThis task named no files.\n"
    return generated
