"""`rootstrap verify DISTRO FILE...`: packages and indexes checked against the
recipe's trust roots (or --keyring) the way the distribution's own tools check
them, one line per file."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

from bootstrap.families import load_recipe


def verify(distro: str, files: Sequence[Path], indexes: Sequence[Path],
           keyrings: Sequence[Path]) -> int:
    recipe, family = load_recipe(distro)
    with family.open_trust(list(keyrings) or list(recipe.keyrings)) as trust:
        verdicts = family.verify_files(trust, list(files), list(indexes))
    for v in verdicts:
        if v.error:
            print(f"FAIL {v.file}: {v.error}")
        else:
            print(f"OK {v.file} {v.signer}")
    return 1 if any(v.error for v in verdicts) else 0
