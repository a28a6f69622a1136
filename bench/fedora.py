"""Fedora: rootstrap (as rs-bench, unprivileged) against the host's dnf as root
(`dnf --installroot`), installing the same package set from the same local
mirror with signatures checked by both, warm caches.

Fedora's mirrors are out of reach here, so the mirror is the test fixture
(built with rpmbuild, signed with rpmsign, indexed by createrepo_c, see
tests/rpmmirror.py) plus --bulk packages made of the host's shared libraries,
so that unpacking has real weight. Both install the recipe's minimal set (dnf)
and the bulk packages, without weak dependencies.

Floor line: the same packages decompressed and written alone by bsdtar (which
reads rpm) on every core, as root (an unprivileged bsdtar cannot write into the
0555 directories Fedora's packages make); and rootstrap's start alone."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import bulk, floor, measure
from bench.measure import Series
from bench.report import Comparison
from bench.users import CHECKOUT, User
from bootstrap.families.rpm import rpmdb

sys.path.insert(0, str(CHECKOUT / "tests"))

import rpmmirror  # noqa: E402
from debmirror import MirrorServer, Signer, make_signer, stop_agent  # noqa: E402
from rpmmirror import RpmFile, RpmSpec  # noqa: E402

BUSYBOX = "/bin/busybox"


def bulk_specs(count: int) -> list[RpmSpec]:
    """count packages sharing out the host's shared libraries (bench/bulk.py)."""
    return [RpmSpec(f"bulk{k}", files=(RpmFile(f"/usr/lib/bulk{k}", kind="dir"),) + tuple(
        RpmFile(f"/usr/lib/bulk{k}/{p.name}", source=str(p), mode="0755") for p in libs))
        for k, libs in enumerate(bulk.shares(count))]


def build_mirror(work: Path, bulk: int) -> rpmmirror.FedoraRepos:
    """The fixture with the bulk packages in its fedora repository, signed;
    reused when a finished one is there."""
    root, done = work / "mirror", work / "mirror.done"
    if not done.exists():
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        signer = make_signer(work / "key")
        try:
            specs = rpmmirror.fixture_specs(BUSYBOX, rpmmirror.armored(signer)) + \
                bulk_specs(bulk)
            repos = rpmmirror.FedoraRepos(root, signer, specs=specs)
            for spec in specs:
                rpmmirror.build_rpm(spec, repos.repo_dir(spec.repo) / "Packages" /
                                    spec.name[0], signer)
            for repo in ("fedora", "updates"):
                repos.reindex(repo)
            (work / "key.asc").write_text(rpmmirror.armored(signer))
        finally:
            stop_agent(signer)
        for dirpath, _, _ in os.walk(work):
            os.chmod(dirpath, 0o755)
        done.write_text("")
    keydir = work / "key"
    signer = Signer(home=keydir / "gnupg", fingerprint="", keyring=keydir / "key.gpg")
    repos = rpmmirror.FedoraRepos(root, signer)
    repos.built = {p.name: p for p in root.rglob("*.rpm")}
    return repos


def dnf_argv(work: Path, target: Path, names: list[str]) -> list[str]:
    return ["dnf", "-y", "-q", "--installroot", str(target), "--releasever", rpmmirror.RELEASE,
            f"--setopt=reposdir={work / 'repos.d'}", f"--setopt=cachedir={work / 'cache'}",
            "--setopt=keepcache=True", "--setopt=install_weak_deps=False", "install", *names]


def installed(root: Path) -> list[str]:
    """The packages of a tree's rpm database as name-version-release.arch, the
    imported key left out."""
    out = subprocess.run(["rpm", "--root", str(root), "--dbpath", f"/{rpmdb.DBPATH}", "-qa",
                          "--qf", "%{name} %{nvra}\n"], check=True, stdout=subprocess.PIPE,
                         text=True).stdout
    return sorted(line.split()[1] for line in out.splitlines()
                  if line and line.split()[0] != "gpg-pubkey")


