"""Message batches as the Message Batches API documents them: what a batch is, when it ends, how it is shown.

A batch is created ``in_progress`` and is processed over ``batch_seconds`` of the simulator's clock:
its requests are taken in order, request ``i`` of ``n`` being done at ``created + batch_seconds * (i + 1) / n``.
Nothing runs in the background: a batch whose time is over is answered all at once the first time
anything looks (a batch endpoint, ``/sim/stats``), and its ``ended_at`` is the moment it ended, not the
moment it was looked at. Results exist only once a batch has ended, as Anthropic documents; request counts
show every request ``processing`` until then.

- A batch not done 24 hours after its creation (``expires_at``) ends then: the requests not done by then are
  ``expired``.
- A cancel makes the batch ``canceling``; it ends ``CANCEL_SECONDS`` later (never later than it would have
  ended anyway): the requests done before the cancel keep their results, the others are ``canceled``.
- A batch's results are kept 29 days after its creation; after that it is ``archived_at`` and its results
  are gone.

Each request's ``params`` are validated when the request is processed, not at creation (Anthropic validates
them asynchronously): an invalid one is an ``errored`` result. What the creation itself refuses is checked by
``parse_batch_body``.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from masterplan.sim.clock import SimClock
from masterplan.sim.errors import invalid_request, not_found

BATCH_TTL_S = 24 * 3600.0
RESULTS_KEPT_S = 29 * 24 * 3600.0
CANCEL_SECONDS = 1.0
"""How long a cancel takes to finish, at most."""
MAX_REQUESTS = 100_000
QUEUE_LIMITS = {"1": 100_000, "2": 200_000, "3": 200_000, "4": 500_000}
"""Batch requests an organisation may have in the processing queue, per tier (the Message Batches API rows of
platform.claude.com/docs/en/api/rate-limits); batches do not draw on the Messages API's token buckets."""
QUEUE_RETRY_AFTER_S = 60
MAX_BATCH_BODY_BYTES = 256 * 1024 * 1024
CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

Result = dict[str, Any]
"""One request's ``result``: ``{"type": "succeeded", "message": ...}``, ``errored``, ``canceled`` or ``expired``."""
Answerer = Callable[[dict[str, Any]], Result]
"""Processes one request's params into its result."""
Status = Literal["in_progress", "canceling", "ended"]


@dataclass(frozen=True)
class BatchRequest:
    custom_id: str
    params: dict[str, Any]


@dataclass
class MessageBatch:
    id: str
    requests: list[BatchRequest]
    created_at: float
    processing_s: float
    cancel_initiated_at: float | None = None
    ended_at: float | None = None
    results: list[Result] = field(default_factory=list)
    deleted: bool = False

    @property
    def expires_at(self) -> float:
        return self.created_at + BATCH_TTL_S

    @property
    def status(self) -> Status:
        if self.ended_at is not None:
            return "ended"
        return "in_progress" if self.cancel_initiated_at is None else "canceling"

    def due_end(self) -> float:
        """When processing ends: all done, the 24 hours over, or a cancel finished."""
        end = min(self.created_at + self.processing_s, self.expires_at)
        if self.cancel_initiated_at is not None:
            end = min(end, self.cancel_initiated_at + CANCEL_SECONDS)
        return end

    def done_by(self, moment: float) -> int:
        """How many requests (the first ones) were processed by ``moment``."""
        count = len(self.requests)
        if self.processing_s <= 0:
            return count
        share = (moment - self.created_at) / self.processing_s
        return min(count, max(0, math.floor(count * share + 1e-9)))

    def settle(self, now: float, answer: Answerer) -> bool:
        """End the batch if its time is over (answering the requests done by then); whether it ended now."""
        if self.ended_at is not None or now < self.due_end():
            return False
        end = self.due_end()
        cancel = self.cancel_initiated_at
        done = self.done_by(end if cancel is None else cancel)
        left: Result = {"type": "expired" if cancel is None else "canceled"}
        self.results = [answer(r.params) if i < done else dict(left) for i, r in enumerate(self.requests)]
        self.ended_at = end
        return True

    def request_counts(self) -> dict[str, int]:
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if self.ended_at is None:
            counts["processing"] = len(self.requests)
        for result in self.results:
            counts[result["type"]] += 1
        return counts


