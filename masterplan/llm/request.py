"""An LLM request as the PromptCacheManager lays it out: prompt blocks, some carrying cache breakpoints.

One system block and the blocks of one user message, in cache-prefix order. The request knows
its token estimates, its breakpoints and the exact bytes of its cacheable prefix. A continuation
request (an answer cut at max_tokens, asked to go on) sends the same blocks, so it reads the same
cached prefix, followed by the answer so far (see ``Continuation``). With structured outputs the
request also carries the answer's JSON schema (``output_schema``), which is part of what the API
caches: a request without it (a continuation) does not read the prefix a request with it wrote.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

from masterplan.llm.tokens import MESSAGE_OVERHEAD_TOKENS, estimate_tokens

CacheTTL = Literal["5m", "1h"]
MAX_BREAKPOINTS = 4


class RequestLayoutError(ValueError):
    """A request that Anthropic would reject for its cache layout or limits."""


@dataclass(frozen=True)
class PromptBlock:
    text: str
    label: str
    """What the block holds: role, project, phase_summaries, completed_tasks, tail."""
    cache_ttl: CacheTTL | None = None

    def to_param(self) -> dict[str, Any]:
        param: dict[str, Any] = {"type": "text", "text": self.text}
        if self.cache_ttl is not None:
            param["cache_control"] = {"type": "ephemeral", "ttl": self.cache_ttl}
        return param


@dataclass(frozen=True)
class Breakpoint:
    index: int
    """Position of the block in prefix order (system blocks first)."""
    label: str
    ttl: CacheTTL
    prefix_tokens: int
    """Estimated tokens of everything up to and including this block."""


@dataclass(frozen=True)
class InputSplit:
    """How the prompt's tokens would be billed if nothing were cached yet (the worst case)."""

    uncached: int
    write_5m: int
    write_1h: int


