"""One batch-mode run's Message Batches: the calls that can go together go as one batch, at half price.

Every attempt the gateway makes for the run joins the batch being gathered. The batch is submitted
once ``gather_s`` passed without another attempt joining: by then every call the run could make
without waiting for an answer (the ready tasks, their re-asks, the summaries) has joined. Before it
is submitted, the worst case of all its requests is set aside from the run's budget, all or nothing:
a batch that does not fit is never sent. Each attempt's ``started`` row (with its ``custom_id``) is
durable before the batch is created, and the batch's id is stored with its attempts as soon as the
API returns it (``BatchLedger.created``). The batch is then polled with backoff until it has ended
and each attempt gets its own result.

A resumed run (after a stop or a kill -9) makes the same calls again under the same custom_ids. An
attempt the store already knows as sent in a batch is not sent again: it waits for that batch (or
reads its ended results again, at no cost), so no request is paid for twice. The one window left:
a kill after the API created a batch and before its id was committed loses that batch; the resumed
run counts its requests' worst cases as spent (as for any call a stop cut off) and sends them again.

A run cancelled while its calls wait cancels their batches at the API (requests already processed
are still billed, and booked) and its waiting attempts end as ``canceled``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Protocol, TypeVar

import anthropic

from masterplan.llm.attempt import AttemptFailure, AttemptSuccess, failure_of_error
from masterplan.llm.batch_results import attempt_of_result, batch_failure, batch_params, missing_result
from masterplan.llm.budget import BudgetExceeded, BudgetHold, RunBudget
from masterplan.llm.clock import Clock
from masterplan.llm.observer import GatewayObserver
from masterplan.llm.request import LLMRequest
from masterplan.llm.result import CallContext
from masterplan.models import BatchedCall, BatchRecord, LLMCallRecord

T = TypeVar("T")

logger = logging.getLogger(__name__)

POLL_GROWTH = 1.5
"""Each poll of a batch that has not ended waits this much longer than the one before (up to the maximum)."""
TRANSIENT = (anthropic.APIConnectionError, anthropic.RateLimitError, anthropic.InternalServerError)
"""Failures of a poll that the next poll may not meet (529 overloaded is an InternalServerError)."""
CANCELED_POLL_S = 1.0
"""How often a cancelled batch is polled until it has ended (cancelling takes the API a moment)."""


class BatchLedger(Protocol):
    """What the run's store keeps of its batches (``masterplan.executor.batch_ledger`` writes it)."""

    async def find(self, run_id: str, custom_id: str) -> BatchedCall | None:
        """The run's attempt sent in a batch as ``custom_id``, if the store knows one."""
        ...

    async def created(self, batch: BatchRecord, call_ids: Sequence[int]) -> None:
        """The batch the API just created, carrying these started attempts: committed before this returns."""
        ...

    async def ended(self, run_id: str, batch_id: str) -> bool:
        """Marks the batch ended; False if it was already (a resumed run reading its results again)."""
        ...


CallStarter = Callable[[LLMCallRecord], Awaitable[int]]


@dataclass(frozen=True)
class BatchSettings:
    gather_s: float = 0.5
    poll_initial_s: float = 5.0
    poll_max_s: float = 60.0


@dataclass(frozen=True)
class BatchAnswer:
    """An attempt's result from its batch, with how the run's money counts it so far."""

    outcome: AttemptSuccess | AttemptFailure
    started: LLMCallRecord
    """The attempt's started record (its row's id, the batch's id): the finished record completes it."""
    hold: BudgetHold | None = None
    """The worst case this process set aside for it; None for an attempt a resumed run found sent."""
    counted_usd: Decimal = Decimal(0)
    """For an attempt found sent: what the run's spend already counts for it."""
    booked: bool = False
    """Found sent and answered before: its cost is in the run's spend already, and its row finished."""


