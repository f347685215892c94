"""Parsing and validating a Messages API body into what the simulator works with.

Invalid bodies raise ``SimAPIError`` with Anthropic's ``invalid_request_error`` and a message
that names the offending field the way the API does (``messages.0.content: ...``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Literal

from masterplan.sim.errors import invalid_request, not_found
from masterplan.sim.model_table import ModelSpec, ModelTable
from masterplan.sim.structured import output_schema
from masterplan.sim.tokens import MESSAGE_OVERHEAD_TOKENS, canonical_json, json_tokens, text_tokens

MAX_CACHE_BREAKPOINTS = 4
CacheTTL = Literal["5m", "1h"]
TTL_SECONDS: dict[str, float] = {"5m": 300.0, "1h": 3600.0}
PREFILL_WITH_FORMAT = (
    "output_config.format: structured outputs cannot be combined with a prefilled assistant message; "
    "the conversation must end with a user message"
)
"""Anthropic lists message prefilling among the features incompatible with JSON outputs."""


@dataclass(frozen=True)
class Segment:
    """One block of the prompt in cache-prefix order (tools -> system -> messages)."""

    key: bytes
    tokens: int
    ttl: CacheTTL | None
    """Set when the block carries ``cache_control``: the prefix ending here is a breakpoint."""


@dataclass(frozen=True)
class Continuation:
    """A request to go on with an answer already begun, from the answer so far."""

    prefix: str
    """The answer so far: the text of the assistant message the request carries."""
    prefilled: bool
    """True: the request ends with that assistant message; False: a user message asking to continue follows."""


@dataclass
class MessagesRequest:
    model: str
    spec: ModelSpec
    max_tokens: int
    stream: bool
    system_text: str
    user_text: str
    """The text blocks of the last user message, joined: where a request's tail lives. For a
    continuation, the last user message before the answer so far (the request it continues)."""
    segments: list[Segment] = field(default_factory=list)
    continuation: Continuation | None = None
    conversation_key: bytes = b""
    """Identifies the conversation the answer answers (a continuation's is that of its first part)."""
    output_schema: dict[str, Any] | None = None
    """The JSON schema ``output_config.format`` constrains the answer to (``structured``)."""

    @property
    def input_tokens(self) -> int:
        return sum(segment.tokens for segment in self.segments)

    @property
    def all_text(self) -> str:
        return self.system_text + "\n" + self.user_text


def _require(body: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in body:
        raise invalid_request(f"{name}: Field required")
    value = body[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is int):
        raise invalid_request(f"{name}: Input should be a valid {_kind_name(kind)}")
    return value


def _kind_name(kind: type | tuple[type, ...]) -> str:
    names = {str: "string", int: "integer", list: "list", bool: "boolean", dict: "dictionary"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def _cache_ttl(block: dict[str, Any], where: str) -> CacheTTL | None:
    control = block.get("cache_control")
    if control is None:
        return None
    prefix = f"{where}." if where else ""
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        raise invalid_request(f"{prefix}cache_control.type: Input should be 'ephemeral'")
    ttl = control.get("ttl", "5m")
    if ttl not in TTL_SECONDS:
        raise invalid_request(f"{prefix}cache_control.ttl: Input should be '5m' or '1h'")
    return "1h" if ttl == "1h" else "5m"


def _block_segment(block: Any, where: str, extra_tokens: int = 0, role: str = "") -> Segment:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        raise invalid_request(f"{where}: Input should be a content block object with a type")
    content = {key: value for key, value in block.items() if key != "cache_control"}
    if block["type"] == "text":
        text = block.get("text")
        if not isinstance(text, str):
            raise invalid_request(f"{where}.text: Field required")
        if not text:
            raise invalid_request(f"{where}: text content blocks must be non-empty")
        tokens = text_tokens(text)
    else:
        tokens = json_tokens(content)
    key = role.encode() + b":" + canonical_json(content)
    return Segment(key=key, tokens=tokens + extra_tokens, ttl=_cache_ttl(block, where))


def _system_segments(system: Any) -> tuple[list[Segment], str]:
    if isinstance(system, str):
        if not system:
            return [], ""
        return [_block_segment({"type": "text", "text": system}, "system", role="system")], system
    if not isinstance(system, list):
        raise invalid_request("system: Input should be a valid string or list of text blocks")
    segments = [_block_segment(block, f"system.{i}", role="system") for i, block in enumerate(system)]
    text = "\n".join(block["text"] for block in system if block.get("type") == "text")
    return segments, text


Message = tuple[str, list[Any]]
"""A message as (role, content blocks): string content becomes one text block."""


def _normalised_messages(messages: list[Any]) -> list[Message]:
    if not messages:
        raise invalid_request("messages: at least one message is required")
    normalised: list[Message] = []
    for i, message in enumerate(messages):
        where = f"messages.{i}"
        if not isinstance(message, dict):
            raise invalid_request(f"{where}: Input should be a valid dictionary")
        role = message.get("role")
        if role not in ("user", "assistant"):
            raise invalid_request(f"{where}.role: Input should be 'user' or 'assistant'")
        content = message.get("content")
        if isinstance(content, str):
            if not content:
                raise invalid_request(f"{where}: text content blocks must be non-empty")
            content = [{"type": "text", "text": content}]
        if not isinstance(content, list) or not content:
            raise invalid_request(f"{where}.content: Input should be a non-empty string or list of content blocks")
        normalised.append((role, content))
    return normalised


def _message_segments(messages: list[Message]) -> list[Segment]:
    segments: list[Segment] = []
    for i, (role, content) in enumerate(messages):
        for j, block in enumerate(content):
            overhead = MESSAGE_OVERHEAD_TOKENS if j == 0 else 0
            segments.append(_block_segment(block, f"messages.{i}.content.{j}", overhead, role))
    return segments


def _text_of(content: list[Any], joiner: str) -> str:
    return joiner.join(b["text"] for b in content if isinstance(b, dict) and b.get("type") == "text")


def _asks_to_continue(content: list[Any]) -> bool:
    """A user message that only asks the model to go on: it says "continue" and carries no tags."""
    text = _text_of(content, "\n")
    return "continue" in text.lower() and "<" not in text


def split_continuation(messages: list[Message]) -> tuple[list[Message], Continuation | None]:
    """The messages an answer answers, and the continuation of that answer the request asks for, if any.

    A request continues an answer when it ends with an assistant message (prefill), or with an
    assistant message followed by a user message that asks to continue. The answer so far is that
    assistant message; the messages before it are the conversation the whole answer answers.
    """
    if messages[-1][0] == "assistant":
        return messages[:-1], Continuation(_text_of(messages[-1][1], ""), prefilled=True)
    if len(messages) >= 2 and messages[-2][0] == "assistant" and _asks_to_continue(messages[-1][1]):
        return messages[:-2], Continuation(_text_of(messages[-2][1], ""), prefilled=False)
    return messages, None


def _last_user_text(messages: list[Message]) -> str:
    return next((_text_of(content, "\n") for role, content in reversed(messages) if role == "user"), "")


def _check_prefill(messages: list[Message], spec: ModelSpec) -> None:
    """A final assistant message: refused by models without prefill, and when it ends with whitespace."""
    role, content = messages[-1]
    if role != "assistant":
        return
    if not spec.supports_prefill:
        raise invalid_request(
            "This model does not support assistant message prefill. The conversation must end with a user message."
        )
    last = content[-1]
    if isinstance(last, dict) and last.get("type") == "text" and last["text"] != last["text"].rstrip():
        raise invalid_request("messages: final assistant content cannot end with trailing whitespace")


def _conversation_key(body: dict[str, Any], spec: ModelSpec, messages: list[Message]) -> bytes:
    """What identifies the answer to a conversation, whatever ``max_tokens``, ``stream`` or the model alias."""
    conversation = {
        "model": spec.name,
        "system": body.get("system"),
        "tools": body.get("tools"),
        "messages": [[role, content] for role, content in messages],
    }
    return hashlib.sha256(canonical_json(conversation)).digest()


def _tool_segments(tools: Any) -> list[Segment]:
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise invalid_request("tools: Input should be a valid list")
    segments = []
    for i, tool in enumerate(tools):
        if not isinstance(tool, dict) or not isinstance(tool.get("name"), str):
            raise invalid_request(f"tools.{i}.name: Field required")
        content = {key: value for key, value in tool.items() if key != "cache_control"}
        segments.append(
            Segment(b"tool:" + canonical_json(content), json_tokens(content), _cache_ttl(tool, f"tools.{i}"))
        )
    return segments


def _apply_automatic_breakpoint(body: dict[str, Any], segments: list[Segment]) -> list[Segment]:
    """A top-level ``cache_control`` puts a breakpoint on the last block."""
    if body.get("cache_control") is None or not segments:
        return segments
    ttl = _cache_ttl(body, "")
    last = segments[-1]
    return [*segments[:-1], Segment(last.key, last.tokens, last.ttl or ttl)]


def _check_breakpoints(segments: list[Segment]) -> None:
    ttls = [segment.ttl for segment in segments if segment.ttl is not None]
    if len(ttls) > MAX_CACHE_BREAKPOINTS:
        raise invalid_request(
            f"A maximum of {MAX_CACHE_BREAKPOINTS} blocks with cache_control may be provided. Found {len(ttls)}."
        )
    if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
        raise invalid_request("a ttl='1h' cache_control block must not come after a ttl='5m' cache_control block")


def resolve_model(table: ModelTable, body: dict[str, Any]) -> tuple[str, ModelSpec]:
    model = _require(body, "model", str)
    spec = table.lookup(model)
    if spec is None:
        raise not_found(f"model: {model}")
    return model, spec


def parse_messages_request(
    body: Any, table: ModelTable, *, counting: bool = False, structured_outputs: bool = True
) -> MessagesRequest:
    """Validate a ``/v1/messages`` body (``counting``: a ``count_tokens`` body, no max_tokens;
    ``structured_outputs`` False: a server without the feature, which refuses ``output_config``)."""
    if not isinstance(body, dict):
        raise invalid_request("the request body must be a JSON object")
    messages = _require(body, "messages", list)
    max_tokens = 0 if counting else _require(body, "max_tokens", int)
    model, spec = resolve_model(table, body)
    if not counting:
        if max_tokens < 1:
            raise invalid_request("max_tokens: Input should be greater than or equal to 1")
        if max_tokens > spec.max_output_tokens:
            raise invalid_request(
                f"max_tokens: {max_tokens} > {spec.max_output_tokens}, which is the maximum allowed number "
                f"of output tokens for {model}"
            )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise invalid_request("stream: Input should be a valid boolean")
    system_segments, system_text = _system_segments(body.get("system", ""))
    normalised = _normalised_messages(messages)
    segments = _tool_segments(body.get("tools")) + system_segments + _message_segments(normalised)
    segments = _apply_automatic_breakpoint(body, segments)
    _check_breakpoints(segments)
    if not counting:
        _check_prefill(normalised, spec)
    answered, continuation = split_continuation(normalised)
    schema = output_schema(body, model, supported=structured_outputs, model_supports=spec.structured_outputs)
    if not counting and schema is not None and continuation is not None and continuation.prefilled:
        raise invalid_request(PREFILL_WITH_FORMAT)
    request = MessagesRequest(
        model,
        spec,
        max_tokens,
        stream,
        system_text,
        _last_user_text(answered),
        segments,
        continuation,
        _conversation_key(body, spec, answered),
        schema,
    )
    if not counting and request.input_tokens + max_tokens > spec.context_window:
        raise invalid_request(
            f"prompt is too long: {request.input_tokens} tokens + max_tokens {max_tokens} > "
            f"{spec.context_window} maximum"
        )
    return request
