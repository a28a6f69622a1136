"""User errors: one line `rootstrap: error: MESSAGE`, exit 1, no traceback, no TARGET.

Every run is an unprivileged user's, against the local fixture mirror (or no
mirror at all), so none of these needs the network.
"""
from __future__ import annotations

import json
import os
import socket
import subprocess
from datetime import datetime, timedelta, timezone

import pytest

ERROR_PREFIX = "rootstrap: error: "


def _entries(user) -> set[str]:
    return set(os.listdir(user.workdir))


def assert_user_error(proc: subprocess.CompletedProcess, user, before: set[str],
                      *mentions: str) -> str:
    """Check the error contract; return the message."""
    output = proc.stdout + proc.stderr
    assert "Traceback" not in output, output
    assert proc.returncode == 1, f"exit {proc.returncode}\n{output}"
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected exactly one line on stderr, got:\n{proc.stderr}"
    assert lines[0].startswith(ERROR_PREFIX), lines[0]
    message = lines[0][len(ERROR_PREFIX):]
    assert message.strip(), "empty error message"
    for word in mentions:
        assert word in message, f"{word!r} not in {message!r}"
    # No target, no staging directory, no partial tarball: the workdir is as it was.
    assert _entries(user) == before, sorted(_entries(user) - before)
    return message


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_list_shows_the_recipes(user):
    proc = user.run("list")
    assert proc.returncode == 0, proc.stderr
    assert "debian" in proc.stdout
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("args, mention", [
    (["nosuchdistro", "TARGET"], "nosuchdistro"),
    (["debian", "TARGET", "--release", "nosuchrelease"], "nosuchrelease"),
    (["debian", "TARGET", "--variant", "nosuchvariant"], "nosuchvariant"),
], ids=["distro", "release", "variant"])
def test_unknown_names(user, local_mirror, args, mention):
    _refused_by_name(user, local_mirror, args, mention)


def _refused_by_name(user, local_mirror, args: list[str], mention: str) -> None:
    # A mirror and keyring are given so that no error could come from the network.
    args = [str(user.path("tree")) if a == "TARGET" else a for a in args]
    extra = ["--mirror", local_mirror.url, "--keyring", str(local_mirror.keyring)]
    if "--release" not in args:
        extra += ["--release", local_mirror.codename]
    before = _entries(user)
    proc = user.run(*args, *extra, "--cache", user.cache)
    assert_user_error(proc, user, before, mention)


@pytest.mark.parametrize("args, mention", [
    (["debain", "TARGET"], "did you mean 'debian'?"),
    (["debian", "TARGET", "--release", "bookwrom"], "did you mean 'bookworm'?"),
    (["debian", "TARGET", "--variant", "minbas"], "did you mean 'minbase'?"),
    (["debian", "TARGET", "--arch", "x86_64"], "debian calls it 'amd64'"),
    (["debian", "TARGET", "--include", "tinysj", "--no-configure"], "did you mean 'tinysh'?"),
], ids=["distro", "release", "variant", "arch", "package"])
def test_a_near_miss_is_answered_with_the_nearest_names(as_user, local_mirror, args, mention):
    _refused_by_name(as_user, local_mirror, args, mention)


def test_unknown_package(user, local_mirror):
    before = _entries(user)
    proc = user.run("debian", user.path("tree"), *local_mirror.cli_args(),
                    "--include", "no-such-package", "--cache", user.cache, "--no-configure")
    assert_user_error(proc, user, before, "no-such-package")


def test_missing_keyring_file(as_user, local_mirror):
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), "--release", local_mirror.codename,
                       "--mirror", local_mirror.url, "--keyring",
                       as_user.path("no-such-keyring.gpg"), "--cache", as_user.cache)
    assert_user_error(proc, as_user, before, "no-such-keyring.gpg")


def test_untrusted_signature(user, local_mirror):
    local_mirror.resign(local_mirror.untrusted)
    before = _entries(user)
    proc = user.run("debian", user.path("tree"), *local_mirror.cli_args(),
                    "--cache", user.cache, "--no-configure")
    message = assert_user_error(proc, user, before, "InRelease", local_mirror.url,
                                str(local_mirror.keyring))
    assert "not in the trusted keyring" in message
    # Nothing past the signed index may have been fetched.
    assert not any(r.startswith("/pool/") for r in local_mirror.requests)


