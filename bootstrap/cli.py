"""Command line: `rootstrap DISTRO TARGET [options]`, `rootstrap list`,
`rootstrap export TREE OUT` and `rootstrap run TREE [-- CMD...]`."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import signal
import sys
from pathlib import Path
from typing import NoReturn, Optional, Sequence

from bootstrap import shaping
from bootstrap.errors import Die
from bootstrap.treewriter import Unsafe

PROG = "rootstrap"
COMMANDS = ("list", "export", "run", "verify", "cache")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise Die(f"{message} (see {self.prog} --help)", 2)


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Build a Linux distribution's root filesystem "
                "without root.", epilog="Also: `rootstrap list` (every recipe), "
                "`rootstrap export TREE OUT.tar.zst`, `rootstrap run TREE [-- CMD...]`, "
                "`rootstrap verify DISTRO FILE...`, `rootstrap cache ls|verify|gc`; each takes --help.")
    p.add_argument("distro", help="recipe name from recipes/ or path to a recipe YAML")
    p.add_argument("target", help="directory, tarball (.tar, .tar.gz, .tar.xz, .tar.zst) or "
                   "another --format; missing parent directories are made")
    p.add_argument("--release", help="release or suite (default: the recipe's)")
    p.add_argument("--arch", help="architecture, in the distribution's own naming")
    p.add_argument("--variant", help="package set (default: the recipe's)")
    p.add_argument("--include", action="append", type=_csv, default=[], metavar="P,..",
                   help="more packages")
    p.add_argument("--exclude", action="append", type=_csv, default=[], metavar="P,..",
                   help="packages never to install")
    p.add_argument("--mirror", action="append", default=[], metavar="URL",
                   help="mirror; repeat for failover (the first is used while it answers); "
                   "for rpm distributions, one repository's base URL each")
    p.add_argument("--keyring", action="append", default=[], type=Path, metavar="PATH",
                   help="trust roots that replace the recipe's")
    p.add_argument("--weak-deps", action="store_true",
                   help="also install weak dependencies (rpm's Recommends and Supplements, "
                   "as dnf's install_weak_deps=True)")
    p.add_argument("--hostname", help="host name of the tree (default: the distro's name)")
    p.add_argument("--no-configure", dest="configure", action="store_false",
                   help="unpack and register only: run no scriptlet, trigger or hook")
    p.add_argument("--cache", type=Path, metavar="DIR", help="download cache")
    p.add_argument("--cache-group", metavar="GROUP",
                   help="share the cache with GROUP: what this build adds to it is the "
                   "group's and group-writable (directories setgid)")
    _mode_options(p)
    _format_options(p, "TARGET")
    p.add_argument("--force", action="store_true",
                   help="replace TARGET if it is a tree rootstrap built (in one step, once "
                   "the new one is whole)")
    p.add_argument("--jobs", type=int, default=4, metavar="N", help="parallel downloads")
    p.add_argument("--timeout", type=float, default=60, metavar="SECONDS",
                   help="how long a mirror may stay silent before it is asked again, then "
                   "the next mirror (default 60)")
    shaping.add_options(p)
    _output_options(p)
    return p


def _format_options(p: argparse.ArgumentParser, name: str) -> None:
    from bootstrap.emit import COMPRESSIONS, FORMATS
    formats = FORMATS if name == "TARGET" else FORMATS[1:]     # export writes no dir
    p.add_argument("--format", default="auto", metavar="FORMAT",
                   help=f"{', '.join(formats)} (default: from {name}'s suffix: .tar, "
                   ".tar.gz, .tgz, .tar.xz, .tar.zst, .oci.tar, .sqfs, .squashfs"
                   + ("; else dir)" if name == "TARGET" else ")"))
    p.add_argument("--tag", metavar="NAME",
                   help="the image's name in an OCI layout's index.json (default: the release)")
    p.add_argument("--compression", choices=COMPRESSIONS,
                   help="of an OCI image's layer or a squashfs (default: gzip)")
    p.add_argument("--terminal", action="store_true",
                   help="a bundle's process gets a terminal (config.json's process.terminal)")


def _output_options(p: argparse.ArgumentParser) -> None:
    loud = p.add_mutually_exclusive_group()
    loud.add_argument("--quiet", "-q", action="store_true", help="no progress, no summary")
    loud.add_argument("--verbose", "-v", action="store_true",
                      help="what happens, the seconds of each phase, and the output of "
                      "every command run in the tree")
    p.add_argument("--json", action="store_true",
                   help="print the result (or the error) as one JSON object")


def _mode_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mode", default="auto", choices=("auto", "userns", "ptrace", "root"),
                   help="how to act as root (default: the best this host allows)")
    p.add_argument("--proot", metavar="PATH", help="the PRoot binary for --mode ptrace")


def _list(argv: list[str]) -> int:
    p = _Parser(prog=f"{PROG} list", description="Every recipe: its releases, "
                "architectures and variants.")
    p.parse_args(argv)
    from bootstrap import recipe as recipes
    from bootstrap.families import load_recipe
    for name in recipes.names():
        r, _ = load_recipe(name)
        releases = ", ".join(
            rel.name + (f" ({'/'.join(rel.aliases)})" if rel.aliases else "")
            + (" [default]" if rel.name == r.default_release else "")
            for rel in r.releases.values())
        variants = ", ".join(v + (" [default]" if v == r.default_variant else "")
                             for v in r.variants)
        print(f"{r.name}: {r.description} ({r.family})")
        print(f"  releases:      {releases}")
        print(f"  architectures: {', '.join(r.architectures)}")
        print(f"  variants:      {variants}")
    return 0


def _export(argv: list[str]) -> int:
    p = _Parser(prog=f"{PROG} export", description="Write a tree built by rootstrap as a "
                "tarball, an OCI image, an OCI runtime bundle or a squashfs, with the "
                "ownership its ledger kept.")
    p.add_argument("tree")
    p.add_argument("out", help="OUT.tar, .tar.gz, .tar.xz, .tar.zst, .oci.tar, .sqfs, or any "
                   "name with --format")
    _format_options(p, "OUT")
    _mode_options(p)
    args = p.parse_args(argv)
    from bootstrap.export import export
    export(Path(args.tree), Path(args.out), args.format, args.mode, args.proot,
           tag=args.tag, compression=args.compression, terminal=args.terminal)
    return 0


def _run(argv: list[str]) -> int:
    command: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, command = argv[:cut], argv[cut + 1:]
    p = _Parser(prog=f"{PROG} run", description="Run a command (default: root's login "
                "shell, or the image's or bundle's command) inside a tree as root, with the "
                "best backend this host allows, the host's name servers and the tree's host "
                "name. TREE may also be an OCI image layout (its layer is unpacked once into "
                "the cache) or an OCI runtime bundle.",
                usage=f"{PROG} run [-h] [--mode MODE] [--proot PATH] [--tag NAME] [--user NAME] "
                "TREE [-- CMD ...]")
    p.add_argument("tree")
    _mode_options(p)
    p.add_argument("--tag", metavar="NAME", help="which image of an OCI layout to run")
    p.add_argument("--user", metavar="NAME", help="run as this user of the tree (its ids, "
                   "home and shell) instead of root")
    p.add_argument("--cache", type=Path, metavar="DIR",
                   help="where an OCI image's layer is unpacked (default: the download cache)")
    args = p.parse_args(argv)
    from bootstrap.enter import run
    return run(Path(args.tree), command, args.mode, args.proot, tag=args.tag,
               cache=args.cache, user=args.user)


def _verify(argv: list[str]) -> int:
    p = _Parser(prog=f"{PROG} verify", description="Check packages and indexes against the "
                "recipe's trust roots as the distribution's own tools do: one line per file, "
                "OK FILE SIGNER or FAIL FILE: REASON; the exit status is 1 if any fails.")
    p.add_argument("distro", help="recipe name from recipes/ or path to a recipe YAML")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    p.add_argument("--keyring", action="append", default=[], type=Path, metavar="PATH",
                   help="trust roots that replace the recipe's")
    p.add_argument("--index", action="append", default=[], type=Path, metavar="FILE",
                   help="a (verified) index that vouches for files without a signature of "
                   "their own: InRelease and Packages for a .deb, a pacman database, an "
                   "APKINDEX.tar.gz")
    p.add_argument("--release", help="trust only what this release trusts (for Fedora, its "
                   "own key); default: every key the recipe ships")
    args = p.parse_args(argv)
    from bootstrap.verify import verify
    return verify(args.distro, args.files, args.index, args.keyring, args.release)


def _cache(argv: list[str]) -> int:
    p = _Parser(prog=f"{PROG} cache", description="The download cache: `ls` lists its "
                "objects, `verify` hashes each again and removes any that no longer match "
                "(exit 1 if some did not), `gc` removes what no build used for --older-than "
                "days, never what a running build holds.")
    p.add_argument("action", choices=("ls", "verify", "gc"))
    p.add_argument("--cache", type=Path, metavar="DIR", help="the cache (default: the one "
                   "builds use)")
    p.add_argument("--older-than", type=float, default=30, metavar="DAYS",
                   help="gc: unused for this many days (default 30)")
    p.add_argument("--dry-run", action="store_true", help="gc: say what would go")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    args = p.parse_args(argv)
    from bootstrap import cache_command
    return cache_command.run(args.action, args.cache, args.older_than, args.dry_run,
                             args.json)


def _build(argv: list[str]) -> int:
    args = _build_parser().parse_args(argv)
    from bootstrap.build import Options, build
    from bootstrap.families import load_recipe
    recipe, family = load_recipe(args.distro)
    opts = Options(
        target=Path(args.target).expanduser(), release=args.release, arch=args.arch,
        variant=args.variant, include=[p for group in args.include for p in group],
        exclude=[p for group in args.exclude for p in group], mirrors=args.mirror,
        weak_deps=args.weak_deps,
        keyrings=args.keyring, hostname=args.hostname, configure=args.configure,
        cache=args.cache, cache_group=args.cache_group, mode=args.mode, proot=args.proot,
        format=args.format, force=args.force, timeout=args.timeout,
        tag=args.tag, compression=args.compression, terminal=args.terminal,
        jobs=args.jobs, quiet=args.quiet or args.json, verbose=args.verbose,
        shaping=shaping.parse(args.shaping or [], args.user, args.locale, args.timezone))
    result = build(recipe, family, opts)
    if args.json:
        print(json.dumps(dataclasses.asdict(result), indent=2))
    elif not args.quiet:
        print(f"{result.target}: {result.distro} {result.release} {result.arch} "
              f"{result.variant}, {len(result.packages)} packages, mode {result.mode}, "
              f"{result.seconds:.1f} s", file=sys.stderr)
    return 0


def _terminate(signum: int, frame: object) -> None:
    # once: a second Ctrl-C (or runuser's SIGTERM after it) must not cut the cleanup short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, _terminate)
    as_json = "--json" in args[: args.index("--")] if "--" in args else "--json" in args
    try:
        if args[:1] == ["list"]:
            return _list(args[1:])
        if args[:1] == ["export"]:
            return _export(args[1:])
        if args[:1] == ["run"]:
            return _run(args[1:])
        if args[:1] == ["verify"]:
            return _verify(args[1:])
        if args[:1] == ["cache"]:
            return _cache(args[1:])
        return _build(args)
    except (Die, Unsafe) as caught:
        # Unsafe past unpacking: one of rootstrap's own steps met what the packages
        # left in the tree where it writes (a link loop, a directory in the way)
        e = caught if isinstance(caught, Die) else \
            Die(f"refusing to write into the tree: {caught}")
        if as_json:
            print(json.dumps(e.as_json(), indent=2))
        else:
            print(f"{PROG}: error: {e.message}", file=sys.stderr)
        return e.code
    except BrokenPipeError:
        # the reader went away (`rootstrap list | head`): nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if as_json:
            print(json.dumps(Die("interrupted; nothing was left behind", 130).as_json()))
        else:
            print(f"{PROG}: error: interrupted; nothing was left behind", file=sys.stderr)
        return 130
