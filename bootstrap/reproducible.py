"""SOURCE_DATE_EPOCH: the time reproducible output is clamped to."""
from __future__ import annotations

import os
import time
from typing import Optional

from bootstrap.errors import die


def source_date_epoch() -> Optional[int]:
    """SOURCE_DATE_EPOCH, if set; a value that is not a number is refused."""
    value = os.environ.get("SOURCE_DATE_EPOCH")
    if not value:
        return None
    if not value.isdigit():
        die(f"SOURCE_DATE_EPOCH={value!r} is not a number of seconds since 1970")
    return int(value)


def now() -> int:
    """The time to record in a tree: now, or SOURCE_DATE_EPOCH so two builds from
    one index are identical."""
    epoch = source_date_epoch()
    return int(time.time()) if epoch is None else epoch
