"""rootstrap's benchmark harness: rootstrap and the peer tool on the same work,
in one run, alternating, several repetitions.

    python -m bench debian-minbase debian-apt arch fedora modes [--runs 3] [--cache both]
    python -m bench debian-important debian-standard      (peak memory as sets grow)

For each comparison it prints the median, min and max seconds and the peak RSS
(largest single process of the tree, from GNU time) of each contestant, the ratio
rootstrap/peer, rootstrap's phases (from its --json) and a floor line: what the
machine needs for the same work with native tools alone. Run it as root: it
makes the unprivileged users it runs rootstrap and mmdebstrap as (rs-bench, with
a subordinate id range, and rs-bench-single), runs pacman as root, and installs
this checkout into a virtual environment those users can run (in --state).

Workloads:
  debian-minbase, debian-apt   vs mmdebstrap --mode=unshare, cold and warm
  debian-important,            (bench/debian.py)
  debian-standard
  arch                         the Arch test fixture vs pacman as root and under
                               fakeroot (bench/arch.py)
  fedora                       the Fedora test fixture vs dnf --installroot as root
                               (bench/fedora.py)
  modes                        userns-full vs userns-single vs ptrace (bench/modes.py)
"""