def test_modified_inrelease(user, local_mirror):
    inrelease = local_mirror.dist / "InRelease"
    text = inrelease.read_bytes()
    assert b"\nArchitectures: " in text
    local_mirror.tamper(str(inrelease.relative_to(local_mirror.root)),
                        text.replace(b"\nArchitectures: ", b"\nArchitectures: i386 ", 1))
    before = _entries(user)
    proc = user.run("debian", user.path("tree"), *local_mirror.cli_args(),
                    "--cache", user.cache, "--no-configure")
    assert_user_error(proc, user, before, "InRelease", local_mirror.url, "BAD signature")


def test_untrusted_signature_into_a_tarball(as_user, local_mirror):
    local_mirror.resign(local_mirror.untrusted)
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree.tar.zst"), *local_mirror.cli_args(),
                       "--cache", as_user.cache, "--no-configure")
    assert_user_error(proc, as_user, before)


def test_expired_release(as_user, local_mirror):
    past = datetime.now(timezone.utc) - timedelta(days=2)
    local_mirror.reindex(valid_until=past, date=past - timedelta(days=7))
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--cache", as_user.cache, "--no-configure")
    assert_user_error(proc, as_user, before, "InRelease", "expired")


def test_index_that_does_not_match_the_release(as_user, local_mirror):
    # Every compressed form is damaged, so the client cannot dodge the one it picks.
    bindir = local_mirror.packages_file.parent
    for name in ("Packages", "Packages.gz", "Packages.xz"):
        data = (bindir / name).read_bytes()
        local_mirror.tamper(str((bindir / name).relative_to(local_mirror.root)),
                            data[:-16] + bytes(b ^ 0x55 for b in data[-16:]))
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--cache", as_user.cache, "--no-configure")
    assert_user_error(proc, as_user, before, "Packages", local_mirror.url, "SHA256")


def test_package_that_does_not_match_the_index(user, local_mirror):
    deb = local_mirror.deb("base-files")
    data = bytearray(deb.read_bytes())
    data[-100] ^= 0xFF
    local_mirror.tamper(str(deb.relative_to(local_mirror.root)), bytes(data))
    before = _entries(user)
    proc = user.run("debian", user.path("tree"), *local_mirror.cli_args(),
                    "--cache", user.cache, "--no-configure")
    assert_user_error(proc, user, before, "base-files", local_mirror.url, "SHA256")


def test_a_package_older_than_the_index_says_is_refused(as_user, local_mirror):
    # the signed index vouches for the bytes but names a newer version than they hold:
    # a downgrade dressed up as the current package
    deb = local_mirror.deb("base-files")
    version = deb.name.split("_")[1]
    local_mirror.reindex(rewrite=lambda text: b"\n\n".join(
        s.replace(f"\nVersion: {version}\n".encode(), f"\nVersion: 99:{version}\n".encode())
        if s.startswith(b"Package: base-files\n") else s for s in text.split(b"\n\n")))
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--cache", as_user.cache, "--no-configure")
    assert_user_error(proc, as_user, before, deb.name, local_mirror.url,
                      f"says it is base-files {version}", f"the index base-files 99:{version}")


def test_unreachable_mirror(as_user, local_mirror):
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), "--release", local_mirror.codename,
                       "--mirror", f"http://127.0.0.1:{_closed_port()}",
                       "--keyring", local_mirror.keyring, "--cache", as_user.cache)
    assert_user_error(proc, as_user, before)


def test_mirror_without_the_suite(as_user, local_mirror):
    local_mirror.faults["/dists/bookworm/InRelease"] = 404
    local_mirror.faults["/dists/bookworm/Release"] = 404
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), *local_mirror.cli_args(),
                       "--cache", as_user.cache)
    assert_user_error(proc, as_user, before, local_mirror.url, "dists/bookworm/InRelease")


def test_mirror_that_is_not_a_url(as_user, local_mirror):
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), "--release", local_mirror.codename,
                       "--mirror", "ftp.example.org/debian", "--keyring", local_mirror.keyring,
                       "--cache", as_user.cache)
    assert_user_error(proc, as_user, before, "ftp.example.org/debian")


