"""YAML read into typed dataclasses, every mistake named by file, line and key.

read() keeps the line of every mapping key; fill() builds a dataclass from a
mapping, converting each value to its field's type (str, int, bool, tuples,
dicts, Optional, nested dataclasses) and refusing keys no field names."""
from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from typing import Any, NoReturn, Optional, Sequence, TypeVar, Union

import yaml

from bootstrap.errors import die, suggest

T = TypeVar("T")


class Section(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers where it and each of its keys are."""
    path: Path
    line: int
    lines: dict[str, int]

    def where(self, key: Optional[str] = None) -> str:
        line = self.lines.get(key, self.line) if key is not None else self.line
        return f"{self.path} line {line}"


def _loader(path: Path) -> type:
    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> Section:
        loader.flatten_mapping(node)
        section = Section()
        section.path, section.line, section.lines = path, node.start_mark.line + 1, {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            section[key] = loader.construct_object(value_node, deep=True)
            section.lines[key] = key_node.start_mark.line + 1
        return section

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return Loader


def read(path: Path) -> Section:
    try:
        with open(path, encoding="utf-8") as f:
            doc = yaml.load(f, Loader=_loader(path))  # noqa: S506 - a SafeLoader
    except OSError as e:
        die(f"cannot read {path}: {e.strerror}")
    except yaml.YAMLError as e:
        die(f"{path} is not valid YAML: {' '.join(str(e).split())}")
    if not isinstance(doc, Section):
        die(f"{path} is not a mapping")
    return doc


def _fail(section: Section, key: str, message: str) -> NoReturn:
    die(f"{section.where(key)}: {message}")


def _describe(kind: Any) -> str:
    origin = typing.get_origin(kind)
    if origin is Union:
        return " or ".join(_describe(a) for a in typing.get_args(kind) if a is not type(None))
    if origin in (tuple, list):
        return "a list"
    if origin is dict or dataclasses.is_dataclass(kind) or kind is Section:
        return "a mapping"
    return {str: "a string", int: "a number", bool: "true or false"}.get(kind, str(kind))


def convert(value: Any, kind: Any, section: Section, key: str, label: str) -> Any:
    """value as kind; label names it in errors (e.g. "releases.bookworm.sources")."""
    origin = typing.get_origin(kind)
    args = typing.get_args(kind)

    def wrong() -> NoReturn:
        _fail(section, key, f"'{label}' must be {_describe(kind)}, not {value!r}")

    if kind is Any:
        return value
    if kind is Section:
        if not isinstance(value, Section):
            wrong()
        return value
    if origin is Union:
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            return convert(value, arg, section, key, label)
    if dataclasses.is_dataclass(kind):
        if value is None:
            value = empty(section)
        if not isinstance(value, Section):
            wrong()
        return fill(kind, value, label)  # type: ignore[type-var]
    if origin in (tuple, list):
        if not isinstance(value, list):
            wrong()
        item = args[0] if args else Any
        return tuple(convert(v, item, section, key, f"{label}[{i}]")
                     for i, v in enumerate(value))
    if origin is dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            wrong()
        key_type, item = args if args else (Any, Any)
        inner = value if isinstance(value, Section) else section
        out = {}
        for k, v in value.items():
            if key_type is str and not isinstance(k, str):
                k = str(k)
            out[k] = convert(v, item, inner, k if k in inner.lines else key, f"{label}.{k}")
        return out
    if kind is str and isinstance(value, float):
        _fail(section, key, f"'{label}' must be a string: YAML reads {value!r} unquoted as "
              "a number, which loses digits (3.20 is 3.2); quote it")
    if kind is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)          # a version such as 12 written unquoted
    if kind in (bool, int, str):
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            wrong()
    return value


def empty(parent: Section) -> Section:
    """A mapping with nothing in it, placed where parent is."""
    section = Section()
    section.path, section.line, section.lines = parent.path, parent.line, {}
    return section


def fill(cls: type[T], section: Section, label: str,
         ignore: Sequence[str] = (), prefix: Optional[str] = None) -> T:
    """An instance of the dataclass cls from section; keys in ignore belong to
    someone else (see split). label names the section in messages ("the recipe",
    "releases.bookworm"); prefix, the path its keys are named by (default: label)."""
    prefix = label if prefix is None else prefix
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    hints = typing.get_type_hints(cls)
    for key in section:
        if key not in fields and key not in ignore:
            known = ", ".join(sorted(set(fields) | set(ignore))) or "none"
            _fail(section, key, f"unknown key '{key}' in {label} (known: {known})"
                  + suggest(str(key), [*fields, *ignore]))
    values = {}
    for name, f in fields.items():
        if name in section:
            values[name] = convert(section[name], hints[name], section, name,
                                   f"{prefix}.{name}" if prefix else name)
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            die(f"{section.where()}: '{name}' is missing in {label or 'the file'}")
    return cls(**values)


def split(section: Section, label: str, *classes: type,
          prefix: Optional[str] = None) -> tuple[Any, ...]:
    """One section read as several dataclasses that share its keys between them
    (the generic part of a recipe and a family's own); a key none of them names
    is an error."""
    names = [{f.name for f in dataclasses.fields(c)} for c in classes]
    out = []
    for i, cls in enumerate(classes):
        others = set().union(*(n for j, n in enumerate(names) if j != i))
        mine = empty(section)
        mine.update({k: v for k, v in section.items() if k not in others or k in names[i]})
        mine.lines = section.lines
        mine.line = section.line
        out.append(fill(cls, mine, label, ignore=sorted(others - names[i]), prefix=prefix))
    return tuple(out)
