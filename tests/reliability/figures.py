"""The figures each reliability suite reports (printed after the pytest run).

A suite calls ``figure("R4 ground truth", reads=10000, mismatches=0)``; the
terminal summary prints one line per call, in order, under "reliability
figures", so the numbers of one run can be quoted as they are. ``--figures-json
PATH`` also writes them as JSON (only when asked).
"""

from __future__ import annotations

import threading
from typing import Any, Dict, List, Tuple

_LOCK = threading.Lock()
_FIGURES: List[Tuple[str, Dict[str, Any]]] = []


def figure(suite: str, **values: Any) -> None:
    """Records one line of figures for ``suite`` (e.g. ``wrong_bytes=0``)."""
    with _LOCK:
        _FIGURES.append((suite, dict(values)))


def recorded() -> List[Tuple[str, Dict[str, Any]]]:
    """Every figure recorded so far, in order."""
    with _LOCK:
        return list(_FIGURES)


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def lines() -> List[str]:
    """The summary lines: ``suite: key=value key=value``."""
    out = []
    for suite, vals in recorded():
        out.append(f"{suite}: " + " ".join(f"{k}={_fmt(v)}" for k, v in vals.items()))
    return out