@dataclass(frozen=True)
class Continuation:
    """What follows the prompt when an answer cut at max_tokens is continued (``masterplan.llm.continuation``)."""

    partial: str
    """The answer so far, trailing whitespace removed (the API refuses a final assistant text ending in it)."""
    instruction: str | None = None
    """For models without assistant prefill: the user message after the partial answer that asks to go on."""

    def messages(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [{"role": "assistant", "content": self.partial}]
        if self.instruction is not None:
            messages.append({"role": "user", "content": self.instruction})
        return messages

    @property
    def tokens(self) -> int:
        """Input tokens the continuation adds to the prompt (none of them cached)."""
        extra = estimate_tokens(self.partial) + MESSAGE_OVERHEAD_TOKENS
        if self.instruction is not None:
            extra += estimate_tokens(self.instruction) + MESSAGE_OVERHEAD_TOKENS
        return extra


@dataclass(frozen=True)
class LLMRequest:
    model: str
    max_tokens: int
    system: tuple[PromptBlock, ...]
    user: tuple[PromptBlock, ...]
    schema_name: str
    phase: str
    temperature: float | None = 0.0
    """None leaves the temperature out (models that refuse sampling parameters)."""
    expected_cache_read_tokens: int = 0
    """Tokens the request is expected to read from cache (they do not count towards input rate limits)."""
    answer_max_tokens: int | None = None
    """The most output tokens the whole answer may have, continuations included (the phase's configured
    maximum); None: ``max_tokens``, so an answer cut at it is not continued."""
    continuation: Continuation | None = None
    """Set on a continuation request: the answer so far follows the prompt."""
    output_schema: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    """The JSON schema sent as ``output_config.format`` (structured outputs), or None: JSON asked in the prompt."""
    block_tokens: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_tokens < 1:
            raise RequestLayoutError(f"max_tokens must be at least 1, got {self.max_tokens}")
        if self.answer_max_tokens is not None and self.answer_max_tokens < self.max_tokens:
            raise RequestLayoutError(
                f"max_tokens {self.max_tokens} exceeds the answer's maximum of {self.answer_max_tokens}"
            )
        if self.continuation is not None and self.output_schema is not None:
            raise RequestLayoutError("structured outputs cannot continue a prefilled answer: send it without a schema")
        if self.continuation is not None and not self.continuation.partial:
            raise RequestLayoutError("a continuation needs the answer so far; Anthropic rejects empty text")
        if not self.user:
            raise RequestLayoutError("a request needs at least one user block")
        for block in self.blocks:
            if not block.text:
                raise RequestLayoutError(f"the {block.label} block is empty; Anthropic rejects empty text blocks")
        ttls = [block.cache_ttl for block in self.blocks if block.cache_ttl is not None]
        if len(ttls) > MAX_BREAKPOINTS:
            raise RequestLayoutError(f"{len(ttls)} cache breakpoints; Anthropic allows at most {MAX_BREAKPOINTS}")
        if "5m" in ttls and "1h" in ttls[ttls.index("5m") :]:
            raise RequestLayoutError("a 1h cache breakpoint must not follow a 5m one")
        tokens = [estimate_tokens(block.text) for block in self.system]
        tokens += [
            estimate_tokens(b.text) + (MESSAGE_OVERHEAD_TOKENS if i == 0 else 0) for i, b in enumerate(self.user)
        ]
        object.__setattr__(self, "block_tokens", tuple(tokens))

    @property
    def blocks(self) -> tuple[PromptBlock, ...]:
        return self.system + self.user

    @property
    def answer_limit(self) -> int:
        """The most output tokens the answer may have over all its parts."""
        return self.max_tokens if self.answer_max_tokens is None else self.answer_max_tokens

    @property
    def estimated_input_tokens(self) -> int:
        extra = self.continuation.tokens if self.continuation is not None else 0
        return sum(self.block_tokens) + extra

    @property
    def rate_limited_input_estimate(self) -> int:
        """Uncached input plus cache writes: what the input-tokens-per-minute limit will count."""
        return max(0, self.estimated_input_tokens - self.expected_cache_read_tokens)

    def breakpoints(self) -> list[Breakpoint]:
        found = []
        running = 0
        for index, (block, tokens) in enumerate(zip(self.blocks, self.block_tokens, strict=True)):
            running += tokens
            if block.cache_ttl is not None:
                found.append(Breakpoint(index, block.label, block.cache_ttl, running))
        return found

    def full_miss_split(self) -> InputSplit:
        """Every breakpoint written, the rest uncached: the most the prompt can cost."""
        covered = 0
        written = {"5m": 0, "1h": 0}
        for bp in self.breakpoints():
            written[bp.ttl] += bp.prefix_tokens - covered
            covered = bp.prefix_tokens
        return InputSplit(self.estimated_input_tokens - covered, written["5m"], written["1h"])

    def to_params(self) -> dict[str, Any]:
        """Keyword arguments for ``client.messages.stream``.

        anthropic 2.x dropped sampling parameters from its signatures (newer models refuse them);
        the 4.x models masterplan defaults to still take ``temperature``, sent as an extra body field.
        """
        params: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [block.to_param() for block in self.system],
            "messages": [{"role": "user", "content": [block.to_param() for block in self.user]}],
        }
        if self.continuation is not None:
            params["messages"].extend(self.continuation.messages())
        if self.output_schema is not None:
            params["output_config"] = {"format": {"type": "json_schema", "schema": dict(self.output_schema)}}
        if self.temperature is not None:
            params["extra_body"] = {"temperature": self.temperature}
        return params

    def content_bytes(self, blocks: int | None = None) -> bytes:
        """The exact text of the first ``blocks`` blocks (all by default), with where each one sits.

        Cache markers are left out: they are not part of the cached content, only of where it ends.
        """
        chosen = self.blocks if blocks is None else self.blocks[:blocks]
        roles = ["system"] * len(self.system) + ["user"] * len(self.user)
        return orjson.dumps([[role, block.text] for role, block in zip(roles, chosen, strict=False)])

    def prefix_bytes(self, through_breakpoint: int = -1) -> bytes:
        """The content up to a breakpoint (default: the last one); empty without breakpoints."""
        points = self.breakpoints()
        if not points:
            return b""
        return self.content_bytes(points[through_breakpoint].index + 1)
