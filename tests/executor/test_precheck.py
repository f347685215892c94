"""Syntax checks started while an answer streams: the partial-JSON reader, the worker process, the fallbacks."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator

import orjson
import pytest

from masterplan.executor.compile_worker import python_syntax_error
from masterplan.executor.precheck import CompilePool, CompileWorkerGone, StreamedFiles, SyntaxPrecheck
from masterplan.executor.sandbox import Sandbox
from masterplan.executor.syntax import syntax_problems
from masterplan.models import GeneratedFile

NO_COMMANDS = Sandbox.off()  # node=None: these checks run no command

TRICKY = [
    ("app/models.py", 'NAME = "quoted \\"inner\\" text"\nPATH = r"C:\\dir\\"\n'),
    ("app/unicode.py", 'GREETING = \'héllo ✓ \\u00e9\'\n# "content": "not a key"\n'),
    ("tests/test_models.py", 'def test_x():\n    assert "\\\\" == chr(92)\n'),
    ("README.md", '# Title\n\nSome `code` and "quotes".\n'),
]


def answer(files: list[tuple[str, str]], **extra: object) -> str:
    body = {"files": [{"path": path, "content": content} for path, content in files], **extra}
    return orjson.dumps(body, option=orjson.OPT_INDENT_2).decode()


def chunks(text: str, rng: random.Random, largest: int) -> list[str]:
    pieces, at = [], 0
    while at < len(text):
        size = rng.randint(1, largest)
        pieces.append(text[at : at + size])
        at += size
    return pieces


def read_all(pieces: list[str]) -> list[tuple[str, str]]:
    reader = StreamedFiles()
    found: list[tuple[str, str]] = []
    for piece in pieces:
        found += reader.feed(piece)
    return found


@pytest.mark.parametrize("seed", range(20))
def test_every_file_is_read_once_whatever_the_chunking(seed: int) -> None:
    text = answer(TRICKY, summary="done", notes=['a "content": "decoy"'])
    rng = random.Random(seed)

    assert read_all(chunks(text, rng, largest=rng.choice([1, 3, 40]))) == TRICKY


def test_a_file_is_reported_as_soon_as_its_content_closes() -> None:
    text = answer(TRICKY[:2])
    reader = StreamedFiles()
    end_of_first = text.index('"path": "app/unicode.py"')

    assert reader.feed(text[:end_of_first]) == [TRICKY[0]]
    assert reader.feed(text[end_of_first:]) == [TRICKY[1]]


def test_fenced_and_compact_answers_are_read_too() -> None:
    compact = orjson.dumps({"files": [{"path": p, "content": c} for p, c in TRICKY]}).decode()

    assert read_all(["Here it is:\n```json\n", compact, "\n```\n"]) == TRICKY


def test_a_file_whose_path_comes_after_its_content_is_left_to_the_final_check() -> None:
    text = '{"files": [{"content": "x = 1\\n", "path": "a.py"}, {"path": "b.py", "content": "y = 2\\n"}]}'

    assert read_all(list(text)) == [("b.py", "y = 2\n")]


def test_broken_json_yields_nothing_rather_than_garbage() -> None:
    assert read_all(['{"files": [{"path": "a.py", "content": "bad \\q escape"}]}']) == []
    assert read_all(['{"files": [{"path": "a.py", "content": "never closed']) == []


def test_the_reader_keeps_one_file_at_a_time_and_reads_in_linear_time() -> None:
    reader = StreamedFiles()
    big = [(f"m{i}.py", "x = 1\n" * 2_000) for i in range(20)]
    for piece in chunks(answer(big), random.Random(1), largest=500):
        reader.feed(piece)
        kept = len(reader._head) + sum(len(part) for part in reader._body or [])
        assert kept < 2 * len(big[0][1]) + 1_000  # one file (JSON-escaped), never the twenty


# ---------------------------------------------------------------- the worker


@pytest.fixture
async def pool() -> AsyncIterator[CompilePool]:
    compile_pool = CompilePool(workers=1)
    compile_pool.start()
    try:
        async with asyncio.timeout(30):
            assert await compile_pool.wait_started()
        yield compile_pool
    finally:
        await compile_pool.close()


async def test_the_worker_gives_the_in_process_verdict(pool: CompilePool) -> None:
    sources = [
        ("ok.py", "def f(a):\n    return a\n"),
        ("bad.py", "def f(:\n    pass\n"),
        ("indent.py", "if True:\nprint(1)\n"),
        ("nul.py", "x = 1\x00\n"),
        ("escape.py", "import re\nP = re.compile('\\d')\n"),
    ]
    futures = [pool.submit(path, content) for path, content in sources]

    verdicts = [await future for future in futures if future is not None]

    assert len(verdicts) == len(sources)
    assert verdicts == [python_syntax_error(path, content) for path, content in sources]


async def test_the_final_check_uses_a_streamed_result_only_for_the_same_content(pool: CompilePool) -> None:
    precheck = SyntaxPrecheck(pool)
    precheck.restart()
    # Streamed: a broken a.py and a fine b.py. Final answer: a.py fixed, b.py broken (a retried attempt, say).
    for piece in chunks(answer([("a.py", "def (:\n"), ("b.py", "x = 1\n")]), random.Random(2), largest=7):
        precheck.feed(piece)
    final = [GeneratedFile(path="a.py", content="x = 1\n"), GeneratedFile(path="b.py", content="def (:\n")]

    problems = await syntax_problems(final, node=None, precheck=precheck, sandbox=NO_COMMANDS)

    assert [problem.path for problem in problems] == ["b.py"]
    assert pool.submitted == 2  # both streamed files went to the worker
    precheck.discard()


async def test_streamed_results_are_used_and_match(pool: CompilePool) -> None:
    files = [("a.py", "def (:\n"), ("b.py", "x = 1\n"), ("notes.md", "def (:\n")]
    precheck = SyntaxPrecheck(pool)
    before = pool.submitted
    for piece in answer(files):
        precheck.feed(piece)

    problems = await syntax_problems(
        [GeneratedFile(path=p, content=c) for p, c in files], node=None, precheck=precheck, sandbox=NO_COMMANDS
    )

    assert pool.submitted - before == 2  # only the Python files
    assert [(problem.path, problem.message.split(":")[0]) for problem in problems] == [
        ("a.py", "Python syntax error at line 1, column 5")
    ]


async def test_a_killed_worker_fails_its_pending_compiles_and_the_check_falls_back(pool: CompilePool) -> None:
    precheck = SyntaxPrecheck(pool)
    source = "x = 1\n" * 300_000  # long enough to be still compiling when the worker dies
    precheck.feed(answer([("big.py", source)]))
    pending = pool.submit("bad.py", "def (:\n")
    assert pending is not None
    worker = pool._workers[0]
    worker._process.kill()

    with pytest.raises(CompileWorkerGone):
        await pending
    problems = await syntax_problems(
        [GeneratedFile(path="big.py", content=source), GeneratedFile(path="bad.py", content="def (:\n")],
        node=None,
        precheck=precheck,
        sandbox=NO_COMMANDS,
    )

    assert [problem.path for problem in problems] == ["bad.py"]
    pool.start()  # replaces the dead worker
    async with asyncio.timeout(30):
        assert await pool.wait_started()
    assert pool._workers[0] is not worker
    assert await pool.submit("again.py", "def (:\n") is not None


async def test_no_workers_means_everything_is_compiled_in_process() -> None:
    pool = CompilePool(workers=0)
    pool.start()
    precheck = SyntaxPrecheck(pool)
    precheck.feed(answer([("bad.py", "def (:\n")]))

    problems = await syntax_problems(
        [GeneratedFile(path="bad.py", content="def (:\n")], node=None, precheck=precheck, sandbox=NO_COMMANDS
    )

    assert pool.submitted == 0
    assert [problem.path for problem in problems] == ["bad.py"]
    await pool.close()


def test_a_large_file_in_tiny_deltas_is_read_whole() -> None:
    source = 'S = "\\"  # a backslash\n' * 20_000  # ~500 KB with an escape on every line
    pieces = chunks(answer([("big.py", source)]), random.Random(3), largest=12)

    assert read_all(pieces) == [("big.py", source)]


async def test_a_closed_pool_starts_no_worker() -> None:
    pool = CompilePool(workers=1)
    await pool.close()

    pool.start()

    assert not await pool.wait_started()
    assert pool.submit("a.py", "x = 1\n") is None
