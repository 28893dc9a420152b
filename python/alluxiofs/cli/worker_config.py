"""``alluxiofs worker --config FILE``: worker settings from a TOML file.

Every key is a worker setting's name (``cache_size``, ``etcd_hosts``, ... as
``_core.worker_settings()`` declares them); a text setting takes a string or
a number, a flag ``true``/``false``, a choice one of its words. Unknown keys
and values of the wrong type are errors naming the key.

The file's settings act as if their options came first on the command line:
:func:`expand_config` puts them right after ``worker``, so an option given
on the command line overrides the file (argparse keeps the last value). A
flag set ``true`` in the file cannot be switched off from the command line.

TOML is read with :mod:`tomllib` (Python 3.11+) or ``tomli`` (the same
parser, a dependency on Python < 3.11 only).
"""

from __future__ import annotations

import sys
from typing import Any, Dict, List, Mapping, Optional

from alluxiofs.cli.worker_options import worker_settings


class ConfigError(ValueError):
    """A configuration file that cannot be used (the message names the key)."""


def load_config(path: str) -> Dict[str, Any]:
    """The TOML file at ``path`` as a mapping of setting name to value."""
    # Imported here: only --config needs a TOML parser.
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            data: Dict[str, Any] = tomllib.load(f)
    except OSError as e:
        raise ConfigError(f"cannot read --config {path}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"--config {path} is not valid TOML: {e}") from None
    return data


def config_args(values: Mapping[str, Any], source: str = "the config file") -> List[str]:
    """The ``alluxiofs worker`` options giving ``values`` (a parsed file).
    A ConfigError names an unknown key or a value of the wrong type."""
    settings = {s["name"]: s for s in worker_settings()}
    args: List[str] = []
    for key, value in values.items():
        setting = settings.get(key)
        if setting is None:
            raise ConfigError(f"unknown key {key!r} in {source} (known: {', '.join(settings)})")
        where = f"{key} in {source}"
        if setting["kind"] == "flag":
            if not isinstance(value, bool):
                raise ConfigError(f"{where}: expected true or false, got {value!r}")
            if value:
                args.append(setting["flag"])
            continue
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ConfigError(f"{where}: expected a string or a number, got {value!r}")
        if setting["kind"] == "choice" and value not in setting["choices"]:
            choices = ", ".join(setting["choices"])
            raise ConfigError(f"{where}: {value!r} is not one of {choices}")
        # --flag=value: a value starting with '-' (metadata_sync_interval = -1) stays a value.
        args.append(f"{setting['flag']}={value}")
    return args


def _command_index(argv: List[str]) -> Optional[int]:
    """Index of the subcommand in ``argv`` (the first word that is not an
    option: the top-level options take no values)."""
    for i, word in enumerate(argv):
        if not word.startswith("-"):
            return i
    return None


def expand_config(argv: List[str]) -> List[str]:
    """``argv`` with ``worker --config FILE`` replaced by the file's options,
    placed before the command line's own so that those override them."""
    i = _command_index(argv)
    if i is None or argv[i] != "worker":
        return argv
    rest = argv[i + 1 :]
    paths: List[str] = []
    kept: List[str] = []
    j = 0
    while j < len(rest):
        word = rest[j]
        if word == "--":
            kept += rest[j:]
            break
        if word == "--config":
            if j + 1 >= len(rest):
                raise ConfigError("--config needs a file")
            paths.append(rest[j + 1])
            j += 2
            continue
        if word.startswith("--config="):
            paths.append(word[len("--config=") :])
        else:
            kept.append(word)
        j += 1
    if not paths:
        return argv
    if len(paths) > 1:
        raise ConfigError("--config given more than once")
    from_file = config_args(load_config(paths[0]), paths[0])
    return [*argv[: i + 1], *from_file, *kept]
