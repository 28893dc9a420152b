"""Command-line paths: resolution to full under-storage URLs, and the URL of
a listing entry."""

from __future__ import annotations

import re
from typing import Any, Mapping

from alluxiofs.cli.errors import CliError

_SCHEME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9+.-]*://")

PATHS_HELP = """\
paths:
  A path is a full under-storage URL (s3://bucket/key, file:///data/f), or
  scheme-less (bucket/key) with --target-protocol. Without --target-protocol
  an absolute local path /data/f means file:///data/f. Trailing slashes are
  dropped (s3://bucket/dir/ is s3://bucket/dir): Alluxio hashes the path
  verbatim, so the same path always reaches the same worker.
"""


def resolve(fs: Any, path: str) -> str:
    """The full under-storage URL for a command-line path (see ``paths``)."""
    path = path.strip()
    if not path:
        raise CliError("empty path")
    if path.startswith("alluxiofs://") or _SCHEME.match(path):
        url = str(fs.ufs_path(path))
    elif fs.target_protocol is None:
        if not path.startswith("/"):
            raise CliError(
                f"path {path!r} has no scheme: give a full URL (s3://bucket/key, "
                "file:///dir/f), an absolute local path, or --target-protocol"
            )
        url = "file://" + path
    else:
        url = str(fs.ufs_path(path))
    return strip_slashes(url)


def strip_slashes(url: str) -> str:
    """``url`` without trailing slashes (a root keeps its one slash)."""
    m = _SCHEME.match(url)
    if m is None:
        return url.rstrip("/") or "/"
    rest = url[m.end() :]
    stripped = rest.rstrip("/")
    if not stripped and rest.startswith("/"):
        stripped = "/"
    return url[: m.end()] + stripped if stripped else url


def basename(url: str) -> str:
    """The last component of ``url``."""
    return url.rstrip("/").rsplit("/", 1)[-1]


def entry_url(fs: Any, info: Mapping[str, Any]) -> str:
    """The URL of a listing entry (an Alluxio entry carries it; an entry
    from the under storage, after a fallback, has its own name)."""
    url = info.get("ufs_path")
    if isinstance(url, str) and url:
        return url
    return str(fs.ufs_path(str(info["name"])))


def is_dir(info: Mapping[str, Any]) -> bool:
    """Whether a listing entry or status is a directory."""
    return info.get("type") == "directory"
