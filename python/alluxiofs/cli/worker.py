"""``alluxiofs worker``: run an Alluxio-compatible cache worker in this
process until SIGINT/SIGTERM. Its options are the worker's settings, as
declared in the Rust core (see :mod:`alluxiofs.cli.worker_options`), and
``--config FILE``, a TOML file of them (see :mod:`alluxiofs.cli.worker_config`)."""

from __future__ import annotations

import argparse
import contextlib
from typing import Any, cast

from alluxiofs.cli.worker_options import add_setting, setting_values, worker_settings


def run(args: argparse.Namespace) -> int:
    """The ``worker`` command."""
    from alluxiofs import _core

    settings = setting_values(args, worker_settings())
    # The worker handles SIGINT/SIGTERM itself (graceful shutdown); Python's
    # handler may still raise once it returns.
    with contextlib.suppress(KeyboardInterrupt):
        _core.run_worker(cast(Any, settings))
    return 0


def add_parser(sub: Any) -> None:
    """Adds ``worker`` to the subparsers ``sub``."""
    w = sub.add_parser(
        "worker",
        help="run an Alluxio-compatible cache worker",
        description="Run an Alluxio-compatible cache worker until SIGINT/SIGTERM. "
        "Settings come from the options below and from --config FILE, a TOML file whose "
        'keys are the settings\' names (cache_size = "10GB"); options override the file.',
    )
    w.add_argument(
        "--config",
        metavar="FILE",
        help="TOML file of worker settings (keys: the option names with '_' for '-'); "
        "command-line options override it (see deploy/worker.toml)",
    )
    for setting in worker_settings():
        add_setting(w, setting)
    w.set_defaults(func=run)
