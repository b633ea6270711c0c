"""Errors of the API client, each saying whether retrying can help.

KubeClientError
 ├── ConfigError        the kubeconfig is missing or unusable (permanent)
 ├── ApiError           the apiserver answered a Status with an error code; `.reason`, `.code`
 │                      (retry helps for 409 Conflict after a re-read, 429, 5xx; not for 4xx)
 └── TransportError     no answer at all: refused, reset, timed out (retry with back-off)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class KubeClientError(Exception):
    retryable = False


class ConfigError(KubeClientError):
    pass


class TransportError(KubeClientError):
    retryable = True


class ApiError(KubeClientError):
    def __init__(self, code: int, status: Mapping[str, Any] | None = None, text: str = "") -> None:
        self.code = code
        self.status: Mapping[str, Any] = status or {}
        self.reason: str = str(self.status.get("reason") or "")
        message = str(self.status.get("message") or text or f"HTTP {code}")
        super().__init__(message)

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        return self.code in (409, 429) or self.code >= 500

    @property
    def retry_after(self) -> float | None:
        seconds = (self.status.get("details") or {}).get("retryAfterSeconds")
        return float(seconds) if seconds else None


def is_not_found(error: BaseException) -> bool:
    return isinstance(error, ApiError) and error.code == 404


def is_conflict(error: BaseException) -> bool:
    return isinstance(error, ApiError) and error.code == 409 and error.reason == "Conflict"


def is_already_exists(error: BaseException) -> bool:
    return isinstance(error, ApiError) and error.reason == "AlreadyExists"


def is_gone(error: BaseException) -> bool:
    return isinstance(error, ApiError) and error.code == 410
