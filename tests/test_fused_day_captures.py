"""Stored pairs with several day captures: one fused reference, the same wherever it is rebuilt.

The live tracker (GUI live view, ``capture --reference``, ``ingest``), the inspector and
``reprocess`` all combine a pair's day captures with `engine.reference.fuse_day_captures`, in
the first capture's grid; the stability map goes with the reference into the leak mask. Real
SQLite store, a real photograph (skimage's astronaut) shifted as a camera that drifted.
"""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import skimage.data

from engine import to_gray
from engine.burst import median_frames
from engine.live import PairTracker
from engine.pair_views import load_pair_reference, render_pair
from engine.pipeline import process_pair
from engine.reference import fuse_day_captures
from engine.store import Store

DRIFT = (7, 5)  # two of the day captures: the camera sat 7 px right, 5 px down
SHIFT = (6, -4)  # the night frame: the scene 6 px right, 4 px up of the anchor capture
CAR = (slice(150, 190), slice(120, 190))  # where a red car parks, in the anchor's grid
TENT = (slice(40, 110), slice(200, 290))  # a market tent on half the days (anchor's grid)
INNER = (slice(24, -24), slice(24, -24))


def _moved(image: np.ndarray, tx: float, ty: float) -> np.ndarray:
    m = np.float32([[1, 0, tx], [0, 1, ty]])
    h, w = image.shape[:2]
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return cv2.resize(skimage.data.astronaut(), (320, 240), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="module")
def night(scene) -> np.ndarray:
    return _moved(to_gray(scene), *SHIFT)


def _with_car(scene: np.ndarray) -> np.ndarray:
    out = scene.copy()
    out[CAR] = (220, 20, 25)
    return out


