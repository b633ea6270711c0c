"""uvicorn's WebSocket protocol with the subprotocol header taken as it comes: the app chooses
from the list uvicorn hands it, and websockets' strict token parser would refuse kubectl's
`SPDY/3.1+portforward.k8s.io` (a `/` is not a token character) before the app runs."""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol


class LenientWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn adds the subprotocol the app accepted to the response itself.
        self.conn.process_subprotocol = lambda headers: None  # type: ignore[method-assign]
