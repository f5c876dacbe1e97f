"""Live capture state: the tracker, capture plans, the runner and the recorder (real store)."""

from __future__ import annotations

import datetime as dt
import gc
import re
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


def test_tracker_reference_from_several_day_captures_is_their_fused_reference():
    import skimage.data

    from engine.reference import fuse_day_captures

    scene = skimage.data.astronaut()[::4, ::4]
    imgs = [scene, np.roll(scene, 2, axis=1), scene[:120, :100].copy()]  # sizes may differ
    ref = PairTracker().set_reference(imgs, capture_ids=[4, 5, 6])
    # the engine's fusion in the first capture's grid, not a median of unregistered frames
    np.testing.assert_array_equal(ref.image, fuse_day_captures(imgs).image)
    assert ref.image.shape == scene.shape and not ref.image.flags.writeable
    assert ref.stability is not None and ref.stability.shape == scene.shape[:2]
    assert ref.capture_ids == (4, 5, 6) and ref.used == (0, 1, 2) and ref.refused == ()
    with pytest.raises(ValueError, match="3 capture ids for 2 day images"):
        PairTracker().set_reference(imgs[:2], capture_ids=[4, 5, 6])
    with pytest.raises(ValueError, match="no day reference"):
        PairTracker().process(imgs[0][..., 0])


def test_tracker_reference_if_none_never_replaces_one_set_meanwhile(rng):
    # the app fills in a reopened night's reference in the background: one the operator set
    # meanwhile stays
    tracker = PairTracker()
    assert tracker.set_reference(rng.integers(0, 255, (60, 80, 3), np.uint8), if_none=True)
    operators = tracker.reference
    later = rng.integers(0, 255, (60, 80, 3), np.uint8)
    assert tracker.set_reference(later, if_none=True) is None
    assert tracker.reference is operators
    assert tracker.set_reference(later).image is tracker.reference.image  # without: replaced


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
    shots, waits = [], []
    runner.events.frame_captured.connect(shots.append)
    runner.events.awaiting.connect(waits.append)
    runner.start()
    while len(shots) < 3:
        time.sleep(0.02)
    t0 = time.monotonic()
    runner.cancel()
    assert runner.wait(5) and time.monotonic() - t0 < 2.0
    cam.close()
    assert runner.finish_reason == "cancelled"
    # slots on a fixed 0.4 s grid (a late capture does not shift the next one), each frame
    # taken at or after its slot, never early
    dues = [s.due_at for s in shots]
    assert all(abs(b - a - 0.4) < 1e-6 for a, b in zip(dues, dues[1:], strict=False))
    assert all(s.frames[0].meta.timestamp >= s.due_at - 0.05 for s in shots)
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
        SessionRecorder(store, s.id, runner, align=False)  # not kept: the runner keeps it
        gc.collect()
        runner.events.frame_captured.connect(lambda shot: shot.index == 1 and cam.unplugged.set())
        # plug back in once the loss was both noticed by the camera and cost a slot: replugging
        # on the first miss alone raced the camera's grab thread (a slot missed for another
        # reason under load cleared the unplug before the camera ever saw it)
        seen: set[str] = set()

        def replug_after(what: str) -> None:
            seen.add(what)
            if {"lost", "missed"} <= seen:
                cam.unplugged.clear()

        runner.events.camera_lost.connect(lambda *_: replug_after("lost"))
        runner.events.missed.connect(lambda *_: replug_after("missed"))
        runner.start()
        assert runner.wait(30)
        cam.close()
        kinds = [e.kind for e in store.log_entries(s.id)]
        assert runner.finish_reason == "done" and runner.captured == 6
        assert "camera_lost" in kinds and "camera_back" in kinds and "missed" in kinds
        back = next(e for e in store.log_entries(s.id) if e.kind == "camera_back")
        assert "gap" in back.message
        assert len(store.captures(s.id)) == 6
        # the night controls were set again on the replugged device
        assert all(c.controls["mode"] == "night" for c in store.captures(s.id))


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
        # the run's own camera took the reference: the fixed-camera path registered the pairs
        assert rec.tracker.reference.fixed_camera
        assert all(p.method.startswith("fixed") for p in pairs), [p.method for p in pairs]
        # a later run without a day reference pairs against the session's latest one
        cam2 = SimulatedCamera(resolution=SIZE, fps=60, seed=2, mode="night")
        runner2 = CaptureRunner(cam2, CapturePlan(count=1))
        rec2 = SessionRecorder(store, s.id, runner2)
        runner2.run()
        cam2.close()
        assert store.pairs(session_id=s.id)[-1].day_ids == (day[0].id,)
        # ... taken by the same device (the simulated camera's id), so still the fixed path
        assert rec2.tracker.reference.fixed_camera


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


