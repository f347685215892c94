"""A 200 whose body is no event stream (a proxy's HTML page, a JSON body) is named as such, not as a dropped stream."""

from __future__ import annotations

import pytest

from masterplan.config import Settings
from masterplan.llm import CallContext, LLMGateway, LLMRequestRejected
from masterplan.models import LLMCallRecord, TaskOutput

from .conftest import TaskRequests
from .lookalike_servers import fixed_answer

CONTEXT = CallContext(phase="qa_review", role="qa", prompt_name="qa", prompt_version=1, run_id="r1")


@pytest.mark.parametrize(
    ("content_type", "body", "shown"),
    [
        ("text/html", "<html><body><h1>Corporate proxy</h1> Please log in.</body></html>", "text/html"),
        ("application/json", '{"id": "msg_1", "type": "message", "content": []}', "application/json"),
    ],
    ids=["html", "json"],
)
async def test_a_200_that_is_not_an_event_stream_says_so_and_is_not_retried(
    content_type: str, body: str, shown: str, task_requests: TaskRequests
) -> None:
    records: list[LLMCallRecord] = []

    async def record(call: LLMCallRecord) -> None:
        records.append(call)

    async with fixed_answer(200, content_type, body) as server:
        settings = Settings(
            anthropic_api_key="k", anthropic_base_url=server.base_url, rate_limit_tier="none", max_attempts=5
        )
        async with LLMGateway(settings, recorder=record) as gateway:
            with pytest.raises(LLMRequestRejected) as rejected:
                await gateway.complete(task_requests.build("t1"), schema=TaskOutput, context=CONTEXT)

    message = str(rejected.value)
    assert f"the server answered 200 with content-type {shown}" in message
    assert "not an event stream" in message
    assert f"is MASTERPLAN_ANTHROPIC_BASE_URL ({server.base_url}" in message
    assert body[:20] in message, "the start of what came back helps to recognise the server"
    assert "ended before message_stop" not in message
    assert server.requests == 1, "asking again would get the same page"
    [call] = records
    assert call.outcome == "server_error"
    assert call.error == message
