"""``compile()`` of one Python file: what the syntax check runs, in-process or in a worker process.

Run as ``python -m masterplan.executor.compile_worker`` it is that worker: JSON lines in on
stdin, answers out on stdout. Kept apart from the rest of the executor so that the worker
starts by importing the standard library and nothing else.
"""

from __future__ import annotations

import json
import sys
import warnings
from typing import BinaryIO


def python_syntax_error(path: str, content: str) -> str | None:
    """Why ``content`` does not compile, with its line (and column), or None when it compiles."""
    try:
        with warnings.catch_warnings():
            # Invalid escapes and the like are warnings, not errors; under "-W error" compile would raise them.
            warnings.simplefilter("ignore")
            compile(content, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        where = f"line {error.lineno}" if error.lineno else "an unknown line"
        if error.lineno and error.offset:
            where += f", column {error.offset}"
        text = f": {error.text.strip()[:120]}" if error.text and error.text.strip() else ""
        return f"Python syntax error at {where}: {error.msg}{text}"
    except ValueError as error:  # NUL bytes in the source (Python 3.11)
        return f"Python source cannot be compiled: {error}"
    except (RecursionError, MemoryError):
        return "Python source is nested too deeply to compile"
    return None


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    """The worker's loop: one JSON line ``[id, path, content]`` in, one ``[id, message-or-null]`` out."""
    answers.write(b'"ready"\n')
    answers.flush()
    for line in requests:
        request_id, path, content = json.loads(line)
        answers.write(json.dumps([request_id, python_syntax_error(path, content)]).encode() + b"\n")
        answers.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