def _with_tent(scene: np.ndarray) -> np.ndarray:
    """The scene with a strongly coloured tent of the *same luminance* (a flat change the
    structure and luminance cues cannot see in a gray night frame: only the day captures'
    disagreement says it)."""
    lab = cv2.cvtColor(scene.astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    lab[TENT + (slice(1, 3),)] = (55.0, -60.0)
    rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    return np.clip(rgb * 255 + 0.5, 0, 255).astype(np.uint8)


def test_stored_fused_reference_drops_a_transient_the_unregistered_median_kept(
    tmp_path, scene, night
):
    # the anchor capture, then two taken after the camera drifted; the car is in the last only
    days = [scene, _moved(scene, *DRIFT), _moved(_with_car(scene), *DRIFT)]
    with Store(tmp_path / "data") as store:
        s = store.create_session("drift")
        pair = store.add_pair_with_captures(s.id, days=days, night=night)
        _, fused = load_pair_reference(store, store.pair(pair.id))
        stored_days = [store.read_image(i) for i in pair.day_ids]
    # the two drifted captures were registered back onto the anchor (not left as they were)
    assert fused.used == (0, 1, 2) and fused.refused == ()
    for a in fused.alignments[1:]:
        assert a.matrix[0, 2] == pytest.approx(-DRIFT[0], abs=0.5)
        assert a.matrix[1, 2] == pytest.approx(-DRIFT[1], abs=0.5)
    truth = scene[CAR].astype(int)
    fused_err = np.abs(fused.image[CAR].astype(int) - truth).mean()
    # what stored pairs did before: the per-pixel median of the captures as they lie
    old = median_frames(stored_days)
    car_at = (slice(CAR[0].start + DRIFT[1], CAR[0].stop + DRIFT[1]),
              slice(CAR[1].start + DRIFT[0], CAR[1].stop + DRIFT[0]))  # fmt: skip
    old_err = np.abs(old[car_at].astype(int) - scene[car_at].astype(int)).mean()
    redness = old[CAR][..., 0].astype(int) - old[CAR][..., 1:].mean(axis=-1)
    truth_redness = truth[..., 0] - truth[..., 1:].mean(axis=-1)
    assert fused_err < 6, fused_err  # the car is gone, the scene is back
    assert old_err > 4 * fused_err and old_err > 20, (old_err, fused_err)
    assert redness.mean() > truth_redness.mean() + 15  # a red ghost where the car stood
    # and the fused reference is sharp where the old one doubled every edge
    sharp = np.abs(fused.image[INNER].astype(int) - scene[INNER].astype(int)).mean()
    doubled = np.abs(old[INNER].astype(int) - scene[INNER].astype(int)).mean()
    assert sharp < 3 and doubled > 3 * sharp, (sharp, doubled)


def test_stability_of_the_day_captures_reaches_the_leak_mask_on_the_capture_path(scene, night):
    # a tent of another colour (same luminance) on two of four days: they disagree there
    days = [scene, _with_tent(scene), scene.copy(), _with_tent(scene)]
    tracker = PairTracker()
    ref = tracker.set_reference(days, capture_ids=[11, 12, 13, 14], fixed_camera=True)
    assert ref.stability is not None and not ref.stability.flags.writeable
    assert ref.stability[TENT].mean() < 0.3 < 0.9 < np.median(ref.stability)
    result = tracker.process(night)  # what a capture run records for each night frame
    assert result.ok, result.alignment.reason
    # the same registration, the same reference, without the stability map
    plain = process_pair(ref.image, night, registered=result.alignment)
    tent_night = (slice(TENT[0].start + SHIFT[1] + 6, TENT[0].stop + SHIFT[1] - 6),
                  slice(TENT[1].start + SHIFT[0] + 6, TENT[1].stop + SHIFT[0] - 6))  # fmt: skip
    assert result.leak_mask[tent_night].mean() > plain.leak_mask[tent_night].mean() + 0.5
    assert result.leak_area_pct > plain.leak_area_pct + 3
    # where the captures agree, the stability cue changes nothing
    far = np.ones(night.shape, bool)
    far[: TENT[0].stop + 40, TENT[1].start - 40 :] = False
    far &= result.valid
    far[:24], far[-24:], far[:, :24], far[:, -24:] = False, False, False, False
    assert np.abs(result.leak_mask[far] - plain.leak_mask[far]).max() < 0.02


def test_inspector_and_reprocess_rebuild_the_reference_the_capture_used(
    tmp_path, scene, night, shipped_model
):
    from engine.leakmask import LeakMaskParams
    from engine.reprocess import PairJob, RunSpec, process_batch

    days = [scene, _moved(scene, *DRIFT), _with_tent(scene), _moved(_with_tent(scene), *DRIFT)]
    root = tmp_path / "data"
    with Store(root) as store:
        s = store.create_session("rebuild")
        ids = [store.add_capture(s.id, d, kind="day").id for d in days]
        # what the capture run does: the stored captures, read back, make the reference
        tracker = PairTracker()
        ref = tracker.set_reference(
            [store.read_image(i) for i in ids], capture_ids=ids, fixed_camera=True
        )
        captured = tracker.process(night)
        assert captured.ok, captured.alignment.reason
        pair = store.add_pair(
            s.id,
            night_id=store.add_capture(s.id, night, kind="night").id,
            day_ids=ids,
            alignment=captured.alignment,
            leak_params=LeakMaskParams(),
            ssim_mean=captured.ssim_mean,
            leak_area_pct=captured.leak_area_pct,
        )
        night_back, rebuilt = load_pair_reference(store, pair)
        job = PairJob.from_pair(store, pair)
    # the inspector: the very reference, byte for byte, and the mask the capture recorded
    assert rebuilt.image.tobytes() == ref.image.tobytes()
    assert rebuilt.stability.tobytes() == ref.stability.tobytes()
    views = render_pair(
        night_back, rebuilt.image, np.asarray(pair.matrix), stability=rebuilt.stability
    )
    assert np.abs(views.mask - captured.leak_mask).mean() < 1e-3
    # reprocess: the stored registration (no search) on the same reference and mask
    (out,) = process_batch([job], RunSpec.for_model(shipped_model), str(root))
    assert out.ok, out.error
    assert out.metrics["registration"]["source"] == "stored"
    assert out.metrics["timings_ms"]["align"] == 0
    assert out.metrics["leak_area_pct"] == pytest.approx(captured.leak_area_pct, abs=1e-9)
    assert out.metrics["ssim_mean"] == pytest.approx(captured.ssim_mean, abs=1e-9)
    warped = cv2.imdecode(np.frombuffer(out.outputs["aligned_reference"], np.uint8), 1)
    assert np.array_equal(warped[..., ::-1], captured.aligned_reference)
    day = out.metrics["day_reference"]
    assert day["combine"] == "fused-v2" and len(day["used"]) == 4 and day["refused"] == []


def test_one_day_capture_is_used_byte_for_byte_without_a_stability_map(tmp_path, scene, night):
    tracker = PairTracker()
    ref = tracker.set_reference(scene, capture_ids=[3])
    assert ref.image.tobytes() == scene.tobytes() and ref.image is not scene
    assert ref.stability is None and ref.used == (0,) and ref.refused == ()
    result = tracker.process(night)
    plain = process_pair(scene, night, registered=result.alignment)
    assert np.array_equal(result.leak_mask, plain.leak_mask)
    with Store(tmp_path / "data") as store:
        s = store.create_session("one")
        pair = store.add_pair_with_captures(s.id, days=[scene], night=night)
        _, rebuilt = load_pair_reference(store, pair)
    assert rebuilt.image.tobytes() == scene.tobytes() and rebuilt.stability is None


def test_reprocess_keys_of_one_capture_stay_and_of_several_change_once():
    """Keys made by the version that combined by median (42700ec), for the same jobs."""
    from engine.reprocess import PairJob, RunSpec

    spec = RunSpec("m.onnx", "0" * 64, {"method": "auto"})
    reg = {"ok": True, "matrix": [[1, 0, 6], [0, 1, -4], [0, 0, 1]]}
    one = PairJob(1, ("captures/a.png",), "captures/n.png", reg)
    two = PairJob(1, ("captures/a.png", "captures/b.png"), "captures/n.png", reg)
    assert spec.key_for(one) == "7c0a5199199ecee136f9ff23eb72f00ca15c6e0ce9503c063511e6fd3b57953b"
    old_two = "a39751b954122f9683410e8c48a96801bf7599698d00202e8294cca59a9e4e24"
    assert spec.key_for(two) != old_two  # a median-combined run is redone with the fusion
    assert spec.key_for(two) == spec.key_for(PairJob(1, two.day, two.night, dict(reg)))


def test_fusion_of_the_same_captures_is_deterministic(scene):
    days = [scene, _moved(scene, *DRIFT), _with_tent(scene)]
    a, b = fuse_day_captures(days), fuse_day_captures([d.copy() for d in days])
    assert a.image.tobytes() == b.image.tobytes()
    assert a.stability.tobytes() == b.stability.tobytes()


def test_a_day_capture_that_does_not_register_is_left_out_with_its_reason(scene):
    noise = np.random.default_rng(0).integers(0, 256, scene.shape, dtype=np.uint8)
    tiny = scene[:20, :20].copy()
    ref = PairTracker().set_reference(
        [scene, noise, _moved(scene, *DRIFT), tiny], capture_ids=[1, 2, 3, 4]
    )
    assert ref.used == (0, 2)
    assert [i for i, _ in ref.refused] == [1, 3] and all(why for _, why in ref.refused)
    assert "32x32" in dict(ref.refused)[3]
    line = ref.describe()
    assert line.startswith("day captures #1, #3 fused; left out #2 (") and "#4 (" in line


def test_gui_fuses_the_kept_captures_on_the_job_runner_not_the_gui_thread(qtbot, scene):
    pytest.importorskip("PySide6")
    from engine.app_state import AppState
    from gui.capture.reference import ReferencePanel
    from gui.jobs import JobRunner

    tracker = PairTracker()
    threads = []
    tracker.events.reference_changed.connect(lambda _: threads.append(threading.current_thread()))
    jobs = JobRunner(workers=1)
    panel = ReferencePanel(AppState(), jobs, tracker=tracker)
    qtbot.addWidget(panel)
    messages = []
    panel.message.connect(messages.append)
    try:
        for image in (scene, _with_tent(scene), scene.copy()):
            panel.captures.add(image)
        panel.use_median()
        qtbot.waitUntil(lambda: bool(messages), timeout=20_000)
    finally:
        jobs.shutdown()
        jobs.wait()
    assert threads and threads[0] is not threading.main_thread()
    assert threads[0].name.startswith("nightlab-job"), threads[0].name  # the runner's own
    ref = tracker.reference
    assert ref is not None and ref.stability is not None and len(ref.days) == 3
    assert ref.image.tobytes() == fuse_day_captures(ref.days).image.tobytes()
    assert messages[-1] == "Day reference: 3 day captures fused"


def test_ingest_of_several_days_records_the_fused_reference_and_says_what_it_used(
    tmp_path, monkeypatch, capsys, scene, night
):
    import cli
    from engine._image import write_image
    from engine.leakmask import LeakMaskParams

    data = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(data))
    noise = np.random.default_rng(3).integers(0, 256, scene.shape, dtype=np.uint8)
    days = [scene, _with_tent(scene), _moved(scene, *DRIFT), _with_tent(scene), noise]
    argv = ["ingest", "--session", "lab", "--fixed-camera", "--night"]
    argv.append(str(write_image(tmp_path / "night.png", night)))
    for i, d in enumerate(days):
        argv += ["--day", str(write_image(tmp_path / f"day{i}.png", d))]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "day captures #1, #2, #3, #4 fused; left out #5 (" in out, out
    with Store(data, read_only=True) as store:
        (pair,) = store.pairs(session_id=1)
        (entry,) = [e for e in store.log_entries(1) if e.kind == "reference"]
        assert entry.message.startswith(f"pair {pair.id}: day captures #1, #2, #3, #4 fused")
        assert len(pair.day_ids) == 5  # every capture offered is kept
        night_back, fused = load_pair_reference(store, pair)
    # what ingest recorded was measured with the stability cue: the record reproduces it
    again = process_pair(
        fused.image,
        night_back,
        registered=_stored(pair, fused.image, night_back),
        leak_params=LeakMaskParams(**pair.leak_params),
        stability=fused.stability,
    )
    without = process_pair(
        fused.image, night_back, registered=_stored(pair, fused.image, night_back)
    )
    assert pair.leak_area_pct == pytest.approx(again.leak_area_pct, abs=1e-9)
    assert pair.leak_area_pct > without.leak_area_pct + 3  # the tent, from the stability map


