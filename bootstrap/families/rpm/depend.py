"""rpm dependencies: a name with an optional range (`foo >= 1.2-3`), and rich
(boolean) ones: `(a and b)`, `(a or b)`, `(a if b else c)`, `(a unless b)`,
`(a with b)`, `(a without b)`, nested. Ranges overlap as rpmRangesOverlap has
it; a release either side leaves out is not compared."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Union

from bootstrap.families.rpm.version import EVR, compare_in_range
from bootstrap.numbers import number

LESS, GREATER, EQUAL = 2, 4, 8
SENSE = LESS | GREATER | EQUAL
_OPS = {"<": LESS, ">": GREATER, "=": EQUAL, "<=": LESS | EQUAL, ">=": GREATER | EQUAL,
        "==": EQUAL}
_FLAGS = {"LT": LESS, "GT": GREATER, "EQ": EQUAL, "LE": LESS | EQUAL, "GE": GREATER | EQUAL}


@dataclass(frozen=True)
class Simple:
    name: str
    flags: int = 0
    evr: Optional[EVR] = None

    @classmethod
    def of(cls, name: str, flags: str = "", epoch: Optional[str] = None,
           ver: Optional[str] = None, rel: Optional[str] = None) -> "Simple":
        """From repodata's entry attributes (flags EQ, LT, ...)."""
        bits = _FLAGS.get(flags, 0)
        if not bits or ver is None:
            return cls(name)
        return cls(name, bits, EVR(number(epoch or "", 0), ver, rel))

    def overlaps(self, other: "Simple") -> bool:
        """Do the two ranges (a provide's and a require's) share a version?"""
        if not (self.flags & SENSE) or not (other.flags & SENSE):
            return True
        assert self.evr is not None and other.evr is not None
        sense = compare_in_range(self.evr, other.evr)
        if sense < 0:
            return bool(self.flags & GREATER or other.flags & LESS)
        if sense > 0:
            return bool(self.flags & LESS or other.flags & GREATER)
        return bool((self.flags & other.flags) & SENSE)

    def __str__(self) -> str:
        if not self.flags:
            return self.name
        op = {LESS: "<", GREATER: ">", EQUAL: "=", LESS | EQUAL: "<=",
              GREATER | EQUAL: ">="}[self.flags & SENSE]
        return f"{self.name} {op} {self.evr}"


@dataclass(frozen=True)
class Rich:
    op: str                              # and or if unless with without
    args: tuple["Dependency", ...]       # if/unless: (then, condition[, else])

    def __str__(self) -> str:
        if self.op in ("if", "unless"):
            text = f"({self.args[0]} {self.op} {self.args[1]}"
            return text + (f" else {self.args[2]})" if len(self.args) > 2 else ")")
        return "(" + f" {self.op} ".join(str(a) for a in self.args) + ")"


Dependency = Union[Simple, Rich]
_WORDS = ("and", "or", "if", "unless", "else", "with", "without")


def parse(text: str) -> Dependency:
    """A dependency as rpm writes it; ValueError for one rpm would refuse."""
    stripped = text.strip()
    if not stripped.startswith("("):
        words = stripped.split()
        if len(words) == 3 and words[1] in _OPS:
            return Simple(words[0], _OPS[words[1]], EVR.parse(words[2]))
        if len(words) == 1:
            return Simple(words[0])
        raise ValueError(f"not a dependency: {text!r}")
    dep, pos = _Parser(stripped).rich(0)
    if pos != len(stripped):
        raise ValueError(f"not a dependency: {text!r}")
    return dep


# Fedora's deepest nesting is 4; the bound keeps a hostile one off Python's stack
_DEEPEST = 64


class _Parser:
    """rpm's grammar: a name runs to a blank or to a ')' it did not open itself
    (names such as libc.so.6()(64bit) hold parentheses)."""

    def __init__(self, text: str) -> None:
        self.s = text

    def fail(self, why: str) -> ValueError:
        return ValueError(f"{why} in {self.s!r}")

    def blank(self, i: int) -> int:
        while i < len(self.s) and self.s[i].isspace():
            i += 1
        return i

    def word(self, i: int) -> tuple[str, int]:
        start, depth = i, 0
        while i < len(self.s) and not self.s[i].isspace():
            c = self.s[i]
            if c == "(":
                depth += 1
            elif c == ")":
                if depth == 0:
                    break
                depth -= 1
            i += 1
        return self.s[start:i], i

    def term(self, i: int, depth: int) -> tuple[Dependency, int]:
        i = self.blank(i)
        if i < len(self.s) and self.s[i] == "(":
            return self.rich(i, depth + 1)
        name, i = self.word(i)
        if not name or name in _WORDS:
            raise self.fail("a missing name")
        j = self.blank(i)
        op, k = self.word(j)
        if op in _OPS:
            evr, k = self.word(self.blank(k))
            if not evr:
                raise self.fail(f"no version after {op}")
            return Simple(name, _OPS[op], EVR.parse(evr)), k
        return Simple(name), i

    def rich(self, i: int, depth: int = 0) -> tuple[Dependency, int]:
        if self.s[i] != "(":
            raise self.fail("no '('")
        if depth > _DEEPEST:
            raise self.fail(f"rich dependencies nested more than {_DEEPEST} deep")
        terms: list[Dependency] = []
        ops: list[str] = []
        i += 1
        while True:
            term, i = self.term(i, depth)
            terms.append(term)
            i = self.blank(i)
            if i >= len(self.s):
                raise self.fail("unbalanced parentheses")
            if self.s[i] == ")":
                i += 1
                break
            op, i = self.word(i)
            if op not in _WORDS:
                raise self.fail(f"{op!r} where and, or, if... should be")
            ops.append(op)
        if not ops:
            return terms[0], i
        if ops[0] in ("if", "unless"):
            if len(ops) == 2 and ops[1] == "else":
                return Rich(ops[0], (terms[0], terms[1], terms[2])), i
            if len(ops) != 1:
                raise self.fail(f"{ops[0]} takes one condition and at most an else")
            return Rich(ops[0], (terms[0], terms[1])), i
        if len(set(ops)) != 1 or ops[0] not in ("and", "or", "with", "without"):
            raise self.fail("mixed operators without parentheses")
        if ops[0] == "without" and len(terms) != 2:
            raise self.fail("without takes two terms")
        return Rich(ops[0], tuple(terms)), i


def holds(dep: Dependency, met: Callable[[Simple], bool]) -> bool:
    """Is dep true of a set of packages, given met(simple) for its simple terms?
    (`with` and `without` are taken as `and` and `and not` over the set.)"""
    if isinstance(dep, Simple):
        return met(dep)
    a = dep.args
    if dep.op in ("and", "with"):
        return all(holds(x, met) for x in a)
    if dep.op == "or":
        return any(holds(x, met) for x in a)
    if dep.op == "without":
        return holds(a[0], met) and not holds(a[1], met)
    condition = holds(a[1], met)
    if dep.op == "unless":
        condition = not condition
    if condition:
        return holds(a[0], met)
    return holds(a[2], met) if len(a) > 2 else True
