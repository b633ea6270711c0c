"""Putting rulesets into the kernel: `iptables-restore --noflush --wait` of kube-proxy's own chains (and the
jumps into them from the built-in chains), or one `nft -f -` transaction; and removing all of it.

Every command goes through a Runner, so tests run the same code against a fake, and the integration test
against a network namespace it made (netns_runner). Nothing here decides what the rules are: the
ruleset text comes from kubeproxy.iptables.rules / kubeproxy.nftables.rules.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from componentbase.klog import get_logger
from kubeproxy.iptables.rules import cleanup_iptables_text

log = get_logger(__name__)

# Names the integration test's network namespace. The test runs kplane-proxy in the host's namespace
# (the apiserver it watches listens on the host's 127.0.0.1, out of reach from inside a namespace) but
# must never program the host's netfilter: with this set, every iptables/nft/ip command runs as
# `ip netns exec <name> ...`, inside the namespace the test created. Not for production use.
NETNS_ENV = "KPLANE_PROXY_NETNS"
NFT_TABLE = "kube-proxy"


@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


Runner = Callable[[Sequence[str], str | None], Awaitable[Result]]
"""Runs argv with optional stdin text; returns the exit code and output (never raises for exit codes)."""


class ApplyError(Exception):
    """A command that programs the kernel failed; the message has its stderr."""


async def run_command(argv: Sequence[str], stdin: str | None = None) -> Result:
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        return Result(127, "", f"{argv[0]}: {error.strerror or error}")
    out, err = await process.communicate(stdin.encode() if stdin is not None else None)
    return Result(process.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace"))


def netns_runner(namespace: str, inner: Runner = run_command) -> Runner:
    """A runner that executes every command inside network namespace `namespace` (see NETNS_ENV)."""

    async def run(argv: Sequence[str], stdin: str | None = None) -> Result:
        return await inner(["ip", "netns", "exec", namespace, *argv], stdin)

    return run


def runner_from_environment(environ: Mapping[str, str] = os.environ) -> Runner:
    namespace = environ.get(NETNS_ENV, "")
    if namespace:
        return netns_runner(namespace)
    return run_command


async def _check(runner: Runner, argv: Sequence[str], stdin: str | None = None) -> Result:
    result = await runner(argv, stdin)
    if result.returncode != 0:
        raise ApplyError(f"{' '.join(argv)} failed (exit {result.returncode}): {result.stderr.strip()}")
    return result


# --- iptables ---


def declared_chains(text: str) -> set[str]:
    """The chains a restore text declares (`:NAME - [0:0]` lines)."""
    return {line[1:].split()[0] for line in text.splitlines() if line.startswith(":") and len(line) > 1}


def rules_per_table(text: str) -> dict[str, int]:
    """How many `-A` rules a restore text writes in each table."""
    counts: dict[str, int] = {}
    table = ""
    for line in text.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
            counts.setdefault(table, 0)
        elif line.startswith("-A ") and table:
            counts[table] += 1
    return counts


class IptablesApplier:
    """Jumps from the built-in chains cannot be written idempotently in a `--noflush` restore, so the
    renderer gets the current `iptables-save` (`current()`) and inserts only the missing ones, in the same
    atomic restore that creates their target chains; it also deletes the stale service chains it shows."""

    mode = "iptables"

    def __init__(self, runner: Runner = run_command) -> None:
        self.runner = runner

    async def current(self) -> str | None:
        return (await _check(self.runner, ["iptables-save"])).stdout

    async def apply(self, text: str, *, full: bool) -> None:
        await _check(self.runner, ["iptables-restore", "--noflush", "--wait"], text)

    async def cleanup(self) -> None:
        text = cleanup_iptables_text(await self.current())
        await _check(self.runner, ["iptables-restore", "--noflush", "--wait"], text)


# --- nftables ---


class NftablesApplier:
    mode = "nftables"

    def __init__(self, runner: Runner = run_command) -> None:
        self.runner = runner

    async def current(self) -> str | None:
        """The table as the kernel has it (None before the first sync): the renderer deletes the
        chains and sets of endpoints and services that are gone."""
        answer = await self.runner(["nft", "list", "table", "ip", NFT_TABLE], None)
        return answer.stdout if answer.returncode == 0 else None

    async def apply(self, text: str, *, full: bool) -> None:
        await _check(self.runner, ["nft", "-f", "-"], text)

    async def cleanup(self) -> None:
        # `add table` first makes the delete succeed when the table is absent.
        text = f"add table ip {NFT_TABLE}\ndelete table ip {NFT_TABLE}\n"
        await _check(self.runner, ["nft", "-f", "-"], text)


Applier = IptablesApplier | NftablesApplier


async def nftables_supported(runner: Runner = run_command) -> bool:
    """The kernel and nft work (`nft list tables` succeeds): nftables can be the default mode."""
    return (await runner(["nft", "list", "tables"], None)).returncode == 0


async def cleanup_everything(runner: Runner = run_command) -> list[str]:
    """--cleanup: remove what either mode made. The errors, one line each (empty when all went well);
    a mode whose tool is missing has nothing to clean."""
    errors: list[str] = []
    for applier in (IptablesApplier(runner), NftablesApplier(runner)):
        try:
            await applier.cleanup()
        except ApplyError as error:
            if "exit 127" not in str(error):
                errors.append(f"{applier.mode}: {error}")
    return errors


# --- node addresses ---


async def local_ipv4_addresses(runner: Runner = run_command) -> list[str]:
    """The IPv4 addresses on this node's interfaces (where the rules live: in the runner's namespace)."""
    result = await _check(runner, ["ip", "-j", "-4", "addr", "show"])
    addresses: list[str] = []
    for link in json.loads(result.stdout or "[]"):
        for info in link.get("addr_info") or ():
            if info.get("family") == "inet" and info.get("local"):
                addresses.append(str(info["local"]))
    return addresses


def node_port_ips(entries: Sequence[str], local: Sequence[str], primary: str = "") -> tuple[str, ...]:
    """Which local addresses serve NodePorts, from nodePortAddresses (CIDRs and the keywords primary, all,
    localhost); no entries means every non-loopback address."""
    if not entries:
        entries = ["all"]
    chosen: list[str] = []
    for address in local:
        ip = ipaddress.ip_address(address)
        for entry in entries:
            if (
                (entry == "all" and not ip.is_loopback)
                or (entry == "localhost" and ip.is_loopback)
                or (entry == "primary" and address == primary)
                or (
                    entry not in ("all", "localhost", "primary")
                    and ip in ipaddress.ip_network(entry, strict=False)
                )
            ):
                chosen.append(address)
    return tuple(dict.fromkeys(chosen))