def _stored(pair, day, night):
    import alignment

    return alignment.Alignment(
        np.asarray(pair.matrix, float),
        ok=True,
        score=pair.score or 0.0,
        method=pair.method or "",
        motion=pair.motion or "homography",
        fixed_shape=night.shape[:2],
        moving_shape=day.shape[:2],
    )


def test_capture_with_several_reference_ids_fuses_them_and_logs_which(
    tmp_path, monkeypatch, capsys, scene
):
    import cli

    data = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(data))
    with Store(data) as store:
        s = store.create_session("roof")
        ids = [
            store.add_capture(s.id, d, kind="day").id
            for d in (scene, _moved(scene, *DRIFT), _with_tent(scene))
        ]
    argv = ["capture", "--camera", "sim", "--session", "roof", "--count", "1"]
    assert cli.main([*argv, "--reference", ",".join(map(str, ids))]) == 0
    out = capsys.readouterr().out
    assert f"day reference: day captures #{ids[0]}, #{ids[1]}, #{ids[2]} fused" in out, out
    with Store(data, read_only=True) as store:
        (pair,) = store.pairs(session_id=s.id)
        assert pair.day_ids == tuple(ids)
        logged = [e.message for e in store.log_entries(s.id) if e.kind == "reference"]
        assert logged == [f"day captures #{ids[0]}, #{ids[1]}, #{ids[2]} fused"]


