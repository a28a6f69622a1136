"""Recipes: a distribution described as data, loaded from YAML and validated."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

from bootstrap.errors import die
from bootstrap.paths import keys_dir, recipes_dir


@dataclass(frozen=True)
class Variant:
    name: str
    essential: bool = False
    priorities: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()


@dataclass(frozen=True)
class Release:
    name: str
    aliases: tuple[str, ...]
    merged_usr: bool
    data: dict[str, Any]


@dataclass(frozen=True)
class Recipe:
    name: str
    family: str
    description: str
    path: Path
    mirrors: tuple[str, ...]
    keyrings: tuple[Path, ...]
    releases: dict[str, Release]
    default_release: str
    architectures: dict[str, str]
    variants: dict[str, Variant]
    default_variant: str
    hostname: str
    data: dict[str, Any] = field(repr=False, default_factory=dict)

    def release(self, name: Optional[str]) -> Release:
        wanted = name or self.default_release
        for rel in self.releases.values():
            if wanted == rel.name or wanted in rel.aliases:
                return rel
        die(f"{self.name} has no release '{wanted}' (known: {', '.join(self.releases)})")

    def variant(self, name: Optional[str]) -> Variant:
        wanted = name or self.default_variant
        if wanted not in self.variants:
            die(f"{self.name} has no variant '{wanted}' (known: {', '.join(self.variants)})")
        return self.variants[wanted]

    def arch(self, name: Optional[str]) -> str:
        if name:
            if name not in self.architectures:
                die(f"{self.name} has no architecture '{name}' "
                    f"(known: {', '.join(self.architectures)})")
            return name
        machine = platform.machine()
        for arch, uname in self.architectures.items():
            if uname == machine:
                return arch
        die(f"{self.name} has no architecture for this machine ({machine}); pass --arch")


def _load_yaml(path: Path) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.safe_load(f)
    except OSError as e:
        die(f"cannot read recipe {path}: {e.strerror}")
    except yaml.YAMLError as e:
        die(f"recipe {path} is not valid YAML: {str(e).splitlines()[0]}")
    if not isinstance(doc, dict):
        die(f"recipe {path} is not a mapping")
    return doc


def _require(doc: dict[str, Any], key: str, kind: type, path: Path) -> Any:
    value = doc.get(key)
    if not isinstance(value, kind):
        die(f"recipe {path}: '{key}' is missing or not a {kind.__name__}")
    return value


def _variants(doc: dict[str, Any], path: Path) -> dict[str, Variant]:
    raw = _require(doc, "variants", dict, path)
    out: dict[str, Variant] = {}
    for name, spec in raw.items():
        spec = spec or {}
        if "alias" in spec:
            continue
        out[name] = Variant(
            name=name,
            essential=bool(spec.get("essential", False)),
            priorities=tuple(spec.get("priorities", ())),
            packages=tuple(spec.get("packages", ())),
        )
    for name, spec in raw.items():
        if spec and "alias" in spec:
            if spec["alias"] not in out:
                die(f"recipe {path}: variant '{name}' is an alias of unknown '{spec['alias']}'")
            target = out[spec["alias"]]
            out[name] = Variant(name, target.essential, target.priorities, target.packages)
    if "custom" not in out:
        out["custom"] = Variant("custom")
    return out


def load(path: Path) -> Recipe:
    doc = _load_yaml(path)
    name = _require(doc, "name", str, path)
    releases: dict[str, Release] = {}
    for rel_name, spec in _require(doc, "releases", dict, path).items():
        spec = spec or {}
        releases[rel_name] = Release(
            name=rel_name,
            aliases=tuple(spec.get("aliases", ())),
            merged_usr=bool(spec.get("merged_usr", False)),
            data=spec,
        )
    default_release = _require(doc, "default_release", str, path)
    if default_release not in releases:
        die(f"recipe {path}: default_release '{default_release}' is not a release")
    variants = _variants(doc, path)
    default_variant = _require(doc, "default_variant", str, path)
    if default_variant not in variants:
        die(f"recipe {path}: default_variant '{default_variant}' is not a variant")
    return Recipe(
        name=name,
        family=_require(doc, "family", str, path),
        description=str(doc.get("description", name)),
        path=path,
        mirrors=tuple(_require(doc, "mirrors", list, path)),
        keyrings=tuple(keys_dir() / k for k in doc.get("keyrings", ())),
        releases=releases,
        default_release=default_release,
        architectures=dict(_require(doc, "architectures", dict, path)),
        variants=variants,
        default_variant=default_variant,
        hostname=str(doc.get("hostname", name)),
        data=doc,
    )


def find(name_or_path: str) -> Recipe:
    """A recipe by name from recipes/, or by path to a YAML file."""
    if os.sep in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            die(f"no recipe file {path}")
        return load(path)
    path = recipes_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in recipes_dir().glob("*.yaml")))
        die(f"unknown distribution '{name_or_path}' (known: {known})")
    return load(path)


def all_recipes() -> list[Recipe]:
    return [load(p) for p in sorted(recipes_dir().glob("*.yaml"))]
