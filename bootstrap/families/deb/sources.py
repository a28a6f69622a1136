"""apt's sources in the tree: the mirror used, the release, its -updates suite and
the security archive, the way Debian's official images list them. A mirror
trusted through --keyring gets those keys in the tree, so its apt trusts the
mirror the tree was built from."""
from __future__ import annotations

from typing import Optional

from bootstrap.recipe import Recipe, Release
from bootstrap.treewriter import TreeWriter


def write(writer: TreeWriter, recipe: Recipe, release: Release, mirror: str,
          keyring: Optional[bytes] = None) -> None:
    spec = release.config.sources
    suites = list(spec.suites) or [release.name]
    security = spec.security
    security_mirror = recipe.config.security_mirror
    components = " ".join(recipe.config.components)
    signed_by = spec.signed_by
    mirror_signed_by = signed_by
    if keyring is not None:
        mirror_signed_by = f"/etc/apt/keyrings/{recipe.name}-mirror.gpg"
        writer.mkdir("etc/apt/keyrings", 0o755, 0, 0)
        writer.write_bytes(mirror_signed_by.lstrip("/"), keyring)
    if spec.format == "list":
        option = f"[signed-by={mirror_signed_by}] " if keyring is not None else ""
        lines = [f"deb {option}{mirror} {suite} {components}" for suite in suites[:1]]
        if security and security_mirror:
            lines.append(f"deb {security_mirror} {security} {components}")
        lines += [f"deb {option}{mirror} {suite} {components}" for suite in suites[1:]]
        writer.write_bytes("etc/apt/sources.list", ("\n".join(lines) + "\n").encode())
        return
    stanzas = [(mirror, suites, mirror_signed_by)]
    if security and security_mirror:
        stanzas.append((security_mirror, [security], signed_by))
    text = []
    for uri, names, key in stanzas:
        fields = ["Types: deb", f"URIs: {uri}", f"Suites: {' '.join(names)}",
                  f"Components: {components}"]
        if key:
            fields.append(f"Signed-By: {key}")
        text.append("\n".join(fields) + "\n")
    writer.write_bytes(f"etc/apt/sources.list.d/{recipe.name}.sources",
                       "\n".join(text).encode())
