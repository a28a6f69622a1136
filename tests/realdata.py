"""Where the real upstream files live (../shared/real from the project root, or
ROOTSTRAP_REAL_DATA): data only, never committed here, absent on some machines."""
from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
REAL = Path(os.environ.get("ROOTSTRAP_REAL_DATA") or CHECKOUT.parent / "shared" / "real")


def real(*parts: str) -> Path:
    return REAL.joinpath(*parts)
