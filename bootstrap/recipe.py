"""Recipes: a distribution described as data, loaded from YAML and validated.

A recipe has a generic part, the same for every distribution, and the part its
family reads (Schema): keys of the family's own at the top, in each release and
in each variant. Either part's mistyped key is an error naming file and line."""
from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from bootstrap import schema
from bootstrap.errors import die, suggest
from bootstrap.paths import keys_dir, recipes_dir


@dataclass(frozen=True)
class NoKeys:
    """A family with nothing of its own in that part of the recipe."""


@dataclass(frozen=True)
class Schema:
    """The dataclasses a family reads its recipe keys into."""
    recipe: type = NoKeys
    release: type = NoKeys
    variant: type = NoKeys


@dataclass(frozen=True)
class Variant:
    name: str
    packages: tuple[str, ...] = ()
    config: Any = field(default_factory=NoKeys)


@dataclass(frozen=True)
class Release:
    name: str
    aliases: tuple[str, ...] = ()
    config: Any = field(default_factory=NoKeys)


@dataclass(frozen=True)
class Hooks:
    """Steps a recipe carries, as `--hook KIND:COMMAND` (run before the command line's)."""
    setup: tuple[str, ...] = ()
    extract: tuple[str, ...] = ()
    essential: tuple[str, ...] = ()
    customize: tuple[str, ...] = ()


@dataclass(frozen=True)
class Conventions:
    """Where the distribution keeps what --user, --locale and --timezone set."""
    user_shell: str = "/bin/sh"          # useradd's default shell there
    locale_file: str = "/etc/locale.conf"
    locale_line: str = "LANG={locale}"   # what locale_file holds
    locale_gen: str = ""                 # glibc's list of locales to generate, if any
    timezone_file: str = ""              # the zone's name, where the distribution keeps it


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
    config: Any = field(repr=False, default_factory=NoKeys)
    hooks: Hooks = Hooks()
    conventions: Conventions = Conventions()

    def release(self, name: Optional[str]) -> Release:
        wanted = name or self.default_release
        for rel in self.releases.values():
            if wanted == rel.name or wanted in rel.aliases:
                return rel
        names = [n for rel in self.releases.values() for n in (rel.name, *rel.aliases)]
        die(f"{self.name} has no release '{wanted}' (known: {', '.join(self.releases)})"
            + suggest(wanted, names))

    def variant(self, name: Optional[str]) -> Variant:
        wanted = name or self.default_variant
        if wanted not in self.variants:
            die(f"{self.name} has no variant '{wanted}' (known: {', '.join(self.variants)})"
                + suggest(wanted, self.variants))
        return self.variants[wanted]

    def arch(self, name: Optional[str]) -> str:
        if name:
            if name not in self.architectures:
                same = [a for a, uname in self.architectures.items() if uname == name]
                die(f"{self.name} has no architecture '{name}' "
                    f"(known: {', '.join(self.architectures)})"
                    + (f"; {self.name} calls it '{same[0]}'" if same
                       else suggest(name, self.architectures)))
            return name
        machine = platform.machine()
        for arch, uname in self.architectures.items():
            if uname == machine:
                return arch
        die(f"{self.name} has no architecture for this machine ({machine}); pass --arch")


# -- the generic part of each section ------------------------------------------

@dataclass(frozen=True)
class _Top:
    name: str
    family: str
    mirrors: tuple[str, ...]
    releases: dict[str, Optional[schema.Section]]
    default_release: str
    # the distribution's architecture names -> the kernel's (uname -m)
    architectures: dict[str, str]
    variants: dict[str, Optional[schema.Section]]
    default_variant: str
    description: str = ""
    keyrings: tuple[str, ...] = ()
    hostname: str = ""
    hooks: Hooks = Hooks()
    conventions: Conventions = Conventions()


@dataclass(frozen=True)
class _Release:
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class _Variant:
    packages: tuple[str, ...] = ()
    alias: Optional[str] = None      # another variant's name: the same set


def _section(doc: schema.Section, key: str, name: str) -> schema.Section:
    value = doc[key][name]
    if value is None:
        value = schema.empty(doc)
    return value


def load(path: Path, schema_of: Callable[[str, str], Schema]) -> Recipe:
    """The recipe at path; schema_of(family, where) gives the family's Schema."""
    doc = schema.read(path)
    family = doc.get("family")
    if not isinstance(family, str):
        die(f"{doc.where('family')}: 'family' is missing or not a string")
    own = schema_of(family, doc.where("family"))
    top, config = schema.split(doc, "the recipe", _Top, own.recipe, prefix="")
    releases: dict[str, Release] = {}
    for name in top.releases:
        section = _section(doc, "releases", name)
        generic, rel_config = schema.split(section, f"releases.{name}", _Release, own.release)
        releases[name] = Release(name, generic.aliases, rel_config)
    if top.default_release not in releases:
        die(f"{doc.where('default_release')}: default_release '{top.default_release}' "
            "is not a release")
    variants: dict[str, Variant] = {}
    aliases: dict[str, str] = {}
    for name in top.variants:
        section = _section(doc, "variants", name)
        generic, var_config = schema.split(section, f"variants.{name}", _Variant, own.variant)
        if generic.alias is not None:
            aliases[name] = generic.alias
            continue
        variants[name] = Variant(name, generic.packages, var_config)
    for name, target in aliases.items():
        if target not in variants:
            die(f"{doc['variants'].where(name)}: variant '{name}' is an alias of unknown "
                f"'{target}'")
        variants[name] = Variant(name, variants[target].packages, variants[target].config)
    if "custom" not in variants:
        variants["custom"] = Variant("custom", (), own.variant())
    if top.default_variant not in variants:
        die(f"{doc.where('default_variant')}: default_variant '{top.default_variant}' "
            "is not a variant")
    return Recipe(
        name=top.name, family=family, description=top.description or top.name, path=path,
        mirrors=top.mirrors, keyrings=tuple(keys_dir() / k for k in top.keyrings),
        releases=releases, default_release=top.default_release,
        architectures=dict(top.architectures), variants=variants,
        default_variant=top.default_variant, hostname=top.hostname or top.name,
        config=config, hooks=top.hooks, conventions=top.conventions)


def path_of(name_or_path: str) -> Path:
    """A recipe by name from recipes/, or by path to a YAML file."""
    if os.sep in name_or_path or name_or_path.endswith((".yaml", ".yml")):
        path = Path(name_or_path)
        if not path.is_file():
            die(f"no recipe file {path}")
        return path
    path = recipes_dir() / f"{name_or_path}.yaml"
    if not path.is_file():
        die(f"unknown distribution '{name_or_path}' (known: {', '.join(names())})"
            + suggest(name_or_path, names()))
    return path


def names() -> list[str]:
    return sorted(p.stem for p in recipes_dir().glob("*.yaml"))
