"""What the user sees while a build works: the phase it is in (a bar where the
amount of work is known, a ticking clock where it is not) on a terminal, nothing
when piped or quiet; and the seconds each phase took, for --json and --verbose."""
from __future__ import annotations

import shutil
import sys
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from tqdm import tqdm

TICK = 0.2


class Progress:
    def __init__(self, quiet: bool = False, verbose: bool = False) -> None:
        self.shown = not quiet and sys.stderr.isatty()
        self.verbose = verbose
        self.seconds: dict[str, float] = {}

    def say(self, text: str) -> None:
        if self.verbose:
            tqdm.write(f"rootstrap: {text}", file=sys.stderr)

    @contextmanager
    def phase(self, name: str, total: Optional[float] = None,
              unit: str = "it") -> Iterator[Callable[[float], None]]:
        """A phase of the build; yields the function that reports work done."""
        started = time.monotonic()
        # a terminal that reports no size (a fresh pty) gets the usual 80x24: tqdm
        # would draw nothing in zero rows
        width, height = shutil.get_terminal_size()
        if total is None:
            bar = tqdm(desc=name, file=sys.stderr, leave=False, disable=not self.shown,
                       ncols=width, nrows=height, bar_format="rootstrap: {desc}… {elapsed}")
        else:
            bar = tqdm(desc=name, total=total, unit=unit, unit_scale=unit == "B",
                       file=sys.stderr, leave=False, disable=not self.shown, ncols=width,
                       nrows=height,
                       bar_format="rootstrap: {desc} {bar} {n_fmt}/{total_fmt} {elapsed}")
        stop = threading.Event()
        ticker = None
        if self.shown:
            # the clock moves while a long step reports nothing
            ticker = threading.Thread(target=_tick, args=(bar, stop), daemon=True)
            ticker.start()
        try:
            yield bar.update
        finally:
            stop.set()
            if ticker:
                ticker.join()
            bar.close()
            took = time.monotonic() - started
            self.seconds[name] = round(self.seconds.get(name, 0.0) + took, 3)
            self.say(f"{name}: {took:.2f} s")


def _tick(bar: tqdm, stop: threading.Event) -> None:
    while not stop.wait(TICK):
        bar.refresh()
