"""Numbers in index text, read as the distributions' C tools read them: ASCII
digits only (Python's isdigit() takes '²' too, which int() then refuses), and
never through int() where a run of digits may be as long as a mirror likes."""
from __future__ import annotations

from typing import Optional


def number(text: str, default: Optional[int] = None) -> Optional[int]:
    """text's value where it is ASCII digits standing for less than 10**18 (no
    size, epoch or priority is larger), else default."""
    if not (text.isascii() and text.isdigit()):
        return default
    digits = text.lstrip("0")
    return int(digits or "0") if len(digits) <= 18 else default


def digit_key(digits: str) -> tuple[int, str]:
    """A run of ASCII digits as a key that orders as its value, however long."""
    digits = digits.lstrip("0")
    return len(digits), digits
