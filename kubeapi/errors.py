"""API errors as Kubernetes answers them: a `Status` object with a reason and an HTTP code
(apimachinery's k8s.io/apimachinery/pkg/api/errors). Raise `StatusError`; the apiserver turns it
into the response body and code. Retrying helps only for Conflict (re-read first), ServerTimeout,
TooManyRequests and InternalError.

    StatusError
      reason          code  constructor
      BadRequest      400   bad_request(message)
      Unauthorized    401   unauthorized(message)
      Forbidden       403   forbidden(message)
      NotFound        404   not_found(resource, name)
      MethodNotAllowed 405  method_not_supported(resource, verb)
      NotAcceptable   406   not_acceptable(message)
      AlreadyExists   409   already_exists(resource, name)
      Conflict        409   conflict(resource, name, message)
      Gone / Expired  410   gone(message), expired(message)
      RequestEntityTooLarge 413  too_large(message)
      UnsupportedMediaType  415  unsupported_media_type(content_type)
      Invalid         422   invalid(kind, name, causes)
      TooManyRequests 429   too_many_requests(message, retry_after)
      InternalError   500   internal(message)
      ServiceUnavailable 503 unavailable(message)
      Timeout         504   timeout(message)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Cause:
    """One reason an object is invalid: `field` is a path like "spec.containers[0].image"."""

    type: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotSupported, FieldValueDuplicate, ...
    message: str
    field: str = ""

    def to_dict(self) -> dict[str, str]:
        out = {"reason": self.type, "message": self.message}
        if self.field:
            out["field"] = self.field
        return out


@dataclass
class StatusError(Exception):
    code: int
    reason: str
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    retry_after: int | None = None  # seconds, for 429 (also sent as the Retry-After header)

    def __post_init__(self) -> None:
        super().__init__(self.message)

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = dict(self.details)
        if self.retry_after is not None:
            details["retryAfterSeconds"] = self.retry_after
        if details:
            status["details"] = details
        return status


def _qualified(resource: str, group: str) -> str:
    return f"{resource}.{group}" if group else resource


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def unauthorized(message: str = "Unauthorized") -> StatusError:
    return StatusError(401, "Unauthorized", message)


def forbidden(message: str) -> StatusError:
    return StatusError(403, "Forbidden", message)


def _about(resource: str, name: str, group: str) -> dict[str, Any]:
    """Upstream's details for an error about one object: `kind` holds the resource (e.g. "pods")."""
    details: dict[str, Any] = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return details


def not_found(resource: str, name: str, group: str = "") -> StatusError:
    qualified = _qualified(resource, group)
    return StatusError(404, "NotFound", f'{qualified} "{name}" not found', _about(resource, name, group))


def method_not_supported(resource: str, verb: str) -> StatusError:
    return StatusError(405, "MethodNotAllowed", f"{verb} is not supported on resources of kind {resource!r}")


def not_acceptable(message: str) -> StatusError:
    return StatusError(406, "NotAcceptable", message)


def already_exists(resource: str, name: str, group: str = "") -> StatusError:
    qualified = _qualified(resource, group)
    return StatusError(
        409, "AlreadyExists", f'{qualified} "{name}" already exists', _about(resource, name, group)
    )


def conflict(resource: str, name: str, message: str, group: str = "") -> StatusError:
    qualified = _qualified(resource, group)
    text = f'Operation cannot be fulfilled on {qualified} "{name}": {message}'
    return StatusError(409, "Conflict", text, _about(resource, name, group))


def gone(message: str) -> StatusError:
    return StatusError(410, "Gone", message)


def expired(message: str) -> StatusError:
    """A resourceVersion that left the watch window or the store's history (clients relist)."""
    return StatusError(410, "Expired", message)


def too_large(message: str) -> StatusError:
    return StatusError(413, "RequestEntityTooLarge", message)


def unsupported_media_type(content_type: str) -> StatusError:
    return StatusError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json, application/yaml, application/vnd.kubernetes.protobuf (got {content_type!r})",
    )


def invalid(kind: str, name: str, causes: Sequence[Cause], group: str = "") -> StatusError:
    """422 with one cause per field, message "Kind.group "name" is invalid: field: msg, ..."."""
    qualified = f"{kind}.{group}" if group else kind
    summary = ", ".join(f"{c.field}: {c.message}" if c.field else c.message for c in causes)
    details: dict[str, Any] = {"name": name, "kind": kind, "causes": [c.to_dict() for c in causes]}
    if group:
        details["group"] = group
    return StatusError(422, "Invalid", f'{qualified} "{name}" is invalid: {summary}', details)


def too_many_requests(message: str, retry_after: int = 1) -> StatusError:
    return StatusError(429, "TooManyRequests", message, retry_after=retry_after)


def internal(message: str) -> StatusError:
    return StatusError(500, "InternalError", f"Internal error occurred: {message}")


def unavailable(message: str) -> StatusError:
    return StatusError(503, "ServiceUnavailable", message)


def timeout(message: str) -> StatusError:
    return StatusError(504, "Timeout", message)
