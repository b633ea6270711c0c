"""A stand-in component for the launcher's tests: serves /healthz over mTLS with the cluster's
apiserver certificate until SIGTERM, like every real component's health endpoint."""

import sys

from componentbase.health import HealthServer
from componentbase.run import run
from componentbase.tls import server_context


async def serve() -> None:
    pki, port = sys.argv[1], int(sys.argv[2])
    context = server_context(f"{pki}/apiserver.crt", f"{pki}/apiserver.key", f"{pki}/ca.crt")
    async with HealthServer("127.0.0.1", port, context) as server:
        await server.serve_forever()


run(serve, prog="health-only-component")
