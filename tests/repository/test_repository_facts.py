"""What a repository says about itself, read from its files as data; hostile content never raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from masterplan.repository.facts import FileText, detect_test_command, package_metadata, readme_head
from masterplan.repository.outline import outline_python
from masterplan.repository.ranking import module_name, rank_files, request_terms


def reader(files: dict[str, str]) -> FileText:
    return files.get


@pytest.mark.parametrize(
    ("files", "argv", "source"),
    [
        ({"pyproject.toml": "[tool.pytest.ini_options]\naddopts='-q'\n"}, ("python", "-m", "pytest"), "pyproject.toml"),
        ({"setup.cfg": "[tool:pytest]\ntestpaths = t\n"}, ("python", "-m", "pytest"), "setup.cfg [tool:pytest]"),
        ({"pytest.ini": "[pytest]\n"}, ("python", "-m", "pytest"), "pytest.ini [pytest]"),
        ({"tox.ini": "[tox]\n[pytest]\nx = 1\n"}, ("python", "-m", "pytest"), "tox.ini [pytest]"),
        ({"Makefile": "all: build\n\ntest: all\n\tpytest\n"}, ("make", "test"), "Makefile test target"),
        ({"package.json": '{"scripts": {"test": "vitest run"}}'}, ("npm", "test"), "package.json scripts.test"),
        ({"tests/test_x.py": ""}, ("python", "-m", "pytest"), "test files (test_*.py)"),
    ],
)
def test_the_test_command_is_found_where_projects_declare_it(
    files: dict[str, str], argv: tuple[str, ...], source: str
) -> None:
    found = detect_test_command(reader(files), frozenset(files))
    assert found is not None
    assert found.argv == argv
    assert found.source.startswith(source)


@pytest.mark.parametrize(
    "files",
    [
        {},
        {"Makefile": "test := value\nbuild:\n\tcc x.c\n"},
        {"package.json": '{"scripts": {"test": "echo \\"Error: no test specified\\" && exit 1"}}'},
        {"pyproject.toml": "[project\nbroken"},
        {"setup.cfg": "no section header at all"},
        {"package.json": "[1, 2"},
    ],
)
def test_no_test_command_is_invented(files: dict[str, str]) -> None:
    assert detect_test_command(reader(files), frozenset(files)) is None


def test_metadata_comes_from_the_first_file_that_has_it() -> None:
    pyproject = '[project]\nname = "a"\nversion = "1"\ndependencies = ["x>=1", 3]\n'
    assert package_metadata(reader({"pyproject.toml": pyproject, "package.json": '{"name": "b"}'})) == {
        "source": "pyproject.toml",
        "name": "a",
        "version": "1",
        "dependencies": "x>=1",
    }
    cfg = "[metadata]\nname = c\ndescription = d %(x)s\n[options]\ninstall_requires =\n  y\n  z\n"
    assert package_metadata(reader({"setup.cfg": cfg})) == {
        "source": "setup.cfg",
        "name": "c",
        "description": "d %(x)s",
        "dependencies": "y, z",
    }
    assert package_metadata(reader({"package.json": '{"name": "b", "dependencies": {"left-pad": "1"}}'})) == {
        "source": "package.json",
        "name": "b",
        "dependencies": "left-pad",
    }


def test_the_readme_head_is_its_first_lines() -> None:
    name, head = readme_head(reader({"README.rst": "Title\n=====\n" + "line\n" * 100})) or ("", "")
    assert name == "README.rst"
    assert head.startswith("Title\n=====")
    assert head.count("\n") == 39


def test_relative_imports_resolve_against_the_module() -> None:
    source = "from . import items\nfrom ..core import base\nimport json\nfrom .stock import Stock as S\n"
    outline = outline_python(source, "pkg.sub.mod")
    assert outline.imports >= {"pkg.sub", "pkg.sub.items", "pkg.core", "pkg.core.base", "json", "pkg.sub.stock"}
    assert module_name("src/pkg/sub/__init__.py") == ("pkg.sub", True)


def test_files_named_by_the_request_and_their_imports_rank_first() -> None:
    outlines = {
        "app/billing.py": outline_python("from app import money\ndef invoice() -> None: ...\n", "app.billing"),
        "app/money.py": outline_python("def cents() -> int: ...\n", "app.money"),
        "app/users.py": outline_python("def login() -> None: ...\n", "app.users"),
    }
    files = ["README.md", "app/billing.py", "app/money.py", "app/users.py", "tests/test_billing.py"]
    ranked = rank_files(files, outlines, "Send an invoice from billing")
    assert ranked[0] == "app/billing.py"
    assert ranked.index("app/money.py") < ranked.index("app/users.py")
    assert request_terms("Add the camelCase parseItem API") == {"camel", "case", "parse", "item"}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.text(max_size=60))
def test_any_python_text_outlines_without_raising(source: str, module: str) -> None:
    outline = outline_python(source, module)
    for symbol in outline.symbols:
        assert symbol.lines()


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            ["pyproject.toml", "setup.cfg", "tox.ini", "pytest.ini", "Makefile", "package.json", "README.md"]
        ),
        st.text(max_size=300),
    )
)
def test_any_project_files_are_read_without_raising(files: dict[str, str]) -> None:
    detect_test_command(reader(files), frozenset(files))
    package_metadata(reader(files))
    readme_head(reader(files))
