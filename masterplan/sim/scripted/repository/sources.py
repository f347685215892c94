"""The code and text a repository change writes: the feature module, appended functions, tests, a README section.

Calling a repository's functions with arguments the map does not explain is unsafe, so the generated code
imports the real names (which proves they exist where the map says) and builds its own behaviour beside
them: self-contained, deterministic functions whose tests need nothing but the standard library.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from masterplan.sim.scripted.repository.change import Appended, Change, Module

LINE_LIMIT = 100
_FUNCTIONS: dict[str, tuple[str, str, str]] = {
    "label": (
        "text: str",
        "str",
        '"""``text`` as a label of the {title}: its words in lower case, joined by hyphens."""\n'
        '    return "-".join(text.lower().split())',
    ),
    "initials": (
        "text: str",
        "str",
        '"""The initials of ``text``\'s words, in upper case, for the {title}."""\n'
        '    return "".join(word[0] for word in text.split()).upper()',
    ),
    "word_count": (
        "text: str",
        "int",
        '"""How many words ``text`` has, as the {title} counts them (runs of whitespace separate words)."""\n'
        "    return len(text.split())",
    ),
}
_PURPOSES = {
    "label": "its words in lower case, joined by hyphens",
    "initials": "the initials of its words, in upper case",
    "word_count": "how many words it has",
}
_EXAMPLES: dict[str, list[tuple[str, str]]] = {
    "label": [('"  Blue  Widget "', '"blue-widget"'), ('"   "', '""')],
    "initials": [('"stock keeping unit"', '"SKU"'), ('""', '""')],
    "word_count": [('"one  two\\tthree"', "3"), ('""', "0")],
}


def feature_module(change: Change, request: str) -> str:
    """The new module: the real names it builds on, and the feature's own function."""
    imports, names = _imports(change.parts)
    built_on = ", ".join(f"``{module.dotted}.{name}``" for module, name in change.parts) or "nothing of it yet"
    lines = [
        f'"""{change.title}.',
        "",
        *_wrapped(f"Asked for: {_sentence(request)}"),
        "",
        *_wrapped(f"Built on the existing {built_on}."),
        '"""',
        "",
        "from __future__ import annotations",
        "",
        "from collections.abc import Iterable, Mapping",
        *(["", *imports] if imports else []),
        "",
        f"BUILT_ON: tuple[object, ...] = {_literal(names, '()', 'BUILT_ON: tuple[object, ...] = ')}",
        f'"""The existing parts of {change.package or "the repository"} this module builds on."""',
        "",
        "",
        "def built_on_names() -> list[str]:",
        '    """The dotted names of the existing parts this module builds on, in order."""',
        f"    return {_literal(_dotted(change), '[]', '    return ')}",
        "",
        "",
        f"def {change.lines_function}(records: Iterable[Mapping[str, object]]) -> list[str]:",
        '    """A header of the records\' keys (sorted), then one comma-separated line of values per record."""',
        "    rows = [dict(record) for record in records]",
        "    if not rows:",
        "        return []",
        "    columns = sorted({key for row in rows for key in row})",
        '    lines = [",".join(columns)]',
        '    lines += [",".join(str(row.get(column, "")) for column in columns) for row in rows]',
        "    return lines",
    ]
    return "\n".join(lines) + "\n"


def feature_tests(change: Change, module: str) -> str:
    """Tests of the feature module at ``module`` (dotted): the real names are there, the function works."""
    imports, names = _imports(change.parts)
    alias = next(name for name in ("subject", "subject_module", "feature_subject") if name not in names)
    function = f"{alias}.{change.lines_function}"
    names_check = f"    assert {alias}.built_on_names() == "
    body = [
        f'"""Tests of {module}: {change.title.lower()}, built on the existing code."""',
        "",
        f"import {module} as {alias}",
        *imports,
        "",
        "",
        f"def test_{change.feature}_builds_on_the_existing_code() -> None:",
        f"    parts = {alias}.BUILT_ON",
        f"    assert parts == {_literal(names, '()', '    assert parts == ')}",
        "    assert all(callable(part) for part in parts)",
        f"{names_check}{_literal(_dotted(change), '[]', names_check)}",
        "",
        "",
        f"def test_{change.feature}_lines_have_a_header_then_a_line_per_record() -> None:",
        '    records = [{"name": "widget", "quantity": 3}, {"quantity": 1, "name": "bolt"}]',
        f'    assert {function}(records) == ["name,quantity", "widget,3", "bolt,1"]',
        "",
        "",
        f"def test_{change.feature}_lines_leave_missing_values_empty() -> None:",
        f'    assert {function}([{{"a": 1}}, {{"b": 2}}]) == ["a,b", "1,", ",2"]',
        f"    assert {function}([]) == []",
    ]
    return "\n".join(body) + "\n"


