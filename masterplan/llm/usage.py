"""Token usage of one response, with the cache write split by TTL.

Anthropic's ``input_tokens`` already excludes cached tokens: the uncached input,
the 5-minute writes, the 1-hour writes and the cache reads are four disjoint
counts. Keeping them apart here is what makes "never double-count" hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from anthropic.types import Usage as SDKUsage

from masterplan import models
from masterplan.llm.tokens import estimate_tokens


@dataclass(frozen=True)
class TokenUsage:
    input_tokens: int = 0
    cache_write_5m_tokens: int = 0
    cache_write_1h_tokens: int = 0
    cache_read_tokens: int = 0
    output_tokens: int = 0

    @classmethod
    def from_sdk(cls, usage: SDKUsage | None) -> TokenUsage:
        """Reads the SDK's usage; writes without a TTL breakdown are 5-minute writes (the API default).

        A field the server left out (some Anthropic-compatible servers report no usage) reads as 0.
        """
        if usage is None:
            return cls()
        cache_creation = usage.cache_creation
        written = usage.cache_creation_input_tokens or 0
        written_1h = (cache_creation.ephemeral_1h_input_tokens or 0) if cache_creation else 0
        if cache_creation is not None:
            written = max(written, (cache_creation.ephemeral_5m_input_tokens or 0) + written_1h)
        return cls(
            input_tokens=usage.input_tokens or 0,
            cache_write_5m_tokens=written - written_1h,
            cache_write_1h_tokens=written_1h,
            cache_read_tokens=usage.cache_read_input_tokens or 0,
            output_tokens=usage.output_tokens or 0,
        )

    def estimated_where_missing(self, prompt_tokens: int, answer: str) -> TokenUsage:
        """This usage with masterplan's own estimates where the server reported none.

        For an answer whose usage says 0 input tokens (no real prompt is free): the prompt's estimate as
        uncached input (nothing assumed cached), and the answer's text estimate when output is 0 too.
        """
        return TokenUsage(
            input_tokens=prompt_tokens,
            output_tokens=self.output_tokens or estimate_tokens(answer),
        )

    @property
    def cache_write_tokens(self) -> int:
        return self.cache_write_5m_tokens + self.cache_write_1h_tokens

    @property
    def total_input_tokens(self) -> int:
        """Every prompt token, however it was billed."""
        return self.input_tokens + self.cache_write_tokens + self.cache_read_tokens

    @property
    def rate_limited_input_tokens(self) -> int:
        """What counts towards input-tokens-per-minute: cache reads do not."""
        return self.input_tokens + self.cache_write_tokens

    @property
    def cache_read_share(self) -> float:
        total = self.total_input_tokens
        return self.cache_read_tokens / total if total else 0.0

    def __add__(self, other: TokenUsage) -> TokenUsage:
        return TokenUsage(
            input_tokens=self.input_tokens + other.input_tokens,
            cache_write_5m_tokens=self.cache_write_5m_tokens + other.cache_write_5m_tokens,
            cache_write_1h_tokens=self.cache_write_1h_tokens + other.cache_write_1h_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
        )

    def to_model(self) -> models.Usage:
        return models.Usage(
            input_tokens=self.input_tokens,
            cache_write_tokens=self.cache_write_tokens,
            cache_read_tokens=self.cache_read_tokens,
            output_tokens=self.output_tokens,
        )

    @classmethod
    def from_model(cls, usage: models.Usage) -> TokenUsage:
        """The reverse of ``to_model``: its cache writes count as 5-minute writes (``Usage`` does not split them)."""
        return cls(
            input_tokens=usage.input_tokens,
            cache_write_5m_tokens=usage.cache_write_tokens,
            cache_read_tokens=usage.cache_read_tokens,
            output_tokens=usage.output_tokens,
        )

    @classmethod
    def from_record(cls, record: models.LLMCallRecord) -> TokenUsage:
        return cls(
            input_tokens=record.input_tokens,
            cache_write_5m_tokens=record.cache_write_tokens - record.cache_write_1h_tokens,
            cache_write_1h_tokens=record.cache_write_1h_tokens,
            cache_read_tokens=record.cache_read_tokens,
            output_tokens=record.output_tokens,
        )
