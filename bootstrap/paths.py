"""Where rootstrap finds its data (recipes, keys) and its default cache."""
from __future__ import annotations

import os
import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


def _from_checkout() -> bool:
    return (_CHECKOUT / "recipes").is_dir() and (_CHECKOUT / "bootstrap").is_dir()


def data_dir() -> Path:
    """The folder holding recipes/ and keys/: the checkout, else share/rootstrap."""
    if _from_checkout():
        return _CHECKOUT
    return Path(sys.prefix) / "share" / "rootstrap"


def recipes_dir() -> Path:
    return data_dir() / "recipes"


def keys_dir() -> Path:
    return data_dir() / "keys"


def default_cache() -> Path:
    env = os.environ.get("ROOTSTRAP_CACHE")
    if env:
        return Path(env)
    if _from_checkout() and os.access(_CHECKOUT / "cache", os.W_OK):
        return _CHECKOUT / "cache"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "rootstrap"