def appended_function(item: Appended, change: Change) -> str:
    """The self-contained function appended to an existing module (builtins only, no imports)."""
    arguments, returns, body = _FUNCTIONS[item.template]
    return f"def {item.function}({arguments}) -> {returns}:\n    {body.format(title=change.title.lower())}\n"


def appended_tests(item: Appended, module: str) -> str:
    """Tests of an appended function, imported from ``module`` (where the task put it)."""
    checks = [f"    assert {item.function}({given}) == {expected}" for given, expected in _EXAMPLES[item.template]]
    return (
        "\n".join(
            [
                f'"""Tests of {module}.{item.function}."""',
                "",
                f"from {module} import {item.function}",
                "",
                "",
                f"def test_{item.function}() -> None:",
                *checks,
            ]
        )
        + "\n"
    )


def standalone_module(item: Appended, change: Change) -> str:
    """The appended function in a module of its own, when the module to edit was not shown."""
    return f'"""{change.title}: {item.function}, beside {item.module.dotted}."""\n\n\n' + appended_function(
        item, change
    )


def readme_section(change: Change, readme: str) -> str:
    """A section documenting the change, in the README's own markup."""
    entries = [f"`{change.feature_module}.{change.lines_function}(records)`: a header of the records' keys, then "
               "one comma-separated line per record"]  # fmt: skip
    entries += [f"`{item.module.dotted}.{item.function}(text)`: {_PURPOSES[item.template]}" for item in change.appended]
    built_on = ", ".join(f"`{module.dotted}.{name}`" for module, name in change.parts)
    intro = f"`{change.feature_module}` builds on {built_on}." if built_on else f"`{change.feature_module}` is new."
    if readme.endswith(".rst"):
        heading = f"{change.title}\n{'-' * len(change.title)}"
        entries = [entry.replace("`", "``") for entry in entries]
        intro = intro.replace("`", "``")
    else:
        heading = f"## {change.title}" if readme.endswith(".md") else change.title
    return "\n".join([heading, "", intro, "", *(f"- {entry}" for entry in entries)]) + "\n"


def _imports(parts: Sequence[tuple[Module, str]]) -> tuple[list[str], list[str]]:
    """Sorted ``from module import name`` lines (an alias when two modules share a name) and the names bound,
    in the order of ``parts``."""
    bound: list[str] = []
    by_module: dict[str, list[str]] = {}
    for module, name in parts:
        alias = name if name not in bound else f"{module.dotted.rsplit('.', 1)[-1]}_{name}"
        bound.append(alias)
        by_module.setdefault(module.dotted, []).append(name if alias == name else f"{name} as {alias}")
    lines = [f"from {module} import {', '.join(sorted(names, key=_by_type))}" for module, names in by_module.items()]
    return sorted(lines), bound


def _by_type(name: str) -> tuple[int, str]:
    """isort's order of imported names: constants, classes, then functions."""
    return (0 if name.isupper() else 1 if name[:1].isupper() else 2), name


def _dotted(change: Change) -> list[str]:
    return [f'"{module.dotted}.{name}"' for module, name in change.parts]


def _literal(items: list[str], brackets: str, prefix: str) -> str:
    """A tuple or list literal, on one line when it fits beside ``prefix``, else one item a line."""
    opener, closer = brackets[0], brackets[1]
    one_line = opener + ", ".join(items) + ("," if len(items) == 1 and opener == "(" else "") + closer
    if len(prefix) + len(one_line) <= LINE_LIMIT:
        return one_line
    indent = " " * (len(prefix) - len(prefix.lstrip()))
    return opener + "".join(f"\n{indent}    {item}," for item in items) + f"\n{indent}{closer}"


def _wrapped(text: str) -> list[str]:
    return textwrap.wrap(text, LINE_LIMIT, break_long_words=False, break_on_hyphens=False) or [""]


def _sentence(request: str) -> str:
    text = "".join(char for char in " ".join(request.split())[:200] if char.isprintable())
    text = text.replace('"""', "'''").replace("\\", "/")
    return text if text.endswith(".") else text + "."
