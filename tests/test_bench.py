"""The benchmark harness runs end to end on the Arch and Fedora fixtures (one run,
no bulk packages: a smoke test, not a measurement) and prints what it promises: each
contestant's times and peak memory, the ratios, rootstrap's phases, the
floor line, rootstrap's start and the least ratio they allow."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

import archmirror

CHECKOUT = Path(__file__).resolve().parent.parent


def _bench(workload: str) -> str:
    """What `python -m bench WORKLOAD` prints, one run, no bulk packages."""
    state = Path(tempfile.mkdtemp(prefix="rs-bench-test-"))
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "bench", workload, "--runs", "1", "--bulk", "0",
             "--state", str(state)], cwd=CHECKOUT, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=900)
    finally:
        shutil.rmtree(state, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.skipif(os.environ.get("ROOTSTRAP_BENCH") != "1",
                    reason="a bench run (90 s): ROOTSTRAP_BENCH=1 runs it")
@pytest.mark.skipif(os.geteuid() != 0, reason="the harness runs pacman as root and "
                    "rootstrap as users it makes")
def test_harness_prints_times_ratios_phases_and_floor_for_the_arch_fixture() -> None:
    missing = archmirror.missing_tools()
    assert not missing, f"building the fixture needs: {', '.join(missing)}"
    out = _bench("arch")
    number = r"\d+\.\d\d"
    for who in ("rootstrap", r"pacman \(root\)", r"pacman \(fakeroot\)",
                "floor: decompress\\+write alone"):
        assert re.search(rf"^  {who} +{number} +{number} +{number} +\d+ MB", out, re.M) or \
            (who.startswith("floor") and re.search(rf"^  {who} +{number}", out, re.M)), out
    assert re.search(rf"^  ratio rootstrap/pacman \(root\): {number}$", out, re.M), out
    assert re.search(rf"^  ratio rootstrap/pacman \(fakeroot\): {number}$", out, re.M), out
    assert re.search(rf"^  ratio rootstrap/\(floor: decompress\+write alone \+ configure "
                     rf"{number}\): {number}$", out, re.M), out
    assert re.search(rf"^  rootstrap start: python \+ imports +{number} +{number} +{number} ",
                     out, re.M), out
    _least_adds_up(out, r"pacman \(root\)")
    phases = re.search(r"^  rootstrap phases \(median s\): (.*)$", out, re.M)
    assert phases and {"index", "unpack", "configure"} <= set(phases.group(1).split()[::2]), out


@pytest.mark.skipif(os.environ.get("ROOTSTRAP_BENCH") != "1",
                    reason="a bench run (30 s): ROOTSTRAP_BENCH=1 runs it")
@pytest.mark.skipif(os.geteuid() != 0, reason="the harness runs dnf as root and "
                    "rootstrap as users it makes")
def test_harness_compares_rootstrap_with_dnf_on_the_fedora_fixture() -> None:
    out = _bench("fedora")
    number = r"\d+\.\d\d"
    for who in ("rootstrap", r"dnf \(root\)", r"floor: decompress\+write alone",
                r"rootstrap start: python \+ imports"):
        assert re.search(rf"^  {who} +{number} +{number} +{number} ", out, re.M), out
    assert re.search(rf"^  ratio rootstrap/dnf \(root\): {number}$", out, re.M), out
    _least_adds_up(out, r"dnf \(root\)")


def _least_adds_up(out: str, peer: str) -> None:
    """The least ratio is the floor's median, the configure phase's and the
    start's, added, over the peer's median (each printed rounded)."""
    def median(who: str) -> float:
        found = re.search(rf"^  {who} +(\d+\.\d\d) ", out, re.M)
        assert found, (who, out)
        return float(found.group(1))

    configure = re.search(r"^  rootstrap phases \(median s\):.* configure (\d+\.\d\d)", out,
                          re.M)
    least = re.search(rf"^  least ratio to {peer} \(floor: decompress\+write alone \+ "
                      rf"configure \+ start = (\d+\.\d\d) s\): (\d+\.\d\d)$", out, re.M)
    assert configure and least, out
    total = median(r"floor: decompress\+write alone") + float(configure.group(1)) + \
        median(r"rootstrap start: python \+ imports")
    assert abs(float(least.group(1)) - total) <= 0.02, out
    assert abs(float(least.group(2)) - total / median(peer)) <= 0.01 + 0.02 / median(peer), out
