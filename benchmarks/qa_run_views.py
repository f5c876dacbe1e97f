"""What the QA panel waits for to show a pair: its stored run's views (`engine.run_views.
load_run_views`: PNGs read back, the masked view made) vs the live model's render
(`gui.pair_cache`'s work: `engine.pair_views.render_pair` with the shipped model).

Usage::

    python benchmarks/qa_run_views.py [--rounds R]

A scratch store with one pair at 640x480 and one at 1280x720 (the simulated camera), each
given a run of the shipped model; then, round by round, both ways for each pair (interleaved,
the shared machine's load hits both alike). Prints median ms and range.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _pair(store, size):
    import dataclasses

    from engine.camera import SimulatedCamera
    from engine.live import PairTracker

    cam = SimulatedCamera(resolution=size, seed=5)
    day = cam.render(0.0).image
    cam.set_control("mode", "night")
    night = cam.render(0.3, sequence=9).image
    tracker = PairTracker()
    tracker.set_reference(day, fixed_camera=True)
    result = tracker.process(night)
    s = store.create_session(f"bench {size[0]}x{size[1]}")
    day_id = store.add_capture(s.id, day, kind="day").id
    night_id = store.add_capture(s.id, night, kind="night").id
    pair = store.add_pair(s.id, night_id=night_id, day_ids=[day_id], alignment=result.alignment,
                          leak_params=dataclasses.asdict(tracker.leak_params))  # fmt: skip
    return s, pair


def main() -> int:
    import numpy as np

    from engine.colorize import load_colorizer
    from engine.leakmask import LeakMaskParams
    from engine.pair_views import load_pair_reference, render_pair
    from engine.reprocess import DEFAULT_OPTIONS, RunSpec, process_missing_runs
    from engine.run_views import load_run_views, pair_runs
    from engine.store import Store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=9)
    args = ap.parse_args()
    colorizer = load_colorizer()
    spec = RunSpec.for_model(None, **DEFAULT_OPTIONS)
    with tempfile.TemporaryDirectory(prefix="nightlab-bench-") as tmp, Store(tmp) as store:
        cases = []
        for size in ((640, 480), (1280, 720)):
            s, pair = _pair(store, size)
            process_missing_runs(store, s.id, spec)
            cases.append((f"{size[0]}x{size[1]}", store.pair(pair.id)))
        times: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, pair in cases:
                t0 = time.perf_counter()
                night, fused = load_pair_reference(store, pair)
                render_pair(night, fused.image, np.asarray(pair.matrix), colorizer=colorizer,
                            leak_params=LeakMaskParams(**pair.leak_params),
                            stability=fused.stability)  # fmt: skip
                t1 = time.perf_counter()
                run = pair_runs(store, pair.id)[0]
                load_run_views(store, pair, run.id)
                t2 = time.perf_counter()
                times.setdefault((name, "live render"), []).append((t1 - t0) * 1000)
                times.setdefault((name, "stored run"), []).append((t2 - t1) * 1000)
    print(f"{'size':<10} {'how':<12} {'median ms':>10}  range")
    for (name, how), ms in times.items():
        print(f"{name:<10} {how:<12} {statistics.median(ms):>10.1f}  {min(ms):.1f}–{max(ms):.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
