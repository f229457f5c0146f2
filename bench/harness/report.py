"""What a benchmark prints: percentiles, figure rows as they are measured and as a table at the
end (with the target beside each figure), and a description of the machine and its load, which
every recorded run needs beside its figures."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile of ``values`` (not empty), ``q`` in [0, 100]."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as /proc/loadavg shows them."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def machine(packages: Iterable[str]) -> list[str]:
    """Two lines: cores, CPU model and memory; Python, SQLite and ``packages`` with versions."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    versions = "".join(f", {name} {version(name)}" for name in packages)
    return [
        f"cores: {os.cpu_count()}, CPU: {cpu}, memory: {memory}",
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}{versions}",
    ]


def fmt(value: float) -> str:
    """A figure with as many digits as its size warrants."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


@dataclass
class Row:
    backend: str
    name: str
    value: float | None
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""


@dataclass
class Report:
    """Rows printed as they are added, and as one table at the end."""

    rows: list[Row] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        shown = "n/a" if row.value is None else fmt(row.value)
        verdict = "" if row.met is None else ("  MET" if row.met else "  NOT MET")
        target = f"  (target {row.target})" if row.target else ""
        note = f"  [{row.note}]" if row.note else ""
        print(f"  {row.name}: {shown} {row.unit}{target}{verdict}{note}", flush=True)

    def table(self) -> str:
        header = ("backend", "figure", "value", "unit", "target", "met")
        lines = [
            (
                r.backend,
                r.name,
                "n/a" if r.value is None else fmt(r.value),
                r.unit,
                r.target,
                "" if r.met is None else ("yes" if r.met else "NO"),
            )
            for r in self.rows
        ]
        widths = [max(len(x) for x in column) for column in zip(header, *lines, strict=True)]
        out = [" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
        out.append("-+-".join("-" * w for w in widths))
        for line in lines:
            out.append(" | ".join(x.ljust(w) for x, w in zip(line, widths, strict=True)).rstrip())
        return "\n".join(out)


def scale_table(
    label: str, columns: list[str], rows: list[tuple[int, list[float | int]]], *, ratios: int
) -> str:
    """Figures per process count, the first ``ratios`` columns each followed by its ratio to
    the first row's (N=1): how throughput and CPU per unit grow as processes are added."""
    header = [label]
    for index, column in enumerate(columns):
        header.append(column)
        if index < ratios:
            header.append("x N=1")
    base = rows[0][1] if rows else []
    lines = []
    for count, figures in rows:
        line = [str(count)]
        for index, value in enumerate(figures):
            line.append(str(value) if isinstance(value, int) else fmt(value))
            if index < ratios:
                line.append(f"{value / base[index]:.2f}" if base[index] else "n/a")
        lines.append(line)
    widths = [max(len(x) for x in column) for column in zip(header, *lines, strict=True)]
    out = [" | ".join(h.rjust(w) for h, w in zip(header, widths, strict=True))]
    out.append("-+-".join("-" * w for w in widths))
    out += [" | ".join(x.rjust(w) for x, w in zip(line, widths, strict=True)) for line in lines]
    return "\n".join(out)
