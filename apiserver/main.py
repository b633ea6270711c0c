"""`kplane-apiserver`: flags, the store client, the watch caches, bootstrap, and the HTTPS server."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import NoReturn

from apiserver import options as apiserver_options
from apiserver.app import create_app, serve
from apiserver.bootstrap import bootstrap_until_done
from apiserver.server import APIServer
from apiserver.storage import Store
from componentbase.errors import FlagError
from componentbase.klog import get_logger, setup_logging_from_flags
from componentbase.run import run
from componentbase.tls import server_context
from etcd_raft.client import EtcdClient

log = get_logger(__name__)


async def serve_api(opts: apiserver_options.Options) -> None:
    context = server_context(
        opts.tls_cert_file, opts.tls_private_key_file, opts.client_ca_file, require_client_cert=False
    )
    async with EtcdClient(
        list(opts.etcd_servers),
        ca_file=opts.etcd_cafile,
        cert_file=opts.etcd_certfile,
        key_file=opts.etcd_keyfile,
    ) as etcd:
        api = APIServer(Store(etcd, opts.etcd_prefix), opts)
        app = create_app(api)
        log.info(
            "Serving",
            address=f"https://{opts.bind_address}:{opts.secure_port}",
            etcd=",".join(opts.etcd_servers),
        )
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(api.run_caches())
            tasks.create_task(bootstrap_until_done(api))
            tasks.create_task(serve(app, opts.bind_address, opts.secure_port, context))


def main(argv: Sequence[str] | None = None) -> NoReturn:
    flags = apiserver_options.flag_set().parse_or_exit(sys.argv[1:] if argv is None else argv)
    setup_logging_from_flags(flags)
    try:
        opts = apiserver_options.from_flags(flags)
    except FlagError as error:
        print(f"kplane-apiserver: error: {error}", file=sys.stderr)
        sys.exit(2)
    run(lambda: serve_api(opts), prog="kplane-apiserver")
