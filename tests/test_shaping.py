"""Shaping the tree during the build, as unprivileged users through the CLI, on
the Debian and Arch fixture mirrors: hooks at their points with their arguments
and environment, commands run inside, copies in and out, a user that
`rootstrap run --user` enters as, locale and time zone, and bad input refused."""
from __future__ import annotations

import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

import archmirror
from archmirror import ArchMirror

# A hook that writes down what it was given and what the tree holds at its point.
RECORDER = """\
#!/bin/sh
{{
  echo "kind=$ROOTSTRAP_HOOK distro=$ROOTSTRAP_DISTRO release=$ROOTSTRAP_RELEASE \
arch=$ROOTSTRAP_ARCH variant=$ROOTSTRAP_VARIANT mode=$ROOTSTRAP_MODE target=$ROOTSTRAP_TARGET"
  echo "tree=$1"
  for probe in {probes}; do
    if [ -e "$1/$probe" ]; then echo "has $probe"; else echo "lacks $probe"; fi
  done
  echo
}} >> {log}
touch "$1/made-by-$ROOTSTRAP_HOOK"
echo "a hook's chatter"
"""


def _recorder(user, probes: list[str]) -> tuple[Path, Path]:
    log = user.path("hooks.log")
    script = user.path("record.sh")
    script.write_text(RECORDER.format(probes=" ".join(probes), log=log))
    script.chmod(0o755)
    return script, log


def _blocks(log: Path) -> dict[str, list[str]]:
    out = {}
    for block in log.read_text().strip().split("\n\n"):
        lines = block.splitlines()
        kind = lines[0].split()[0].split("=")[1]
        out[kind] = lines
    return out


def _members(tarball: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(tarball) as tar:
        return {m.name[2:] if m.name.startswith("./") else m.name: m for m in tar}


def _refused(proc, user, before: set[str]) -> str:
    """One line on stderr, a non-zero exit, nothing new in the work directory."""
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rootstrap: error: "), proc.stderr
    assert "Traceback" not in proc.stderr
    assert {p.name for p in user.workdir.iterdir()} == before
    return lines[0]


# --------------------------------------------------------------------------- hooks

DEB_PROBES = ["etc/os-release", "var/lib/dpkg/status", "etc/hostname"]


def test_each_hook_runs_at_its_point_with_its_arguments_and_environment(as_user, local_mirror):
    script, log = _recorder(as_user, DEB_PROBES)
    target = as_user.path("tree.tar")
    proc = as_user.run("debian", target, *local_mirror.cli_args(), "--no-configure",
                       "--cache", as_user.cache, "--variant", "minbase",
                       *[a for kind in ("setup", "extract", "essential", "customize")
                         for a in ("--hook", f"{kind}:{script}")], "--json", check=True)
    assert json.loads(proc.stdout)["target"] == str(target)   # hooks speak on stderr
    seen = _blocks(log)
    assert list(seen) == ["setup", "extract", "essential", "customize"]
    for kind, lines in seen.items():
        fields = dict(f.split("=", 1) for f in lines[0].split())
        assert fields == {"kind": kind, "distro": "debian", "release": "bookworm",
                          "arch": "amd64", "variant": "minbase",
                          "mode": fields["mode"], "target": str(target)}
        assert fields["mode"].startswith(("userns", "ptrace"))
        tree = lines[1].split("=", 1)[1]
        # $1 is the tree being built, beside the target, gone once it is written
        assert Path(tree).parent == target.parent
        assert Path(tree).name.startswith(".tree.tar.rootstrap-")
        assert not os.path.exists(tree)
    # setup: before any package; extract: files, no database yet; essential: the
    # database written (no configure stage with --no-configure); customize: at the
    # end, after the base configuration
    assert seen["setup"][2:] == ["lacks etc/os-release", "lacks var/lib/dpkg/status",
                                 "lacks etc/hostname"]
    assert seen["extract"][2:] == ["has etc/os-release", "lacks var/lib/dpkg/status",
                                   "lacks etc/hostname"]
    assert seen["essential"][2:] == ["has etc/os-release", "has var/lib/dpkg/status",
                                     "lacks etc/hostname"]
    assert seen["customize"][2:] == ["has etc/os-release", "has var/lib/dpkg/status",
                                     "has etc/hostname"]
    # what hooks made is in the tree, owned by root whoever built it
    members = _members(target)
    for kind in seen:
        m = members[f"made-by-{kind}"]
        assert m.isreg() and (m.uid, m.gid) == (0, 0)


def test_the_essential_hook_runs_between_the_essential_set_and_the_rest(as_user,
                                                                         local_mirror):
    # the fixture has no dpkg: a stand-in planted by a setup hook records its calls
    if not local_mirror.has_shell:
        pytest.skip("the fixture has no shell (no static busybox on this host)")
    dpkg = "#!/bin/sh\\necho \"$*\" >> /var/log/fake-dpkg.log\\n"
    seen = as_user.path("at-essential.log")
    tree = as_user.path("tree")
    as_user.run("debian", tree, *local_mirror.cli_args(), "--cache", as_user.cache,
                "--hook", f"setup:mkdir -p \"$1/usr/bin\" && printf '{dpkg}' > "
                "\"$1/usr/bin/dpkg\" && chmod 755 \"$1/usr/bin/dpkg\"",
                "--hook", f"essential:cp \"$1/var/log/fake-dpkg.log\" {seen}", check=True)
    first = seen.read_text().splitlines()
    assert len(first) == 1 and first[0].endswith("--configure base-files tinysh")
    calls = (tree / "var/log/fake-dpkg.log").read_text().splitlines()
    assert calls[0] == first[0] and calls[1].endswith("--configure -a")


def test_a_failing_hook_names_itself_and_leaves_nothing(as_user, local_mirror):
    before = {p.name for p in as_user.workdir.iterdir()}
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache,
                       "--hook", "extract:touch \"$1/x\"; exit 3")
    line = _refused(proc, as_user, before)
    assert line == "rootstrap: error: --hook extract:touch \"$1/x\"; exit 3 failed with " \
                   "exit status 3"