def test_listed_times_capture_once_each_then_stop():
    now = dt.datetime.now()
    times = tuple((now + dt.timedelta(seconds=s)).time() for s in (0.6, 1.2))
    plan = CapturePlan(times=times, day_reference=True)
    assert plan.listed_after(now)[0] > now and "at " in plan.describe()
    cam = SimulatedCamera(resolution=SIZE, fps=30)
    runner = CaptureRunner(cam, plan, tick_s=0.1)
    shots = []
    runner.events.frame_captured.connect(lambda s: shots.append((s.kind, time.time())))
    assert runner.run() == "done"
    cam.close()
    assert [k for k, _ in shots] == ["day", "night", "night"]
    for (_, at), due in zip(shots[1:], plan.listed_after(now), strict=True):
        assert 0 <= at - due.timestamp() < 1.0
    with pytest.raises(ValueError, match="listed times replace"):
        CapturePlan(times=times, every_s=60)


def test_day_reference_is_taken_now_even_when_the_night_window_opens_later():
    now = dt.datetime.now()
    start = (now + dt.timedelta(hours=2)).time()
    end = (now + dt.timedelta(hours=3)).time()
    cam = SimulatedCamera(resolution=SIZE, fps=30)
    runner = CaptureRunner(cam, CapturePlan(every_s=600, start=start, end=end, day_reference=True),
                           tick_s=0.05)  # fmt: skip
    shots, waits = [], []
    runner.events.frame_captured.connect(shots.append)
    runner.events.awaiting.connect(waits.append)
    runner.start()
    deadline = time.monotonic() + 20
    while not waits and time.monotonic() < deadline:
        time.sleep(0.02)
    runner.cancel()
    assert runner.wait(5)
    cam.close()
    assert [s.kind for s in shots] == ["day"] and runner.finish_reason == "cancelled"
    assert 2 * 3600 - 60 < waits[0] <= 2 * 3600  # counting down to 2 hours from now


def test_a_camera_that_stops_streaming_ends_the_run_instead_of_missing_forever(tmp_path):
    from engine._image import write_image
    from engine.camera import ReplayCamera

    for i in range(2):  # a two-frame recording, played once
        write_image(tmp_path / f"{i:04d}_night.png", np.full((48, 64), 40 * i, np.uint8))
    cam = ReplayCamera(tmp_path, fps=50)
    runner = CaptureRunner(cam, CapturePlan(count=10, frame_timeout_s=0.5))
    missed = []
    runner.events.missed.connect(missed.append)
    t0 = time.monotonic()
    reason = runner.run()
    cam.close()
    assert reason.startswith("error: the camera stopped streaming") and runner.captured >= 1
    assert time.monotonic() - t0 < 5 and len(missed) == 0


@pytest.mark.parametrize(
    ("cores", "workers", "threads"), [(2, 1, 2), (2, 2, 1), (1, 1, 1), (8, 1, 8), (8, 2, 4)]
)
def test_live_model_threads_share_the_machines_cores_among_the_workers(
    monkeypatch, cores, workers, threads
):
    # the default was written for the 2-core development machine: a lab PC's 8 cores gave
    # the live model 2 threads
    import os

    from engine.live_preview import LivePreview

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(cores)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: cores)
    preview = LivePreview(workers=workers, colorize=False)
    try:
        assert preview.colorize_threads == threads
    finally:
        preview.stop()
        assert preview.join(10)


def test_the_live_model_runs_with_the_threads_its_worker_was_given(monkeypatch, shipped_model):
    """The share above reaches the model: ONNX Runtime's session is made with it."""
    import os

    from engine.live_preview import LivePreview

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    preview = LivePreview(workers=2)
    try:
        assert preview.colorize_threads == 4
        options = preview.colorizer().session.get_session_options()
        assert options.intra_op_num_threads == 4
    finally:
        preview.stop()
        assert preview.join(10)


def test_a_day_reference_from_a_replay_of_night_frames_only_says_so(tmp_path):
    # Found replaying a session of night captures only: `capture --day-reference` ended
    # "the camera stopped streaming (replay: no frame within 4.88155 s)", which named neither
    # the cause (no day frame in the recording) nor the fix
    from engine._image import write_image
    from engine.camera import ReplayCamera

    for i in range(2):
        write_image(tmp_path / f"{i:04d}_night.png", np.full((48, 64), 40 * i, np.uint8))
    cam = ReplayCamera(tmp_path, fps=50)
    runner = CaptureRunner(cam, CapturePlan(count=1, day_reference=True, frame_timeout_s=0.5))
    reason = runner.run()
    cam.close()
    # (how many of the two it saw depends on when the stream started)
    assert re.fullmatch(
        r"error: the camera stopped streaming before a day frame: the last [12] it gave were "
        r"night frames \(replay\); play a recording that holds a day capture",
        reason,
    ), reason
    assert runner.captured == 0
