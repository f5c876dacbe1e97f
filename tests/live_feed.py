"""Driving a real `engine.live_preview.LivePreview` frame by frame, as a camera would at the
pace of the results: the tests of what it reuses between frames count calls over such a run."""

from __future__ import annotations

import time


def feed_one_at_a_time(live, day, nights, n: int, *, timeout: float = 30.0) -> list:
    """Set ``day`` as a fixed camera's reference on ``live``, offer ``n`` night frames (cycling
    through ``nights``), each once the previous one's result is out (or ``timeout`` s passed),
    then stop it and check that its workers ended. Returns the results, in order."""
    results: list = []
    live.events.result.connect(results.append)
    try:
        live.set_reference(day, fixed_camera=True)
        for i in range(n):
            live.offer(nights[i % len(nights)], i + 1)
            deadline = time.monotonic() + timeout
            while len(results) <= i and time.monotonic() < deadline:
                time.sleep(0.01)
    finally:
        live.stop()
        assert live.join(timeout=20)
    return results
