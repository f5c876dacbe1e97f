"""Peak RSS and wall time of ``nightlab sessions export`` (and ``sessions show --json``) on a
big session, each run in a process of its own, repeats interleaved between code trees.

Usage::

    python benchmarks/export_big_session.py --data-dir DIR [--session NAME] [--repeats 3]
        [--compare OLD_TREE] [--zip] [--only VERDICT] [--show] [--out-dir DIR]

Make the session first with the real capture path and the processing runs the README's
"A night's record at scale" describes, e.g.::

    nightlab capture --camera sim --session night-3000 --day-reference --count 3000 \\
        --burst 4 --data-dir DIR
    nightlab reprocess --session night-3000 --data-dir DIR
    nightlab reprocess --session night-3000 --realign --data-dir DIR   # a second run

or, in minutes and with verdicts on stored runs (format 1.1's chosen run), a synthetic night of
small frames: ``python benchmarks/make_judged_night.py --data-dir DIR`` (``--session
judged-3000``).

``--compare OLD_TREE`` runs the same command from another source tree too (e.g. ``git
worktree add /tmp/old <commit>``), alternating old and new in each repeat (old first, then new
first in the next) so both see the same machine load and page cache. Each bag is written to
``--out-dir`` (default: beside the data folder, it needs the bag's size free) and removed
after its run. The peak RSS and the CPU time (user + system: steadier than the wall time on
a shared machine) are the child's own (``wait4``), the wall time from start to exit. Prints
one line per run, then medians and ranges per tree.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

#: Runs ``nightlab ARGS`` from the tree given first, refusing to run another tree's engine.
CHILD = """
import sys
tree = sys.argv[1]
sys.path.insert(0, tree)
import engine
assert engine.__file__.startswith(tree), engine.__file__
import main
sys.exit(main.main(sys.argv[2:]))
"""


def run_once(tree: Path, argv: list[str], stdout) -> tuple[float, float, float, int]:
    """(wall seconds, peak RSS MiB, CPU seconds, exit status) of one child."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(tree), *argv], stdout=stdout, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.returncode != 0:
        print(err.strip().splitlines()[-1] if err.strip() else "(no message)", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, proc.returncode


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--session", default="night-3000")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--compare", type=Path, help="another source tree to run the same way")
    ap.add_argument("--zip", action="store_true", help="export one zip instead of a folder")
    ap.add_argument("--only", metavar="VERDICT", help="export only the pairs with this verdict")
    ap.add_argument("--show", action="store_true", help="time sessions show --json instead")
    ap.add_argument("--out-dir", type=Path)
    args = ap.parse_args(argv)
    out_dir = args.out_dir or args.data_dir.parent
    trees = {"this": REPO}
    if args.compare:
        trees = {"compare": args.compare.resolve(), **trees}
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    print(f"load average at start: {os.getloadavg()}")
    for k in range(args.repeats):
        # which tree goes first alternates: a machine that slows down (or speeds up) through
        # the run then weighs on both alike, not on the one always second
        order = list(trees.items())
        for name, tree in order if k % 2 == 0 else order[::-1]:
            if args.show:
                cmd = ["sessions", "show", args.session, "--json", "--limit", "0"]
                cmd += ["--data-dir", str(args.data_dir)]
                wall, rss, cpu, code = run_once(tree, cmd, subprocess.DEVNULL)
            else:
                out = out_dir / f".export-bench-{os.getpid()}-{name}-{k}"
                out = out.with_suffix(".zip") if args.zip else out
                cmd = ["sessions", "export", args.session, "--out", str(out)]
                cmd += ["--data-dir", str(args.data_dir)]
                cmd += ["--only", args.only] if args.only else []
                try:
                    wall, rss, cpu, code = run_once(tree, cmd, subprocess.DEVNULL)
                finally:
                    if out.is_dir():
                        shutil.rmtree(out)
                    elif out.exists():
                        out.unlink()
            print(
                f"{name:8s} run {k + 1}: {wall:7.1f} s  {rss:7.1f} MiB  {cpu:6.1f} s CPU  "
                f"exit {code}",
                flush=True,
            )
            if code == 0:
                results[name].append((wall, rss, cpu))
    print(f"load average at end: {os.getloadavg()}")
    for name, runs in results.items():
        if not runs:
            continue
        walls, rsss, cpus = ([r[i] for r in runs] for i in range(3))
        print(
            f"{name:8s} ({trees[name]}): wall median {statistics.median(walls):.1f} s "
            f"({min(walls):.1f}-{max(walls):.1f}), peak RSS median "
            f"{statistics.median(rsss):.1f} MiB ({min(rsss):.1f}-{max(rsss):.1f}), CPU median "
            f"{statistics.median(cpus):.2f} s ({min(cpus):.2f}-{max(cpus):.2f}), n={len(runs)}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
