"""libalpm hooks: parsing, loading a tree's hook dirs, matching, Depends."""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bootstrap.families.pacman.hooks import (
    Hook, HookError, Trigger, load_hooks, matches, parse_hook, runnable, split_exec,
    target_matches,
)

SYSUSERS = """\
[Trigger]
Type = Path
Operation = Install
Operation = Upgrade
Target = usr/lib/sysusers.d/*.conf

[Action]
Description = Creating system user accounts...
When = PostTransaction
Exec = /usr/share/libalpm/scripts/systemd-hook sysusers
NeedsTargets
"""

TMPFILES = """\
# managed by the systemd package
[Trigger]
Type = Path
Operation = Install
Operation = Upgrade
Target = usr/lib/tmpfiles.d/*.conf

[Action]
Description = Creating temporary files...
When = PostTransaction
Exec = /usr/share/libalpm/scripts/systemd-hook tmpfiles
NeedsTargets
"""

TEXINFO = """\
[Trigger]
Type = Path
Operation = Install
Operation = Upgrade
Target = usr/share/info/*

[Action]
Description = Updating the info directory file...
When = PostTransaction
Exec = /bin/sh -c 'while read -r f; do install-info "$f" /usr/share/info/dir 2> /dev/null; done'
Depends = texinfo
NeedsTargets
"""

REMOVE = """\
[Trigger]
Type = Path
Operation = Remove
Target = usr/share/info/*

[Action]
When = PreTransaction
Exec = /usr/bin/true
AbortOnFail
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def hook_of(tmp_path: Path, text: str, name: str = "x.hook") -> Hook:
    return parse_hook(write(tmp_path / name, text), name)


# -- parsing ------------------------------------------------------------------

def test_parse_sysusers(tmp_path: Path) -> None:
    h = hook_of(tmp_path, SYSUSERS, "20-systemd-sysusers.hook")
    assert h.name == "20-systemd-sysusers.hook"
    assert h.triggers == (Trigger(("Install", "Upgrade"), "Path",
                                  ("usr/lib/sysusers.d/*.conf",)),)
    assert h.when == "PostTransaction"
    assert h.exec == ("/usr/share/libalpm/scripts/systemd-hook", "sysusers")
    assert h.description == "Creating system user accounts..."
    assert h.needs_targets and not h.abort_on_fail
    assert h.depends == ()


def test_parse_texinfo_exec_quotes_and_depends(tmp_path: Path) -> None:
    h = hook_of(tmp_path, TEXINFO)
    assert h.exec == ("/bin/sh", "-c",
                      'while read -r f; do install-info "$f" /usr/share/info/dir 2> /dev/null; done')
    assert h.depends == ("texinfo",)


def test_parse_pre_transaction_abort(tmp_path: Path) -> None:
    h = hook_of(tmp_path, REMOVE)
    assert h.when == "PreTransaction" and h.abort_on_fail
    assert h.triggers[0].operations == ("Remove",)


def test_abort_on_fail_ignored_after_transaction(tmp_path: Path) -> None:
    # pacman only warns: AbortOnFail has nothing to abort after the transaction
    h = hook_of(tmp_path, SYSUSERS + "AbortOnFail\n")
    assert not h.abort_on_fail


def test_repeated_keys_accumulate_and_whitespace_trimmed(tmp_path: Path) -> None:
    h = hook_of(tmp_path, """\

  [Trigger]
\tOperation=Install
Operation = Install
Operation   =   Remove
Type = File
Target = a
  Target =  !b
# a comment
[Trigger]
Operation = Upgrade
Type = Package
Target = linux

