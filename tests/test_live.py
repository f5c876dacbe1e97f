"""Live capture state: the tracker, capture plans, the runner and the recorder (real store)."""

from __future__ import annotations

import datetime as dt
import threading
import time

import numpy as np
import pytest

from engine.camera import CameraDisconnected, CameraError, SimulatedCamera
from engine.live import (
    CapturePlan,
    CaptureRunner,
    PairTracker,
    SessionRecorder,
    parse_clock,
    parse_interval,
)
from engine.store import Store

SIZE = (160, 120)


def test_tracker_reuses_the_last_matrix_and_resets_after_a_failure(rng):
    cam = SimulatedCamera(resolution=SIZE, seed=3)
    day = cam.render_frame(0).image
    cam.set_control("mode", "night")
    tracker = PairTracker()
    lost = []
    tracker.events.lost.connect(lost.append)
    tracker.set_reference(day)
    first = tracker.process(cam.render_frame(10).image)
    assert first.ok and tracker.matrix is not None
    second = tracker.process(cam.render_frame(11).image)
    # a refinement from the previous estimate, not a fresh search
    assert second.ok and second.alignment.method != first.alignment.method
    noise = rng.integers(0, 256, (SIZE[1], SIZE[0]), dtype=np.uint8)
    failed = tracker.process(noise)
    assert not failed.ok and tracker.matrix is None and lost
    assert tracker.process(cam.render_frame(12).image).ok  # recovers with a full search


def test_tracker_reference_from_several_day_captures_is_their_median(rng):
    imgs = [rng.integers(0, 256, (20, 30, 3), dtype=np.uint8) for _ in range(3)]
    ref = PairTracker().set_reference(imgs, capture_ids=[4, 5, 6])
    np.testing.assert_array_equal(ref.image, np.median(np.stack(imgs), axis=0).astype(np.uint8))
    assert ref.capture_ids == (4, 5, 6)
    with pytest.raises(ValueError, match="differ in size"):
        PairTracker().set_reference([imgs[0], imgs[0][:10]])
    with pytest.raises(ValueError, match="no day reference"):
        PairTracker().process(imgs[0][..., 0])


def test_plan_parses_intervals_and_windows_across_midnight():
    assert parse_interval("10m") == 600 and parse_interval("1.5h") == 5400
    assert parse_interval("45") == 45 and parse_interval("2s") == 2
    for bad in ("10x", "-3s", "m"):
        with pytest.raises(ValueError, match="interval"):
            parse_interval(bad)
    with pytest.raises(ValueError, match="time of day"):
        parse_clock("25:99")
    plan = CapturePlan(every_s=600, start=parse_clock("21:00"), end=parse_clock("05:00"))
    day = dt.datetime(2026, 12, 1)
    assert plan.in_window(day.replace(hour=23)) and plan.in_window(day.replace(hour=4))
    assert not plan.in_window(day.replace(hour=12))
    assert plan.window_start_after(day.replace(hour=12)) == day.replace(hour=21)
    assert plan.window_start_after(day.replace(hour=22)) == day.replace(hour=22)
    with pytest.raises(ValueError, match="both a start and an end"):
        CapturePlan(start=parse_clock("21:00"))
    with pytest.raises(ValueError, match="burst"):
        CapturePlan(burst=0)


def test_runner_captures_day_reference_then_night_bursts_off_the_calling_thread():
    cam = SimulatedCamera(resolution=SIZE, fps=60)
    plan = CapturePlan(count=3, burst=2, day_reference=True)
    runner = CaptureRunner(cam, plan)
    shots, threads, finished = [], set(), []
    runner.events.frame_captured.connect(
        lambda s: (shots.append(s), threads.add(threading.get_ident()))
    )
    runner.events.finished.connect(finished.append)
    runner.start()
    assert runner.wait(30)
    cam.close()
    assert finished == ["done"] and runner.captured == 3
    assert [s.kind for s in shots] == ["day", "night", "night", "night"]
    assert shots[0].frames[0].image.ndim == 3 and all(
        s.frames[0].image.ndim == 2 for s in shots[1:]
    )
    assert all(len(s.frames) == 2 for s in shots)
    assert shots[1].controls["mode"] == "night" and shots[0].controls["mode"] == "day"
    assert threads and threading.get_ident() not in threads


