"""Exec probes: run the command in the container over CRI ExecSync (upstream pkg/probe/exec and the
remote runtime's ExecSync).

Exit 0 is success, any other exit a failure whose output (stdout then stderr, at most 10 KiB) goes
into the event. A command that outlives timeoutSeconds is a failure with the message `command "..."
timed out` (upstream's ExecProbeTimeout, on by default). Any other runtime error makes the attempt
an error (retried, then thrown away), as upstream.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import grpc

from kubelet.prober.attempt import MAX_OUTPUT_BYTES, Attempt, errored
from kubelet.prober.spec import Outcome


class ExecSyncResult(Protocol):
    stdout: bytes
    stderr: bytes
    exit_code: int


class ExecRuntime(Protocol):
    async def exec_sync(self, container_id: str, cmd: list[str], timeout: int) -> Any: ...  # noqa: ASYNC109


def expand_static_env(command: Sequence[str], env: Sequence[Mapping[str, Any]]) -> list[str]:
    """$(VAR) from the container's literal env values (upstream ExpandContainerCommandOnlyStatic):
    `$$` is a literal `$`, an unknown $(VAR) stays as written."""
    values = {str(e.get("name")): str(e.get("value") or "") for e in env if "valueFrom" not in e}
    return [_expand(arg, values) for arg in command]


def _expand(text: str, values: Mapping[str, str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        if text[i] == "$" and i + 1 < len(text):
            nxt = text[i + 1]
            if nxt == "$":
                out.append("$")
                i += 2
                continue
            if nxt == "(":
                end = text.find(")", i + 2)
                if end != -1:
                    name = text[i + 2 : end]
                    out.append(values[name] if name in values else text[i : end + 1])
                    i = end + 1
                    continue
        out.append(text[i])
        i += 1
    return "".join(out)


def go_quote(text: str) -> str:
    """Close to Go's %q for the strings we quote (commands, URLs)."""
    return json.dumps(text, ensure_ascii=False)


async def run_exec(runtime: ExecRuntime, container_id: str, command: list[str], timeout: int) -> Attempt:  # noqa: ASYNC109
    try:
        response = await runtime.exec_sync(container_id, command, timeout)
    except Exception as error:
        if getattr(error, "code", None) == grpc.StatusCode.DEADLINE_EXCEEDED:
            return Attempt(Outcome.FAILURE, f"command {go_quote(' '.join(command))} timed out")
        return errored(str(error) or type(error).__name__)
    data = (bytes(response.stdout) + bytes(response.stderr))[:MAX_OUTPUT_BYTES]
    output = data.decode("utf-8", errors="replace")
    if int(response.exit_code) == 0:
        return Attempt(Outcome.SUCCESS, output)
    return Attempt(Outcome.FAILURE, output)
