"""`kplane images build|import`: local images for clusters that cannot reach a registry."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from componentbase.cli import CommandError, OneLineArgumentParser
from deploy.images.containerd import ContainerdError, check_image_tarball, import_tarball, node_sockets
from deploy.images.rootfs import ImageBuildError, build_local_images
from deploy.state import resolve_state_dir

NO_CONTAINERD = "no containerd running under {state}; start the cluster or pass --import-to SOCKET"


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `images` with its `build` and `import` subcommands to the `kplane` parser."""
    images = subparsers.add_parser("images", help="build the pause and busybox images and import images")
    commands = images.add_subparsers(
        dest="images_command", metavar="COMMAND", required=True, parser_class=OneLineArgumentParser
    )

    build = commands.add_parser("build", help="build pause and busybox OCI tarballs (and import them)")
    build.add_argument("--out", type=Path, metavar="DIR", help="tarball directory (default: STATE/images)")
    _add_common_flags(build)
    build.set_defaults(func=build_command)

    load = commands.add_parser("import", help="import an OCI-layout or docker save tarball into containerd")
    load.add_argument("file", type=Path, metavar="FILE")
    _add_common_flags(load)
    load.set_defaults(func=import_command)


def _add_common_flags(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: if `kplane` itself defines --state-dir, a subparser default must not overwrite its value.
    parser.add_argument(
        "--state-dir", type=Path, default=argparse.SUPPRESS, help="kplane state (default: $KPLANE_STATE_DIR)"
    )
    parser.add_argument(
        "--import-to",
        type=Path,
        action="append",
        default=[],
        metavar="SOCKET",
        help="containerd socket to import into (repeatable)",
    )


def state_dir(args: argparse.Namespace) -> Path:
    return resolve_state_dir(getattr(args, "state_dir", None))


def _import_into(sockets: list[Path], tarball: Path) -> None:
    for socket in sockets:
        names = import_tarball(socket, tarball)
        print(f"imported {', '.join(names) or tarball.name} into {socket}")


def build_command(args: argparse.Namespace) -> int:
    out_dir: Path = args.out or state_dir(args) / "images"
    try:
        written = build_local_images(out_dir)
        for image in written:
            print(f"{image.name} {image.manifest_digest} {image.size} {image.path}")
        for image in written:
            _import_into(args.import_to, image.path)
    except (ImageBuildError, ContainerdError, OSError) as error:
        raise CommandError(str(error)) from error
    return 0


def import_command(args: argparse.Namespace) -> int:
    state = state_dir(args)
    sockets: list[Path] = args.import_to or node_sockets(state)
    try:
        check_image_tarball(args.file)
        if not sockets:
            raise CommandError(NO_CONTAINERD.format(state=state))
        _import_into(sockets, args.file)
    except ContainerdError as error:
        raise CommandError(str(error)) from error
    return 0
