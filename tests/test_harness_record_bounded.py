"""A night-long ``--smoke`` / soak run must not measure itself: what the harness and the live
view's statistics keep per beat, paint or thread is of fixed size, whatever the run's length.

The 130-minute capture soak grew ~16 MiB of RSS from the smoke run's heartbeat record alone
(three float32 a beat, 200 beats a second), and the live view's latency lists another few MiB.
"""

from __future__ import annotations

import sys
import threading
import tracemalloc

import numpy as np
import pytest
from PySide6.QtWidgets import QMainWindow

LINUX = sys.platform.startswith("linux")


def _traced_growth(step, first: int, then: int) -> int:
    """Bytes still held after ``then`` more calls of ``step`` than after ``first``."""
    for _ in range(first):
        step()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for _ in range(then):
            step()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


class _Window(QMainWindow):
    """What `SmokeRun` needs of the main window to count heartbeats: a store's events, the
    live view's statistics and a status bar (a failed step quotes its last message)."""

    def __init__(self) -> None:
        from types import SimpleNamespace

        from engine.store import StoreEvents
        from gui.live.stats import LiveStats

        super().__init__()
        self.store = SimpleNamespace(events=StoreEvents())
        self.stats = LiveStats()


def test_smoke_heartbeat_record_holds_no_more_after_20000_beats_than_after_1000(qtbot):
    from gui.smoke import SmokeRun

    win = _Window()
    qtbot.addWidget(win)
    run = SmokeRun(win, 60, screenshot=None, stats=None)
    grew = _traced_growth(run._beat, 1000, 20_000)
    # the old record kept 12 bytes a beat: 228 KiB more here
    assert grew < 8 * 1024, f"the heartbeat record grew {grew} bytes over 20,000 beats"
    stall = run.stalls.figures(5)
    assert len(run.stalls) == 21_000 - 1  # every gap counted
    assert stall["max"] >= stall["p99"] >= stall["p50"] > 0


def test_stall_figures_keep_their_keys_and_agree_with_the_exact_ones():
    """The fixed-size record gives what the whole list of gaps gave: the same keys, counts,
    maximum and splits exactly, percentiles to within 1 %."""
    from gui._stall_record import StallRecord

    rng = np.random.default_rng(7)
    gaps = np.concatenate([rng.normal(5.2, 0.4, 5000).clip(0.1), rng.uniform(51, 900, 40)])
    cpu = gaps * rng.uniform(0, 1, gaps.size)
    wait = (gaps - cpu) * rng.uniform(0, 1, gaps.size)
    rec = StallRecord()
    for g, c, w in zip(gaps, cpu, wait, strict=True):
        rec.add(g, c, w)
    fig = rec.figures(5)
    assert list(fig) == [
        "heartbeat_ms", "p50", "p99", "max", "over_50ms", "gui_cpu_in_gap_max",
        "gui_cpu_in_gap_p99", "over_50ms_with_gui_cpu_over_50ms", "max_gap_split_ms",
        "over_50ms_split_ms",
    ]  # fmt: skip
    assert fig["p50"] == pytest.approx(np.percentile(gaps, 50), rel=0.01)
    assert fig["p99"] == pytest.approx(np.percentile(gaps, 99), rel=0.01)
    assert fig["gui_cpu_in_gap_p99"] == pytest.approx(np.percentile(cpu, 99), rel=0.01)
    assert fig["max"] == round(gaps.max(), 2) and fig["gui_cpu_in_gap_max"] == round(cpu.max(), 2)
    long = gaps > 50
    assert fig["over_50ms"] == int(long.sum()) == 40
    assert fig["over_50ms_with_gui_cpu_over_50ms"] == int((long & (cpu > 50)).sum())
    i = int(gaps.argmax())
    assert fig["max_gap_split_ms"] == {
        "gap": round(gaps[i], 2),
        "gui_cpu": round(cpu[i], 2),
        "waiting_for_a_core": round(wait[i], 2),
        "blocked": round(max(0.0, gaps[i] - cpu[i] - wait[i]), 2),
    }
    split = fig["over_50ms_split_ms"]
    assert split["gap"] == pytest.approx(gaps[long].sum(), abs=0.01)
    assert split["waiting_for_a_core"] == pytest.approx(wait[long].sum(), abs=0.01)
    rec.add(60.0, 1.0, None)  # a gap without a run-queue figure: no wait split at all
    assert rec.figures(5)["over_50ms_split_ms"]["waiting_for_a_core"] is None


def test_live_latency_statistics_hold_no_more_after_100000_paints_than_after_10000():
    from gui.live.stats import LiveStats

    stats = LiveStats()
    import time  # noqa: PLC0415

    frame_time = time.time() - 0.04  # painted 40 ms (and a little more) after its capture

    def paint():
        stats.painted(frame_time, result=False)
        stats.painted(frame_time, result=True)

    grew = _traced_growth(paint, 10_000, 90_000)
    # the old lists kept ~32 bytes a paint up to 100,000 each: ~5 MiB more here
    assert grew < 8 * 1024, f"the live view's latency record grew {grew} bytes"
    assert stats.result_latency_ms.count == stats.paint_latency_ms.count == 100_000
    assert len(stats.recent_result_latency_ms) == 50  # what the status strip shows
    p = stats.result_latency_ms.percentiles()
    assert p["p50"] is not None and 30 < p["p50"] < 10_000


def test_latency_histogram_percentiles_are_within_one_percent_of_numpy():
    from gui.live.histogram import LatencyHistogram

    rng = np.random.default_rng(11)
    for samples in (rng.lognormal(3, 1, 20_000), rng.uniform(0, 5, 999), np.array([42.0])):
        h = LatencyHistogram()
        for v in samples:
            h.add(v)
        for q in (1, 50, 90, 99, 99.9, 100):
            assert h.percentile(q) == pytest.approx(np.percentile(samples, q), rel=0.01, abs=0.01)
        assert h.max == samples.max() and h.count == samples.size
    assert LatencyHistogram().percentiles() == {"p50": None, "p99": None}
    with pytest.raises(ValueError, match="q must be within 0..100"):
        LatencyHistogram().percentile(101)


@pytest.mark.skipif(not LINUX, reason="per-thread CPU times come from /proc")
def test_thread_cpu_holds_one_entry_a_role_for_threads_that_ended():
    from gui._thread_cpu import ThreadCpu

    acct = ThreadCpu()
    acct.start()
    alive = len(acct)
    for _ in range(60):  # a night's short-lived threads: one a capture, one a probe sample
        go = threading.Event()
        t = threading.Thread(target=go.wait, name="soak-probe-rows")
        t.start()
        acct.sample()  # seen alive
        go.set()
        t.join()
    acct.sample()
    # the old accounting kept every thread it had seen: 60 entries more
    assert len(acct) <= alive + 2
    fig = acct.figures(1.0)
    assert fig["threads_seen"] >= alive + 60
    assert fig["by_role"]["soak-probe-rows"]["threads"] == 60
