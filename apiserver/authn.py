"""Who is asking: the verified client certificate's CN (user) and O (groups), as kube-apiserver's
x509 authenticator reads them. TLS verifies certificates against --client-ca-file with client
certificates optional, so a request without one reaches us and gets 401 (anonymous is off)
instead of a failed handshake.

uvicorn does not put the peer certificate into the ASGI scope, so the connection protocol
records each verified identity by the client's address, which the scope does carry.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from uvicorn.protocols.http.h11_impl import H11Protocol

from componentbase.tls import peer_identity
from kubeclient.streaming.uvicorn_websocket import LenientWebSocketProtocol


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...]


# (client host, client port) of each open TLS connection -> its user; None: no certificate.
_CONNECTIONS: dict[tuple[str, int], User | None] = {}


class IdentifyingH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol that also notes who is at the other end of the connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        identity = peer_identity(ssl_object) if ssl_object is not None else None
        user = None
        if identity is not None:
            user = User(identity.common_name, (*identity.organizations, "system:authenticated"))
        if self.client is not None:
            _CONNECTIONS[(str(self.client[0]), int(self.client[1]))] = user

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            _CONNECTIONS.pop((str(self.client[0]), int(self.client[1])), None)
        super().connection_lost(exc)


class IdentifiedWebSocketProtocol(LenientWebSocketProtocol):
    """The WebSocket protocol a connection switches to on upgrade (exec, attach, port-forward): uvicorn
    hands it the transport without telling the HTTP protocol, so it forgets the connection's user."""

    def connection_lost(self, exc: Exception | None) -> None:
        if self.client is not None:
            _CONNECTIONS.pop((str(self.client[0]), int(self.client[1])), None)
        super().connection_lost(exc)


def user_of(client: tuple[str, int] | None) -> User | None:
    """The authenticated user of the connection `client` (an ASGI scope's "client"), or None."""
    if client is None:
        return None
    return _CONNECTIONS.get((str(client[0]), int(client[1])))