def test_runner_spaces_captures_counts_down_and_cancels_promptly():
    cam = SimulatedCamera(resolution=SIZE, fps=30)
    runner = CaptureRunner(cam, CapturePlan(every_s=0.4, count=50), tick_s=0.1)
    times, waits = [], []
    runner.events.frame_captured.connect(lambda s: times.append(time.monotonic()))
    runner.events.awaiting.connect(waits.append)
    runner.start()
    while len(times) < 3:
        time.sleep(0.02)
    t0 = time.monotonic()
    runner.cancel()
    assert runner.wait(5) and time.monotonic() - t0 < 2.0
    cam.close()
    assert runner.finish_reason == "cancelled"
    assert all(0.3 < b - a < 0.8 for a, b in zip(times, times[1:], strict=False))
    assert waits and max(waits) <= 0.4


def test_paused_slots_are_reported_missed():
    cam = SimulatedCamera(resolution=SIZE, fps=30)
    runner = CaptureRunner(cam, CapturePlan(every_s=0.1, count=2), tick_s=0.05)
    missed = []
    runner.events.missed.connect(missed.append)
    runner.pause()
    runner.start()
    while len(missed) < 2:
        time.sleep(0.02)
    runner.resume()
    assert runner.wait(10) and runner.finish_reason == "done"
    cam.close()
    assert {m.reason for m in missed} == {"paused"}


class UnpluggableCamera(SimulatedCamera):
    """The simulated camera with a cable: ``unplugged`` makes it vanish and refuse to return."""

    reconnect_interval = 0.05

    def __init__(self, **kw):
        super().__init__(**kw)
        self.unplugged = threading.Event()

    def _grab(self, timeout):
        if self.unplugged.is_set():
            raise CameraDisconnected("sim: device unplugged")
        return super()._grab(timeout)

    def _reconnect(self):
        if self.unplugged.is_set():
            raise CameraError("sim: still unplugged")
        super()._reconnect()


def test_capture_survives_an_unplug_and_logs_the_gap(tmp_path):
    cam = UnpluggableCamera(resolution=SIZE, fps=30, mode="night")
    plan = CapturePlan(every_s=0.15, count=6, frame_timeout_s=0.3)
    runner = CaptureRunner(cam, plan, tick_s=0.05)
    with Store(tmp_path) as store:
        s = store.create_session("unplug")
        SessionRecorder(store, s.id, runner, align=False)
        runner.events.frame_captured.connect(lambda shot: shot.index == 1 and cam.unplugged.set())
        runner.events.missed.connect(lambda m: cam.unplugged.clear())  # plugged back in
        runner.start()
        assert runner.wait(30)
        cam.close()
        kinds = [e.kind for e in store.log_entries(s.id)]
        assert runner.finish_reason == "done" and runner.captured == 6
        assert "camera_lost" in kinds and "camera_back" in kinds and "missed" in kinds
        back = next(e for e in store.log_entries(s.id) if e.kind == "camera_back")
        assert "gap" in back.message
        assert len(store.captures(s.id)) == 6


def test_recorder_writes_captures_and_aligned_pairs(tmp_path):
    cam = SimulatedCamera(resolution=SIZE, fps=60, seed=2)
    runner = CaptureRunner(cam, CapturePlan(count=2, day_reference=True))
    with Store(tmp_path) as store:
        s = store.create_session("rec")
        rec = SessionRecorder(store, s.id, runner)
        assert runner.run() == "done"
        cam.close()
        pairs = store.pairs(session_id=s.id)
        day = store.captures(s.id, kind="day")
        assert len(pairs) == 2 and all(p.day_ids == (day[0].id,) for p in pairs)
        assert all(p.aligned_ok and p.matrix is not None and p.ssim_mean > 0.3 for p in pairs)
        assert pairs[0].leak_params["window"] == rec.tracker.leak_params.window
        # a later run without a day reference pairs against the session's latest one
        cam2 = SimulatedCamera(resolution=SIZE, fps=60, seed=2, mode="night")
        runner2 = CaptureRunner(cam2, CapturePlan(count=1))
        SessionRecorder(store, s.id, runner2)
        runner2.run()
        cam2.close()
        assert store.pairs(session_id=s.id)[-1].day_ids == (day[0].id,)


def test_a_recording_failure_stops_the_run_with_one_line(tmp_path):
    cam = SimulatedCamera(resolution=SIZE, fps=60, mode="night")
    runner = CaptureRunner(cam, CapturePlan(count=5))
    with Store(tmp_path) as store:
        s = store.create_session("closed")
        SessionRecorder(store, s.id, runner)
        store.close_session(s.id)  # recording into a closed session is refused
        reason = runner.run()
        cam.close()
    assert reason.startswith("error: ") and "closed" in reason and "\n" not in reason
    assert runner.captured == 0