class BatchStore:
    """The batches of one simulator, in creation order; ids drawn from the seed."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._batches: dict[str, MessageBatch] = {}
        self._numbers = itertools.count()

    def clear(self) -> None:
        self._batches.clear()

    def queued(self) -> int:
        """Requests of the batches still processing: what counts against the processing-queue limit."""
        return sum(len(batch.requests) for batch in self._batches.values() if batch.ended_at is None)

    def create(self, requests: list[BatchRequest], now: float, processing_s: float) -> MessageBatch:
        batch = MessageBatch(self._next_id(), requests, now, processing_s)
        self._batches[batch.id] = batch
        return batch

    def _next_id(self) -> str:
        digest = hashlib.sha256(f"{self._seed}:msgbatch:{next(self._numbers)}".encode()).digest()
        number = int.from_bytes(digest, "big")
        chars = []
        for _ in range(22):
            number, digit = divmod(number, 62)
            chars.append(_BASE62[digit])
        return "msgbatch_01" + "".join(chars)

    def get(self, batch_id: str) -> MessageBatch:
        batch = self._batches.get(batch_id)
        if batch is None or batch.deleted:
            raise not_found(f"message batch {batch_id!r} not found")
        return batch

    def delete(self, batch_id: str) -> None:
        """Deleted batches stay as markers, so a list cursor naming one still has its place."""
        self.get(batch_id).deleted = True

    def settle_due(self, now: float, answer: Answerer) -> list[MessageBatch]:
        """End every batch whose time is over, the earliest first; the batches that ended."""
        due = sorted(
            (b for b in self._batches.values() if b.ended_at is None and b.due_end() <= now),
            key=lambda batch: batch.due_end(),
        )
        return [batch for batch in due if batch.settle(now, answer)]

    def page(self, limit: int, before_id: str | None, after_id: str | None) -> tuple[list[MessageBatch], bool]:
        """Newest first; ``after_id`` pages towards older batches, ``before_id`` towards newer ones."""
        ordered = list(reversed(self._batches.values()))
        ids = [batch.id for batch in ordered]
        start = self._position(ids, after_id, "after_id") + 1 if after_id is not None else 0
        stop = self._position(ids, before_id, "before_id") if before_id is not None else len(ordered)
        window = [batch for batch in ordered[start:stop] if not batch.deleted]
        page = window[-limit:] if before_id is not None else window[:limit]
        return page, len(window) > limit

    @staticmethod
    def _position(ids: list[str], batch_id: str, name: str) -> int:
        try:
            return ids.index(batch_id)
        except ValueError:
            raise invalid_request(f"{name}: no message batch has the id {batch_id!r}") from None


def parse_batch_body(body: Any) -> list[BatchRequest]:
    """The requests of a create body, or the 400 that refuses the whole batch."""
    if not isinstance(body, dict):
        raise invalid_request("the request body must be a JSON object")
    extra = sorted(set(body) - {"requests"})
    if extra:
        raise invalid_request(f"{extra[0]}: Extra inputs are not permitted")
    if "requests" not in body:
        raise invalid_request("requests: Field required")
    items = body["requests"]
    if not isinstance(items, list):
        raise invalid_request("requests: Input should be a valid list")
    if not items:
        raise invalid_request("requests: List should have at least 1 item after validation, not 0")
    if len(items) > MAX_REQUESTS:
        raise invalid_request(
            f"requests: List should have at most {MAX_REQUESTS} items after validation, not {len(items)}"
        )
    requests = [_batch_request(item, f"requests.{i}") for i, item in enumerate(items)]
    seen: set[str] = set()
    for i, request in enumerate(requests):
        if request.custom_id in seen:
            raise invalid_request(
                f"requests.{i}.custom_id: duplicate custom_id {request.custom_id!r}; "
                "each request of a batch must have a unique custom_id"
            )
        seen.add(request.custom_id)
    return requests


def _batch_request(item: Any, where: str) -> BatchRequest:
    if not isinstance(item, dict):
        raise invalid_request(f"{where}: Input should be a valid dictionary")
    extra = sorted(set(item) - {"custom_id", "params"})
    if extra:
        raise invalid_request(f"{where}.{extra[0]}: Extra inputs are not permitted")
    for name in ("custom_id", "params"):
        if name not in item:
            raise invalid_request(f"{where}.{name}: Field required")
    custom_id, params = item["custom_id"], item["params"]
    if not isinstance(custom_id, str):
        raise invalid_request(f"{where}.custom_id: Input should be a valid string")
    if not CUSTOM_ID.match(custom_id):
        raise invalid_request(f"{where}.custom_id: String should match pattern '{CUSTOM_ID.pattern}'")
    if not isinstance(params, dict):
        raise invalid_request(f"{where}.params: Input should be a valid dictionary")
    if params.get("stream") is True:
        raise invalid_request(f"{where}.params.stream: Input should be False; a message batch does not stream")
    return BatchRequest(custom_id, params)


def batch_object(batch: MessageBatch, clock: SimClock, origin: str) -> dict[str, Any]:
    """The MessageBatch object; ``origin`` is the simulator as the request reached it (for ``results_url``)."""
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": batch.status,
        "request_counts": batch.request_counts(),
        "ended_at": _stamp(clock, batch.ended_at),
        "created_at": _stamp(clock, batch.created_at),
        "expires_at": _stamp(clock, batch.expires_at),
        "archived_at": _stamp(clock, batch.created_at + RESULTS_KEPT_S) if is_archived(batch, clock.now()) else None,
        "cancel_initiated_at": _stamp(clock, batch.cancel_initiated_at),
        "results_url": f"{origin}/v1/messages/batches/{batch.id}/results" if batch.ended_at is not None else None,
    }


def is_archived(batch: MessageBatch, now: float) -> bool:
    """Past the 29 days its results are kept."""
    return now >= batch.created_at + RESULTS_KEPT_S


def results_jsonl(batch: MessageBatch) -> bytes:
    """One line per request, in request order (Anthropic does not promise an order: match by ``custom_id``)."""
    lines = (
        orjson.dumps({"custom_id": request.custom_id, "result": result})
        for request, result in zip(batch.requests, batch.results, strict=True)
    )
    return b"".join(line + b"\n" for line in lines)


def _stamp(clock: SimClock, moment: float | None) -> str | None:
    """RFC 3339 in UTC, with microseconds, as the API writes its times."""
    if moment is None:
        return None
    return clock.wall_at(moment).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
