"""The engine's layering, read from the import statements of every module: data
moves forward and nothing low reaches up, so a new family touches nothing else."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bootstrap"

# Lower numbers are lower layers; a module may import its own layer and below.
LAYERS = {
    0: ("errors", "digest", "atomic", "paths", "intree", "ledger", "reproducible",
        "progress", "shaping", "pgzip", "numbers", "readahead", "xz", "cores"),
    1: ("cache", "treewriter", "ownership", "schema", "baseconfig", "archive", "accounts",
        "target"),
    2: ("fetch", "trust", "sandbox", "emit", "recipe", "treeinfo", "oci", "squashfs",
        "outputs", "bundle", "rootfs", "hooks", "customize"),
    3: ("families",),
    4: ("build", "enter", "export", "verify", "sbom", "cache_command"),
    5: ("cli", "__main__", "__init__"),
}
LAYER_OF = {name: layer for layer, names in LAYERS.items() for name in names}
# families use the sandbox only through its interface, never a backend
BACKENDS = ("bootstrap.sandbox.userns", "bootstrap.sandbox.ptrace", "bootstrap.sandbox.root",
            "bootstrap.sandbox.choose")
NOT_FOR_FAMILIES = ("bootstrap.emit", "bootstrap.export", "bootstrap.build", "bootstrap.cli",
                    "bootstrap.enter") + BACKENDS


def _module(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str = "") -> set[str]:
    """Every bootstrap module path imports (relative imports made absolute);
    module: its dotted name, when it does not lie in the package."""
    tree = ast.parse(path.read_text(), str(path))
    here = (module or _module(path)).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[: len(here) - node.level + 1] + ([base] if base else []))
            if base != "bootstrap":
                found.add(base)
            found.update(f"{base}.{a.name}" for a in node.names)
    return {m for m in found if m.startswith("bootstrap.")}


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer():
    missing = {_top(_module(p)) for p in MODULES} - set(LAYER_OF)
    assert not missing, f"give these a layer in LAYERS: {missing}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_a_higher_layer(path: Path):
    mine = LAYER_OF[_top(_module(path))]
    for imported in _imports(path):
        top = _top(imported)
        if top not in LAYER_OF:
            continue                       # a name imported from the package itself
        assert LAYER_OF[top] <= mine, f"{_module(path)} imports {imported}"


@pytest.mark.parametrize("path", sorted((PACKAGE / "families").rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_families_use_only_the_engine_interfaces(path: Path):
    me = _module(path)
    own = ".".join(me.split(".")[:3])           # bootstrap.families.NAME
    for imported in _imports(path):
        assert not imported.startswith(NOT_FOR_FAMILIES), f"{me} imports {imported}"
        if imported.startswith("bootstrap.families.") and me != "bootstrap.families":
            # a family imports the base package and itself, never another family
            name = imported.split(".")[2]
            assert imported.startswith(own + ".") or imported == own \
                or not (PACKAGE / "families" / name).is_dir(), f"{me} imports {imported}"


def test_the_checker_sees_a_violation(tmp_path: Path):
    bad = PACKAGE / "fetch.py"
    assert "bootstrap.cache" in _imports(bad)
    fake = tmp_path / "x.py"
    fake.write_text("from bootstrap.build import build\nfrom ...emit import write_tar\n"
                    "from bootstrap import cli\n")
    found = _imports(fake, "bootstrap.families.toy.x")
    assert {"bootstrap.build", "bootstrap.emit", "bootstrap.cli"} <= found
    assert any(m.startswith(NOT_FOR_FAMILIES) for m in found)
