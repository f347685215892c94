from __future__ import annotations

import shutil

from masterplan.executor.sandbox import Sandbox
from masterplan.executor.syntax import syntax_problems
from masterplan.executor.workspace import FileProblem
from masterplan.models import GeneratedFile

NODE = shutil.which("node")


def gen(path: str, content: str) -> GeneratedFile:
    return GeneratedFile(path=path, content=content)


async def test_valid_python_has_no_problems(sandbox: Sandbox) -> None:
    files = [gen("app/main.py", "def add(a: int, b: int) -> int:\n    return a + b\n"), gen("README.md", "def (")]

    assert await syntax_problems(files, sandbox=sandbox) == []


async def test_a_python_syntax_error_names_the_line_and_the_error(sandbox: Sandbox) -> None:
    problems = await syntax_problems([gen("app/main.py", "import os\n\ndef broken(:\n    pass\n")], sandbox=sandbox)

    assert len(problems) == 1
    assert problems[0].path == "app/main.py"
    assert problems[0].message.startswith("Python syntax error at line 3")
    assert "def broken(:" in problems[0].message


async def test_bad_indentation_is_a_syntax_error(sandbox: Sandbox) -> None:
    problems = await syntax_problems([gen("a.py", "if True:\nprint('x')\n")], sandbox=sandbox)

    assert [p.message.split(":")[0] for p in problems] == ["Python syntax error at line 2, column 1"]
    assert "expected an indented block" in problems[0].message


async def test_a_python_warning_is_not_a_syntax_error(sandbox: Sandbox) -> None:
    # An invalid escape is only a warning; the test suite turns warnings into errors, the check must not.
    assert await syntax_problems([gen("a.py", "import re\nPATTERN = re.compile('\\d+')\n")], sandbox=sandbox) == []


async def test_a_nul_byte_in_python_source_is_reported(sandbox: Sandbox) -> None:
    problems = await syntax_problems([gen("a.py", "x = 1\0\n")], sandbox=sandbox)

    assert [p.path for p in problems] == ["a.py"]


async def test_problems_come_in_file_order(sandbox: Sandbox) -> None:
    files = [gen("z.py", "x = (\n"), gen("ok.py", "x = 1\n"), gen("a.py", "def f(\n")]

    assert [p.path for p in await syntax_problems(files, node=None, sandbox=sandbox)] == ["z.py", "a.py"]


async def test_without_node_javascript_is_not_checked(sandbox: Sandbox) -> None:
    assert await syntax_problems([gen("web/app.js", "function (")], node=None, sandbox=sandbox) == []


async def test_a_javascript_syntax_error_names_the_file_and_line_when_node_is_installed(sandbox: Sandbox) -> None:
    files = [gen("web/app.js", "const a = 1;\nconst b = a +;\n"), gen("ok.py", "x = 1\n")]

    problems = await syntax_problems(files, sandbox=sandbox)

    if NODE is None:
        assert problems == []  # documented: JavaScript is skipped without node
    else:
        assert len(problems) == 1
        assert problems[0].path == "web/app.js"
        assert problems[0].message == "JavaScript syntax error at line 2: SyntaxError: Unexpected token ';'"


async def test_es_modules_and_commonjs_both_pass_when_valid(sandbox: Sandbox) -> None:
    files = [
        gen("src/index.js", "import { readFile } from 'node:fs/promises';\nexport const read = (p) => readFile(p);\n"),
        gen("src/lib.mjs", "export default function main() { return 1; }\n"),
        gen("src/cjs.cjs", "const fs = require('fs');\nmodule.exports = { fs };\n"),
        gen("src/plain.js", "module.exports = function add(a, b) { return a + b; };\n"),
    ]

    assert await syntax_problems(files, sandbox=sandbox) == []


async def test_an_es_module_error_is_reported_as_a_module_error(sandbox: Sandbox) -> None:
    files = [
        gen("src/index.mjs", "export const a = ;\n"),
        gen("src/cjs.cjs", "module.exports = {\n"),
        gen("src/esm.js", "import fs from 'node:fs';\nexport const b = ;\n"),
    ]

    problems = await syntax_problems(files, sandbox=sandbox)

    if NODE is None:
        assert problems == []
    else:
        assert [p.path for p in problems] == ["src/index.mjs", "src/cjs.cjs", "src/esm.js"]
        assert all(p.message.startswith("JavaScript syntax error") for p in problems)
        assert problems[2].message == "JavaScript syntax error at line 2: SyntaxError: Unexpected token ';'"
        assert problems[0] == FileProblem(
            "src/index.mjs", "JavaScript syntax error at line 1: SyntaxError: Unexpected token ';'"
        )