def test_gui_capture_run_records_every_frame_of_a_fused_reference(tmp_path, scene, night):
    pytest.importorskip("PySide6")
    from gui.capture.night import record_reference

    tracker = PairTracker()
    frames = [scene, _with_tent(scene), _moved(scene, *DRIFT)]
    ref = tracker.set_reference(frames, fixed_camera=True)  # "Use fused": no store ids yet
    tracker.process(night)
    matrix = tracker.matrix
    with Store(tmp_path / "data") as store:
        s = store.create_session("gui")
        record_reference(store, s.id, tracker)
        recorded = tracker.reference
        assert len(recorded.capture_ids) == 3 and recorded.image is ref.image
        assert recorded.fixed_camera and np.array_equal(tracker.matrix, matrix)  # kept
        caps = [store.capture(i) for i in recorded.capture_ids]
        assert [c.kind for c in caps] == ["day"] * 3
        pair = store.add_pair(
            s.id,
            night_id=store.add_capture(s.id, night, kind="night").id,
            day_ids=recorded.capture_ids,
        )
        _, rebuilt = load_pair_reference(store, pair)
        (entry,) = [e for e in store.log_entries(s.id) if e.kind == "reference"]
    assert rebuilt.image.tobytes() == ref.image.tobytes()
    assert rebuilt.stability.tobytes() == ref.stability.tobytes()
    assert (
        entry.message
        == "day captures " + ", ".join(f"#{i}" for i in recorded.capture_ids) + " fused"
    )


