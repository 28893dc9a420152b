"""Load-job progress for the ``alluxiofs load`` command.

:func:`parse_report` reads Alluxio's text report (the ``message`` of a load
progress answer: tab-indented ``Key: value`` lines such as
``Files Processed: 3`` or ``Bytes Loaded: 1.00MB out of 2.00MB``) into a
:class:`LoadReport`; nothing is computed that the report does not say, except
the fraction done, derived from its numbers. :class:`ProgressDisplay` shows
reports either as one bar redrawn in place (a terminal) or as plain lines.
"""

from __future__ import annotations

import re
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, TextIO, Tuple

#: Alluxio's size units (``FormatUtils.getSizeFromBytes``): binary multiples.
_UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40, "PB": 1 << 50}
_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGTP]?B)\s*$", re.IGNORECASE)
_INT = re.compile(r"^\s*([0-9]+)")
_OUT_OF = re.compile(r"^(.*?)\s+out of\s+(.*)$")
_STATES = ("RUNNING", "VERIFYING", "STOPPED", "SUCCEEDED", "FAILED")


def parse_size(text: Optional[str]) -> Optional[float]:
    """Bytes in an Alluxio size string (``"1.00MB"``, ``"512B"``), or None."""
    if text is None:
        return None
    m = _SIZE.match(text)
    if m is None:
        return None
    return float(m.group(1)) * _UNITS[m.group(2).upper()]


