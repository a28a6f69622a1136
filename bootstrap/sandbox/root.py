"""Really root: a private mount namespace and a plain chroot."""
from __future__ import annotations

from bootstrap.sandbox import linux
from bootstrap.sandbox.base import Sandbox


class RootSandbox(Sandbox):
    mode = "root"
    can_chown = True

    def _enter(self) -> None:
        linux.unshare(linux.CLONE_NEWNS)

    def _become_root(self) -> None:
        linux.mount(None, "/", None, linux.MS_REC | linux.MS_PRIVATE)
