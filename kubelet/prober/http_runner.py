"""httpGet probes (upstream pkg/probe/http): GET scheme://host:port/path from the node.

- host is the probe's `host`, else the pod IP; port a number or a container port's name;
  httpHeaders are sent as given (a `Host` header sets the request's host), with upstream's
  `User-Agent: kube-probe/<major>.<minor>` and `Accept: */*` unless the probe sets them (an empty
  Accept removes it). HTTPS is not verified.
- 200..399 is success; a 3xx is where redirects stopped, a success with a ProbeWarning. Redirects
  are followed only to the same host name, at most 10. Other codes fail with "HTTP probe failed
  with statuscode: N". At most 10 KiB of the body is read; it is the output of a success.
- Connection problems and timeouts fail with Go-like messages (`Get "URL": dial tcp ...`).
"""

from __future__ import annotations

import asyncio
import errno
import ssl
import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx

from kubelet.prober.attempt import MAX_OUTPUT_BYTES, Attempt, errored, host_port, resolve_port
from kubelet.prober.exec_runner import go_quote
from kubelet.prober.spec import Outcome

USER_AGENT = "kube-probe/1.32"
MAX_REDIRECTS = 10


def probe_url(http_get: Mapping[str, Any], container: Mapping[str, Any], pod_ip: str) -> str:
    """The probe's URL (upstream NewRequestForHTTPGetAction). Raises ValueError for a bad port."""
    scheme = str(http_get.get("scheme") or "HTTP").lower()
    host = str(http_get.get("host") or pod_ip)
    port = resolve_port(http_get.get("port"), container)
    path = str(http_get.get("path") or "")
    if path and not path.startswith("/"):
        path = "/" + path
    return f"{scheme}://{host_port(host, port)}{path}"


def probe_headers(http_get: Mapping[str, Any]) -> list[tuple[str, str]]:
    headers = [(str(h.get("name", "")), str(h.get("value", ""))) for h in http_get.get("httpHeaders") or []]
    names = {name.lower() for name, _ in headers}
    if "user-agent" not in names:
        headers.append(("User-Agent", USER_AGENT))
    if "accept" not in names:
        headers.append(("Accept", "*/*"))
    elif not next(value for name, value in headers if name.lower() == "accept"):
        headers = [(name, value) for name, value in headers if name.lower() != "accept"]
    return headers


def new_client() -> httpx.AsyncClient:
    """One client for all probes: no verification, no keep-alive (upstream DisableKeepAlives)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    no_keepalive = httpx.Limits(max_keepalive_connections=0)
    return httpx.AsyncClient(verify=context, follow_redirects=False, limits=no_keepalive, trust_env=False)


def _dial_error(url: str, error: BaseException) -> str:
    parsed = urllib.parse.urlsplit(url)
    target = f"{parsed.hostname}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError) or getattr(cause, "errno", None) == errno.ECONNREFUSED:
            return f"dial tcp {target}: connect: connection refused"
        if getattr(cause, "errno", None) in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return f"dial tcp {target}: connect: no route to host"
        cause = cause.__cause__ or cause.__context__
    return str(error) or type(error).__name__


async def run_http(
    client: httpx.AsyncClient,
    http_get: Mapping[str, Any],
    container: Mapping[str, Any],
    pod_ip: str,
    timeout: float,  # noqa: ASYNC109 (the probe's timeoutSeconds)
) -> Attempt:
    try:
        url = probe_url(http_get, container, pod_ip)
    except ValueError as error:
        return errored(str(error))
    headers = probe_headers(http_get)
    first_host = urllib.parse.urlsplit(url).hostname
    redirects = 0
    try:
        async with asyncio.timeout(timeout):
            while True:
                request = client.build_request("GET", url, headers=headers)
                response = await client.send(request, stream=True)
                try:
                    location = response.headers.get("location")
                    if response.is_redirect and location:
                        target = urllib.parse.urljoin(url, location)
                        if urllib.parse.urlsplit(target).hostname == first_host:
                            if redirects >= MAX_REDIRECTS:
                                message = f"Get {go_quote(target)}: stopped after 10 redirects"
                                return Attempt(Outcome.FAILURE, message)
                            redirects += 1
                            url = target
                            continue
                    body = await _read_limited(response)
                finally:
                    await response.aclose()
                break
    except (TimeoutError, httpx.TimeoutException):
        message = "context deadline exceeded (Client.Timeout exceeded while awaiting headers)"
        return Attempt(Outcome.FAILURE, f"Get {go_quote(url)}: {message}")
    except (httpx.HTTPError, OSError, ssl.SSLError) as error:
        return Attempt(Outcome.FAILURE, f"Get {go_quote(url)}: {_dial_error(url, error)}")
    code = response.status_code
    if 200 <= code < 400:
        if code >= 300:
            return Attempt(Outcome.WARNING, f"Probe terminated redirects, Response body: {body}")
        return Attempt(Outcome.SUCCESS, body)
    return Attempt(Outcome.FAILURE, f"HTTP probe failed with statuscode: {code}")


async def _read_limited(response: httpx.Response) -> str:
    data = bytearray()
    async for chunk in response.aiter_bytes():
        data.extend(chunk)
        if len(data) >= MAX_OUTPUT_BYTES:
            break
    return bytes(data[:MAX_OUTPUT_BYTES]).decode("utf-8", errors="replace")
