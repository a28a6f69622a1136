"""One timed run of a command: wall seconds and the peak resident memory of the
largest process of its tree, the same way for rootstrap and for its peer."""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Optional, Sequence


@dataclass
class Sample:
    seconds: float
    rss_mb: float                      # largest single process of the tree
    phases: dict[str, float] = field(default_factory=dict)   # rootstrap's --json
    packages: int = 0


TIME = "/usr/bin/time"


class Failed(Exception):
    """A measured command that did not succeed: its argv, status and last words."""


def settle() -> None:
    """Write out what earlier runs left dirty, outside the timing: on this
    machine's disk each run's 250 MB would otherwise slow the next one down
    (a warm unpack measured 8 s after cold runs, 4.5 s before them)."""
    os.sync()


def run(argv: Sequence[str], *, env: Optional[Mapping[str, str]] = None,
        cwd: Optional[Path] = None, log: Optional[Path] = None,
        check: bool = True) -> tuple[Sample, str]:
    """Run argv to its end; its stdout is returned, stderr kept in log.

    The peak RSS is GNU time's %M: the kernel's maximum over the command and
    every descendant it waited for (runuser, the tool, dpkg, maintainer scripts),
    the largest single process."""
    out_path = log.with_suffix(".out") if log else None
    with open(out_path or os.devnull, "w+b") as out, \
            open(log or os.devnull, "ab") as err, \
            tempfile.NamedTemporaryFile("r", prefix="rs-bench-rss-") as rss:
        settle()
        started = time.monotonic()
        # GNU time forks the command: the harness's own memory, which a child it
        # spawned directly would count as its peak (vfork, exec), stays out
        proc = subprocess.Popen([TIME, "-f", "%M", "-o", rss.name, *argv],
                                env=dict(env) if env is not None else None,
                                cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=err)
        proc.wait()
        seconds = time.monotonic() - started
        out.seek(0)
        stdout = out.read().decode("utf-8", "replace")
        kib = rss.read().strip().splitlines()
    if check and proc.returncode != 0:
        lines = log.read_text(errors="replace").strip().splitlines()[-5:] \
            if log and log.exists() else []
        tail = "\n    ".join(lines)
        raise Failed(f"{' '.join(argv)} exited {proc.returncode}\n    {tail}")
    peak = int(kib[-1]) / 1024 if kib and kib[-1].isdigit() else 0.0
    return Sample(round(seconds, 3), round(peak, 1)), stdout


def rootstrap_json(sample: Sample, stdout: str) -> Sample:
    """The phases and package count rootstrap --json reported, added to sample."""
    doc = json.loads(stdout)
    sample.phases = {k: float(v) for k, v in doc.get("phases", {}).items()}
    sample.packages = len(doc.get("packages", []))
    return sample


def timed(work: Callable[[], None]) -> Sample:
    """A piece of work done in this process (a floor line): wall seconds only."""
    settle()
    started = time.monotonic()
    work()
    return Sample(round(time.monotonic() - started, 3), 0.0)


@dataclass
class Series:
    """The samples of one contestant across the runs of a comparison."""
    name: str
    samples: list[Sample] = field(default_factory=list)

    @property
    def times(self) -> list[float]:
        return [s.seconds for s in self.samples]

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def rss(self) -> float:
        return max(s.rss_mb for s in self.samples)

    def phases(self) -> dict[str, float]:
        """The median seconds of each phase, in the order the build ran them."""
        names: list[str] = []
        for s in self.samples:
            names += [n for n in s.phases if n not in names]
        return {n: statistics.median(s.phases.get(n, 0.0) for s in self.samples)
                for n in names}
