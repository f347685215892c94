"""The gateway's typed failures (BudgetExceeded lives with the budget, UnknownModel with the prices)."""

from __future__ import annotations

from collections.abc import Sequence

from masterplan.models import LLMCallRecord


class GatewayConfigError(ValueError):
    """The gateway cannot start with these settings (no API key, say)."""


class LLMCallFailed(Exception):
    """Base of the failures that end a call after one or more recorded attempts."""

    def __init__(self, message: str, records: Sequence[LLMCallRecord]) -> None:
        super().__init__(message)
        self.records = tuple(records)


class LLMUnavailable(LLMCallFailed):
    """Every attempt failed on 429/529/5xx/connection errors; ``cause`` is the last one."""

    def __init__(self, message: str, records: Sequence[LLMCallRecord], cause: BaseException | None) -> None:
        super().__init__(message, records)
        self.cause = cause
        self.last_outcome = records[-1].outcome if records else None


class LLMRequestRejected(LLMCallFailed):
    """The API refused the request itself (a 4xx other than 408/409/429), or answered something that is
    not the Messages API (a 200 that is no event stream): retrying cannot help."""

    def __init__(self, message: str, records: Sequence[LLMCallRecord], status_code: int) -> None:
        super().__init__(message, records)
        self.status_code = status_code


class CallCanceled(LLMCallFailed):
    """The run was cancelled while the call waited in a Message Batch; the batch was cancelled too."""
