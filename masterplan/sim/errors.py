"""Anthropic's error responses: ``{"type": "error", "error": {"type": ..., "message": ...}}``."""

from __future__ import annotations

from typing import Any


class SimAPIError(Exception):
    """An error the simulator answers with instead of a message."""

    def __init__(self, status: int, error_type: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message
        self.headers = dict(headers or {})

    def body(self, request_id: str) -> dict[str, Any]:
        return {
            "type": "error",
            "error": {"type": self.error_type, "message": self.message},
            "request_id": request_id,
        }


def invalid_request(message: str) -> SimAPIError:
    return SimAPIError(400, "invalid_request_error", message)


def authentication_error(message: str) -> SimAPIError:
    return SimAPIError(401, "authentication_error", message)


def not_found(message: str) -> SimAPIError:
    return SimAPIError(404, "not_found_error", message)


def request_too_large(message: str) -> SimAPIError:
    return SimAPIError(413, "request_too_large", message)


def rate_limited(message: str, retry_after_s: int) -> SimAPIError:
    return SimAPIError(429, "rate_limit_error", message, {"retry-after": str(retry_after_s)})


def server_error(message: str) -> SimAPIError:
    return SimAPIError(500, "api_error", message)


def overloaded(message: str) -> SimAPIError:
    return SimAPIError(529, "overloaded_error", message)
