"""The cluster-selection options of the client subcommands, and the client
they describe. The flags come from the client's one declaration of its keys
(``_core.client_options()``, those marked ``cli``)."""

from __future__ import annotations

import argparse
import os
from typing import Any, Dict, List

from alluxiofs.cli.argtypes import key_value
from alluxiofs.cli.errors import CliError

ENV_ETCD_HOSTS = "ALLUXIOFS_ETCD_HOSTS"
ENV_WORKER_HOSTS = "ALLUXIOFS_WORKER_HOSTS"

NO_CLUSTER = (
    "no cluster given: pass --etcd-hosts HOST[:PORT][,...] or --worker-hosts HOST:PORT[,...] "
    f"(or export {ENV_ETCD_HOSTS} / {ENV_WORKER_HOSTS})"
)

CLUSTER_HELP = f"""\
cluster:
  Give --etcd-hosts or --worker-hosts, or export {ENV_ETCD_HOSTS} or
  {ENV_WORKER_HOSTS} once (the options win over the environment). The page
  size must equal the workers' (--page-size 64KB or
  --option alluxio.worker.page.store.page.size=64KB).
"""


#: Environment variables standing in for the two cluster flags.
_ENV_DEFAULT = {"etcd_hosts": ENV_ETCD_HOSTS, "worker_hosts": ENV_WORKER_HOSTS}


def _cli_options() -> List[Dict[str, Any]]:
    """The client keys the CLI offers as flags (``cli`` in the declaration,
    ``_core.client_options()``), in the declaration's order."""
    from alluxiofs.client import CLIENT_OPTIONS

    return [dict(o) for o in CLIENT_OPTIONS if o["cli"]]


def _flag_help(o: Dict[str, Any]) -> str:
    text = str(o["doc"]).replace("`", "")
    env = _ENV_DEFAULT.get(o["name"])
    if env:
        return f"{text} (default ${env})"
    return f"{text} (default {o['default']})" if o["default"] else text


def add_cluster_args(p: argparse.ArgumentParser, paths: bool = True) -> None:
    """The cluster-selection options shared by the client subcommands: one
    flag per client key the declaration marks for the CLI, and ``-o``."""
    g = p.add_argument_group("cluster selection")
    for o in _cli_options():
        g.add_argument(o["cli"], dest=o["name"], metavar=o["metavar"], help=_flag_help(o))
    g.add_argument(
        "--option",
        "-o",
        dest="options",
        metavar="KEY=VALUE",
        action="append",
        type=key_value,
        default=[],
        help="an Alluxio property, e.g. alluxio.worker.page.store.page.size=64KB (repeatable)",
    )
    if paths:
        g.add_argument(
            "--target-protocol",
            metavar="PROTO",
            help="under-storage protocol (s3, file, ...) for scheme-less paths; "
            "also the fallback when Alluxio cannot serve",
        )
    p.add_argument(
        "-v",
        "--verbose",
        dest="sub_verbose",
        action="count",
        default=0,
        help="more logging; a traceback on errors (-vv: debug)",
    )


def cluster_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """Keyword arguments for AlluxioClient/AlluxioFileSystem from the options
    and the environment; a :class:`CliError` when no cluster is given."""
    etcd, workers = args.etcd_hosts, args.worker_hosts
    if etcd and workers:
        raise CliError("give --etcd-hosts or --worker-hosts, not both")
    if not etcd and not workers:
        etcd = os.environ.get(ENV_ETCD_HOSTS, "").strip() or None
        workers = os.environ.get(ENV_WORKER_HOSTS, "").strip() or None
        if etcd and workers:
            raise CliError(
                f"both {ENV_ETCD_HOSTS} and {ENV_WORKER_HOSTS} are set; unset one, "
                "or pass --etcd-hosts or --worker-hosts"
            )
    if not etcd and not workers:
        raise CliError(NO_CLUSTER)
    kwargs: Dict[str, Any] = {"etcd_hosts": etcd, "worker_hosts": workers}
    for o in _cli_options():
        value = getattr(args, o["name"])
        if o["name"] not in kwargs and value is not None:
            kwargs[o["name"]] = value
    if args.options:
        kwargs["options"] = dict(args.options)
    return {k: v for k, v in kwargs.items() if v is not None}


def open_fs(args: argparse.Namespace) -> Any:
    """The AlluxioFileSystem the options describe."""
    from alluxiofs import AlluxioFileSystem

    return AlluxioFileSystem(
        target_protocol=getattr(args, "target_protocol", None),
        skip_instance_cache=True,
        **cluster_kwargs(args),
    )


def open_client(args: argparse.Namespace) -> Any:
    """The AlluxioClient the options describe (no under-storage protocol)."""
    from alluxiofs import AlluxioClient

    return AlluxioClient(**cluster_kwargs(args))
