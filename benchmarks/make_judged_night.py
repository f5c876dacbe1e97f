"""A synthetic night for `export_big_session.py`: N pairs (default 3,000) of 4-frame night
bursts on one day reference, two runs per pair, the first 600 pairs judged (a third of them on
the older run, a third on the newer, a third on the live model), a tenth tagged.

The record has the shape of the README's real 3,000-pair night (15,005 captures, 36,000 run
outputs, verdict histories) at a small image size (160x120), so an export's time goes to its
records and files rather than to copying gigabytes: it is built through the `Store` API in a
few minutes, where the real one takes a capture and two reprocess runs (hours here).

Usage::

    python benchmarks/make_judged_night.py --data-dir DIR [--pairs 3000] [--session NAME]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.store import Store  # noqa: E402

W, H = 160, 120


def frame(rng: np.random.Generator, channels: int) -> np.ndarray:
    shape = (H, W, channels) if channels == 3 else (H, W)
    return rng.integers(0, 255, shape, dtype=np.uint8)


def build(data_dir: Path, pairs: int, name: str) -> int:
    rng = np.random.default_rng(0)
    store = Store(data_dir, compression="none")
    try:
        s = store.create_session(name, operator="ana", camera_backend="sim")
        day = store.add_capture(s.id, frame(rng, 3), kind="day", meta={"exposure_us": 900})
        t0 = time.perf_counter()
        for i in range(pairs):
            night = store.add_burst(
                s.id, [frame(rng, 3) for _ in range(4)], kind="night",
                metas=[{"exposure_us": 33000, "gain": 8.0}] * 4,
            )  # fmt: skip
            p = store.add_pair(
                s.id,
                night_id=night.id,
                day_ids=[day.id],
                alignment={"ok": True, "method": "fixed+ecc", "motion": "homography",
                           "score": 0.91, "matrix": [[1, 0, 0.5], [0, 1, -1.25], [0, 0, 1]]},
                leak_params={"sigma": 2.0, "closing": 5},
                ssim_mean=0.7,
                leak_area_pct=1.5,
            )  # fmt: skip
            runs = []
            for k in range(2):
                runs.append(
                    store.add_run(
                        p.id,
                        model_name="nightlab-tiny" if k == 0 else "nightlab-tiny-realign",
                        model_sha256=f"{k:02d}" * 32,
                        params={"use_mask": True, "realign": bool(k)},
                        outputs={
                            "aligned_reference": frame(rng, 3),
                            "leak_mask": frame(rng, 1),
                            "colorized": frame(rng, 3),
                        },
                        metrics={
                            "ssim_color": 0.5 + k / 10,
                            "alignment": {
                                "ok": True,
                                "score": 0.9,
                                "matrix": [[1, 0, 0.5], [0, 1, -1.25], [0, 0, 1]],
                            },
                        },  # fmt: skip
                        timings_ms={"align": 2.5, "leak": 3.0, "colorize": 40.0, "total": 46.0},
                    )
                )
            if i < 600:
                on = (runs[0].id, runs[1].id, None)[i % 3]
                store.set_verdict(p.id, "pass" if i % 2 else "fail", note="ok", run_id=on)
            if i % 10 == 0:
                store.add_tags(p.id, "tenth")
            if (i + 1) % 250 == 0:
                rate = (i + 1) / (time.perf_counter() - t0)
                print(f"{i + 1} pairs ({rate:.0f}/s)", flush=True)
        store.close_session(s.id)
        return s.id
    finally:
        store.close()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--pairs", type=int, default=3000)
    ap.add_argument("--session", default="judged-3000")
    args = ap.parse_args(argv)
    sid = build(args.data_dir, args.pairs, args.session)
    print(f"session {sid} ({args.session}): {args.pairs} pairs in {args.data_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
