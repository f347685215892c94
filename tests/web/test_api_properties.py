"""No input makes the server answer 5xx or log a failure: property tests of every endpoint and the WebSocket.

Requests are drawn from the API's own JSON schemas (the request models of
``/openapi.json``), from those with one value swapped for a
hostile one (extreme numbers, control characters and lone surrogates, very long
strings, wrong types), and from hostile JSON and bytes outright. Each test runs
on SQLite and on PostgreSQL, against the real service over a real socket.
``--hypothesis-profile=explore`` draws more examples with a random seed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from masterplan.web.inputs import AnswersRequest, PromptUpdate, RunRequest, SocketAnswers
from masterplan.web.plan_inputs import PlanEditRequest, ReplanRequest

from .background_service import BackgroundService, Reply
from .schema_strategies import from_schema

EXAMPLES = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
JSON_TYPE = {"Content-Type": "application/json"}
PROMPTS = ("developer", "planner", "discovery")

# ----------------------------------------------------------------- hostile values

EXTREME_NUMBERS = st.sampled_from(
    [
        *(0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400),
        *(0.5, -0.0, 1e-12, 5e-324, 1e308, -1e308, 9.3e9, 1e-9, 100_000.000000001, float("nan"), float("inf")),
    ]
)
CONTROL_AND_SURROGATES = st.characters(categories=["Cc", "Cs", "Cf", "Co", "Zl", "Zp"])
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(CONTROL_AND_SURROGATES, max_size=20),
    st.builds(
        lambda piece, count: piece * count,
        st.sampled_from(["x", "\x00", "é", "\ud800", "😀", "\\", '"', "{", " "]),
        st.integers(1, 300_000),
    ),
    st.sampled_from(["", " ", "\x00", "null", "true", "1e999999", "1_000", "NaN", "../../etc/passwd", "%00"]),
)
json_scalars = st.one_of(st.none(), st.booleans(), EXTREME_NUMBERS, st.integers(), st.floats(), hostile_text)
json_values = st.recursive(
    json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)


def encode(value: Any) -> bytes:
    """JSON as a hostile client writes it: lone surrogates escaped, NaN and Infinity as literals."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[Any]) -> Any:
    """A valid document with one value (or a new key) replaced by a hostile value."""
    document = draw(valid)
    hostile = draw(json_values)
    target = document
    while isinstance(target, dict) and target and draw(st.booleans()):
        key = draw(st.sampled_from(sorted(target)))
        if not isinstance(target[key], dict):
            target[key] = hostile
            return document
        target = target[key]
    if isinstance(target, dict):
        target[draw(st.sampled_from([*sorted(target), "extra"]) if target else st.just("extra"))] = hostile
        return document
    return hostile


def percent_encoded(text: str) -> str:
    """``text`` as a URL part; a lone surrogate becomes the bytes no UTF-8 decoder accepts."""
    return quote(text[:3000].encode("utf-8", "surrogatepass"), safe="")


def bodies(model: type[Any]) -> st.SearchStrategy[bytes]:
    valid = from_schema(model.model_json_schema())
    return st.one_of(
        valid.map(encode),
        mutated(valid).map(encode),
        json_values.map(encode),
        st.binary(max_size=300),
        st.just(b"[" * 3000 + b"]" * 3000),
    )


segments = st.one_of(
    st.from_regex(r"\A[0-9a-f]{16}\Z"),
    hostile_text.map(percent_encoded),
    st.sampled_from(["%00", "%2e%2e", "..", "%ZZ", "%", "a%2Fb", "REPORT.md", "developer"]),
)
query_values = st.one_of(
    st.integers().map(str),
    EXTREME_NUMBERS.map(str),
    hostile_text.map(percent_encoded),
    st.sampled_from(["", "1e20", "-1", "+1", "0x10", "١", "9223372036854775808", "1.0"]),
)
headers = st.one_of(
    st.just(JSON_TYPE),
    st.sampled_from(
        [
            {"Content-Type": "application/json; charset=latin-1"},
            {"Content-Type": "text/plain"},
            {"Content-Type": "application/json", "Origin": "null"},
            {"Content-Type": "application/json", "Origin": "http://evil.example"},
            {"Content-Type": "application/json", "Host": "evil.example"},
            {"Content-Type": "application/json", "Content-Encoding": "gzip"},
            {"Content-Type": "application/json", "Transfer-Encoding": "chunked, gzip"},
        ]
    ),
)