def test_arch_hooks_see_configure_and_run_commands_inside(user, arch_mirror: ArchMirror):
    """pacman has no essential stage: the essential hook runs right after configure.
    A hook runs commands inside the tree as root through $ROOTSTRAP_RUN_IN; --run-in
    runs inside too, and an owner it sets reaches the tarball."""
    scriptlets = archmirror.SCRIPTLET_LOG.lstrip("/")
    script, log = _recorder(user, [scriptlets, "usr/bin/busybox"])
    inside = user.path("inside.txt")
    target = user.path("arch.tar")
    user.run("arch", target, "--mirror", arch_mirror.server_line,
             "--keyring", arch_mirror.keyring, "--hook", f"extract:{script}",
             "--hook", f"essential:{script}",
             "--hook", f"customize:\"$ROOTSTRAP_RUN_IN\" /usr/bin/id -u > {inside}",
             "--run-in", "touch /made-inside && chown 1234:1234 /made-inside "
             "&& chmod 640 /made-inside", check=True)
    seen = _blocks(log)
    assert seen["extract"][2:] == [f"lacks {scriptlets}", "has usr/bin/busybox"]
    assert seen["essential"][2:] == [f"has {scriptlets}", "has usr/bin/busybox"]
    assert inside.read_text() == "0\n"
    members = _members(target)
    made = members["made-inside"]
    # with a mapped range chown is real; a single-id namespace only records what
    # the chown program (the stand-in on PATH) was asked, and the fixture's busybox
    # runs its own chown applet without looking at PATH
    owner = (1234, 1234) if user.kind == "mapped" else (0, 0)
    assert (made.uid, made.gid, made.mode) == (*owner, 0o640)
    assert (members["made-by-extract"].uid, members["made-by-essential"].uid) == (0, 0)