def test_a_capture_after_use_fused_pairs_with_every_fused_capture_not_the_last(tmp_path):
    """The GUI's Use fused, then Capture pair: the run (record_reference, then a recorder on
    the shared tracker) kept the fused reference. It used to take the session's newest day
    capture instead, so every pair after Use fused referenced only the last capture."""
    pytest.importorskip("PySide6")
    from engine.camera import SimulatedCamera
    from engine.live import CapturePlan, CaptureRunner, SessionRecorder
    from gui.capture.night import record_reference

    cam = SimulatedCamera(resolution=(160, 120), fps=60, seed=7)
    days = [cam.render(t, sequence=i).image for i, t in enumerate((5.0, 9.0, 13.0))]
    tracker = PairTracker()
    fused = tracker.set_reference(days, fixed_camera=True)  # Use fused: no store ids yet
    cam.set_control("mode", "night")
    runner = CaptureRunner(cam, CapturePlan(count=1))
    with Store(tmp_path / "data") as store:
        s = store.create_session("gui")
        record_reference(store, s.id, tracker)  # what the night panel's capture job does
        ids = tracker.reference.capture_ids
        rec = SessionRecorder(store, s.id, runner, tracker=tracker)
        assert runner.run() == "done"
        cam.close()
        (pair,) = store.pairs(session_id=s.id)
    assert len(ids) == 3 and pair.day_ids == ids and rec.day_ids == ids
    assert tracker.reference.image is fused.image and tracker.reference.stability is not None


def test_when_only_the_anchor_registers_it_is_used_as_it_is(scene):
    noise = np.random.default_rng(5).integers(0, 256, scene.shape, dtype=np.uint8)
    ref = fuse_day_captures([scene, noise])
    assert ref.used == (0,) and [i for i, _ in ref.refused] == [1]
    assert ref.image.tobytes() == scene.tobytes() and ref.stability is None
    with pytest.raises(ValueError, match="registration must be one of"):
        fuse_day_captures([scene, scene], registration="fixd")
    with pytest.raises(ValueError, match="anchor 2 is out of range for 2"):
        fuse_day_captures([scene, scene], anchor=2)


def _gray(image: np.ndarray) -> np.ndarray:
    """The capture a camera still in its night (IR) mode takes: no colour at all."""
    return np.repeat(to_gray(image)[..., None], 3, axis=2)


def _chroma(image: np.ndarray) -> float:
    from engine.color import rgb_to_lab

    lab = rgb_to_lab(image)
    return float(np.hypot(lab[..., 1], lab[..., 2])[INNER].mean())


def test_a_gray_day_capture_beside_colour_ones_is_left_out_not_averaged_in(scene):
    # before: two colour captures and one gray gave a reference with half the colour (the
    # median of three chroma values where one is 0), and one colour + two gray none at all
    colour, drifted = scene, _moved(scene, *DRIFT)
    full = _chroma(fuse_day_captures([colour, drifted]).image)
    for days, used, gray in (
        ([colour, _gray(scene), drifted], (0, 2), (1,)),
        ([colour, _gray(scene), _gray(drifted)], (0,), (1, 2)),
        ([_gray(scene), colour, drifted], (1, 2), (0,)),  # a gray anchor still gives the grid
    ):
        ref = PairTracker().set_reference(days, capture_ids=[11, 12, 13])
        assert ref.used == used
        assert [i for i, _ in ref.refused] == list(gray)
        assert all(why == "no colour: a gray capture" for _, why in ref.refused)
        assert _chroma(ref.image) > 0.95 * full, (used, _chroma(ref.image), full)
    line = PairTracker().set_reference([colour, _gray(scene), drifted], capture_ids=[11, 12, 13])
    assert (
        line.describe() == "day captures #11, #13 fused; left out #12 (no colour: a gray capture)"
    )


def test_only_gray_day_captures_are_fused_as_they_are(scene):
    days = [_gray(scene), _gray(_moved(scene, *DRIFT))]
    ref = fuse_day_captures(days)
    assert ref.used == (0, 1) and ref.refused == ()


def test_process_leaves_a_gray_day_frame_out_of_the_fused_reference(scene, night):
    from engine.reference import fuse_references

    ref = fuse_references([scene, _gray(scene), _moved(scene, *DRIFT)], night)
    assert ref.used == (0, 2) and ref.refused == ((1, "no colour: a gray capture"),)
    assert ref.alignments[1].ok  # it registered: the reason is its colour, not its geometry
