"""`kplane`: the cluster tool (up, down, status, kubeconfig, pki, images)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from componentbase.cli import CommandError, OneLineArgumentParser, fail
from deploy.images.cli import register as register_images
from deploy.launcher import Launcher
from deploy.state import DEFAULT_POD_CIDR, DEFAULT_SERVICE_CIDR, ClusterSettings, StateDir, resolve_state_dir
from pki.cli import register as register_pki

PROG = "kplane"


def add_state_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--state-dir", help="cluster state directory (default: $KPLANE_STATE_DIR or ~/.local/state/kplane)"
    )


def launcher(args: argparse.Namespace) -> Launcher:
    return Launcher(StateDir(resolve_state_dir(args.state_dir)))


def cmd_up(args: argparse.Namespace) -> int:
    if args.nodes < 1:
        raise CommandError("--nodes must be at least 1", exit_code=2)
    nodes = [f"node-{i}" for i in range(1, args.nodes + 1)]
    return launcher(args).up(
        ClusterSettings(
            service_cidr=args.service_cluster_ip_range,
            pod_cidr=args.cluster_cidr,
            nodes=nodes,
            proxy_mode=args.proxy_mode,
        )
    )


def cmd_down(args: argparse.Namespace) -> int:
    return launcher(args).down(purge=args.purge)


def cmd_status(args: argparse.Namespace) -> int:
    return launcher(args).status()


def cmd_kubeconfig(args: argparse.Namespace) -> int:
    state = StateDir(resolve_state_dir(args.state_dir))
    if not state.admin_kubeconfig.is_file():
        raise CommandError(f"no admin kubeconfig at {state.admin_kubeconfig} (run `kplane up` first)")
    print(state.admin_kubeconfig)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(prog=PROG, description="Run and manage a local kplane cluster.")
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=OneLineArgumentParser
    )

    up = commands.add_parser("up", help="create or resume the local cluster and wait until it is healthy")
    add_state_dir(up)
    up.add_argument("--nodes", type=int, default=1, help="number of nodes (default 1)")
    up.add_argument(
        "--proxy-mode",
        choices=["iptables", "nftables", "ipvs"],
        default="",
        help="kplane-proxy's mode on every node (default: nftables where the kernel supports it)",
    )
    up.add_argument(
        "--service-cluster-ip-range",
        default=DEFAULT_SERVICE_CIDR,
        metavar="CIDR",
        help=f"Service CIDR, routed to a port-less bridge (default {DEFAULT_SERVICE_CIDR})",
    )
    up.add_argument(
        "--cluster-cidr",
        default=DEFAULT_POD_CIDR,
        metavar="CIDR",
        help=f"pod CIDR; its traffic may not leave the cluster (default {DEFAULT_POD_CIDR})",
    )
    up.set_defaults(func=cmd_up)

    down = commands.add_parser(
        "down", help="stop the cluster's processes and remove its host network objects"
    )
    add_state_dir(down)
    down.add_argument("--purge", action="store_true", help="also delete the state directory and kube context")
    down.set_defaults(func=cmd_down)

    status = commands.add_parser("status", help="one line per component; exit 0 only if all are healthy")
    add_state_dir(status)
    status.set_defaults(func=cmd_status)

    kubeconfig = commands.add_parser("kubeconfig", help="print the admin kubeconfig's path")
    add_state_dir(kubeconfig)
    kubeconfig.set_defaults(func=cmd_kubeconfig)

    register_pki(commands)
    register_images(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        code = args.func(args)
    except CommandError as err:
        fail(PROG, str(err), err.exit_code)
    except OSError as err:  # e.g. a state dir we may not write: say which, without a traceback
        fail(PROG, f"{err.strerror or err}: {err.filename}" if err.filename else str(err))
    except KeyboardInterrupt:
        fail(PROG, "interrupted", 130)
    sys.exit(code)


if __name__ == "__main__":
    main()
