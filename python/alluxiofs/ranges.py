"""How ``cat_ranges`` reads: ranges of one file that lie close together
become one read, and each range is cut back out of it (shared by the sync
and async filesystems)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Sequence, Tuple, Union


class RangePlan:
    """The reads for ``paths[i][starts[i]:ends[i]]`` and how to answer from
    them. Ranges of one file with plain (non-negative) bounds within
    ``max_gap`` bytes of each other are merged; the rest are read as given."""

    def __init__(
        self,
        paths: List[str],
        starts: Union[int, Sequence[Optional[int]], None],
        ends: Union[int, Sequence[Optional[int]], None],
        max_gap: int,
    ) -> None:
        n = len(paths)
        starts_l: List[Optional[int]] = (
            list(starts) if isinstance(starts, (list, tuple)) else [starts] * n  # type: ignore[list-item]
        )
        ends_l: List[Optional[int]] = (
            list(ends) if isinstance(ends, (list, tuple)) else [ends] * n  # type: ignore[list-item]
        )
        if len(starts_l) != n or len(ends_l) != n:
            raise ValueError("paths, starts and ends must have the same length")

        def plain(i: int) -> bool:
            s, e = starts_l[i], ends_l[i]
            return s is not None and e is not None and s >= 0 and e >= 0

        order = sorted(range(n), key=lambda i: (paths[i], not plain(i), starts_l[i] or 0))
        reqs: List[List[Any]] = []  # [path, start, end, mergeable]
        where: List[Tuple[int, Optional[int], Optional[int]]] = [(0, None, None)] * n
        for i in order:
            p, s, e = paths[i], starts_l[i], ends_l[i]
            if s is not None and e is not None and plain(i):
                last = reqs[-1] if reqs else None
                if last is not None and last[3] and last[0] == p and s <= last[2] + max_gap:
                    last[2] = max(last[2], e)
                else:
                    reqs.append([p, s, max(s, e), True])
                where[i] = (len(reqs) - 1, s, max(s, e))
            else:
                reqs.append([p, s or 0, e, False])
                where[i] = (len(reqs) - 1, None, None)
        self._reqs = reqs
        self._where = where
        #: ``(path, start, end)`` of each read to make.
        self.reads: List[Tuple[str, int, Optional[int]]] = [(r[0], r[1], r[2]) for r in reqs]

    def results(self, read: List[Any], on_error: str) -> List[Any]:
        """The answer per range from ``read`` (one ``bytes`` or exception per
        entry of :attr:`reads`); ``on_error="raise"`` raises the first error."""
        out: List[Any] = []
        for r_i, s, e in self._where:
            data = read[r_i]
            if isinstance(data, BaseException):
                if on_error == "raise":
                    raise data
                out.append(data)
            elif s is None or e is None:
                out.append(data)
            else:
                base = self._reqs[r_i][1]
                out.append(data[s - base : e - base])
        return out


def by_path(paths: List[str], results: List[Any], on_error: str) -> Dict[str, Any]:
    """``cat``'s answer for several paths: ``{path: bytes}``; an error is
    raised (``on_error="raise"``), left out (``"omit"``) or kept as the value."""
    out: Dict[str, Any] = {}
    for p, r in zip(paths, results):
        if isinstance(r, BaseException):
            if on_error == "raise":
                raise r
            if on_error == "omit":
                continue
        out[p] = r
    return out
