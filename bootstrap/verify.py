"""`rootstrap verify DISTRO FILE...`: packages and indexes checked against the
recipe's trust roots (or --keyring) the way the distribution's own tools check
them, one line per file."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence

from bootstrap.families import load_recipe


def verify(distro: str, files: Sequence[Path], indexes: Sequence[Path],
           keyrings: Sequence[Path], release: Optional[str] = None) -> int:
    """release: trust only what that release trusts (Fedora: its own key)."""
    recipe, family = load_recipe(distro)
    roots = list(recipe.keyrings)
    if release is not None:
        # (the architecture does not change what a release trusts)
        any_arch = next(iter(recipe.architectures), "")
        roots = family(recipe, recipe.release(release), any_arch).trust_roots()
    with family.open_trust(list(keyrings) or roots) as trust:
        verdicts = family.verify_files(trust, list(files), list(indexes))
    for v in verdicts:
        if v.error:
            print(f"FAIL {v.file}: {v.error}")
        else:
            print(f"OK {v.file} {v.signer}")
    return 1 if any(v.error for v in verdicts) else 0
