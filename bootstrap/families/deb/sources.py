"""apt's sources in the tree: the mirror used, the release, its -updates suite and
the security archive, the way Debian's official images list them."""
from __future__ import annotations

from bootstrap.recipe import Recipe, Release
from bootstrap.treewriter import TreeWriter


def write(writer: TreeWriter, recipe: Recipe, release: Release, mirror: str) -> None:
    spec = release.data.get("sources", {})
    suites = spec.get("suites") or [release.name]
    security = spec.get("security")
    security_mirror = recipe.data.get("security_mirror")
    components = " ".join(recipe.data.get("components", ["main"]))
    signed_by = spec.get("signed_by")
    if spec.get("format") == "list":
        lines = [f"deb {mirror} {suite} {components}" for suite in suites[:1]]
        if security and security_mirror:
            lines.append(f"deb {security_mirror} {security} {components}")
        lines += [f"deb {mirror} {suite} {components}" for suite in suites[1:]]
        writer.write_bytes("etc/apt/sources.list", ("\n".join(lines) + "\n").encode())
        return
    stanzas = [(mirror, suites)]
    if security and security_mirror:
        stanzas.append((security_mirror, [security]))
    text = []
    for uri, names in stanzas:
        fields = ["Types: deb", f"URIs: {uri}", f"Suites: {' '.join(names)}",
                  f"Components: {components}"]
        if signed_by:
            fields.append(f"Signed-By: {signed_by}")
        text.append("\n".join(fields) + "\n")
    writer.write_bytes(f"etc/apt/sources.list.d/{recipe.name}.sources",
                       "\n".join(text).encode())