def test_run_in_failure_is_one_line(as_user, arch_mirror: ArchMirror):
    before = {p.name for p in as_user.workdir.iterdir()}
    proc = as_user.run("arch", as_user.path("arch"), "--mirror", arch_mirror.server_line,
                       "--keyring", arch_mirror.keyring, "--run-in", "exit 7")
    assert _refused(proc, as_user, before) == \
        "rootstrap: error: --run-in exit 7: failed with exit status 7"


# fsync of /dev/null fails (EINVAL) wherever the call reaches the kernel
FLUSH = ["/usr/bin/busybox", "dd", "if=/dev/zero", "of=/dev/null", "count=1", "conv=fsync"]


def test_commands_skip_flushes_while_building_but_not_when_run_later(user,
                                                                     arch_mirror: ArchMirror):
    """What runs in the tree during the build (scriptlets, --run-in) has fsync and
    its kin answered without a flush, in every mode; a command `rootstrap run`
    starts in the finished tree gets the real call. Only without a namespace of
    its own (PRoot) does the filter cost the commands their setuid programs."""
    modes = [[]] + ([["--mode", "ptrace"]] if user.kind == "single" else [])
    for n, mode in enumerate(modes):
        tree = user.path(f"arch-flush-{n}")
        user.run("arch", tree, "--mirror", arch_mirror.server_line, "--keyring",
                 arch_mirror.keyring, *mode, "--run-in",
                 " ".join(FLUSH) + " && /usr/bin/busybox grep NoNewPrivs /proc/self/status"
                 " > /no-new-privs", check=True)
        proc = user.run("run", *mode, tree, "--", *FLUSH)
        assert proc.returncode == 1 and "Invalid argument" in proc.stderr, proc.stderr
        assert (tree / "no-new-privs").read_text().split() == \
            ["NoNewPrivs:", "1" if mode else "0"]


def test_a_recipes_hooks_run_before_the_command_lines(as_user, local_mirror):
    recipe = as_user.path("debian-hooked.yaml")
    text = (Path(__file__).resolve().parent.parent / "recipes/debian.yaml").read_text()
    recipe.write_text(text + 'hooks: {setup: [\'touch "$1/from-recipe"\']}\n')
    target = as_user.path("tree.tar")
    as_user.run(recipe, target, *local_mirror.cli_args(), "--no-configure",
                "--cache", as_user.cache,
                "--hook", 'setup:test -e "$1/from-recipe" && touch "$1/after-recipe"',
                check=True)
    members = _members(target)
    assert members["from-recipe"].isreg() and members["after-recipe"].isreg()
    # a hook kind the recipe mistypes is named with its line
    recipe.write_text(text + "hooks:\n  boot: [true]\n")
    before = {p.name for p in as_user.workdir.iterdir()}
    proc = as_user.run(recipe, as_user.path("t2"), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache)
    assert f"{recipe} line {len(text.splitlines()) + 2}: unknown key 'boot' in hooks" \
        in _refused(proc, as_user, before)


# --------------------------------------------------------------------------- copies


def test_copy_in_keeps_modes_and_copy_out_brings_files_back(as_user, local_mirror):
    payload = as_user.mkdir("payload")
    as_user.sh(f"cd {payload} && mkdir -m 700 private && printf tool > tool "
               "&& chmod 4755 tool && printf secret > private/key && chmod 600 private/key "
               "&& ln -s private/key link && printf note > ../note && chmod 640 ../note",
               check=True)
    out = as_user.mkdir("out")
    target = as_user.path("tree.tar")
    as_user.run("debian", target, *local_mirror.cli_args(), "--no-configure",
                "--cache", as_user.cache, "--copy-in", f"{payload}:/opt/",
                "--copy-in", f"{as_user.path('note')}:/etc/note",
                "--copy-out", f"/etc/os-release:{out}", "--copy-out", f"/opt/payload:{out}",
                check=True)
    members = _members(target)
    expect = {"opt/payload": (stat.S_IFDIR, 0o755), "opt/payload/tool": (stat.S_IFREG, 0o4755),
              "opt/payload/private": (stat.S_IFDIR, 0o700),
              "opt/payload/private/key": (stat.S_IFREG, 0o600),
              "etc/note": (stat.S_IFREG, 0o640)}
    for path, (kind, mode) in expect.items():
        m = members[path]
        assert (m.isdir() if kind == stat.S_IFDIR else m.isreg()), path
        assert (m.mode, m.uid, m.gid) == (mode, 0, 0), path
    assert members["opt/payload/link"].issym()
    assert members["opt/payload/link"].linkname == "private/key"
    # copied out: the tree's file, and the directory with its modes, the caller's
    assert "ID=debian" in (out / "os-release").read_text()
    assert (out / "payload/private/key").read_text() == "secret"
    assert stat.S_IMODE((out / "payload/private").stat().st_mode) == 0o700
    assert stat.S_IMODE((out / "payload/tool").stat().st_mode) == 0o4755
    assert (out / "payload/tool").stat().st_uid == as_user.uid


