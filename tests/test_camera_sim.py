"""Simulated camera: ground truth (warp, change mask), sensor response, controls, streaming,
and the base class's newest-frame-wins and disconnect/reconnect logic."""

from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest

from engine.camera import (
    Camera,
    CameraDisconnected,
    CameraError,
    CameraInfo,
    ControlError,
    ControlSpec,
    Frame,
    FrameMeta,
    SimulatedCamera,
)
from engine.camera._scene import PERIOD_S
from tests.conftest import record_connection

SIZE = (320, 240)


def make(**kw) -> SimulatedCamera:
    kw.setdefault("resolution", SIZE)
    return SimulatedCamera(**kw)


def manual(cam: SimulatedCamera, **controls) -> SimulatedCamera:
    for name, value in controls.items():
        cam.set_control(name, value)
    return cam


def corners_error(m_est: np.ndarray, m_true: np.ndarray, w: int, h: int) -> float:
    pts = np.array([[0, 0, 1], [w - 1, 0, 1], [0, h - 1, 1], [w - 1, h - 1, 1]], float).T
    a, b = m_est @ pts, m_true @ pts
    return float(np.abs(a[:2] / a[2] - b[:2] / b[2]).max())


# -- ground truth ---------------------------------------------------------------------------
def test_true_warp_matches_ecc_between_two_day_frames():
    cam = make(drift_px=12.0, scene_changes=False, seed=3)
    a, b = cam.render(0.0, sequence=0), cam.render(6.0, sequence=1)
    truth = SimulatedCamera.true_warp(a, b)  # frame a coords -> frame b coords
    w, h = SIZE
    assert corners_error(np.eye(3), truth, w, h) > 2.0, "the drift must actually move the view"
    ga = cv2.cvtColor(a.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gb = cv2.cvtColor(b.image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    est = np.eye(2, 3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 200, 1e-6)
    # ECC finds W with input(W x) = template(x): it maps b's pixels to a's
    _, est = cv2.findTransformECC(gb, ga, est, cv2.MOTION_AFFINE, criteria, None, 5)
    b_to_a = np.vstack([est, [0, 0, 1]])
    assert corners_error(np.linalg.inv(b_to_a), truth, w, h) < 0.5


def test_true_warp_translation_matches_phase_correlation():
    cam = make(drift_px=10.0, scene_changes=False, seed=5)
    a, b = cam.render(1.0, sequence=0), cam.render(9.0, sequence=1)
    truth = SimulatedCamera.true_warp(a, b)
    ga = cv2.cvtColor(a.image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    gb = cv2.cvtColor(b.image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    (dx, dy), _ = cv2.phaseCorrelate(ga, gb, cv2.createHanningWindow(ga.shape[::-1], cv2.CV_64F))
    centre = np.array([(SIZE[0] - 1) / 2, (SIZE[1] - 1) / 2, 1.0])
    moved = truth @ centre
    np.testing.assert_allclose([dx, dy], moved[:2] - centre[:2], atol=0.5)


def test_true_warp_is_identity_for_the_same_frame_and_composes():
    cam = make(drift_px=8.0)
    f0, f1, f2 = (cam.render(t, sequence=i) for i, t in enumerate((0.0, 3.0, 11.0)))
    np.testing.assert_allclose(SimulatedCamera.true_warp(f1, f1), np.eye(3), atol=1e-12)
    chained = SimulatedCamera.true_warp(f1, f2) @ SimulatedCamera.true_warp(f0, f1)
    np.testing.assert_allclose(chained, SimulatedCamera.true_warp(f0, f2), atol=1e-9)
    with pytest.raises(ValueError, match="no ground-truth warp"):
        SimulatedCamera.true_warp(FrameMeta(0.0, 0, "x"), f0)


@pytest.mark.parametrize("mode", ["day", "night"])
def test_change_mask_covers_every_changed_pixel(mode):
    cam = make(mode=mode, seed=1)
    t = 2.0  # object 0 is in view from 1 s to 9 s of the timetable
    with_objects = cam.render(t, sequence=7)
    assert 0 in with_objects.meta.extra["objects"]
    mask = cam.change_mask(with_objects)
    cam.set_control("scene_changes", False)
    without = cam.render(t, sequence=7)  # same warp, same noise: only the objects differ
    assert not cam.change_mask(without).any()
    diff = with_objects.image.astype(np.int16) - without.image
    changed = np.abs(diff).reshape(mask.shape + (-1,)).max(axis=-1) > 0
    assert mask.any() and changed.any()
    assert not (changed & ~mask).any(), "a pixel changed outside the change mask"
    assert changed[mask].mean() > 0.5, "the mask should be tight, not the whole frame"
    np.testing.assert_array_equal(cam.change_between(with_objects, with_objects), mask)


def test_scene_changes_appear_move_and_vanish():
    cam = make(seed=2)
    objects = cam.renderer.objects
    first = objects[0]
    assert first.box_at(0.5) is None and first.box_at(2.0) is not None
    assert first.box_at(9.5) is None
    assert first.box_at(2.0 + PERIOD_S) == first.box_at(2.0), "the timetable repeats"
    movers = [o for o in objects if (o.vx, o.vy) != (0.0, 0.0)]
    assert movers, "some objects move"
    o = movers[0]
    a, b = o.box_at(o.t_on + 0.5), o.box_at(o.t_off - 0.5)
    assert a is not None and b is not None and a[:2] != b[:2]
    ids_over_time = {tuple(cam.render(t).meta.extra["objects"]) for t in np.arange(0, 30, 1.5)}
    assert len(ids_over_time) > 2, "the set of objects in view changes over time"


# -- sensor model ---------------------------------------------------------------------------
def test_day_is_rgb_night_is_gray_with_metadata():
    cam = make()
    day = cam.render_frame(0)
    assert day.image.shape == (240, 320, 3) and day.image.dtype == np.uint8
    assert day.meta.mode == "day" and day.meta.white_balance_k == 5500
    cam.set_control("mode", "night")
    night = cam.render_frame(0)
    assert night.image.shape == (240, 320) and night.is_gray
    assert night.meta.mode == "night" and night.meta.white_balance_k is None
    assert night.meta.ir_intensity == pytest.approx(0.6)
    json.dumps(night.meta.to_dict())  # metadata is JSON-safe as written to sessions


def test_night_has_a_different_spectral_response_and_ir_falloff():
    cam = make(scene_changes=False, drift_px=0.0)
    day_gray = cv2.cvtColor(cam.render(0.0).image, cv2.COLOR_RGB2GRAY).astype(float)
    cam.set_control("mode", "night")
    night = cam.render(0.0).image.astype(float)
    # not just a gray version of the day frame
    assert np.corrcoef(day_gray.ravel(), night.ravel())[0, 1] < 0.98
    h, w = night.shape

    def corner_to_centre(img):
        centre = img[h // 3 : 2 * h // 3, w // 3 : 2 * w // 3].mean()
        corners = np.mean([img[:20, :20].mean(), img[:20, -20:].mean(), img[-20:, :20].mean()])
        return corners / centre

    assert corner_to_centre(night) < corner_to_centre(day_gray) - 0.1
    manual(cam, auto_exposure=False, exposure_us=20000, iso=400)
    lit = cam.render(0.0).image.mean()
    cam.set_control("ir_intensity", 0.0)
    assert cam.render(0.0).image.mean() < lit - 10, "the IR flood lights the scene"


def noise_std(cam: SimulatedCamera) -> float:
    a = cam.render(0.0, sequence=1).image.astype(float)
    b = cam.render(0.0, sequence=2).image.astype(float)
    return float(np.std(a - b) / np.sqrt(2))


def test_night_noise_grows_with_iso_at_equal_brightness():
    cam = manual(make(mode="night", drift_px=0.0), auto_exposure=False)
    stds, means = [], []
    for iso in (100, 800, 3200):
        manual(cam, iso=iso, exposure_us=int(40000 * 100 / iso))
        stds.append(noise_std(cam))
        means.append(cam.render(0.0).image.mean())
    assert stds[0] < stds[1] < stds[2]
    assert max(means) - min(means) < 3, "exposure x ISO constant keeps the brightness"


@pytest.mark.parametrize("mode", ["day", "night"])
def test_exposure_control_changes_brightness_monotonically(mode):
    cam = manual(make(mode=mode, drift_px=0.0), auto_exposure=False, iso=100)
    means = []
    for exposure in (500, 2000, 8000, 30000, 90000):
        cam.set_control("exposure_us", exposure)
        frame = cam.render(0.0)
        assert frame.meta.exposure_us == exposure
        means.append(frame.image.mean())
    assert all(a < b for a, b in zip(means, means[1:], strict=False)), means


def test_auto_exposure_brightens_a_dark_night_by_raising_iso():
    cam = make(mode="night", ir_intensity=0.1)
    auto = cam.render(0.0)
    manual(cam, auto_exposure=False, exposure_us=10000, iso=100)
    dark = cam.render(0.0)
    assert auto.meta.iso > 100 and auto.image.mean() > dark.image.mean() + 20


def test_white_balance_and_focus_controls():
    cam = manual(make(drift_px=0.0, scene_changes=False), auto_white_balance=False)

    def blue_over_red(k):
        cam.set_control("white_balance_k", k)
        img = cam.render(0.0).image.astype(float)
        return img[..., 2].mean() / img[..., 0].mean()

    assert blue_over_red(3000) > blue_over_red(5500) > blue_over_red(9000)
    sharp = cv2.Laplacian(cam.render(0.0).image, cv2.CV_64F).var()
    manual(cam, auto_focus=False, lens_position=255)
    blurred = cam.render(0.0)
    assert blurred.meta.extra["blur_sigma"] > 3
    assert cv2.Laplacian(blurred.image, cv2.CV_64F).var() < sharp / 4


def test_same_seed_same_frames_other_seed_other_frames():
    a, b, c = make(seed=4), make(seed=4), make(seed=5)
    fa, fb, fc = (cam.render_frame(40) for cam in (a, b, c))
    np.testing.assert_array_equal(fa.image, fb.image)
    assert fa.meta.extra["warp"] == fb.meta.extra["warp"]
    assert not np.array_equal(fa.image, fc.image)


def test_scene_from_a_folder_and_bad_scenes(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(2):
        img = rng.integers(0, 255, (90, 120, 3), np.uint8)
        cv2.imwrite(str(tmp_path / f"scene{i}.png"), img)
    cam = make(scene=tmp_path)
    assert cam.render_frame(0).image.shape == (240, 320, 3)
    assert str(tmp_path) in cam.info.name
    (tmp_path / "empty").mkdir()
    with pytest.raises(CameraError, match="no images"):
        make(scene=tmp_path / "empty").open()
    with pytest.raises(CameraError, match="file not found"):
        make(scene=tmp_path / "missing.png").open()
    with pytest.raises(ValueError, match="resolution"):
        SimulatedCamera(resolution=(10, 10))


# -- controls -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("iso", 50, r"iso: 50 out of range \[100, 3200\]"),
        ("exposure_us", 1e9, r"exposure_us: .* out of range \[10, 100000\] us"),
        ("ir_intensity", 1.5, r"ir_intensity: 1.5 out of range \[0, 1\]"),
        ("fps", float("nan"), "expected a finite number"),
        ("iso", 120.5, "expected an integer"),
        ("iso", "bright", "expected a number"),
        ("auto_exposure", "yes", "expected true/false"),
        ("mode", "dusk", "'dusk' is not one of day, night"),
        ("shutter", 1, "unknown control 'shutter'; this camera has: "),
    ],
)
def test_bad_control_values_are_rejected_with_a_clear_message(name, value, message):
    cam = make()
    before = cam.settings
    with pytest.raises(ControlError, match=message):
        cam.set_control(name, value)
    assert cam.settings == before, "a rejected value changes nothing"


def test_set_control_coerces_emits_and_reads_back():
    cam = make()
    seen = []
    cam.events.control_changed.connect(lambda n, v: seen.append((n, v)))
    assert cam.set_control("iso", 400.0) == 400 and cam.get_control("iso") == 400
    assert cam.get_control("auto_exposure") is False  # a manual value leaves auto mode
    assert cam.set_control("auto_exposure", 0) is False
    assert seen == [("iso", 400), ("auto_exposure", False), ("auto_exposure", False)]
    assert make(mode="night").get_control("mode") == "night"
    with pytest.raises(ControlError, match="fps: 1000 out of range"):
        make(fps=1000)


def test_validate_control_coerces_like_set_control_but_applies_nothing():
    cam = make()
    seen = []
    cam.events.control_changed.connect(lambda n, v: seen.append((n, v)))
    before = cam.settings
    assert cam.validate_control("iso", "800") == 800
    assert cam.settings == before and seen == []  # not applied, auto exposure left on
    for name, value in [("iso", "abc"), ("iso", 50), ("shutter", 1)]:
        with pytest.raises(ControlError, match=name):
            cam.validate_control(name, value)


# -- streaming ------------------------------------------------------------------------------
def test_stream_delivers_at_the_set_rate_and_the_newest_frame_wins():
    cam = make(fps=200.0)
    threads = set()
    cam.events.frame_ready.connect(lambda f: threads.add(threading.current_thread().name))
    with cam:
        cam.start()
        first = cam.wait_frame(timeout=2.0)
        time.sleep(0.25)  # a slow consumer
        latest = cam.latest_frame()
        assert latest.meta.sequence >= first.meta.sequence + 5, "frames kept coming"
        nxt = cam.wait_frame(timeout=2.0)
        assert nxt.meta.sequence > latest.meta.sequence
        cam.stop()
        delivered = cam.frames_delivered
        last = cam.latest_frame()
        assert last.meta.sequence == delivered - 1, "only the newest is kept, none queued"
    assert not cam.is_streaming and threads == {"camera-sim"}
    assert delivered < 0.8 * 200, "paced, not as fast as possible"


def test_snap_without_streaming_and_sequences_keep_counting():
    cam = make(fps=240.0)
    a = cam.snap()
    b = cam.snap()
    assert b.meta.sequence == a.meta.sequence + 1
    assert b.meta.extra["t"] > a.meta.extra["t"]
    cam.close()


# -- base class: disconnect / reconnect with a fake backend ---------------------------------
class FlakyCamera(Camera):
    """Delivers frames, is unplugged after ``drop_after`` of them, comes back after
    ``outage`` failed reconnects."""

    reconnect_interval = 0.01

    def __init__(self, *, drop_after: int = 3, outage: int = 2) -> None:
        super().__init__()
        self.drop_after, self.outage = drop_after, outage
        self.seq = 0
        self.present = True
        self.reconnect_attempts = 0

    def _open(self):
        if not self.present:
            self.reconnect_attempts += 1
            if self.reconnect_attempts > self.outage:
                self.present = True
            else:
                raise CameraError("fake: still unplugged")

    def _close(self):
        pass

    def _grab(self, timeout):
        time.sleep(0.002)
        if self.seq == self.drop_after and self.present and not self.reconnect_attempts:
            self.present = False
            raise CameraDisconnected("fake: unplugged")
        img = np.full((4, 4), self.seq, np.uint8)
        frame = Frame(img, FrameMeta(time.time(), self.seq, "fake"))
        self.seq += 1
        return frame

    def _capabilities(self):
        return {"gain": ControlSpec("gain", "float", 1.0, 0.0, 10.0)}

    def _apply_control(self, name, value):
        pass

    @property
    def info(self):
        return CameraInfo("fake", "fake-0", "Fake", (4, 4), 100.0)


def test_disconnect_then_reconnect_events_and_frames_resume():
    cam = FlakyCamera(drop_after=3, outage=2)
    events, kept = record_connection(cam)
    cam.start()
    deadline = time.monotonic() + 3.0
    while cam.frames_delivered < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    cam.close()
    assert events == [("disconnected", "fake: unplugged"), ("reconnected", "fake: fake-0 is back")]
    assert cam.reconnect_attempts == 3
    seqs = [f.meta.sequence for f, _ in kept]
    assert seqs[:4] == [0, 1, 2, 3] and len(seqs) >= 8, "frames resumed after the outage"
    for frame, copy in kept:  # frames handed out earlier are never reused or touched
        np.testing.assert_array_equal(frame.image, copy)
    assert not cam.is_connected and not cam.is_open


def test_control_spec_with_an_open_bound_reports_infinity():
    spec = ControlSpec("gain", "float", minimum=0.0)
    with pytest.raises(ControlError, match=r"gain: -1 out of range \[0, inf\]"):
        spec.validate(-1)
    unsupported = ControlSpec("ir_intensity", "float", supported=False, reason="no IR driver")
    with pytest.raises(ControlError, match="unsupported on this device"):
        unsupported.validate(0.5)


def test_change_mask_refuses_frames_of_another_seed():
    frame = make(seed=1).render(2.0)
    with pytest.raises(ValueError, match="not rendered by this camera"):
        make(seed=2).change_mask(frame)


def test_change_mask_covers_changes_in_a_defocused_frame():
    cam = manual(make(seed=1), auto_focus=False, lens_position=0)
    with_objects = cam.render(2.0, sequence=3)
    assert with_objects.meta.extra["blur_sigma"] > 4
    cam.set_control("scene_changes", False)
    without = cam.render(2.0, sequence=3)
    mask = cam.change_mask(with_objects)
    changed = (with_objects.image != without.image).any(axis=-1)
    assert changed.any() and not (changed & ~mask).any()


def test_frame_meta_keeps_backend_extras_apart_from_named_fields():
    # a backend's extra key named like a field must not overwrite the field in the record
    meta = FrameMeta(timestamp=1.0, sequence=3, device_id="cam", iso=800, extra={"iso": "auto"})
    d = meta.to_dict()
    assert d["iso"] == 800 and d["extra"] == {"iso": "auto"}
    assert FrameMeta.from_dict(d) == meta
    # an old flat record still reads: unknown keys land in extra
    old = FrameMeta.from_dict({"timestamp": 2.0, "sequence": 1, "device_id": "x", "gain": 2})
    assert old.extra == {"gain": 2} and old.timestamp == 2.0