[Action]
When = PreTransaction
Exec = /bin/true
Depends = a
Depends = b>=2
""")
    assert h.triggers == (
        Trigger(("Install", "Remove"), "Path", ("a", "!b")),   # File is Path's old name
        Trigger(("Upgrade",), "Package", ("linux",)),
    )
    assert h.depends == ("a", "b>=2")


@pytest.mark.parametrize("text, where, what", [
    ("[Trigger]\nOperation = Install\nType = Path\nTarget = x\n[Action]\nWhen = PostTransaction\n"
     "Exec = /bin/true\nFoo = bar\n", "line 8", "unknown key 'Foo'"),
    ("[Trigger]\nOperation = Install\nType = Path\nBogus = 1\n", "line 4", "unknown key 'Bogus'"),
    ("[Trigger]\nOperation = Install\n[Stuff]\n", "line 3", "unknown section 'Stuff'"),
    ("When = PostTransaction\n[Action]\n", "line 1", "outside any section"),
    ("[Trigger]\nOperation = Delete\n", "line 2", "invalid Operation 'Delete'"),
    ("[Trigger]\nType = Dir\n", "line 2", "invalid Type 'Dir'"),
    ("[Trigger]\nOperation\n", "line 2", "'Operation' needs a value"),
    ("[Trigger]\nOperation = Install\nType = Path\nTarget = x\n[Action]\nWhen = Later\n",
     "line 6", "invalid When 'Later'"),
    ("[Trigger]\nOperation = Install\nType = Path\nTarget = x\n[Action]\nWhen = PreTransaction\n"
     "Exec = /bin/sh -c 'oops\n", "line 7", "unbalanced quotes"),
])
def test_errors_name_file_and_line(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = write(tmp_path / "bad.hook", text)
    with pytest.raises(HookError) as e:
        parse_hook(path, "bad.hook")
    assert f"{path} {where}: " in str(e.value)
    assert what in str(e.value)


@pytest.mark.parametrize("text, what", [
    ("[Action]\nWhen = PostTransaction\nExec = /bin/true\n", "no [Trigger]"),
    ("", "no [Trigger]"),
    ("[Trigger]\nOperation = Install\nType = Path\nTarget = x\n", "missing When"),
    ("[Trigger]\nOperation = Install\nType = Path\nTarget = x\n[Action]\nWhen = PreTransaction\n",
     "missing Exec"),
    ("[Trigger]\nType = Path\nTarget = x\n[Action]\nWhen = PreTransaction\nExec = /bin/true\n",
     "without Operation"),
    ("[Trigger]\nOperation = Install\nTarget = x\n[Action]\nWhen = PreTransaction\nExec = x\n",
     "without Type"),
    ("[Trigger]\nOperation = Install\nType = Path\n[Action]\nWhen = PreTransaction\nExec = x\n",
     "without Target"),
])
def test_missing_parts(tmp_path: Path, text: str, what: str) -> None:
    path = write(tmp_path / "bad.hook", text)
    with pytest.raises(HookError, match=re.escape(what)) as e:
        parse_hook(path, "bad.hook")
    assert str(path) in str(e.value)


def test_label_names_the_file_in_errors(tmp_path: Path) -> None:
    path = write(tmp_path / "x.hook", "[Nope]\n")
    with pytest.raises(HookError, match=r"^/usr/share/libalpm/hooks/x.hook line 1: "):
        parse_hook(path, "x.hook", label="/usr/share/libalpm/hooks/x.hook")


@pytest.mark.parametrize("value, argv", [
    ("/usr/bin/foo  a\tb ", ("/usr/bin/foo", "a", "b")),
    ("sh -c 'echo a  b'", ("sh", "-c", "echo a  b")),
    ('sh -c "it\'s"', ("sh", "-c", "it's")),
    ("a'b c'd e", ("ab cd", "e")),
    ("echo ''", ("echo", "")),
    ("echo \\\"x\\'", ("echo", "\"x'")),
    ("echo 'a\\'b'", ("echo", "a'b")),
    ('echo "a\\"b"', ("echo", 'a"b')),
    ("echo \"a\\'b\"", ("echo", "a\\'b")),      # inside "...", only \" is an escape
    ("echo a\\ b \\n", ("echo", "a\\", "b", "\\n")),  # and outside, only \' and \"
])
def test_split_exec(value: str, argv: tuple[str, ...]) -> None:
    assert split_exec(value) == argv


@pytest.mark.parametrize("value", ["'open", 'a "b', "x 'y\\'"])
def test_split_exec_unbalanced(value: str) -> None:
    with pytest.raises(ValueError):
        split_exec(value)


# -- matching -----------------------------------------------------------------

def test_star_crosses_slash_and_dots() -> None:
    assert target_matches(["usr/share/info/*"], "usr/share/info/sub/dir/x.info.gz")
    assert target_matches(["*"], "usr/")
    assert target_matches(["usr/*.conf"], "usr/lib/.hidden.conf")
    assert target_matches(["usr/lib/?odules/*"], "usr/lib/modules/6.1/vmlinuz")
    assert not target_matches(["usr/lib/*.conf"], "etc/x.conf")


def test_negation_last_match_wins() -> None:
    targets = ["usr/lib/modules/*/vmlinuz", "!usr/lib/modules/6.1-lts/*"]
    assert target_matches(targets, "usr/lib/modules/6.9/vmlinuz")
    assert not target_matches(targets, "usr/lib/modules/6.1-lts/vmlinuz")
    # order matters: a later positive pattern re-admits what an earlier '!' refused
    again = ["!usr/lib/modules/6.1-lts/*", "usr/lib/modules/*/vmlinuz"]
    assert target_matches(again, "usr/lib/modules/6.1-lts/vmlinuz")
    assert not target_matches(["!*"], "anything")


def test_escaped_bang_and_brackets() -> None:
    assert target_matches(["\\!weird"], "!weird")
    assert not target_matches(["\\!weird"], "weird")
    assert target_matches(["lib[0-9]*.so"], "lib3x.so")
    assert target_matches(["[!a]"], "/")                 # no FNM_PATHNAME: '/' is a char
    assert target_matches(["[[:digit:]]x"], "7x")
    assert target_matches(["a\\*"], "a*") and not target_matches(["a\\*"], "ab")
    assert target_matches(["a[b"], "a[b")                # an unclosed '[' is literal


def test_matches_files_sorted_and_deduplicated(tmp_path: Path) -> None:
    h = hook_of(tmp_path, """\
