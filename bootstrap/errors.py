"""The one path for user errors: raise Die, the CLI prints one line and exits."""
from __future__ import annotations

from typing import NoReturn


class Die(Exception):
    """A user-facing error: bad input, verification failure, no privilege."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def die(message: str, code: int = 1) -> NoReturn:
    raise Die(message, code)
