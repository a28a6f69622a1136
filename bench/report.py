"""What the harness prints: per comparison, each contestant's median, min and
max seconds and peak RSS, the ratios to rootstrap, and rootstrap's phases."""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from typing import Optional, TextIO

from bench.measure import Series


@dataclass
class Comparison:
    title: str                       # "debian-minbase warm"
    what: str                        # the work, in a line: release, output, cache
    series: list[Series]             # rootstrap's first
    floors: list[Series] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    extra: Optional[str] = None      # e.g. "configure" phase the floor target adds
    start: Optional[Series] = None   # rootstrap's interpreter and imports alone


def machine() -> str:
    cpu = ""
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), "")
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.node()}: {os.cpu_count()} cores ({cpu or platform.machine()}), "
            f"{mem:.0f} GiB, Linux {platform.release()}, Python {platform.python_version()}")


def _row(name: str, s: Series, out: TextIO) -> None:
    rss = f"{s.rss:7.0f} MB" if s.rss else "        -"
    out.write(f"  {name:34} {s.median:7.2f} {min(s.times):7.2f} {max(s.times):7.2f}  {rss}"
              f"   runs: {', '.join(f'{t:.2f}' for t in s.times)}\n")


def show(c: Comparison, out: TextIO = sys.stdout) -> None:
    ours = c.series[0]
    out.write(f"\n== {c.title}: {c.what}\n")
    out.write(f"  {'':34} {'median':>7} {'min':>7} {'max':>7}  {'peak RSS':>9}\n")
    for s in c.series:
        _row(s.name, s, out)
    for s in c.floors + ([c.start] if c.start else []):
        _row(s.name, s, out)
    for s in c.series[1:]:
        out.write(f"  ratio {ours.name}/{s.name}: {ours.median / s.median:.2f}\n")
    phases = ours.phases()
    if phases:
        out.write(f"  {ours.name} phases (median s): "
                  + "  ".join(f"{k} {v:.2f}" for k, v in phases.items() if v >= 0.005) + "\n")
    extra = phases.get(c.extra, 0.0) if c.extra else 0.0
    for f in c.floors:
        plus = f" + {c.extra} {extra:.2f}" if c.extra else ""
        out.write(f"  ratio {ours.name}/({f.name}{plus}): "
                  f"{ours.median / (f.median + extra):.2f}\n")
    if c.extra and c.floors:
        # the least time of a build that did nothing but the floor's work, the
        # target's own configure and rootstrap's start: what a ratio can reach
        least = c.floors[0].median + extra + (c.start.median if c.start else 0.0)
        parts = f"{c.floors[0].name} + {c.extra}" + (" + start" if c.start else "")
        for s in c.series[1:]:
            out.write(f"  least ratio to {s.name} ({parts} = {least:.2f} s): "
                      f"{least / s.median:.2f}\n")
    for note in c.notes:
        out.write(f"  note: {note}\n")
    out.flush()
