"""``GET /runs/{run_id}/ws?after=SEQ``: a run's events, stored then live, in order, no gap, no duplicate.

The socket subscribes to the event bus *before* it reads the store, sends the
stored events with ``seq > after`` page by page, then the live ones, skipping
any seq already sent; a live event that overtook an earlier one is preceded by
the missing events read from the store (an event is published only after it
committed, so everything below its seq is stored by then). Each message is one
event ``{"seq", "type", "ts", "data"}``. After the run's terminal ``run.status``
the socket closes with 1000.

A client that falls ``queue_size`` events behind (its queue overflowed) or
whose send does not finish within ``send_timeout_s`` is closed with 4008 and
the reason ``too slow; reconnect with after=<last seq sent>``; the run and the
other clients never wait for it. A client may send
``{"type": "answers", "answers": {...}}``, and for a plan awaiting approval ``{"type": "approve"}``,
``{"type": "edit_plan", ...}`` (the body of ``PATCH /runs/{id}/plan``) or ``{"type": "replan", "feedback"}``;
what they change arrives as events (``plan.approved``, ``plan.edited``, ...). A refused message is answered
with ``{"type": "error", "status", "message"}`` and the socket stays open.
"""

from __future__ import annotations

import asyncio
import logging
import socket as sockets
from collections.abc import Coroutine
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web

from masterplan.models import Event
from masterplan.service.errors import WorkspaceUnavailable
from masterplan.service.events import SlowSubscriber, Subscription
from masterplan.service.runs import RunService
from masterplan.store import StoreUnavailable
from masterplan.web.inputs import RUN_ID, SocketAnswers, SocketQuery
from masterplan.web.keys import METRICS, SERVICE, SOCKETS, WEBSOCKET_LIMITS, WebSocketLimits
from masterplan.web.middleware import CLIENT_ERRORS, client_error
from masterplan.web.plan_inputs import SocketApproval, SocketPlanEdit, SocketReplan
from masterplan.web.responses import dumps, parse_json, query_model
from masterplan.web.schemas import EventView, FieldError, SocketError

logger = logging.getLogger(__name__)
SocketMessage = SocketAnswers | SocketApproval | SocketPlanEdit | SocketReplan
SOCKET_MESSAGES: dict[object, type[SocketMessage]] = {
    "answers": SocketAnswers,
    "approve": SocketApproval,
    "edit_plan": SocketPlanEdit,
    "replan": SocketReplan,
}
"""By ``type``; a message of no known type is read as answers, whose refusal names the field."""

TOO_SLOW = 4008
TERMINAL_STATUSES = frozenset({"completed", "completed_with_failures", "failed", "cancelled", "budget_exceeded"})

routes = web.RouteTableDef()


class ClientTooSlow(Exception):
    """The client could not take the events as fast as they came."""


def ends_run(event: Event) -> bool:
    return event.type == "run.status" and event.data.get("status") in TERMINAL_STATUSES


def bound_send_buffer(request: web.Request, size: int) -> None:
    """Hold at most about ``size`` bytes for this client in the kernel and in the transport."""
    transport = request.transport
    if transport is None:
        return
    transport.set_write_buffer_limits(high=size)
    raw = transport.get_extra_info("socket")
    if raw is not None:
        raw.setsockopt(sockets.SOL_SOCKET, sockets.SO_SNDBUF, size)


async def close_socket(
    socket: web.WebSocketResponse, request: web.Request, code: int, reason: str, timeout_s: float
) -> None:
    """Close with ``code``; a client whose buffers are full never gets the frame, so its connection is cut."""
    try:
        async with asyncio.timeout(timeout_s):
            await socket.close(code=code, message=reason.encode())
    except TimeoutError:
        if request.transport is not None:
            request.transport.abort()