@dataclass
class _Member:
    request: LLMRequest
    started: LLMCallRecord
    worst_case: Decimal
    answer: asyncio.Future[BatchAnswer]
    hold: BudgetHold | None = None


@dataclass
class _Poll:
    """One batch being waited for; ``results`` ends with every request's attempt, by custom_id."""

    batch_id: str
    submitted_at: float
    results: asyncio.Future[dict[str, AttemptSuccess | AttemptFailure]] | None = None
    canceled: bool = False
    members: list[_Member] = field(default_factory=list)


class RunBatches:
    def __init__(
        self,
        client: anthropic.AsyncAnthropic,
        *,
        run_id: str,
        ledger: BatchLedger,
        starter: CallStarter,
        budget: RunBudget | None,
        clock: Clock,
        observer: GatewayObserver,
        settings: BatchSettings,
        cancel: asyncio.Event | None = None,
    ) -> None:
        """``cancel``: the run's cancel flag; once set, the run's batches are cancelled at the API."""
        self._client = client
        self.run_id = run_id
        self._ledger = ledger
        self._starter = starter
        self._budget = budget
        self._clock = clock
        self._observer = observer
        self._settings = settings
        self._cancel = cancel or asyncio.Event()
        self._gathering: list[_Member] = []
        self._joined = 0
        self._arriving = 0
        self._gatherer: asyncio.Future[None] | None = None
        self._polls: dict[str, _Poll] = {}
        self._work: set[asyncio.Future[Any]] = set()

    async def send(
        self, request: LLMRequest, started: LLMCallRecord, worst_case: Decimal, *, reuse_answered: bool = False
    ) -> BatchAnswer:
        """The attempt's result: from the batch it joins now, or from the batch the store says it was sent in.

        Raises BudgetExceeded when the worst case of the batch it joined does not fit the run's budget
        (nothing of that batch is sent then). An attempt found answered is read again only with
        ``reuse_answered``; otherwise it is a new question and joins the next batch."""
        assert started.custom_id is not None, "an attempt sent in a batch needs its custom_id"
        self._arriving += 1
        try:
            known = await self._ledger.find(self.run_id, started.custom_id)
        finally:
            self._arriving -= 1
        if known is not None and (reuse_answered or known.outcome in ("started", "abandoned")):
            return await self._answer_known(known, started)
        member = _Member(request, started, worst_case, asyncio.get_running_loop().create_future())
        self._gathering.append(member)
        self._joined += 1
        if self._gatherer is None or self._gatherer.done():
            self._gatherer = self._spawn(self._gather())
        return await member.answer

    async def aclose(self) -> None:
        """Stops gathering and polling (a service shutting down); the batches themselves go on at the API."""
        for task in list(self._work):
            task.cancel()
        await asyncio.gather(*self._work, return_exceptions=True)

    # ------------------------------------------------------------ gathering

    def _spawn(self, work: Awaitable[T]) -> asyncio.Future[T]:
        task = asyncio.ensure_future(work)
        self._work.add(task)
        task.add_done_callback(self._work.discard)
        return task

    async def _gather(self) -> None:
        while True:
            joined = self._joined
            await self._clock.sleep(self._settings.gather_s)
            if self._joined == joined and not self._arriving:  # an attempt looking up its custom_id joins too
                break
        members, self._gathering = self._gathering, []
        # An attempt joining from now on starts the next batch: this one is closed.
        self._gatherer = None
        members = [member for member in members if not member.answer.done()]
        if members:
            self._spawn(self._submit(members))

    async def _submit(self, members: list[_Member]) -> None:
        """Sets the batch's worst case aside, writes its started rows, creates it and stores its id."""
        try:
            if self._cancel.is_set():
                raise _Canceled
            if self._budget is not None:
                holds = await self._budget.reserve_all([member.worst_case for member in members])
                for member, hold in zip(members, holds, strict=True):
                    member.hold = hold
            # together: the journal commits the started rows of one batch in one transaction
            call_ids = await asyncio.gather(*(self._starter(member.started) for member in members))
            for member, call_id in zip(members, call_ids, strict=True):
                member.started = member.started.model_copy(update={"id": call_id})
            batch = await self._create(members)
        except BudgetExceeded as refused:
            self._fail_all(members, refused)
            return
        except _Canceled:
            self._answer_all(
                members, batch_failure("canceled", False, "the run was cancelled before its batch was sent", 0)
            )
            return
        except _CreateFailed as failed:
            self._answer_all(members, failed.failure)
            return
        except asyncio.CancelledError as stopped:
            self._fail_all(members, stopped)
            raise
        except Exception as error:  # the store unreachable, say: each attempt raises it, as a streamed one would
            self._fail_all(members, error)
            return
        poll = _Poll(batch.id, self._clock.now(), members=members)
        self._polls[batch.id] = poll
        resubmitted = sum(1 for member in members if member.started.attempt > 1)
        self._observer.on_batch_submitted(self.run_id, len(members), resubmitted)
        logger.info("run %s: batch %s created with %d requests", self.run_id, batch.id, len(members))
        await self._deliver(poll)

    async def _create(self, members: list[_Member]) -> BatchRecord:
        requests = [
            {"custom_id": member.started.custom_id, "params": batch_params(member.request)} for member in members
        ]
        try:
            created = await self._client.messages.batches.create(requests=requests)  # type: ignore[arg-type]
        except anthropic.APIError as error:  # refused (a full queue answers 429), unreachable
            raise _CreateFailed(failure_of_error(error)) from error
        batch = BatchRecord(id=created.id, run_id=self.run_id, requests=len(members))
        call_ids = [member.started.id for member in members if member.started.id is not None]
        await self._ledger.created(batch, call_ids)
        for member in members:
            member.started = member.started.model_copy(update={"batch_id": batch.id})
        return batch

    # -------------------------------------------------------------- results

    async def _answer_known(self, known: BatchedCall, started: LLMCallRecord) -> BatchAnswer:
        """An attempt a resumed run finds sent: its batch's result, counted as the store counts it."""
        poll = self._polls.get(known.batch_id)
        if poll is None:
            poll = self._polls[known.batch_id] = _Poll(known.batch_id, self._clock.now())
        results = await self._results_of(poll)
        sent = started.model_copy(update={"id": known.call_id, "batch_id": known.batch_id})
        assert sent.custom_id is not None
        waited_ms = (self._clock.now() - poll.submitted_at) * 1000
        outcome = results.get(sent.custom_id) or missing_result(sent.custom_id, known.batch_id, waited_ms)
        booked = known.outcome not in ("started", "abandoned")
        return BatchAnswer(outcome, sent, counted_usd=known.counted_usd, booked=booked)

    def _results_of(self, poll: _Poll) -> asyncio.Future[dict[str, AttemptSuccess | AttemptFailure]]:
        if poll.results is None:
            poll.results = self._spawn(self._poll_until_ended(poll))
        return poll.results

    async def _deliver(self, poll: _Poll) -> None:
        try:
            results = await self._results_of(poll)
        except asyncio.CancelledError as stopped:
            self._fail_all(poll.members, stopped)
            raise
        except Exception as error:
            self._fail_all(poll.members, error)
            return
        waited_ms = (self._clock.now() - poll.submitted_at) * 1000
        for member in poll.members:
            assert member.started.custom_id is not None
            outcome = results.get(member.started.custom_id) or missing_result(
                member.started.custom_id, poll.batch_id, waited_ms
            )
            if not member.answer.done():
                member.answer.set_result(BatchAnswer(outcome, member.started, hold=member.hold))

    async def _poll_until_ended(self, poll: _Poll) -> dict[str, AttemptSuccess | AttemptFailure]:
        delay = self._settings.poll_initial_s
        while True:
            await self._wait_or_cancel(CANCELED_POLL_S if poll.canceled else delay)
            delay = min(delay * POLL_GROWTH, self._settings.poll_max_s)
            if self._cancel.is_set() and not poll.canceled:
                await self._cancel_at_api(poll)
            waited_s = self._clock.now() - poll.submitted_at
            try:
                batch = await self._client.messages.batches.retrieve(poll.batch_id)
                if batch.processing_status != "ended":
                    continue
                results = await self._read_results(poll.batch_id, waited_s * 1000)
            except TRANSIENT as error:
                logger.warning("run %s: polling batch %s failed (%s); trying again", self.run_id, poll.batch_id, error)
                continue
            if not await self._ledger.ended(self.run_id, poll.batch_id):
                return results  # seen ended by the process before a restart, and counted then
            counts = batch.request_counts
            self._observer.on_batch_ended(
                self.run_id,
                waited_s,
                succeeded=counts.succeeded,
                errored=counts.errored,
                expired=counts.expired,
                canceled=counts.canceled,
            )
            return results

    async def _read_results(self, batch_id: str, waited_ms: float) -> dict[str, AttemptSuccess | AttemptFailure]:
        results: dict[str, AttemptSuccess | AttemptFailure] = {}
        entries = await self._client.messages.batches.results(batch_id)
        async for entry in entries:
            results[entry.custom_id] = attempt_of_result(entry, waited_ms)
        return results

    async def _wait_or_cancel(self, seconds: float) -> None:
        """Sleeps ``seconds``, or less if the run is cancelled meanwhile."""
        if self._cancel.is_set():
            await self._clock.sleep(seconds)
            return
        sleeping = asyncio.ensure_future(self._clock.sleep(seconds))
        cancelled = asyncio.ensure_future(self._cancel.wait())
        try:
            await asyncio.wait([sleeping, cancelled], return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeping.cancel()
            cancelled.cancel()

    async def _cancel_at_api(self, poll: _Poll) -> None:
        poll.canceled = True
        try:
            await self._client.messages.batches.cancel(poll.batch_id)
        except anthropic.APIError as error:  # ended meanwhile, or unreachable: the polls tell
            logger.warning("run %s: cancelling batch %s failed: %s", self.run_id, poll.batch_id, error)
        else:
            logger.info("run %s cancelled: batch %s cancelled", self.run_id, poll.batch_id)

    def _answer_all(self, members: list[_Member], outcome: AttemptFailure) -> None:
        for member in members:
            if not member.answer.done():
                member.answer.set_result(BatchAnswer(outcome, member.started, hold=member.hold))

    @staticmethod
    def _fail_all(members: Sequence[_Member], error: BaseException) -> None:
        """A hold whose attempt never gets its answer back stays counted as spent: the safe side."""
        for member in members:
            if not member.answer.done():
                member.answer.set_exception(error if isinstance(error, Exception) else asyncio.CancelledError())


class _Canceled(Exception):
    """The run was cancelled before its gathered attempts were sent."""


class _CreateFailed(Exception):
    def __init__(self, failure: AttemptFailure) -> None:
        super().__init__(failure.message)
        self.failure = failure


CUSTOM_ID_MAX = 64
_UNSAFE = re.compile(r"[^a-zA-Z0-9_-]+")


def batch_custom_id(context: CallContext, part: int, attempt: int) -> str:
    """The attempt's custom_id: readable (``phase-task-ask-part-attempt``) within the API's 64 characters of
    ``[a-zA-Z0-9_-]``, with a digest of the whole name so two names never collide after shortening."""
    name = f"{context.phase}/{context.task_id or 'run'}/{context.call_key or context.prompt_name}/{part}/{attempt}"
    digest = hashlib.blake2b(name.encode(), digest_size=6).hexdigest()
    readable = _UNSAFE.sub("-", name).strip("-")
    return f"{readable[: CUSTOM_ID_MAX - len(digest) - 1]}-{digest}"