def test_missing_parent_directories_are_made(as_user, local_mirror):
    target = as_user.path("ctr", "deeper", "tree.tar")
    proc = as_user.run("debian", target, *local_mirror.cli_args(), "--cache", as_user.cache,
                       "--no-configure", "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert target.is_file()
    assert target.parent.stat().st_uid == as_user.uid


def test_a_parent_that_is_a_file_or_unwritable_is_named(as_user, local_mirror):
    as_user.exec("touch", as_user.path("file"), check=True)
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("file", "tree"), *local_mirror.cli_args(),
                       "--cache", as_user.cache, "--no-configure")
    assert_user_error(proc, as_user, before, f"{as_user.path('file')} is not a directory")
    proc = as_user.run("debian", "/proc/rootstrap-test/tree", *local_mirror.cli_args(),
                       "--cache", as_user.cache, "--no-configure")
    assert_user_error(proc, as_user, before, "cannot create /proc/rootstrap-test")


def test_a_host_that_does_not_resolve_is_named(as_user, local_mirror):
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), "--release", local_mirror.codename,
                       "--mirror", "http://no-such-mirror.invalid/debian",
                       "--keyring", local_mirror.keyring, "--cache", as_user.cache)
    assert_user_error(proc, as_user, before, "cannot resolve no-such-mirror.invalid")


@pytest.fixture
def silent_mirror():
    """A mirror that takes connections and never answers."""
    import threading
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(16)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                pass
    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}/debian"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_stalled_mirror_is_named_and_the_next_one_asked(as_user, local_mirror, silent_mirror):
    before = _entries(as_user)
    args = ["debian", as_user.path("tree"), "--release", local_mirror.codename,
            "--keyring", local_mirror.keyring, "--cache", as_user.cache, "--timeout", "1",
            "--no-configure"]
    proc = as_user.run(*args, "--mirror", silent_mirror)
    assert_user_error(proc, as_user, before, silent_mirror, "stalled")
    proc = as_user.run(*args, "--mirror", silent_mirror, "--mirror", local_mirror.url,
                       "--json")
    assert proc.returncode == 0, proc.stderr
    before = _entries(as_user)
    proc = as_user.run(*args, "--timeout", "0")
    assert_user_error(proc, as_user, before, "--timeout")


@pytest.fixture
def tls_mirror(tmp_path, local_mirror):
    """The fixture mirror over HTTPS with a certificate no one vouches for."""
    import http.server
    import ssl
    import threading
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(  # noqa: E731
        *a, directory=str(local_mirror.root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_a_tls_failure_is_named(as_user, local_mirror, tls_mirror):
    before = _entries(as_user)
    proc = as_user.run("debian", as_user.path("tree"), "--release", local_mirror.codename,
                       "--mirror", tls_mirror, "--keyring", local_mirror.keyring,
                       "--cache", as_user.cache, "--no-configure")
    assert_user_error(proc, as_user, before, tls_mirror, "TLS failure",
                      "self-signed certificate")


def test_json_errors_are_one_object_with_the_same_status(user, local_mirror):
    local_mirror.resign(local_mirror.untrusted)
    before = _entries(user)
    proc = user.run("debian", user.path("tree"), *local_mirror.cli_args(),
                    "--cache", user.cache, "--no-configure", "--json")
    assert proc.returncode == 1 and proc.stderr == ""
    error = json.loads(proc.stdout)
    assert set(error) == {"error", "file", "mirror", "key"}
    assert error["file"] == "dists/bookworm/InRelease"
    assert error["mirror"] == local_mirror.url
    assert error["key"] and local_mirror.untrusted.fingerprint.endswith(error["key"])
    assert "not in the trusted keyring" in error["error"]
    assert _entries(user) == before
    usage = user.run("debian", "--json")
    assert usage.returncode == 2 and json.loads(usage.stdout)["error"]


@pytest.mark.parametrize("command", ["list", "run", "export"])
def test_subcommands_answer_help_with_their_usage(as_user, command):
    proc = as_user.run(command, "--help")
    assert proc.returncode == 0 and proc.stderr == ""
    assert proc.stdout.startswith(f"usage: rootstrap {command}")
    assert "debian:" not in proc.stdout         # help, not the list itself
