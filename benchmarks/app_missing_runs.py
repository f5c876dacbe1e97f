"""The app processing a session's pairs without a run, beside the live view.

Usage::

    QT_QPA_PLATFORM=offscreen python benchmarks/app_missing_runs.py [--pairs 6] [--repeats 3]
        [--size 640x480]

Records ``repeats`` sessions of ``pairs`` aligned pairs from the simulated camera (a scratch
data folder; written before the window opens, as the app forbids writes on its GUI thread),
opens the app on the simulated camera in night mode with Live colorize on, and for each
repeat: measures the live view (results shown per second, the GUI thread's longest stall on
a 5 ms timer) for as long as the processing then takes, opens the session, presses the
Sessions dock's **Process N pairs without a run** and measures the same while it runs.
Prints per repeat: seconds a pair (processing, and wall with the pause after each pair; the
model load not included), live results/s and worst stall before and during; then medians and ranges.
``--compare-rest R`` alternates the repeats between the dock's pause (``REST``) and ``R``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from qa_big_session import _Stalls  # noqa: E402  (the GUI thread's longest gap, shared)


def _record(store, n_sessions: int, n_pairs: int, size: tuple[int, int]) -> list:
    import dataclasses

    from engine.camera import SimulatedCamera
    from engine.live import PairTracker

    cam = SimulatedCamera(resolution=size, seed=5)
    day = cam.render(0.0).image
    cam.set_control("mode", "night")
    sessions = []
    for k in range(n_sessions):
        tracker = PairTracker()
        tracker.set_reference(day, fixed_camera=True)
        s = store.create_session(f"bench {k}")
        day_id = store.add_capture(s.id, day, kind="day").id
        for i in range(n_pairs):
            night = cam.render(0.3 + i, sequence=9 + i).image
            result = tracker.process(night)
            night_id = store.add_capture(s.id, night, kind="night").id
            store.add_pair(s.id, night_id=night_id, day_ids=[day_id], alignment=result.alignment,
                           leak_params=dataclasses.asdict(tracker.leak_params))  # fmt: skip
        sessions.append(store.session(s.id))
    return sessions


def _spread(xs: list[float], fmt: str = ".2f") -> str:
    return f"{statistics.median(xs):{fmt}} ({min(xs):{fmt}}-{max(xs):{fmt}})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", type=int, default=6)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", default="640x480")
    ap.add_argument(
        "--compare-rest",
        type=float,
        metavar="R",
        help="alternate the repeats between the dock's pause after each pair (REST) and R",
    )
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    from PySide6.QtWidgets import QApplication

    from engine.camera import SimulatedCamera
    from engine.live_preview import LivePreview
    from engine.store import Store
    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    scratch = tempfile.TemporaryDirectory(prefix="nightlab-bench-runs-")
    store = Store(scratch.name)
    n_runs = args.repeats * (2 if args.compare_rest is not None else 1)
    sessions = _record(store, n_runs, args.pairs, (w, h))
    cam = SimulatedCamera(resolution=(w, h), seed=3)
    cam.start()
    win = MainWindow(cam, store=store, preview=LivePreview(workers=1))
    win.show()

    def until(cond, timeout=600.0) -> None:
        end = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError("benchmark: timed out")
            app.processEvents()
            time.sleep(0.005)

    until(lambda: cam.latest_frame() is not None)
    assert win.capture_reference()
    cam.set_control("mode", "night")
    win.set_live(True)
    until(lambda: win.stats.results > 20)
    stalls = _Stalls()
    action = win.sessions.runs
    rows: dict[float, list] = {}
    rests = [action.REST]
    if args.compare_rest is not None:
        rests.append(args.compare_rest)
    for k, s in enumerate(sessions):
        rest = action.REST = rests[k % len(rests)]
        win.state.session = store.session(s.id)
        until(lambda n=args.pairs: action.button.text() == f"Process {n} pairs without a run")
        ended: list = []
        action.finished.connect(ended.append)
        r0, t0 = win.stats.results, time.perf_counter()
        stalls.reset()
        action.button.click()
        until(lambda ended=ended: bool(ended))
        busy_s = time.perf_counter() - t0
        during = ((win.stats.results - r0) / busy_s, stalls.worst)
        action.finished.disconnect(ended.append)
        r0, t0 = win.stats.results, time.perf_counter()
        stalls.reset()
        until(lambda t0=t0, busy_s=busy_s: time.perf_counter() - t0 > busy_s)
        idle = ((win.stats.results - r0) / busy_s, stalls.worst)
        report, recorder = ended[0]
        handled = report.processed + report.failed
        per_pair = recorder.busy_s / handled
        rows.setdefault(rest, []).append((per_pair, report.startup_s, *idle, *during))
        print(
            f"{s.name} (rest {rest:g}): {report.processed}/{report.total} processed, "
            f"{per_pair:.2f} s a pair ({report.seconds / handled:.2f} with the pause) "
            f"(model load {report.startup_s:.2f} s); live {idle[0]:.1f} results/s idle, "
            f"{during[0]:.1f} while processing; worst GUI stall {idle[1] * 1e3:.0f} / "
            f"{during[1] * 1e3:.0f} ms",
            flush=True,
        )
    for rest, runs in rows.items():
        cols = list(zip(*runs, strict=True))
        print(
            f"rest {rest:g}, median (range) of {len(runs)}: {_spread(list(cols[0]))} s a pair; "
            "live "
            f"{_spread(list(cols[2]), '.1f')} results/s idle vs "
            f"{_spread(list(cols[4]), '.1f')} processing; worst GUI stall "
            f"{_spread([x * 1e3 for x in cols[3]], '.0f')} ms idle vs "
            f"{_spread([x * 1e3 for x in cols[5]], '.0f')} ms processing; load "
            f"{os.getloadavg()[0]:.1f}"
        )
    win.close()
    win.wait_closed()
    store.close()
    scratch.cleanup()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