def _int(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    m = _INT.match(text)
    return int(m.group(1)) if m else None


def report_fields(message: str) -> Dict[str, str]:
    """The ``Key: value`` lines of a report (split at the first colon; the
    ``Settings`` line and the header are kept as they split)."""
    out: Dict[str, str] = {}
    for line in message.splitlines():
        if not line.startswith("\t") or line.startswith("\t\t"):
            continue  # the header line, or a failed file of a verbose report
        key, sep, value = line.strip().partition(":")
        if sep:
            out.setdefault(key.strip(), value.strip())
    return out


@dataclass
class LoadReport:
    """One progress answer of a load job, as the worker reported it."""

    #: Plain state: RUNNING, VERIFYING, STOPPED, SUCCEEDED or FAILED (or as reported).
    state: str
    #: The full ``Job State`` (``FAILED (LoadFailureException: ...)``).
    job_state: str
    files_done: Optional[int] = None
    files_total: Optional[int] = None
    files_failed: Optional[int] = None
    #: Sizes as the report prints them (``"1.00MB"``).
    bytes_done: Optional[str] = None
    bytes_total: Optional[str] = None
    #: ``"263.67KB/s"``.
    throughput: Optional[str] = None
    #: ``"00:01:02"``.
    elapsed: Optional[str] = None
    #: Every ``Key: value`` line.
    fields: Dict[str, str] = field(default_factory=dict)
    #: Whether the answer describes a job at all (a path without a job has no report).
    found: bool = True
    message: str = ""

    @property
    def finished(self) -> bool:
        """SUCCEEDED, FAILED or STOPPED."""
        return self.state in ("SUCCEEDED", "FAILED", "STOPPED")

    def fraction(self) -> Optional[float]:
        """Share done, from bytes when the total is known and non-zero, else
        from files; 1.0 once SUCCEEDED; None when the report gives no total."""
        if self.state == "SUCCEEDED":
            return 1.0
        done_b, total_b = parse_size(self.bytes_done), parse_size(self.bytes_total)
        if done_b is not None and total_b:
            return min(1.0, done_b / total_b)
        if self.files_done is not None and self.files_total:
            return min(1.0, self.files_done / self.files_total)
        return None


def parse_report(resp: Mapping[str, Any]) -> LoadReport:
    """A :class:`LoadReport` from a ``load_progress`` answer."""
    message = str(resp.get("message") or "")
    fields = report_fields(message)
    job_state = fields.get("Job State") or str(resp.get("jobState") or "")
    state = str(resp.get("state") or "")
    if not state:
        state = next((s for s in _STATES if s in job_state), job_state)
    files_done: Optional[int] = None
    files_total: Optional[int] = None
    processed = fields.get("Files Processed")
    if processed is not None:
        m = _OUT_OF.match(processed)  # Alluxio 2.x: "Files Processed: 3 out of 5"
        if m:
            files_done, files_total = _int(m.group(1)), _int(m.group(2))
        else:
            files_done = _int(processed)
    elif "Inodes Processed" in fields:
        files_done = _int(fields["Inodes Processed"])
    if files_total is None:
        files_total = _int(fields.get("Inodes Scanned"))
    bytes_done = bytes_total = None
    loaded = fields.get("Bytes Loaded")
    if loaded is not None:
        m = _OUT_OF.match(loaded)
        if m:
            bytes_done, bytes_total = m.group(1).strip(), m.group(2).strip()
        else:
            bytes_done = loaded
    return LoadReport(
        state=state,
        job_state=job_state,
        files_done=files_done,
        files_total=files_total,
        files_failed=_int(fields.get("Files Failed")),
        bytes_done=bytes_done,
        bytes_total=bytes_total,
        throughput=fields.get("Throughput"),
        elapsed=fields.get("Time Elapsed"),
        fields=fields,
        found="Job State" in fields,
        message=message,
    )


def _q(v: Optional[object]) -> str:
    return "?" if v is None else str(v)


def _parts(r: LoadReport) -> List[str]:
    """What the report gives: ``3/5 files``, ``1.00MB/2.00MB``, throughput,
    failures, elapsed time (in that order of importance, elapsed last)."""
    parts = [f"{_q(r.files_done)}/{_q(r.files_total)} files"]
    if r.bytes_done is not None or r.bytes_total is not None:
        parts.append(f"{_q(r.bytes_done)}/{_q(r.bytes_total)}")
    if r.throughput is not None:
        parts.append(r.throughput)
    if r.files_failed:
        parts.append(f"{r.files_failed} failed")
    if r.elapsed is not None:
        parts.append(r.elapsed)
    return parts


def _pct(r: LoadReport) -> str:
    frac = r.fraction()
    return "?%" if frac is None else f"{frac * 100:.0f}%"


def plain_line(path: str, r: LoadReport) -> str:
    """One log line: ``load s3://b/d: RUNNING 40%  3/5 files  1.00MB/2.00MB  ...``."""
    return f"load {path}: {r.job_state or r.state} {_pct(r)}  " + "  ".join(_parts(r))


def bar_line(r: LoadReport, columns: int) -> str:
    """The terminal bar, fitted to ``columns`` (less important numbers are
    dropped first): ``RUNNING [#####.....]  40%  3/5 files  1.00MB/2.00MB
    512.00KB/s  00:00:02``."""
    frac = r.fraction()
    parts = _parts(r)
    limit = max(1, columns - 1)
    while True:
        head = f"{r.state} "
        tail = f" {_pct(r):>4}  " + "  ".join(parts)
        room = limit - len(head) - len(tail) - 2
        if room >= 10 or len(parts) <= 2:
            break
        parts.pop()  # elapsed, then failures/throughput
    width = max(5, min(40, room))
    filled = 0 if frac is None else round(frac * width)
    line = head + "[" + "#" * filled + "." * (width - filled) + "]" + tail
    return line[:limit]


class ProgressDisplay:
    """Shows successive reports of one job on ``out``.

    On a terminal (``tty=True``) a single line is redrawn in place with
    ``\\r`` (blanking what a longer previous line left); otherwise a plain
    line is written when the numbers or the state change, and at least every
    ``heartbeat`` seconds while the job runs. :meth:`close` ends the bar's line.
    """

    def __init__(self, path: str, out: TextIO, tty: bool, heartbeat: float = 10.0) -> None:
        self.path = path
        self.out = out
        self.tty = tty
        self.heartbeat = heartbeat
        self._drawn = False
        self._width = 0
        self._last_key: Optional[Tuple[object, ...]] = None
        self._last_time = 0.0

    def update(self, r: LoadReport) -> None:
        """Shows ``r``."""
        if self.tty:
            columns = shutil.get_terminal_size((80, 24)).columns
            line = bar_line(r, columns)
            # Blanks over the rest of a longer previous line (no escape codes).
            self.out.write("\r" + line + " " * max(0, self._width - len(line)))
            self._width = len(line)
            self._drawn = True
        else:
            key = (r.job_state, r.files_done, r.files_total, r.bytes_done, r.bytes_total)
            now = time.monotonic()
            if key == self._last_key and now - self._last_time < self.heartbeat:
                return
            self._last_key, self._last_time = key, now
            self.out.write(plain_line(self.path, r) + "\n")
        self.out.flush()

    def close(self) -> None:
        """Ends the in-place line (if one was drawn)."""
        if self._drawn:
            self.out.write("\n")
            self.out.flush()
            self._drawn = False
            self._width = 0