[Trigger]
Operation = Install
Type = Path
Target = usr/lib/sysusers.d/*.conf

[Trigger]
Operation = Install
Type = Path
Target = usr/lib/sysusers.d/*

[Action]
When = PostTransaction
Exec = /bin/hook
NeedsTargets
""")
    files = ["usr/lib/sysusers.d/", "usr/lib/sysusers.d/systemd.conf",
             "usr/lib/sysusers.d/basic.conf", "usr/bin/ls", "usr/lib/sysusers.d/basic.conf",
             "usr/lib/sysusers.d/Zed.conf"]
    assert matches(h, "Install", ["systemd"], files) == [
        "usr/lib/sysusers.d/",               # '*' matches the empty rest of the dir entry
        "usr/lib/sysusers.d/Zed.conf",       # strcmp order: capitals first
        "usr/lib/sysusers.d/basic.conf",
        "usr/lib/sysusers.d/systemd.conf",
    ]
    assert matches(h, "Upgrade", ["systemd"], files) == []
    assert matches(h, "Install", ["systemd"], ["usr/bin/ls"]) == []


def test_matches_packages_and_union(tmp_path: Path) -> None:
    h = hook_of(tmp_path, """\
[Trigger]
Operation = Install
Operation = Upgrade
Type = Package
Target = linux*
Target = !linux-firmware*

[Trigger]
Operation = Install
Type = Path
Target = usr/lib/modules/*/vmlinuz

