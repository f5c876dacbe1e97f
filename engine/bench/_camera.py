"""Camera benchmark: the simulated camera must render 640x480 at >= 60 FPS on one core.

Render-only time per frame (no pacing, no thread), OpenCV limited to one thread, frames taken
from a moving stretch of the timetable (drift and scene-change objects in view). There is no
reference library for this; the target is the issue's frame rate. The note also gives the
floor measured in the same run, one bare ``cv2.warpAffine`` of the scene, so the figure can be
judged on a noisy machine.
"""

from __future__ import annotations

import itertools

import cv2

from engine.bench import BenchRow, median_ms

TARGET_FPS = 60.0


def _row(stage: str, size: str, ms: float, note: str = "") -> BenchRow:
    fps = 1000.0 / ms if ms > 0 else float("inf")
    return BenchRow(
        stage=stage,
        size=size,
        ours_ms=ms,
        target=f">= {TARGET_FPS:g} FPS",
        met=fps >= TARGET_FPS,
        note=f"{fps:.0f} FPS on 1 thread" + (f"; {note}" if note else ""),
    )


def rows(*, repeats: int) -> list[BenchRow]:
    from engine.camera import SimulatedCamera

    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        cam = SimulatedCamera(resolution=(640, 480), seed=0)
        cam.open()  # load the scene outside the timing
        counter = itertools.count(60)  # from t = 2 s at 30 fps: an object is in view

        def render() -> None:
            cam.render_frame(next(counter))

        out = []
        n = max(repeats, 30)  # a frame is short; more samples give a stable median
        floors = {}
        for mode, size in (("day", "640x480 RGB"), ("night", "640x480 gray")):
            cam.set_control("mode", mode)
            scene, warp = cam.renderer.warp_source(mode), cam.warp_at(2.0)[:2]
            floors[mode] = median_ms(
                lambda s=scene, m=warp: cv2.warpAffine(s, m, (640, 480)), repeats=n
            )
            ms = median_ms(render, repeats=n)
            note = f"one warpAffine alone {floors[mode]:.2f} ms"
            out.append(_row(f"sim camera render ({mode})", size, ms, note))
        cam.set_control("auto_focus", False)
        cam.set_control("lens_position", 0)
        for mode, size in (("day", "640x480 RGB"), ("night", "640x480 gray")):
            cam.set_control("mode", mode)
            ms = median_ms(render, repeats=n)
            out.append(_row(f"sim camera render ({mode}, defocused)", size, ms, "worst-case blur"))
        return out
    finally:
        cv2.setNumThreads(threads)