def fixture_tag(bulk: int) -> str:
    """What the fixture is made from: the fixture's own code and the bulk
    packages, so a changed one is built anew rather than reused."""
    made = Path(rpmmirror.__file__).read_bytes() + repr(bulk_specs(bulk)).encode()
    return f"{bulk}-{hashlib.sha256(made).hexdigest()[:12]}"


def workload(python: str, user: User, runs: int, bulk: int, state: Path) -> list[Comparison]:
    if os.geteuid() != 0:
        raise measure.Failed("fedora: run as root (the host's dnf installs as root)")
    missing = rpmmirror.missing_tools() + [t for t in ("dnf", BUSYBOX) if not shutil.which(t)]
    if missing:
        raise measure.Failed(f"fedora: missing {', '.join(missing)}")
    work = state / f"fedora-fixture-{fixture_tag(bulk)}"
    repos = build_mirror(work, bulk)
    key = work / "key.asc"
    logs = user.home / "logs"
    user.mkdir(logs)
    dnf_work = state / "fedora-dnf"
    shutil.rmtree(dnf_work, ignore_errors=True)
    cache = user.dir("fedora-cache")
    root = User("root", 0, 0, dnf_work)
    server = MirrorServer(repos.root)
    home = rpmmirror.dnf_host_config(
        dnf_work, [(r, repos.repo_url(server.url, r)) for r in ("fedora", "updates")], key)
    extra = [f"bulk{k}" for k in range(bulk)]
    rs, dn = Series("rootstrap"), Series("dnf (root)")
    fl = Series("floor: decompress+write alone")
    st = Series("rootstrap start: python + imports")
    same: list[str] = []
    try:
        for n in range(runs + 1):        # the first round fills every cache
            target = user.home / "fedora-rootstrap"
            for old in [target, *target.parent.glob(f"{target.name}.*")]:
                user.remove(old)
            sample, stdout = measure.run(user.command([
                python, "-m", "bootstrap", "fedora", str(target),
                "--mirror", repos.repo_url(server.url, "fedora"),
                "--mirror", repos.repo_url(server.url, "updates"), "--keyring", str(key),
                *(["--include", ",".join(extra)] if extra else []),
                "--cache", str(cache), "--json"]), log=logs / "fedora-rootstrap.log")
            r = measure.rootstrap_json(sample, stdout)
            # name-version-release.arch (the fixture has a package in two versions),
            # as the manifest beside the tree lists them
            manifest = json.loads(Path(f"{target}.manifest.json").read_text())
            ours = sorted(f"{p['name']}-{p['version'].partition(':')[2] or p['version']}"
                          f".{p['arch']}" for p in manifest["packages"])
            files = [repos.built[f"{nvra}.rpm"] for nvra in ours]
            for old in [target, *target.parent.glob(f"{target.name}.*")]:
                user.remove(old)
            root_target = dnf_work / "tree"
            shutil.rmtree(root_target, ignore_errors=True)
            d = measure.run(dnf_argv(dnf_work, root_target, ["dnf", *extra]),
                            env=dict(os.environ, HOME=str(home)),
                            log=dnf_work / "run.log")[0]
            theirs = installed(root_target)
            shutil.rmtree(root_target, ignore_errors=True)
            if theirs != ours:
                raise measure.Failed(f"fedora: dnf installed {theirs}, rootstrap {ours}")
            # as root: Fedora's directories are 0555 (/usr/lib64, /usr/bin), which
            # stop an unprivileged bsdtar writing into them from another package
            x = floor.extract(root, files, "bsdtar -xf {} -C OUT", "fedora",
                              dnf_work / "floor.log")
            s = floor.start(user, python, "rpm", logs / "fedora-start.log")
            if n:
                rs.samples.append(r)
                dn.samples.append(d)
                fl.samples.append(x)
                st.samples.append(s)
                same = [f"packages: rootstrap {len(ours)}, dnf {len(theirs)}"]
    finally:
        server.close()
    return [Comparison("fedora", f"Fedora fixture minimal + {bulk} bulk packages to a "
                       f"directory, warm caches, {runs} runs alternating; rootstrap as "
                       f"{user.name}", [rs, dn], [fl], notes=same, extra="configure",
                       start=st)]
