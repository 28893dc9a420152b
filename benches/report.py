"""Outputs of a run: the JSON file, the printed table and the PNG chart."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from harness import Result

HEAD = (
    "id",
    "unit",
    "ours",
    "ours min-max",
    "limit",
    "reference",
    "ufs",
    "ours/limit",
    "ours/ref",
    "target",
    "met",
)


def to_json(results: List[Result]) -> Dict[str, Any]:
    return {r.sid: r.to_json() for r in results}


def write_json(results: List[Result], path: str) -> None:
    with open(path, "w") as f:
        json.dump(to_json(results), f, indent=2)
        f.write("\n")


def _num(v: Optional[float]) -> str:
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.3g}"


def _ratio(v: Optional[float]) -> str:
    return "-" if v is None else f"{v:.2f}"


def table(results: List[Result]) -> str:
    """The table of medians, ratios (raw ``ours / column``) and targets."""
    rows = [HEAD]
    for r in results:
        runs = r.runs.get("ours")
        spread = f"{_num(min(runs))}-{_num(max(runs))}" if runs and len(runs) > 1 else ""
        met = r.met()
        rows.append(
            (
                r.sid,
                r.unit + (" ↑" if r.better == "higher" else " ↓"),
                _num(r.value("ours")),
                spread,
                _num(r.value("limit")),
                _num(r.value("reference")),
                _num(r.value("ufs")),
                _ratio(r.ratio("limit")),
                _ratio(r.ratio("reference")),
                r.target,
                "?" if met is None else ("✓" if met else "✗"),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEAD))]
    left = {0, 1, 9, 10}

    def fmt(row: Any) -> str:
        cells = [
            c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths))
        ]
        return " | ".join(cells).rstrip()

    lines = [fmt(rows[0]), "-+-".join("-" * w for w in widths)]
    lines += [fmt(row) for row in rows[1:]]
    return "\n".join(lines)


def notes(results: List[Result]) -> str:
    """Why values are missing, what some columns measure, and the values of
    a row's extra columns (baselines beyond the table's: ``nocache``,
    ``sync``, ``pyarrow_s3``, ...) with ours relative to each."""
    out = []
    for r in results:
        for col, note in r.notes.items():
            out.append(f"  {r.sid} [{col}]: {note}")
        for col in r.runs:
            if col in ("ours", "limit", "reference", "ufs"):
                continue
            perf = r.perf_ratio(col)
            rel = f"; ours {perf:.2f}x as good" if perf else ""
            out.append(f"  {r.sid} [{col}] = {_num(r.value(col))} {r.unit}{rel}")
    return "\n".join(out)


def details(results: List[Result]) -> str:
    """Per-epoch rates (MB/s), and bytes from workers and the local cache's
    hit ratio in epochs 2-3, per column, of the rows that carry them (E1)."""
    out = []
    for r in results:
        epochs = r.detail.get("epochs")
        if not epochs:
            continue
        workers = r.detail.get("from_workers_e23", {})
        hits = r.detail.get("hit_ratio_e23", {})
        width = max(len(label) for label in epochs)
        for label, rates in epochs.items():
            cells = "  ".join(f"e{i + 1} {_num(v):>7}" for i, v in enumerate(rates))
            line = f"  {r.sid:<12} {label:<{width}}  {cells}"
            if label in workers:
                line += f"  from workers e2-3: {workers[label] / 1e6:,.1f} MB"
            if label in hits:
                line += f", local cache hit ratio {hits[label]:.3f}"
            out.append(line)
    return "\n".join(out)


def write_png(results: List[Result], path: str, title: str) -> Optional[str]:
    """Bars of ours vs limit and ours vs reference per scenario, as
    performance ratios (> 1: ours better). Returns an error text if
    matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"no PNG: {e} (pip install matplotlib)"
    rows = [r for r in results if r.perf_ratio("limit") or r.perf_ratio("reference")]
    marks = {True: " ✓", False: " ✗", None: ""}
    labels = [r.sid + marks[r.met()] for r in rows]
    height = 0.38
    fig, ax = plt.subplots(figsize=(10, 0.45 * len(rows) + 1.8))
    for k, (col, color) in enumerate((("limit", "#4c72b0"), ("reference", "#dd8452"))):
        ys = [i + (k - 0.5) * height for i in range(len(rows))]
        vals = [r.perf_ratio(col) or 0.0 for r in rows]
        bars = ax.barh(ys, vals, height=height, color=color, label=f"ours vs {col}")
        for b, v in zip(bars, vals):
            if v:
                ax.text(v, b.get_y() + height / 2, f" {v:.2f}", va="center", fontsize=7)
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(
        "performance ratio, log scale (ours/X for throughput, X/ours for latency and memory;"
        " > 1: ours better)",
        fontsize=8,
    )
    ax.set_title(title + " (✓/✗: target met)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
