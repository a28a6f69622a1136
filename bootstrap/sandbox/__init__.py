"""Run code or commands inside a tree as (fake) root: one interface, several backends.

Backends, probed in this order by --mode auto:
  root          - really root: a private mount namespace and chroot.
  userns-full   - unprivileged user namespace mapping 65536 ids from /etc/subuid and
                  /etc/subgid through newuidmap/newgidmap, so chown really happens.
  userns-single - unprivileged user namespace mapping only the caller to root;
                  ownership that cannot be applied lives in the ledger.
  ptrace        - no user namespaces: PRoot's fake root id and chroot emulation.
"""
from __future__ import annotations

from bootstrap.sandbox.base import Sandbox
from bootstrap.sandbox.choose import choose

__all__ = ["Sandbox", "choose"]
