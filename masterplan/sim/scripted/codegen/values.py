"""Python literals for generated code: valid samples and invalid values per attribute type."""

from __future__ import annotations

import re
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
    """A dedented ``string.Template`` (``$name``), so generated code keeps its own braces.

    Given ``words`` (an entity's name in words), ``$words_plural`` is its plural and ``$a_words``
    the name with its article ("an item").
    """
    if "words" in values:
        values.setdefault("words_plural", plural(values["words"]))
        values.setdefault("a_words", with_article(values["words"]))
    return Template(dedent(template).lstrip("\n")).substitute(values)


def annotation(attr: Attr) -> str:
    return _ANNOTATIONS[attr.type]


STATUSES = ("draft", "active", "blocked", "done")
"""The statuses the generated ``core.validation.STATUSES`` allows, in the same order."""
PRIORITY_RANGE = (0, 10)


def check_function(attr: Attr) -> str:
    """The ``core.validation`` check of an attribute: by name for well-known fields, else by type."""
    special = {"email": "require_email", "code": "require_code", "status": "require_status"}
    if attr.type == "str" and attr.ref is None and attr.required and attr.name in special:
        return special[attr.name]
    if attr.type == "int" and attr.name == "priority":
        return "require_in_range"
    if attr.type == "str":
        return "require_text" if attr.required else "optional_text"
    return _CHECKS[attr.type]


def check_call(attr: Attr, value: str) -> str:
    """The call that appends ``attr``'s problems with ``value`` to ``problems``."""
    extra = f", {PRIORITY_RANGE[0]}, {PRIORITY_RANGE[1]}" if check_function(attr) == "require_in_range" else ""
    return f'check.{check_function(attr)}(problems, "{attr.name}", {value}{extra})'


def rule_text(attr: Attr) -> str:
    """The rule an attribute's values follow, in words (for docstrings and the README)."""
    rules = {
        "require_email": "an e-mail address like name@example.com",
        "require_code": "an upper-case code like ABC-001, unique",
        "require_status": "one of " + ", ".join(STATUSES),
        "require_in_range": f"a whole number from {PRIORITY_RANGE[0]} to {PRIORITY_RANGE[1]}",
        "require_text": "non-empty text, at most 200 characters",
        "optional_text": "text, possibly empty, at most 2000 characters",
        "require_count": "a whole number >= 0",
        "require_amount": "a finite number >= 0",
        "require_flag": "true or false",
        "require_moment": "a datetime",
        "require_text_list": "a list of distinct non-empty texts",
    }
    if attr.ref is not None:
        return f"the id of an existing {attr.ref.replace('_', ' ')}"
    text = rules[check_function(attr)]
    return text + ", unique ignoring case" if attr.name == "name" else text


def unique_fields(entity: EntityInfo) -> list[str]:
    """Fields no two stored entities may share: the name, and the business code when there is one."""
    return ["name"] + [a.name for a in entity.attrs if a.name == "code" and check_function(a) == "require_code"]


def code_prefix(entity: EntityInfo) -> str:
    return re.sub(r"[^A-Z0-9]", "", entity.name.upper())[:4] or "X"


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
    if check_function(attr) == "require_code":
        return repr(f"{code_prefix(entity)}-{n:03d}")
    if check_function(attr) == "require_status":
        return repr(STATUSES[n % len(STATUSES)])
    if "email" in attr.name:
        return repr(f"{entity.snake}{n}@example.com")
    return repr(f"{entity.name} {attr.name.replace('_', ' ')} {n}")


def invalid(attr: Attr) -> str:
    """A literal the entity must reject for this attribute (the first of ``invalid_variants``)."""
    return invalid_variants(attr)[0]


def invalid_variants(attr: Attr) -> list[str]:
    """Several literals the entity must reject for this attribute, the main one first."""
    special = {
        "require_email": ['"not-an-email"', '"a@b"', '"two words@example.com"', '""', "None"],
        "require_code": ['"lower-case"', '"ABC 001"', '"-001"', '""', "None"],
        "require_status": ['"unknown"', '"ACTIVE"', '""', "None"],
        "require_in_range": ["-1", "11", "2.5", '"3"', "None", "True"],
    }
    more = {
        "int": ["-7", "2.5", '"3"', "None", "True"],
        "float": ["-0.5", '"1.5"', "None", "True", 'float("nan")', 'float("inf")'],
        "bool": ['"yes"', "1", "None"],
        "datetime": ['"2024-01-01"', "None", "20240101"],
        "list[str]": ['["ok", ""]', '"alpha"', "[1, 2]", "None", '["same", "same"]'],
    }
    if check_function(attr) in special:
        return special[check_function(attr)]
    if attr.type in more:
        return more[attr.type]
    return ['"   "', '""', "None", "42", '"x" * 201'] if attr.required else ["42", "None", '["a"]', '"x" * 2001']


def ordered(entity: EntityInfo) -> list[Attr]:
    """Attributes in dataclass order: those without defaults first."""
    return [a for a in entity.attrs if not has_default(a)] + [a for a in entity.attrs if has_default(a)]


def kwargs(entity: EntityInfo, n: int = 1, indent: str = "        ") -> str:
    """``name=value,`` lines for every attribute."""
    return "\n".join(f"{indent}{a.name}={sample(entity, a, n)}," for a in ordered(entity))


def with_article(words: str) -> str:
    """``words`` after "a" or "an" as it is said: an item, an update, a user, a unit."""
    vowels = "aeiou"
    sounds_like_you = words[:1] == "u" and len(words) > 2 and words[1] not in vowels and words[2] in vowels
    return ("an " if words[:1] in vowels and not sounds_like_you else "a ") + words


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


def make_function(entity: EntityInfo) -> str:
    """A test helper ``make(n)`` building sample ``n`` (1 to 3) of the entity."""
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
