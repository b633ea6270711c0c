"""Kubernetes `Status` answers for the kubelet's HTTP endpoints."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

REASONS = {
    400: "BadRequest",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    500: "InternalError",
}


class HandlerError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def status(code: int, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": REASONS.get(code, "InternalError"),
        "code": code,
    }


def status_response(code: int, message: str) -> Response:
    body = json.dumps(status(code, message)).encode()
    return Response(body, status_code=code, media_type="application/json")


def bad_request(message: str) -> HandlerError:
    return HandlerError(400, message)


def not_found(message: str) -> HandlerError:
    return HandlerError(404, message)