class EventFeed:
    """One client's socket: a sender task (events) and a receiver task (answers), ended together."""

    def __init__(
        self,
        request: web.Request,
        socket: web.WebSocketResponse,
        subscription: Subscription,
        *,
        run_id: str,
        after: int,
    ) -> None:
        self.request = request
        self.socket = socket
        self.subscription = subscription
        self.run_id = run_id
        self.last_sent = after
        self.service: RunService = request.app[SERVICE]
        self.limits: WebSocketLimits = request.app[WEBSOCKET_LIMITS]

    async def serve(self) -> None:
        sender = asyncio.create_task(self._send_events(), name=f"ws sender {self.run_id}")
        receiver = asyncio.create_task(self._receive_messages(), name=f"ws receiver {self.run_id}")
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
            if sender.done() and not self.socket.closed:
                code, reason = sender.result()
                await close_socket(self.socket, self.request, code, reason, self.limits.close_timeout_s)
        finally:
            for task in (sender, receiver):
                task.cancel()
            await asyncio.gather(sender, receiver, return_exceptions=True)

    # ------------------------------------------------------------ sending

    async def _send_events(self) -> tuple[int, str]:
        """(close code, reason) once the run ended or the client fell behind."""
        try:
            run = await self.service.get(self.run_id)
            # A client ahead of the store (``after`` beyond the last event) would skip every live event,
            # the run's end included; what it has not seen starts after the last stored event.
            self.last_sent = min(self.last_sent, run.last_event_seq)
            if await self._catch_up() or run.status.is_terminal:
                return WSCloseCode.OK, "run ended"
            while True:
                event = await self.subscription.get()
                if event.seq <= self.last_sent:
                    continue
                if event.seq > self.last_sent + 1:
                    logger.debug(
                        "run %s: seq %s came before %s; reading the gap", self.run_id, event.seq, self.last_sent + 1
                    )
                    if await self._catch_up():
                        return WSCloseCode.OK, "run ended"
                elif await self._send(event):
                    return WSCloseCode.OK, "run ended"
        except (SlowSubscriber, ClientTooSlow):
            self.request.app[METRICS].slow_client_dropped()
            logger.info("run %s: dropped a slow WebSocket client at seq %s", self.run_id, self.last_sent)
            return TOO_SLOW, f"too slow; reconnect with after={self.last_sent}"
        except ConnectionResetError:
            logger.info("run %s: WebSocket client left at seq %s", self.run_id, self.last_sent)
            return WSCloseCode.GOING_AWAY, "client left"

    async def _catch_up(self) -> bool:
        """Send every stored event after the last one sent; True if the run's end was among them."""
        while True:
            async with self.service.store.transaction() as tx:
                page = await tx.events_after(self.run_id, self.last_sent, self.limits.page_size)
            for event in page:
                if await self._send(event):
                    return True
            if len(page) < self.limits.page_size:
                return False

    async def _send(self, event: Event) -> bool:
        text = dumps(EventView.of(event).model_dump(mode="json"))
        try:
            async with asyncio.timeout(self.limits.send_timeout_s):
                await self.socket.send_str(text)
        except TimeoutError:
            raise ClientTooSlow(f"a send took more than {self.limits.send_timeout_s}s") from None
        self.last_sent = event.seq
        return ends_run(event)

    # ---------------------------------------------------------- receiving

    async def _receive_messages(self) -> None:
        async for message in self.socket:
            if message.type is WSMsgType.TEXT:
                await self._handle(message.data)
            elif message.type is WSMsgType.BINARY:
                await self._send_error(400, "send JSON text messages")
            else:
                return

    def _command(self, text: str) -> Coroutine[Any, Any, object]:
        data = parse_json(text)
        kind = data.get("type") if isinstance(data, dict) else None
        model = SOCKET_MESSAGES.get(kind, SocketAnswers) if isinstance(kind, str) else SocketAnswers
        message = model.model_validate(data)
        if isinstance(message, SocketAnswers):
            return self.service.answer(self.run_id, message.answers)
        if isinstance(message, SocketApproval):
            return self.service.approve(self.run_id, by="websocket")
        if isinstance(message, SocketReplan):
            return self.service.replan(self.run_id, message.feedback, by="websocket")
        return self.service.edit_plan(self.run_id, message.to_domain(), by="websocket")

    async def _handle(self, text: str) -> None:
        try:
            # shielded: what reached the server is recorded even if the client leaves now
            recording = asyncio.ensure_future(self._command(text))
            recording.add_done_callback(self._note_unheard_refusal)
            await asyncio.shield(recording)
        except CLIENT_ERRORS as error:
            status, message, fields = client_error(error)
            await self._send_error(status, message, fields)
        except (StoreUnavailable, WorkspaceUnavailable) as error:
            logger.warning("run %s: a message over the WebSocket was not recorded: %s", self.run_id, error)
            await self._send_error(503, f"the service cannot take this now: {error}; send the message again")
        except Exception:  # a bug: the client hears of it, the socket and the run go on
            logger.exception("run %s: a message over the WebSocket failed", self.run_id)
            await self._send_error(500, "internal server error; see the server log")

    def _note_unheard_refusal(self, recording: asyncio.Future[Any]) -> None:
        """A refusal that came after the client left has no one to hear it: a line in the log, not a lost error."""
        if not recording.cancelled() and recording.exception() is not None and self.socket.closed:
            logger.info("run %s: a message of a client that left was refused: %s", self.run_id, recording.exception())

    async def _send_error(self, status: int, message: str, fields: list[dict[str, str]] | None = None) -> None:
        error = SocketError(
            type="error",
            status=status,
            message=message,
            fields=None if fields is None else [FieldError(**field) for field in fields],
        )
        await self.socket.send_str(dumps(error.model_dump(mode="json", exclude_none=True)))


@routes.get(f"/runs/{RUN_ID}/ws")
async def run_socket(request: web.Request) -> web.StreamResponse:
    query = query_model(request, SocketQuery)
    run_id = request.match_info["run_id"]
    service = request.app[SERVICE]
    await service.get(run_id)
    limits = request.app[WEBSOCKET_LIMITS]
    socket: web.WebSocketResponse = web.WebSocketResponse(
        timeout=limits.close_timeout_s, writer_limit=limits.send_buffer_bytes
    )
    subscription = service.bus.subscribe(run_id, maxsize=limits.queue_size)
    try:
        await socket.prepare(request)
        bound_send_buffer(request, limits.send_buffer_bytes)
        await _follow(request, socket, EventFeed(request, socket, subscription, run_id=run_id, after=query.after))
    finally:
        subscription.close()
    return socket


async def _follow(request: web.Request, socket: web.WebSocketResponse, feed: EventFeed) -> None:
    open_sockets = request.app[SOCKETS]
    metrics = request.app[METRICS]
    open_sockets[socket] = request
    metrics.client_connected()
    try:
        await feed.serve()
    except Exception:  # the socket's boundary: it was upgraded, so no JSON error response can follow
        logger.exception("WebSocket of run %s failed", feed.run_id)
        if not socket.closed:
            await close_socket(socket, request, WSCloseCode.INTERNAL_ERROR, "internal error", 1.0)
    finally:
        open_sockets.pop(socket, None)
        metrics.client_disconnected()


async def close_open_sockets(app: web.Application) -> None:
    """on_shutdown: tell every client the server is going away (they reconnect with ``after``)."""
    timeout_s = app[WEBSOCKET_LIMITS].close_timeout_s
    await asyncio.gather(
        *(
            close_socket(socket, request, WSCloseCode.GOING_AWAY, "server shutdown", timeout_s)
            for socket, request in list(app[SOCKETS].items())
        )
    )
