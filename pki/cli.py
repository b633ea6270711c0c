"""`kplane pki init|check|renew`. `register` plugs the commands into the `kplane` tool; `python -m pki`
runs them on their own. Handlers return the exit code and raise CommandError with the one line to show."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from componentbase.cli import CommandError, OneLineArgumentParser
from pki.check import check_pki, format_report
from pki.layout import DEFAULT_CLUSTER_NAME, DEFAULT_SERVER_URL, DEFAULT_SERVICE_CIDR, PkiSpec
from pki.lifecycle import init_pki, renew_certificates

Parser = TypeVar("Parser", bound=argparse.ArgumentParser)


def register(subparsers: argparse._SubParsersAction[Parser]) -> None:
    """Add `pki` with its own init/check/renew commands to the `kplane` tool's subcommands."""
    parser = subparsers.add_parser(
        "pki",
        help="create, check and renew the cluster's certificates and kubeconfigs",
        description="Create, check and renew the cluster's CAs, certificates, service-account keys "
        "and kubeconfigs, laid out like kubeadm's /etc/kubernetes/pki.",
    )
    add_commands(parser)


def add_commands(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(
        dest="pki_command", required=True, metavar="COMMAND", parser_class=OneLineArgumentParser
    )

    init = commands.add_parser(
        "init",
        help="create what is missing in a PKI directory, keep what is valid",
        description="Create the CAs, certificates, service-account keys and kubeconfigs that are "
        "missing or invalid; valid files are kept unchanged, so running it again is safe.",
    )
    _add_directory_flags(init)
    init.add_argument("--node", action="append", default=[], metavar="NAME", help="a node (repeatable)")
    init.add_argument(
        "--apiserver-san",
        action="append",
        default=[],
        metavar="SAN",
        help="extra apiserver SAN, IP or DNS name (repeatable, or comma-separated)",
    )
    init.add_argument(
        "--etcd-san", action="append", default=[], metavar="SAN", help="extra etcd server/peer SAN"
    )
    init.add_argument("--service-cidr", default=DEFAULT_SERVICE_CIDR, help="default: %(default)s")
    init.add_argument("--server", default=DEFAULT_SERVER_URL, help="apiserver URL for the kubeconfigs")
    init.add_argument("--cluster-name", default=DEFAULT_CLUSTER_NAME, help="default: %(default)s")
    init.set_defaults(func=run_init)

    check = commands.add_parser(
        "check",
        help="list certificates and their expiry, verify chains and keys",
        description="List every certificate with its subject, issuer, days to expiry and SANs; verify "
        "each chain and key pair. Exits 1 if a file is missing, expired or does not match.",
    )
    _add_directory_flags(check)
    check.set_defaults(func=run_check)

    renew = commands.add_parser(
        "renew",
        help="re-issue leaf certificates from the existing CAs",
        description="Re-issue leaf certificates from the existing CAs, keeping their keys, subjects "
        "and SANs, and rewrite the kubeconfigs that embed them. CAs are not renewed.",
    )
    _add_directory_flags(renew)
    renew.add_argument(
        "names", nargs="*", default=["all"], metavar="NAME", help="a certificate, or all (default)"
    )
    renew.set_defaults(func=run_renew)


def run_init(args: argparse.Namespace) -> int:
    spec = PkiSpec(
        nodes=tuple(args.node),
        apiserver_sans=_split_commas(args.apiserver_san),
        etcd_sans=_split_commas(args.etcd_san),
        service_cidr=args.service_cidr,
        server_url=args.server,
        cluster_name=args.cluster_name,
    )
    with _file_errors():
        result = init_pki(args.dir, spec, kubeconfig_dir=args.kubeconfig_dir)
    for path in result.created:
        print(f"created {path}")
    print(f"{len(result.created)} files written, {len(result.kept)} kept")
    return 0


def run_check(args: argparse.Namespace) -> int:
    with _file_errors():
        report = check_pki(args.dir, kubeconfig_dir=_kubeconfig_dir(args))
    for line in format_report(report):
        print(line)
    if report.ok:
        print(f"all {len(report.certificates)} certificates valid")
        return 0
    if len(report.problems) > 1:
        for problem in report.problems:
            print(f"problem: {problem}")
    sys.stdout.flush()  # the error line must come last even when stdout and stderr share a pipe
    more = len(report.problems) - 1
    also = f" (and {more} more problem{'s' if more > 1 else ''} listed above)" if more else ""
    raise CommandError(report.problems[0] + also)


def run_renew(args: argparse.Namespace) -> int:
    with _file_errors():
        written = renew_certificates(args.dir, args.names, kubeconfig_dir=_kubeconfig_dir(args))
    for path in written:
        print(f"renewed {path}")
    return 0


def _add_directory_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dir", type=Path, required=True, help="the PKI directory, e.g. /etc/kubernetes/pki")
    parser.add_argument(
        "--kubeconfig-dir",
        type=Path,
        help="where the kubeconfigs are (default: --dir, or its parent when admin.conf is there, "
        "as in kubeadm's /etc/kubernetes and kplane's state dir)",
    )


def _kubeconfig_dir(args: argparse.Namespace) -> Path:
    if args.kubeconfig_dir is not None:
        return Path(args.kubeconfig_dir)
    directory = Path(args.dir)
    beside = directory.parent
    if not (directory / "admin.conf").exists() and (beside / "admin.conf").exists():
        return beside
    return directory


def _split_commas(values: list[str]) -> tuple[str, ...]:
    return tuple(part.strip() for value in values for part in value.split(",") if part.strip())


@contextlib.contextmanager
def _file_errors() -> Iterator[None]:
    """Permission denied, read-only file system, ...: one line naming the file, not a traceback."""
    try:
        yield
    except OSError as error:
        raise CommandError(f"{error.filename or ''}: {error.strerror or error}") from None
