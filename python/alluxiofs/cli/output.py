"""Output helpers: lines on stdout, times, JSON values and aligned tables."""

from __future__ import annotations

import datetime
import sys
from typing import Any, List, Mapping, Optional, Sequence


def out(line: str = "") -> None:
    """Writes one line on stdout."""
    sys.stdout.write(line + "\n")


def mtime(info: Mapping[str, Any]) -> Optional[datetime.datetime]:
    """The modification time of a status, timezone-aware, or ``None``."""
    m = info.get("mtime")
    if isinstance(m, datetime.datetime):
        return m if m.tzinfo else m.replace(tzinfo=datetime.timezone.utc)
    if isinstance(m, (int, float)) and not isinstance(m, bool):
        return datetime.datetime.fromtimestamp(float(m), tz=datetime.timezone.utc)
    ms = info.get("last_modification_time_ms")
    if isinstance(ms, (int, float)) and not isinstance(ms, bool) and ms > 0:
        return datetime.datetime.fromtimestamp(ms / 1000, tz=datetime.timezone.utc)
    return None


def iso(t: Optional[datetime.datetime]) -> str:
    """``t`` as ``YYYY-MM-DDTHH:MM:SSZ`` (UTC), or ``-``."""
    if t is None:
        return "-"
    return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def jsonable(value: Any) -> Any:
    """``value`` with everything JSON cannot hold turned into text."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def table(rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> List[str]:
    """``rows`` as lines of aligned columns (the columns in ``right`` right-aligned)."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))] if rows else []
    lines = []
    for r in rows:
        cells = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(r)]
        lines.append("  ".join(cells).rstrip())
    return lines


def human_bytes(n: int) -> str:
    """``n`` bytes in binary units (``1.5 GiB``)."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
