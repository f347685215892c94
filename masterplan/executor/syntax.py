"""Syntax checks of generated files before they reach the workspace.

A file that does not even parse is sent back to the model with the exact line and
message, which is cheaper than running the checks to learn the same thing.
Python is compiled by a worker process while the answer streams (``precheck``), or
else here in a worker thread (a 500 KB file takes a while). JavaScript goes through
``node --check`` when node is installed, and is skipped otherwise; node runs in the
sandbox like every command that reads generated code.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from masterplan.executor.compile_worker import python_syntax_error
from masterplan.executor.precheck import PYTHON_SUFFIXES, CompileWorkerGone, SyntaxPrecheck
from masterplan.executor.sandbox import Sandbox
from masterplan.executor.workspace import FileProblem
from masterplan.models import GeneratedFile

logger = logging.getLogger(__name__)

JAVASCRIPT_SUFFIXES = frozenset({".js", ".mjs", ".cjs"})
NODE_TIMEOUT_S = 10.0
NODE_CONCURRENCY = 2
MAX_MESSAGE_CHARS = 500

_ESM_STATEMENT = re.compile(r"^\s*(import|export)\b", re.MULTILINE)
_NODE_LOCATION = re.compile(r":(\d+)$")
_NODE_ERROR = re.compile(r"^[A-Za-z]*Error\b.*$", re.MULTILINE)


class _Lookup(enum.Enum):
    """Default of ``node``: look the executable up on PATH when called."""

    ON_PATH = "on_path"


ON_PATH = _Lookup.ON_PATH


def _suffix(path: str) -> str:
    return PurePosixPath(path).suffix.lower()


def python_problem(path: str, content: str) -> FileProblem | None:
    """The first syntax error of a Python file, with its line, or None."""
    message = python_syntax_error(path, content)
    return None if message is None else FileProblem(path, message)


def _python_problems(files: Sequence[GeneratedFile]) -> list[FileProblem]:
    found = (python_problem(file.path, file.content) for file in files)
    return [problem for problem in found if problem is not None]


async def _precompiled(file: GeneratedFile, future: asyncio.Future[str | None]) -> FileProblem | None:
    """The worker's verdict on ``file``; compiled here instead if the worker could not give one."""
    try:
        message = await future
    except CompileWorkerGone:
        return await asyncio.to_thread(python_problem, file.path, file.content)
    except asyncio.CancelledError:
        if not future.cancelled() or asyncio.current_task().cancelling():  # type: ignore[union-attr]
            raise  # this task is being cancelled, not just the compile
        return await asyncio.to_thread(python_problem, file.path, file.content)
    return None if message is None else FileProblem(file.path, message)


async def _python_problems_with(files: Sequence[GeneratedFile], precheck: SyntaxPrecheck | None) -> list[FileProblem]:
    """Results the precheck already has (or is computing) are used; the other files are compiled here."""
    python = [file for file in files if _suffix(file.path) in PYTHON_SUFFIXES]
    started = [(file, precheck.take(file.path, file.content) if precheck else None) for file in python]
    remaining = [file for file, future in started if future is None]
    found = await asyncio.gather(*(_precompiled(file, future) for file, future in started if future is not None))
    local = await asyncio.to_thread(_python_problems, remaining) if remaining else []
    return [problem for problem in found if problem is not None] + local


def _node_message(stderr: str, temp_path: str, original: str) -> str:
    """``node --check`` output reduced to 'line N: SyntaxError: ...' with the real file name."""
    lines = stderr.replace(temp_path, original).strip().splitlines()
    location = _NODE_LOCATION.search(lines[0]) if lines else None
    error = _NODE_ERROR.search("\n".join(lines))
    if error is None:
        return f"JavaScript check failed: {' '.join(lines)[:MAX_MESSAGE_CHARS]}"
    where = f" at line {location.group(1)}" if location else ""
    return f"JavaScript syntax error{where}: {error.group(0).strip()[:MAX_MESSAGE_CHARS]}"


def _installation(node: str) -> Path:
    """The directory node is installed in (e.g. ~/.nvm/versions/node/v20): the sandbox binds it back if hidden."""
    return Path(node).resolve().parent.parent


async def _node_check(node: str, source: Path, timeout_s: float, sandbox: Sandbox) -> tuple[bool, str]:
    """(passed, stderr) of ``node --check source``, in the sandbox."""
    env = {"PATH": str(Path(node).parent), "NODE_OPTIONS": ""}
    readable = [_installation(node)]
    async with sandbox.launch([node, "--check", str(source)], source.parent, env, readable=readable) as launch:
        process = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=launch.env,
            cwd=source.parent,
        )
        try:
            async with asyncio.timeout(timeout_s):
                _, stderr = await process.communicate()
        except TimeoutError:
            return False, f"node --check took more than {timeout_s:g} s"
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    return process.returncode == 0, stderr.decode("utf-8", "replace")


def javascript_dialect(path: str, content: str) -> str:
    """The suffix node should see: .mjs and .cjs as written, a .js file by its content.

    node's own guess for .js is not reliable: node 20 with module detection passes
    ``node --check`` on an ES module that has a syntax error. So the choice is explicit.
    """
    suffix = _suffix(path)
    if suffix != ".js":
        return suffix
    return ".mjs" if _ESM_STATEMENT.search(content) else ".cjs"


async def javascript_problem(
    node: str, file: GeneratedFile, *, sandbox: Sandbox, timeout_s: float = NODE_TIMEOUT_S
) -> FileProblem | None:
    """``node --check`` on a copy of the file, as an ES module or a CommonJS script."""
    with tempfile.TemporaryDirectory(prefix="masterplan-js-") as directory:
        source = Path(directory, f"source{javascript_dialect(file.path, file.content)}")
        await asyncio.to_thread(source.write_text, file.content, encoding="utf-8", errors="surrogatepass")
        passed, stderr = await _node_check(node, source, timeout_s, sandbox)
        if passed:
            return None
        return FileProblem(file.path, _node_message(stderr, str(source), file.path))


async def _javascript_problems(files: Sequence[GeneratedFile], node: str, sandbox: Sandbox) -> list[FileProblem]:
    limit = asyncio.Semaphore(NODE_CONCURRENCY)

    async def check(file: GeneratedFile) -> FileProblem | None:
        async with limit:
            try:
                return await javascript_problem(node, file, sandbox=sandbox)
            except OSError as error:
                logger.warning("JavaScript syntax check of %s skipped: node could not run (%s)", file.path, error)
                return None

    found = await asyncio.gather(*(check(file) for file in files if _suffix(file.path) in JAVASCRIPT_SUFFIXES))
    return [problem for problem in found if problem is not None]


async def syntax_problems(
    files: Sequence[GeneratedFile],
    *,
    sandbox: Sandbox,
    node: str | _Lookup | None = ON_PATH,
    precheck: SyntaxPrecheck | None = None,
) -> list[FileProblem]:
    """Syntax errors of the Python and JavaScript files in ``files``, in file order.

    ``node`` defaults to the ``node`` found on PATH at call time; ``node=None`` skips JavaScript.
    ``precheck`` holds compiles started while the answer streamed. node runs as ``sandbox`` says
    (SandboxUnavailable when it requires a sandbox that does not work).
    """
    node_path = shutil.which("node") if node is ON_PATH else node
    python = asyncio.create_task(_python_problems_with(files, precheck))
    javascript = await _javascript_problems(files, node_path, sandbox) if isinstance(node_path, str) else []
    first_index = {file.path: index for index, file in reversed(list(enumerate(files)))}
    return sorted([*await python, *javascript], key=lambda problem: first_index[problem.path])