# ----------------------------------------------------------------- the service


@pytest.fixture(params=["sqlite", "postgres"])
def service(request: pytest.FixtureRequest, tmp_path: Path, postgres_databases: Any) -> Iterator[BackgroundService]:
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'masterplan.db'}"
    else:
        url = asyncio.run(postgres_databases.create(migrated=True))
    with BackgroundService(tmp_path, url) as background:
        yield background


def handled(service: BackgroundService, reply: Reply) -> None:
    """A client error is JSON naming its status; nothing was a server error; nothing failed in the log."""
    assert reply.status < 500, reply.body[:500]
    if reply.status >= 400:
        assert reply.content_type == "application/json", reply
        assert orjson.loads(reply.body)["error"]["status"] == reply.status
    assert service.failures.take() == []


def cancel_if_created(service: BackgroundService, reply: Reply) -> None:
    if reply.status == 201:
        run_id = orjson.loads(reply.body)["id"]
        cancelled = service.request("POST", f"/runs/{run_id}/cancel")
        assert cancelled.status in (200, 409), cancelled


@contextmanager
def no_failures(service: BackgroundService) -> Iterator[None]:
    yield
    assert service.failures.take() == []


def run_in(service: BackgroundService, status: str, **options: Any) -> str:
    """A run that reached ``status`` (waiting for answers, or for approval of its plan)."""
    body = orjson.dumps({"request": "A task API", "options": {"tasks": 2, "checks": [], **options}})
    created = service.request("POST", "/runs", body, JSON_TYPE)
    assert created.status == 201, created
    run_id: str = orjson.loads(created.body)["id"]
    deadline = time.monotonic() + 60
    while orjson.loads(service.request("GET", f"/runs/{run_id}").body)["status"] != status:
        assert time.monotonic() < deadline, f"the run never reached {status}"
        time.sleep(0.05)
    return run_id


def waiting_run(service: BackgroundService) -> str:
    return run_in(service, "awaiting_answers")


# --------------------------------------------------------------------- the tests


def test_post_runs(service: BackgroundService) -> None:
    @EXAMPLES
    @given(body=bodies(RunRequest), sent_headers=headers)
    def post(body: bytes, sent_headers: dict[str, str]) -> None:
        reply = service.request("POST", "/runs", body, sent_headers)
        handled(service, reply)
        cancel_if_created(service, reply)

    with no_failures(service):
        post()


def test_answers_and_cancel(service: BackgroundService) -> None:
    waiting = waiting_run(service)

    @EXAMPLES
    @given(run_id=st.one_of(st.just(waiting), segments), body=bodies(AnswersRequest), sent_headers=headers)
    def answer(run_id: str, body: bytes, sent_headers: dict[str, str]) -> None:
        handled(service, service.request("POST", f"/runs/{run_id}/answers", body, sent_headers))

    @EXAMPLES
    @given(run_id=segments, body=st.one_of(st.none(), st.binary(max_size=50)), sent_headers=headers)
    def cancel(run_id: str, body: bytes | None, sent_headers: dict[str, str]) -> None:
        handled(service, service.request("POST", f"/runs/{run_id}/cancel", body, sent_headers))

    answer()
    cancel()


def test_reads(service: BackgroundService) -> None:
    waiting = waiting_run(service)
    reads = [
        "/runs/{id}",
        "/runs/{id}/plan",
        "/runs/{id}/tasks",
        "/runs/{id}/calls",
        "/runs/{id}/events",
        "/runs/{id}/artifacts",
    ]

    @EXAMPLES
    @given(
        path=st.sampled_from([*reads, "/runs/{id}/artifacts/{name}", "/runs"]),
        run_id=st.one_of(st.just(waiting), segments),
        name=segments,
        query=st.dictionaries(st.sampled_from(["after", "limit", "token", "x"]), query_values, max_size=3),
    )
    def read(path: str, run_id: str, name: str, query: dict[str, str]) -> None:
        target = path.replace("{id}", run_id).replace("{name}", name)
        if query:
            target += "?" + "&".join(f"{key}={value}" for key, value in query.items())
        handled(service, service.request("GET", target))

    read()


