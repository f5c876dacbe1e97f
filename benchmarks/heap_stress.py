"""Repeat a slice of the test suite under heap checkers, to catch a heap corruption in the act.

Usage::

    nice -n 10 python benchmarks/heap_stress.py [--rounds 10] [--repeat 1] [--timeout 900] \
        [--checkers glibc,python] [--python PYTHON] [--log-dir DIR] [-- PYTEST_ARGS...]
    nice -n 10 python benchmarks/heap_stress.py --churn 300 [--rounds 1] [--checkers ...]

Each round runs ``python -m pytest -p no:cacheprovider -q --capture=sys PYTEST_ARGS`` in
a fresh process (default: the suite's files up to and including ``tests/test_camera_oak.py``,
in the suite's order, which is what one process had run when the corrupted heap was seen);
``--repeat K`` runs the selection K times in the same process (``--keep-duplicates``), so
damage can pile up where it happens. ``--python`` picks the interpreter (a venv's python with
the project installed).

``--churn SECONDS`` runs, instead of pytest, the live view's session churn in one process:
`engine.live_preview.LivePreview` with two workers colorizing offered night frames while the
model is swapped every 0.2-0.5 s (the default model and its FP16 copy, so a worker drops the
last reference to a session another worker may still be running), a third thread takes the
live model as a capture job does (``LivePreview.colorizer()``) and colorizes with it, and the
preview itself is stopped, joined and rebuilt every few seconds.

The checkers (any of them, comma-separated):

``glibc``
    ``LD_PRELOAD=libc_malloc_debug.so.0 MALLOC_CHECK_=3 MALLOC_PERTURB_=165``. Since glibc
    2.34 ``MALLOC_CHECK_`` does nothing unless that library is preloaded; perturb alone
    only fills freed and new blocks. Before the rounds, a one-byte overflow is freed under
    the same settings with the chosen interpreter, and the harness stops if glibc does not
    abort on it.
``python``
    ``PYTHONMALLOC=malloc_debug``: every Python allocation goes through glibc (so the glibc
    checks see it too) with guard bytes checked at free, and a fatal error when a Python
    allocator is called without the GIL (an object freed by a native thread).
``numba``
    ``NUMBA_BOUNDSCHECK=1`` with a fresh numba cache directory (cached code would skip it).

``--capture=sys`` keeps native code's writes to fd 2 (glibc's ``free(): ...``) in the round's
log; pytest's faulthandler prints the Python stacks of an abort. A round that outlives
``--timeout`` is a hang: every thread's native stack is taken with gdb (when installed) before
the round is aborted (``PYTHONFAULTHANDLER``: every thread's Python stack goes to its log) and
killed. Prints one line per round and a summary; logs stay in ``--log-dir``.
Not a CI test.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.atomic import write_text_atomic  # noqa: E402

MALLOC_DEBUG = Path("/usr/lib/x86_64-linux-gnu/libc_malloc_debug.so.0")
LAST_FILE = "test_camera_oak.py"
# what glibc, CPython's debug allocator and faulthandler print when they find something
ALARMS = re.compile(
    r"free\(\)|malloc\(\)|corrupted|double free|invalid (?:pointer|size|next size)|"
    r"Debug memory block|Fatal Python error|Segmentation fault|Aborted|"
    r"malloc_consolidate|munmap_chunk|realloc\(\)",
)


def default_selection() -> list[str]:
    """The suite's files in pytest's order up to and including ``LAST_FILE``."""
    tests = REPO / "tests"
    files = sorted(str(p.relative_to(REPO)) for p in tests.glob("test_*.py"))
    chosen = ["tests/device"] + [f for f in files if Path(f).name <= LAST_FILE]
    return chosen


def checker_env(names: list[str], cache_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONFAULTHANDLER"] = "1"  # a fatal signal prints every thread's Python stack
    for name in names:
        if name == "glibc":
            if not MALLOC_DEBUG.is_file():
                sys.exit(f"heap_stress: {MALLOC_DEBUG} is missing (glibc's malloc debug library)")
            env["LD_PRELOAD"] = (
                f"{MALLOC_DEBUG}:{env['LD_PRELOAD']}".rstrip(":")
                if env.get("LD_PRELOAD")
                else str(MALLOC_DEBUG)
            )
            env["MALLOC_CHECK_"] = "3"
            env["MALLOC_PERTURB_"] = "165"
        elif name == "python":
            env["PYTHONMALLOC"] = "malloc_debug"
        elif name == "numba":
            env["NUMBA_BOUNDSCHECK"] = "1"
            env["NUMBA_CACHE_DIR"] = str(cache_dir)
        elif name != "none":
            sys.exit(f"heap_stress: unknown checker {name!r} (glibc, python, numba, none)")
    return env


# one byte written past a 40000-byte numpy buffer, then freed: through the interpreter's own
# calls to malloc/free (a ctypes lookup of "malloc" gets libc's, around the preloaded checker)
OVERFLOW_PROBE = (
    "import numpy as np; from numpy.lib.stride_tricks import as_strided; "
    "a = np.empty(40000, np.uint8); as_strided(a, shape=(40001,))[40000] = 65; del a"
)


def glibc_check_works(python: str, env: dict[str, str]) -> bool:
    """Does glibc abort on a one-byte heap overflow in ``python`` with these settings?"""
    proc = subprocess.run([python, "-c", OVERFLOW_PROBE], env=env, capture_output=True, timeout=60)
    return proc.returncode != 0


def native_stacks(pid: int) -> str:
    """Every thread's native backtrace of a hung process (gdb), or why there is none."""
    gdb = shutil.which("gdb")
    if gdb is None:
        return "(gdb not installed: no native stacks)"
    targets = [pid] + [int(c) for c in _children(pid)]
    out = []
    for p in targets:
        proc = subprocess.run(
            [gdb, "-p", str(p), "-batch", "-ex", "thread apply all bt 30"],
            capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        out.append(f"--- pid {p}\n{proc.stdout}\n{proc.stderr[-2000:]}")
    return "\n".join(out)


def _children(pid: int) -> list[str]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return f.read().split()
    except OSError:
        return []


def churn(seconds: float, log_dir: Path) -> int:
    """The live view's model swaps and restarts (see the module docstring); in this process."""
    import random

    import cv2
    import numpy as np
    import skimage.data

    from engine.live_preview import LivePreview
    from engine.models import default_model_path, export_fp16

    fp16 = export_fp16(default_model_path(), dst=log_dir / "refcolor_s_fp16.onnx")
    models = [str(default_model_path()), str(fp16)]
    day = cv2.resize(skimage.data.astronaut(), (320, 240), interpolation=cv2.INTER_AREA)
    night = cv2.cvtColor(day, cv2.COLOR_RGB2GRAY) // 2
    rng = random.Random(7)
    counts = {"results": 0, "failures": 0, "swaps": 0, "restarts": 0, "job runs": 0}
    end = time.monotonic() + seconds
    seq = 0
    while time.monotonic() < end:
        live = LivePreview(workers=2, colorize_threads=1, model_path=models[0], realign_s=0)
        live.events.result.connect(lambda r: counts.__setitem__("results", counts["results"] + 1))
        live.events.failed.connect(
            lambda m: (counts.__setitem__("failures", counts["failures"] + 1), print(m))
        )
        live.set_reference(day, fixed_camera=True)
        run_until = min(end, time.monotonic() + rng.uniform(2, 6))
        next_swap = time.monotonic()
        job = threading.Thread(target=_job, args=(live, night, day, run_until, counts))
        job.start()
        while time.monotonic() < run_until:
            seq += 1
            live.offer(np.ascontiguousarray(night + rng.randrange(4), dtype=np.uint8), seq)
            if time.monotonic() >= next_swap:
                live.set_model(rng.choice(models))
                counts["swaps"] += 1
                next_swap = time.monotonic() + rng.uniform(0.2, 0.5)
            time.sleep(0.01)
        job.join()
        live.stop()
        if not live.join(timeout=60):
            print("churn: a live worker did not end within 60 s", flush=True)
            return 1
        counts["restarts"] += 1
    print("churn: " + ", ".join(f"{v} {k}" for k, v in counts.items()), flush=True)
    return 1 if counts["failures"] or not counts["results"] else 0


def _job(live, night, day, until: float, counts: dict) -> None:
    """A capture job's use of the live model: take it from the preview and colorize with it
    on this thread, while the workers run (and swap) the same sessions."""
    while time.monotonic() < until:
        colorizer = live.colorizer()
        if colorizer is not None:
            colorizer.colorize(night, day)
            counts["job runs"] += 1
        time.sleep(0.05)


def run_round(i: int, args, env: dict[str, str], selection: list[str], log_dir: Path) -> dict:
    log_path = log_dir / f"round-{i:03d}.log"
    if args.churn:
        cmd = [args.python, __file__, "--churn-child", str(args.churn), "--log-dir", str(log_dir)]
    else:
        cmd = [args.python, "-m", "pytest", "-p", "no:cacheprovider", "-q",
               "--capture=sys", "--keep-duplicates", *selection * args.repeat]  # fmt: skip
    t0 = time.monotonic()
    # direct write: a live log, kept as far as it got when the run dies
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip
        try:
            rc = proc.wait(timeout=args.timeout)
            hung = False
        except subprocess.TimeoutExpired:
            hung = True
            stacks = native_stacks(proc.pid)
            write_text_atomic(log_dir / f"round-{i:03d}-hang-stacks.txt", stacks)
            os.kill(proc.pid, signal.SIGABRT)  # faulthandler: the Python stacks, into the log
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):  # its children, if any are left
                os.killpg(proc.pid, signal.SIGKILL)
            rc = proc.wait()
    seconds = time.monotonic() - t0
    text = log_path.read_text(errors="replace")
    alarms = sorted({m.group(0) for m in ALARMS.finditer(text)})
    summary = re.findall(r"^=*\s*(\d+ (?:passed|failed).*?)\s*=*$|^(churn: .*)$", text, re.M)
    summary = ["".join(m) for m in summary]
    return {"round": i, "rc": rc, "hung": hung, "seconds": seconds, "alarms": alarms,
            "summary": summary[-1] if summary else "", "log": str(log_path)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, extra = argv[:cut], argv[cut + 1 :]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds before a round hangs")
    ap.add_argument("--repeat", type=int, default=1, help="selection runs per process")
    ap.add_argument("--checkers", default="glibc,python")
    ap.add_argument("--python", default=sys.executable, help="interpreter running pytest")
    ap.add_argument("--log-dir", type=Path, default=None)
    ap.add_argument("--churn", type=float, default=0.0, help="seconds of live-view churn")
    ap.add_argument("--churn-child", type=float, default=0.0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.churn_child:
        return churn(args.churn_child, args.log_dir)
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="nightlab-heap-stress-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    cache_dir = Path(tempfile.mkdtemp(prefix="numba-cache-", dir=log_dir))
    env = checker_env([c.strip() for c in args.checkers.split(",") if c.strip()], cache_dir)
    selection = extra or default_selection()
    if "glibc" in args.checkers and not glibc_check_works(args.python, env):
        sys.exit(f"heap_stress: glibc's malloc check does not catch an overflow in {args.python}")
    print(f"checkers {args.checkers}; {len(selection)} paths; logs in {log_dir}", flush=True)
    results = []
    for i in range(1, args.rounds + 1):
        r = run_round(i, args, env, selection, log_dir)
        results.append(r)
        print(f"round {i}: rc {r['rc']}{' HUNG' if r['hung'] else ''}, {r['seconds']:.0f} s, "
              f"{r['summary'] or 'no pytest summary'}"
              f"{', ALARMS ' + str(r['alarms']) if r['alarms'] else ''}", flush=True)  # fmt: skip
    bad = [r for r in results if r["rc"] != 0 or r["hung"] or r["alarms"]]
    print(f"{len(results)} rounds, {len(bad)} with a failure, hang or heap alarm")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