def test_copy_in_cannot_escape_through_a_link_in_the_tree(as_user, local_mirror):
    outside = as_user.mkdir("outside")
    note = as_user.path("note")
    note.write_text("hello\n")
    target = as_user.path("tree.tar")
    # a link in the tree to the host's absolute path of `outside`
    as_user.run("debian", target, *local_mirror.cli_args(), "--no-configure",
                "--cache", as_user.cache, "--hook", f"setup:ln -s {outside} \"$1/escape\"",
                "--copy-in", f"{note}:/escape/note", check=True)
    assert list(outside.iterdir()) == []
    inside = str(outside).lstrip("/") + "/note"
    assert _members(target)[inside].isreg()


# --------------------------------------------------------------------------- user


def test_user_has_the_callers_ids_and_run_enters_as_it(user, arch_mirror: ArchMirror):
    tree = user.path("arch")
    user.run("arch", tree, "--mirror", arch_mirror.server_line, "--keyring",
             arch_mirror.keyring, "--user", "alice", check=True)
    passwd = (tree / "etc/passwd").read_text().splitlines()
    # the fixture has no bash, Arch's users' shell: /bin/sh stands in
    assert f"alice:x:{user.uid}:{user.gid}::/home/alice:/bin/sh" in passwd
    assert f"alice:x:{user.gid}:" in (tree / "etc/group").read_text().splitlines()
    if os.access(tree / "etc/shadow", os.R_OK):       # root (CI) reads it
        assert any(ln.startswith("alice:!:") for ln in
                   (tree / "etc/shadow").read_text().splitlines())
    for args, want in (([], str(user.uid)), (["-g"], str(user.gid)), (["-un"], "alice")):
        proc = user.run("run", "--user", "alice", tree, "--", "/usr/bin/id",
                        *(args or ["-u"]), check=True)
        assert proc.stdout.strip() == want
    # the home is the user's to write in
    user.run("run", "--user", "alice", tree, "--", "/usr/bin/sh", "-c",
             "echo hi > $HOME/x && test \"$HOME\" = /home/alice", check=True)
    if user.kind == "single":           # and under PRoot, as `proot -i`
        proc = user.run("run", "--mode", "ptrace", "--user", "alice", tree, "--",
                        "/usr/bin/id", "-u", check=True)
        assert proc.stdout.strip() == str(user.uid)
    proc = user.run("run", "--user", "nobody-here", tree, "--", "/usr/bin/id")
    assert proc.returncode != 0 and "no such user" in proc.stderr