def test_plan_review(service: BackgroundService) -> None:
    waiting = run_in(service, "awaiting_approval", tasks=3, auto_answer=True, approval="manual")

    @EXAMPLES
    @given(run_id=st.one_of(st.just(waiting), segments), body=bodies(PlanEditRequest), sent_headers=headers)
    def edit(run_id: str, body: bytes, sent_headers: dict[str, str]) -> None:
        handled(service, service.request("PATCH", f"/runs/{run_id}/plan", body, sent_headers))

    @EXAMPLES
    @given(run_id=st.one_of(st.just(waiting), segments), body=bodies(ReplanRequest), sent_headers=headers)
    def replan(run_id: str, body: bytes, sent_headers: dict[str, str]) -> None:
        handled(service, service.request("POST", f"/runs/{run_id}/replan", body, sent_headers))

    @EXAMPLES
    @given(run_id=segments, body=st.one_of(st.none(), st.binary(max_size=50)), sent_headers=headers)
    def approve(run_id: str, body: bytes | None, sent_headers: dict[str, str]) -> None:
        handled(service, service.request("POST", f"/runs/{run_id}/approve", body, sent_headers))

    edit()
    replan()
    approve()
    assert service.request("GET", f"/runs/{waiting}/plan").status == 200


def test_prompt_edits(service: BackgroundService) -> None:
    @EXAMPLES
    @given(name=st.one_of(st.sampled_from(PROMPTS), segments), body=bodies(PromptUpdate), sent_headers=headers)
    def edit(name: str, body: bytes, sent_headers: dict[str, str]) -> None:
        handled(service, service.request("PUT", f"/prompts/{name}", body, sent_headers))

    edit()


def test_any_method_on_any_path(service: BackgroundService) -> None:
    @EXAMPLES
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "TRACE", "PROPFIND"]),
        path=st.lists(segments, min_size=0, max_size=4).map(lambda parts: "/" + "/".join(parts)),
        prefix=st.sampled_from(["", "/runs", "/prompts", "/static", "/docs", "/metrics"]),
        body=st.one_of(st.none(), json_values.map(encode)),
    )
    def anything(method: str, path: str, prefix: str, body: bytes | None) -> None:
        reply = service.request(method, prefix + path, body, JSON_TYPE)
        if method != "HEAD":
            handled(service, reply)
        else:
            assert reply.status < 500
        cancel_if_created(service, reply)

    anything()


def test_websocket(service: BackgroundService) -> None:
    waiting = waiting_run(service)
    valid_messages = from_schema(SocketAnswers.model_json_schema())
    messages: st.SearchStrategy[str | bytes] = st.one_of(
        valid_messages.map(encode).map(bytes.decode),
        mutated(valid_messages).map(encode).map(bytes.decode),
        json_values.map(encode).map(bytes.decode),
        st.binary(max_size=100),
    )

    async def exchange(path: str, sent: list[str | bytes]) -> tuple[int | None, list[dict[str, Any]], int | None]:
        """(handshake refusal status, error messages received, close code) of one socket.

        Every message but accepted answers is answered with an error; a last
        message that cannot be valid marks the end. Accepted answers let the run
        go on to its end, when the server closes the socket.
        """
        try:
            socket = await service.session.ws_connect(service.url + path)
        except aiohttp.WSServerHandshakeError as refused:
            return refused.status, [], None
        errors: list[dict[str, Any]] = []
        async with socket:
            for message in [*sent, "not json"]:
                if socket.closed:
                    break
                await (socket.send_bytes(message) if isinstance(message, bytes) else socket.send_str(message))
            while True:
                reply = await socket.receive(timeout=30)
                if reply.type is not aiohttp.WSMsgType.TEXT:
                    return None, errors, socket.close_code
                data = orjson.loads(reply.data)
                if data.get("type") == "error":
                    errors.append(data)
                    if data["message"].startswith("the request body is not valid JSON") and len(errors) > len(sent):
                        return None, errors, None

    @EXAMPLES
    @given(
        run_id=st.one_of(st.just(waiting), segments),
        after=st.one_of(st.none(), query_values),
        sent=st.lists(messages, max_size=3),
    )
    def follow(run_id: str, after: str | None, sent: list[str | bytes]) -> None:
        path = f"/runs/{run_id}/ws" + ("" if after is None else f"?after={after}")
        refused, errors, close_code = service.run(exchange(path, sent))
        if refused is not None:
            assert refused < 500
        assert all(error["status"] < 500 for error in errors), errors
        assert close_code in (None, 1000), close_code
        assert service.failures.take() == []

    follow()
