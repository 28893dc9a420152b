"""The worker's settings as command-line options, generated from their one
declaration in the Rust core (``_core.worker_settings()``, from
``src/worker/settings.rs``): ``alluxiofs worker`` offers them all,
``alluxiofs local-cluster`` those it passes to every worker."""

from __future__ import annotations

import argparse
from typing import Any, Dict, List, Mapping, Optional


def worker_settings() -> List[Dict[str, Any]]:
    """The declaration: one dict per setting (see ``_core.worker_settings``)."""
    from alluxiofs import _core

    return _core.worker_settings()


def option_help(setting: Mapping[str, Any], default: Optional[str] = None) -> str:
    """The help of a setting's option: its text, then its default."""
    shown = setting["default"] if default is None else default
    return f"{setting['help']} (default {shown})" if shown is not None else str(setting["help"])


def add_setting(
    p: argparse.ArgumentParser, setting: Mapping[str, Any], default: Optional[str] = None
) -> None:
    """Adds the option of one setting to ``p`` (``default``: a different
    default, given to the worker unless the option is)."""
    kw: Dict[str, Any] = {"dest": setting["name"], "help": option_help(setting, default)}
    if setting["kind"] == "flag":
        kw["action"] = "store_true"
    else:
        kw["default"] = default
        if setting["kind"] == "choice":
            kw["choices"] = list(setting["choices"])
        if setting["required"]:
            kw["required"] = True
    p.add_argument(setting["flag"], **kw)


def setting_values(args: argparse.Namespace, settings: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The values of ``settings`` in ``args``, by name (``None``: not given)."""
    return {s["name"]: getattr(args, s["name"]) for s in settings}
