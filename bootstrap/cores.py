"""How many cores a build may use: those the process may run on (a batch
scheduler's cpuset, `taskset`, a container's cpuset), not the machine's count.
On a shared 64-core node where a job holds two, counting 64 would start 64
compressing threads and four parsing processes that fight over the two."""
from __future__ import annotations

import os


def usable() -> int:
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):        # a platform without affinity masks
        return os.cpu_count() or 1
