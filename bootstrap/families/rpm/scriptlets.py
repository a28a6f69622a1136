"""An rpm's scriptlets run as rpm runs them in a fresh install: %pretrans of
every package before anything, each package's %pre before its files and %post
after, %filetriggerin of the packages installed so far for the files each new
package brings, then %posttrans and %transfiletriggerin once. A scriptlet runs
with its interpreter (the PROG tag; `<lua>` in rpm's own Lua), $1 the count of
the package installed after this (1), and stdin the matching files for a file
trigger."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Optional, Sequence

from bootstrap.errors import die
from bootstrap.families.rpm import lua
from bootstrap.families.rpm.header import Header
from bootstrap.sandbox.base import CommandFailed, TreeRunner

# (script tag, interpreter tag)
PRETRANS, PRE, POST, POSTTRANS = (1151, 1153), (1023, 1085), (1024, 1086), (1152, 1154)
TRIGGERIN = 1 << 16
FILE_TRIGGERS = dict(scripts=5066, progs=5067, names=5069, index=5070, flags=5072,
                     priorities=5084)
TRANS_TRIGGERS = dict(scripts=5076, progs=5077, names=5079, index=5080, flags=5082,
                      priorities=5085)
# file triggers of at least this priority run before a package's %post, the
# others after it; rpm's default priority is 1000000
PRIORITY_BOUND, DEFAULT_PRIORITY = 10000, 1000000
SCRATCH = "var/tmp"
ENV = {"LANG": "C", "HOME": "/root", "RPM_INSTALL_PREFIX": "/"}


@dataclass
class Script:
    package: str               # name-version-release, as rpm reports it
    what: str                  # %pre, %post, %filetriggerin...
    prog: list[str]            # the interpreter and its arguments; ["<lua>"]
    body: str


def script(h: Header, tags: tuple[int, int], what: str) -> Optional[Script]:
    body = h.tags.get(tags[0])
    prog = h.strings(tags[1])
    if body is None and not prog:
        return None
    return Script(_nvr(h), what, prog or ["/bin/sh"], str(body or ""))


def _nvr(h: Header) -> str:
    return f"{h.text(1000)}-{h.text(1001)}-{h.text(1002)}"


@dataclass
class Trigger:
    owner: str
    prefixes: list[str]
    script: Script
    priority: int = DEFAULT_PRIORITY
    index: int = 0


def triggers(h: Header, tags: dict[str, int], what: str) -> list[Trigger]:
    """The file triggers a package declares that fire on installation, in the
    order rpm runs them: higher priority first, then as declared."""
    scripts, names = h.strings(tags["scripts"]), h.strings(tags["names"])
    progs, index, flags = h.strings(tags["progs"]), h.ints(tags["index"]), h.ints(tags["flags"])
    priorities = h.ints(tags["priorities"])
    out: dict[int, Trigger] = {}
    for name, i, flag in zip(names, index, flags):
        if not flag & TRIGGERIN or i >= len(scripts):
            continue
        prog = [progs[i]] if i < len(progs) and progs[i] else ["/bin/sh"]
        priority = priorities[i] if i < len(priorities) else DEFAULT_PRIORITY
        trig = out.setdefault(i, Trigger(_nvr(h), [], Script(_nvr(h), what, prog, scripts[i]),
                                         priority, i))
        trig.prefixes.append(name)
    return sorted(out.values(), key=lambda t: (-t.priority, t.index))


def matching(trig: Trigger, paths: Sequence[str]) -> list[str]:
    """The paths under the trigger's prefixes, prefix by prefix (a prefix names
    a directory: what is below it matches, not itself)."""
    out: list[str] = []
    for prefix in trig.prefixes:
        under = prefix.rstrip("/") + "/"
        out += [p for p in paths if p.startswith(under) and p not in out]
    return out


def fire(runner: TreeRunner, trig: Trigger, paths: Sequence[str]) -> None:
    """A file trigger, if any of paths is under its prefixes: they go to its
    stdin, one a line; rpm passes 0 as its one argument."""
    matched = matching(trig, paths)
    if matched:
        run(runner, trig.script, ("0",),
            "".join(f"{m}\n" for m in matched).encode("utf-8", "surrogateescape"))


def run(runner: TreeRunner, s: Script, args: Sequence[str] = ("1",),
        stdin: Optional[bytes] = None) -> None:
    """One scriptlet, in the tree; a failure of %pre stops the build as rpm stops
    that package; the others are reported and the build goes on, as rpm does."""
    fatal = s.what in ("%pretrans", "%pre")
    if s.prog and s.prog[0] == "<lua>":
        def execute(argv: Sequence[str]) -> int:
            try:
                runner.run([list(argv)], ENV)
                return 0
            except CommandFailed as e:
                return e.code

        try:
            with runner.session():
                lua.run(runner.tree, s.body, [s.what.lstrip("%"), *args], execute,
                        lambda text: _log(runner, text))
        except lua.LuaFailed as e:
            _failed(s, f"its Lua failed: {e}", fatal)
        return
    path = f"{SCRATCH}/rpm-tmp.{s.package}.{s.what.lstrip('%')}"
    runner.writer.ensure_dir(SCRATCH, 0o1777)
    runner.writer.write_bytes(path, s.body.encode("utf-8", "surrogateescape"), 0o700)
    try:
        runner.run([[*s.prog, f"/{path}", *args]], ENV, input=stdin)
    except CommandFailed as e:
        _failed(s, f"exited with {e.code}" + (f" ({e.reason})" if e.reason else ""), fatal)
    finally:
        runner.writer.remove(path)


def _log(runner: TreeRunner, text: str) -> None:
    if runner.log:
        runner.log.write((text + "\n").encode())
    else:
        print(text, file=sys.stderr)


def _failed(s: Script, why: str, fatal: bool) -> None:
    message = f"the {s.what} scriptlet of {s.package} {why}"
    if fatal:
        die(f"configuring failed: {message}")
    print(f"rootstrap: warning: {message}", file=sys.stderr)