[Action]
When = PostTransaction
Exec = /usr/bin/mkinitcpio -P
""")
    pkgs = ["linux-firmware", "linux", "bash", "linux-lts"]
    files = ["usr/lib/modules/6.9/vmlinuz", "usr/bin/bash"]
    assert matches(h, "Install", pkgs, files) == [
        "linux", "linux-lts", "usr/lib/modules/6.9/vmlinuz"]
    assert matches(h, "Upgrade", pkgs, files) == ["linux", "linux-lts"]
    assert matches(h, "Remove", pkgs, files) == []


def test_runnable(tmp_path: Path) -> None:
    h = hook_of(tmp_path, TEXINFO.replace("Depends = texinfo",
                                          "Depends = texinfo\nDepends = sh>=5"))
    assert runnable(h, {"texinfo", "sh", "bash"}) is None
    assert runnable(h, {"bash", "sh"}) == "texinfo"
    assert runnable(h, {"texinfo"}) == "sh>=5"
    assert runnable(hook_of(tmp_path, SYSUSERS, "y.hook"), set()) is None


# -- loading a tree -------------------------------------------------------------

SYS = "usr/share/libalpm/hooks"
ETC = "etc/pacman.d/hooks"


def tree(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    write(root / SYS / "30-systemd-tmpfiles.hook", TMPFILES)
    write(root / SYS / "20-systemd-sysusers.hook", SYSUSERS)
    write(root / SYS / "texinfo-install.hook", TEXINFO)
    write(root / SYS / "README", "not a hook")
    return root


def test_load_sorted_and_only_hook_files(tmp_path: Path) -> None:
    root = tree(tmp_path)
    write(root / ETC / "25-local.hook", SYSUSERS.replace("sysusers", "local"))
    (root / SYS / "dir.hook").mkdir()
    names = [h.name for h in load_hooks(root)]
    assert names == ["20-systemd-sysusers.hook", "25-local.hook",
                     "30-systemd-tmpfiles.hook", "texinfo-install.hook"]


def test_sort_ignores_the_suffix(tmp_path: Path) -> None:
    root = tmp_path / "root"
    write(root / SYS / "a-b.hook", SYSUSERS)
    write(root / ETC / "a.hook", SYSUSERS)
    # "a" < "a-b" although "a-b.hook" < "a.hook" byte-wise ('-' < '.')
    assert [h.name for h in load_hooks(root)] == ["a.hook", "a-b.hook"]


def test_etc_overrides_usr(tmp_path: Path) -> None:
    root = tree(tmp_path)
    write(root / ETC / "30-systemd-tmpfiles.hook",
          TMPFILES.replace("systemd-hook tmpfiles", "my-tmpfiles"))
    by_name = {h.name: h for h in load_hooks(root)}
    h = by_name["30-systemd-tmpfiles.hook"]
    assert h.exec == ("/usr/share/libalpm/scripts/my-tmpfiles",)
    assert h.path == root / ETC / "30-systemd-tmpfiles.hook"


def test_dev_null_masks(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / ETC).mkdir(parents=True)
    os.symlink("/dev/null", root / ETC / "texinfo-install.hook")
    os.symlink("../../../dev/null", root / ETC / "20-systemd-sysusers.hook")
    assert [h.name for h in load_hooks(root)] == ["30-systemd-tmpfiles.hook"]


def test_empty_file_masks_like_libalpm(tmp_path: Path) -> None:
    root = tree(tmp_path)
    write(root / ETC / "30-systemd-tmpfiles.hook", "# disabled\n")
    assert "30-systemd-tmpfiles.hook" not in [h.name for h in load_hooks(root)]


def test_symlink_out_of_tree_is_not_followed(tmp_path: Path) -> None:
    root = tree(tmp_path)
    outside = write(tmp_path / "outside" / "evil.hook", SYSUSERS.replace("sysusers", "evil"))
    (root / ETC).mkdir(parents=True)
    os.symlink(str(outside), root / ETC / "evil.hook")
    with pytest.raises(HookError, match=r"/etc/pacman.d/hooks/evil.hook: dangling"):
        load_hooks(root)
    # the same absolute target inside the tree is what the link names
    write(root / str(outside).lstrip("/"), SYSUSERS.replace("sysusers", "inside"))
    evil = {h.name: h for h in load_hooks(root)}["evil.hook"]
    assert evil.exec[-1] == "inside"
    assert evil.path == root / str(outside).lstrip("/")


def test_relative_symlink_stops_at_root(tmp_path: Path) -> None:
    root = tree(tmp_path)
    write(tmp_path / "escape.hook", SYSUSERS.replace("sysusers", "host"))
    write(root / "escape.hook", SYSUSERS.replace("sysusers", "tree"))
    (root / ETC).mkdir(parents=True)
    os.symlink("../../../../../../escape.hook", root / ETC / "escape.hook")
    hooks = {h.name: h for h in load_hooks(root)}
    assert hooks["escape.hook"].exec[-1] == "tree"


def test_symlink_inside_tree_is_followed(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / ETC).mkdir(parents=True)
    os.symlink(f"/{SYS}/texinfo-install.hook", root / ETC / "info.hook")
    hooks = {h.name: h for h in load_hooks(root)}
    assert hooks["info.hook"].depends == ("texinfo",)


def test_symlink_loop(tmp_path: Path) -> None:
    root = tree(tmp_path)
    (root / ETC).mkdir(parents=True)
    os.symlink("b.hook", root / ETC / "a.hook")
    os.symlink("a.hook", root / ETC / "b.hook")
    with pytest.raises(HookError, match="too many levels"):
        load_hooks(root)


def test_missing_dirs_and_broken_hook(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    assert load_hooks(root) == []
    write(root / ETC / "bad.hook", "[Trigger]\nOperation = Install\nType = Path\nFoo = 1\n")
    with pytest.raises(HookError, match=r"^/etc/pacman.d/hooks/bad.hook line 4: unknown key 'Foo'"):
        load_hooks(root)
