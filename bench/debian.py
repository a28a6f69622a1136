"""Debian: rootstrap against `mmdebstrap --mode=unshare` (merged-usr hook), the
same release, variant and tar output, as the same unprivileged user.

cold: rootstrap with an empty cache, mmdebstrap as it always runs, both from
deb.debian.org. warm: rootstrap's cache full (its index revalidated with a
conditional request), mmdebstrap given a file:// mirror holding exactly the
needed debs, indexed with apt-ftparchive and signed with a throwaway key it is
told to trust, so neither downloads a package.

Floor lines: the same .deb files downloaded alone (as many at once as
rootstrap's --jobs, cold), and the same data members decompressed and written
alone by dpkg-deb --extract on every core (warm); and rootstrap's start alone
(the interpreter and the imports of a build), which with the floor and dpkg's
configure makes the least time any rootstrap build of the work could take."""
from __future__ import annotations

import hashlib
import json
import lzma
import re
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

import requests

from bench import floor, measure
from bench.measure import Sample, Series
from bench.report import Comparison
from bench.users import CHECKOUT, User

MIRROR = "http://deb.debian.org/debian"
MERGED_USR = "/usr/share/mmdebstrap/hooks/merged-usr"
FILE_MIRROR = "/usr/share/mmdebstrap/hooks/file-mirror-automount"
JOBS = 4                               # rootstrap's default --jobs


def rootstrap_argv(python: str, out: Path, release: str, variant: str, cache: Path,
                   *extra: str) -> list[str]:
    return [python, "-m", "bootstrap", "debian", str(out), "--release", release,
            "--variant", variant, "--cache", str(cache), "--json", *extra]


def mmdebstrap_argv(out: Path, release: str, variant: str, mirror: str) -> list[str]:
    # a file:// mirror is bind-mounted into the tree for dpkg to read (its own hook)
    hooks = [MERGED_USR] + ([FILE_MIRROR] if "file://" in mirror else [])
    return ["mmdebstrap", "--quiet", f"--variant={variant}", "--mode=unshare",
            *(f"--hook-dir={h}" for h in hooks), release, str(out), mirror]


def run_rootstrap(user: User, argv: list[str], log: Path) -> Sample:
    sample, stdout = measure.run(user.command(argv), log=log)
    return measure.rootstrap_json(sample, stdout)


def run_peer(user: User, argv: list[str], log: Path) -> Sample:
    return measure.run(user.command(argv), log=log)[0]


