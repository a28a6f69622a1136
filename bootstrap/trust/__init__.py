"""Trust roots and the checks made against them: one small interface, one
implementation per kind of signature. A family picks the kind its distribution
signs with (Family.open_trust) and calls that kind's checks; the pipeline only
opens and closes it.

  openpgp.OpenPGP      OpenPGP, every key in the keyring trusted directly
                       (Debian's InRelease, private repositories)
  weboftrust.WebOfTrust OpenPGP under pacman-key's web of trust (Arch)
"""
from __future__ import annotations

from abc import ABC, abstractmethod


class Trust(ABC):
    """Trust roots loaded for one build; close() forgets them."""

    @property
    @abstractmethod
    def names(self) -> str:
        """The trust roots, as error messages name them."""

    @abstractmethod
    def close(self) -> None:
        """Release what loading the roots set up (a gpg home, an agent)."""

    def __enter__(self) -> "Trust":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