def test_user_is_added_with_the_trees_own_useradd(as_user, arch_mirror: ArchMirror):
    """Where the tree has useradd and groupadd and is configured, they do it."""
    # stand-ins: they log their arguments; useradd makes the home as root would
    # before its chown (which a single-id namespace cannot make real)
    plant = " && ".join(f"printf '#!/usr/bin/sh\\necho \"{name} $*\" >> /var/lib/accounts.log"
                        f"{extra}\\n' > \"$1/usr/bin/{name}\" && chmod 755 \"$1/usr/bin/{name}\""
                        for name, extra in (("useradd", "\\nmkdir -m 700 /home/alice"),
                                            ("groupadd", "")))
    target = as_user.path("arch.tar")
    as_user.run("arch", target, "--mirror", arch_mirror.server_line, "--keyring",
                arch_mirror.keyring, "--hook", f"extract:{plant}",
                "--user", "alice:4242:4343",
                "--copy-out", f"/var/lib/accounts.log:{as_user.workdir}", check=True)
    assert as_user.path("accounts.log").read_text().splitlines() == [
        "groupadd -g 4343 alice",
        "useradd -m -d /home/alice -u 4242 -g 4343 -s /bin/sh alice"]
    home = _members(target)["home/alice"]
    assert home.isdir() and (home.uid, home.gid, home.mode) == (4242, 4343, 0o700)


# --------------------------------------------------------------------------- locale, zone


def test_locale_and_timezone_are_set_the_debian_way(as_user, local_mirror):
    tree = as_user.path("tree")
    gen = "# de_DE ISO-8859-1\\n# de_DE.UTF-8 UTF-8\\n# en_US.UTF-8 UTF-8\\n"
    as_user.run("debian", tree, *local_mirror.cli_args(), "--no-configure",
                "--cache", as_user.cache, "--hook", f"setup:mkdir -p \"$1/etc\" && "
                f"printf '{gen}' > \"$1/etc/locale.gen\"",
                "--copy-in", "/usr/share/zoneinfo/Europe/Berlin:/usr/share/zoneinfo/Europe/",
                "--locale", "de_DE.UTF-8", "--timezone", "Europe/Berlin", check=True)
    assert (tree / "etc/default/locale").read_text() == "LANG=de_DE.UTF-8\n"
    assert (tree / "etc/locale.gen").read_text().splitlines() == [
        "# de_DE ISO-8859-1", "de_DE.UTF-8 UTF-8", "# en_US.UTF-8 UTF-8"]
    assert os.readlink(tree / "etc/localtime") == "/usr/share/zoneinfo/Europe/Berlin"
    assert (tree / "etc/timezone").read_text() == "Europe/Berlin\n"


def test_locale_is_set_the_arch_way(as_user, arch_mirror: ArchMirror):
    tree = as_user.path("arch")
    as_user.run("arch", tree, "--mirror", arch_mirror.server_line, "--keyring",
                arch_mirror.keyring, "--no-configure", "--locale", "fr_FR.UTF-8", check=True)
    assert (tree / "etc/locale.conf").read_text() == "LANG=fr_FR.UTF-8\n"


def test_a_zone_the_tree_lacks_is_refused_and_nothing_is_left(as_user, local_mirror):
    before = {p.name for p in as_user.workdir.iterdir()}
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache,
                       "--timezone", "Europe/Berlin")
    assert "the tree has no time zone data" in _refused(proc, as_user, before)


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("args, says", [
    (["--hook", "boot:true"], "--hook 'boot:true': give KIND:COMMAND"),
    (["--copy-in", "/nonexistent/rootstrap-src:/etc/x"], "no such file or directory"),
    (["--copy-in", "/etc/hostname:/etc/../../x"], "may not contain '..'"),
    (["--copy-out", "/etc/hostname:/nonexistent/dir/x"], "is not a directory"),
    (["--user", "Alice:x"], "give NAME[:UID[:GID]]"),
    (["--user", "alice:0"], "UID and GID are numbers from 1"),
    (["--timezone", "Mars/Olympus_Mons"], "unknown time zone"),
    (["--timezone", "../etc/passwd"], "not a time zone name"),
    (["--locale", "de DE"], "not a locale name"),
])
def test_bad_input_is_one_line_and_leaves_nothing(as_user, local_mirror, args, says):
    before = {p.name for p in as_user.workdir.iterdir()}
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--no-configure", "--cache", as_user.cache, *args)
    assert says in _refused(proc, as_user, before)
    assert local_mirror.requests == []          # refused before anything was fetched