def packages_in_tar(tar: Path) -> int:
    """How many packages dpkg's status file in the tarball lists."""
    proc = subprocess.run(["tar", "-xOf", str(tar), "./var/lib/dpkg/status"],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    return sum(1 for line in proc.stdout.splitlines() if line.startswith(b"Package:"))


def manifest_packages(out: Path) -> list[dict[str, str]]:
    return json.loads(Path(f"{out}.manifest.json").read_text())["packages"]


def cached_debs(packages: list[dict[str, str]], cache: Path, into: Path) -> list[Path]:
    """The build's .debs out of rootstrap's content-addressed cache, under the
    names Debian's pool gives them."""
    into.mkdir(parents=True, exist_ok=True)
    debs = []
    for p in packages:
        algorithm, _, value = p["digest"].partition(":")
        src = cache / "objects" / algorithm / value[:2] / value
        dest = into / pool_name(p)
        if not dest.exists():
            shutil.copyfile(src, dest)
        dest.chmod(0o644)
        debs.append(dest)
    return debs


def pool_name(p: dict[str, str]) -> str:
    return f"{p['name']}_{p['version'].partition(':')[2] or p['version']}_{p['arch']}.deb"


def pool_url(p: dict[str, str]) -> str:
    """Where Debian's pool keeps a package: by source name, the epoch left out."""
    source = p.get("source") or p["name"]
    prefix = source[:4] if source.startswith("lib") else source[:1]
    return f"{MIRROR}/pool/main/{prefix}/{source}/{pool_name(p)}"


def archive_priorities(release: str) -> dict[str, str]:
    """Package -> Priority as the mirror's index has it: the archive's overrides,
    which a package's own control file does not always agree with."""
    r = requests.get(f"{MIRROR}/dists/{release}/main/binary-amd64/Packages.xz", timeout=60)
    r.raise_for_status()
    text = lzma.decompress(r.content).decode("utf-8", "replace")
    out = {}
    for stanza in text.split("\n\n"):
        name = re.search(r"^Package: (\S+)", stanza, re.M)
        priority = re.search(r"^Priority: (\S+)", stanza, re.M)
        if name and priority:
            out[name.group(1)] = priority.group(1)
    return out


def _with_priorities(priorities: dict[str, str]) -> Callable[[bytes], bytes]:
    def rewrite(packages: bytes) -> bytes:
        stanzas = []
        for stanza in packages.decode().split("\n\n"):
            name = re.search(r"^Package: (\S+)", stanza, re.M)
            if name and name.group(1) in priorities:
                stanza = re.sub(r"^Priority: .*$", f"Priority: {priorities[name.group(1)]}",
                                stanza, flags=re.M)
            stanzas.append(stanza)
        return "\n\n".join(stanzas).encode()
    return rewrite


def local_mirror(root: Path, release: str, debs: list[Path], keydir: Path) -> str:
    """A signed file:// mirror of exactly these debs, with the priorities the
    archive gives them (mmdebstrap chooses by them); the sources line for it."""
    sys.path.insert(0, str(CHECKOUT / "tests"))
    import debmirror
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(keydir, ignore_errors=True)
    signer = debmirror.make_signer(keydir)
    try:
        debmirror.mirror_real_debs(root, release, debs, signer=signer)
        debmirror.index_repo(root, release, signer,
                             rewrite=_with_priorities(archive_priorities(release)))
    finally:
        debmirror.stop_agent(signer)
    for p in (keydir, root.parent):
        p.chmod(0o755)
    return f"deb [signed-by={signer.keyring}] file://{root} {release} main"


def download_floor(packages: list[dict[str, str]]) -> Sample:
    """Every .deb fetched from the mirror alone, JOBS at a time, checked after the
    clock stops against the digest the build used."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=JOBS)
    session.mount("http://", adapter)
    got: dict[str, bytes] = {}

    def fetch(p: dict[str, str]) -> None:
        r = session.get(pool_url(p), timeout=60)
        r.raise_for_status()
        got[p["name"]] = r.content

    def work() -> None:
        with ThreadPoolExecutor(JOBS) as pool:
            list(pool.map(fetch, packages))

    sample = measure.timed(work)
    for p in packages:
        if "sha256:" + hashlib.sha256(got[p["name"]]).hexdigest() != p["digest"]:
            raise measure.Failed(f"{pool_url(p)} is not the package the build used")
    return sample


def workload(python: str, user: User, release: str, variant: str, runs: int,
             caches: tuple[str, ...], state: Path) -> list[Comparison]:
    name = f"debian-{variant}"
    logs = user.home / "logs"
    user.mkdir(logs)
    out = user.home / f"{name}.tar"
    theirs = user.home / f"{name}-mmdebstrap.tar"
    warm_cache = user.home / f"{name}-cache"
    results: list[Comparison] = []
    cold_rs: Series | None = None

    def ours(cache: Path, tag: str) -> Sample:
        for old in (out, Path(f"{out}.manifest.json"), Path(f"{out}.cdx.json")):
            user.remove(old)
        return run_rootstrap(user, rootstrap_argv(python, out, release, variant, cache),
                             logs / f"{tag}-rootstrap.log")

    def peer(mirror: str, tag: str) -> Sample:
        user.remove(theirs)
        return run_peer(user, mmdebstrap_argv(theirs, release, variant, mirror),
                        logs / f"{tag}-mmdebstrap.log")

    if "cold" in caches:
        rs, mm, dl = Series("rootstrap"), Series("mmdebstrap"), Series("floor: download alone")
        for n in range(runs):
            # the first run's cache is the one the warm runs use
            cache = user.dir(warm_cache.name if n == 0 else f"{name}-cold-cache")
            rs.samples.append(ours(cache, f"{name}-cold"))
            if n:
                user.remove(cache)
            mm.samples.append(peer(MIRROR, f"{name}-cold"))
            dl.samples.append(download_floor(manifest_packages(out)))
        results.append(Comparison(
            f"{name} cold", f"Debian {release} {variant} to a tar, empty cache, {MIRROR}, "
            f"{runs} runs alternating, as {user.name}", [rs, mm], [dl],
            notes=_same_work(rs, theirs)))
        cold_rs = rs

    if "warm" in caches:
        if "cold" not in caches:      # the untimed build that fills the cache
            ours(user.dir(warm_cache.name), f"{name}-fill")
        packages = manifest_packages(out)
        debs = cached_debs(packages, warm_cache, state / f"{name}-debs")
        sources = local_mirror(state / f"{name}-mirror", release, debs, state / f"{name}-key")
        rs, mm, fl = Series("rootstrap"), Series("mmdebstrap"), \
            Series("floor: decompress+write alone")
        st = Series("rootstrap start: python + imports")
        for n in range(runs + 1):      # the first round warms the page cache for both
            r, m = ours(warm_cache, f"{name}-warm"), peer(sources, f"{name}-warm")
            f = floor.extract(user, debs, "dpkg-deb --extract {} OUT", name,
                              logs / f"{name}-floor.log")
            s = floor.start(user, python, "deb", logs / f"{name}-start.log")
            if n:
                rs.samples.append(r)
                mm.samples.append(m)
                fl.samples.append(f)
                st.samples.append(s)
        notes = _same_work(rs, theirs)
        if cold_rs:
            notes.append(f"rootstrap cold/warm: {cold_rs.median / rs.median:.2f}")
        results.append(Comparison(
            f"{name} warm", f"Debian {release} {variant} to a tar, rootstrap's cache full, "
            f"mmdebstrap from a file:// mirror of the {len(debs)} debs, {runs} runs "
            f"alternating, as {user.name}", [rs, mm], [fl], notes=notes, extra="configure",
            start=st))
    user.remove(out)
    user.remove(theirs)
    return results


def _same_work(rs: Series, theirs: Path) -> list[str]:
    return [f"packages: rootstrap {rs.samples[-1].packages}, "
            f"mmdebstrap {packages_in_tar(theirs)}"]
