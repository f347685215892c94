"""Python literals for generated code: valid samples and invalid values per attribute type."""

from __future__ import annotations

from string import Template
from textwrap import dedent

from masterplan.sim.scripted.entities import Attr, EntityInfo

_CHECKS = {
    "int": "require_count",
    "float": "require_amount",
    "bool": "require_flag",
    "datetime": "require_moment",
    "list[str]": "require_text_list",
}
_ANNOTATIONS = {
    "str": "str",
    "int": "int",
    "float": "float",
    "bool": "bool",
    "datetime": "datetime",
    "list[str]": "list[str]",
}
_DEFAULTS = {"str": '""', "list[str]": "field(default_factory=list)"}


def render(template: str, **values: str) -> str:
    """A dedented ``string.Template`` (``$name``), so generated code keeps its own braces."""
    return Template(dedent(template).lstrip("\n")).substitute(values)


def annotation(attr: Attr) -> str:
    return _ANNOTATIONS[attr.type]


def check_function(attr: Attr) -> str:
    if attr.type == "str":
        return "require_text" if attr.required else "optional_text"
    return _CHECKS[attr.type]


def has_default(attr: Attr) -> bool:
    return not attr.required and attr.type in _DEFAULTS


def default(attr: Attr) -> str:
    return _DEFAULTS[attr.type]


def sample(entity: EntityInfo, attr: Attr, n: int = 1) -> str:
    """A valid literal; ``n`` varies it."""
    if attr.ref is not None:
        return repr(f"{attr.ref}-{n}")
    literals = {
        "int": str(3 + n),
        "float": str(12.5 + n),
        "bool": "True" if n % 2 else "False",
        "datetime": f"datetime(2024, 1, {10 + n}, 9, 30)",
        "list[str]": f'["alpha{n}", "beta{n}"]',
    }
    if attr.type in literals:
        return literals[attr.type]
    if "email" in attr.name:
        return repr(f"{entity.snake}{n}@example.com")
    return repr(f"{entity.name} {attr.name.replace('_', ' ')} {n}")


def invalid(attr: Attr) -> str:
    """A literal the entity must reject for this attribute."""
    match attr.type:
        case "int":
            return "-1"
        case "float":
            return "-0.5"
        case "bool":
            return '"yes"'
        case "datetime":
            return '"2024-01-01"'
        case "list[str]":
            return '["ok", ""]'
    return '"   "' if attr.required else "42"


def invalid_variants(attr: Attr) -> list[str]:
    """Several literals the entity must reject for this attribute, the main one first."""
    more = {
        "int": ["-7", "2.5", '"3"', "None", "True"],
        "float": ["-0.5", '"1.5"', "None", "True", 'float("nan")'],
        "bool": ['"yes"', "1", "None"],
        "datetime": ['"2024-01-01"', "None", "20240101"],
        "list[str]": ['["ok", ""]', '"alpha"', "[1, 2]", "None"],
    }
    if attr.type in more:
        return more[attr.type]
    return ['"   "', '""', "None", "42"] if attr.required else ["42", "None", '["a"]']


def ordered(entity: EntityInfo) -> list[Attr]:
    """Attributes in dataclass order: those without defaults first."""
    return [a for a in entity.attrs if not has_default(a)] + [a for a in entity.attrs if has_default(a)]


def kwargs(entity: EntityInfo, n: int = 1, indent: str = "        ") -> str:
    """``name=value,`` lines for every attribute."""
    return "\n".join(f"{indent}{a.name}={sample(entity, a, n)}," for a in ordered(entity))


def plural(snake_name: str) -> str:
    if snake_name.endswith("y") and not snake_name.endswith(("ay", "ey", "oy", "uy")):
        return snake_name[:-1] + "ies"
    if snake_name.endswith(("s", "x", "ch", "sh")):
        return snake_name + "es"
    return snake_name + "s"


def numeric(entity: EntityInfo) -> list[Attr]:
    return [a for a in entity.attrs if a.type in ("int", "float")]


def texts(entity: EntityInfo) -> list[Attr]:
    return [a for a in entity.attrs if a.type == "str" and a.ref is None]


def flags(entity: EntityInfo) -> list[Attr]:
    return [a for a in entity.attrs if a.type == "bool"]
