"""The Qt-free pieces behind the live view, the inspector and QA: app state, live preview,
overlays, inspection views, pair rendering, burst averaging."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from engine.app_state import AppState, LiveViewSpec
from engine.burst import average_frames, grab_burst, median_frames
from engine.camera import SimulatedCamera
from engine.inspect_views import checkerboard, difference, inspect_view, nudge
from engine.live_preview import LivePreview
from engine.overlay import blend, compose_live_view, mask_contour, mask_overlay, masked_colorized
from engine.pair_views import render_pair, thumbnail, wipe
from tests.conftest import still_camera_frames


@pytest.fixture(scope="module")
def day_night():
    day, (night,) = still_camera_frames(1, seed=2)
    return day, night


def test_app_state_emits_per_field_and_validates_the_reference():
    s = AppState()
    got = []
    s.events.view.connect(got.append)
    s.view = LiveViewSpec(base="night", mask_style="contour")
    assert got == [LiveViewSpec("night", "contour", 0.5)]
    with pytest.raises(ValueError, match="RGB uint8"):
        s.set_reference(np.zeros((4, 4), np.uint8))
    with pytest.raises(ValueError, match="base"):
        LiveViewSpec(base="sepia")


def test_live_preview_tracks_on_workers_and_keeps_results_in_order(day_night):
    day, night = day_night
    lp = LivePreview(workers=2, colorize=False)
    results, threads = [], set()
    done = threading.Event()

    def on_result(r):
        results.append(r)
        threads.add(threading.current_thread().name)
        if len(results) >= 4:
            done.set()

    lp.events.result.connect(on_result)
    lp.set_reference(day)
    for i in range(60):
        lp.offer(night, i)
        if done.wait(0.05):
            break
    lp.stop()
    assert lp.join(10)
    assert len(results) >= 4 and all(r.pair.ok for r in results)
    seqs = [r.sequence for r in results]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)  # only forward
    assert threads <= {"nightlab-live-0", "nightlab-live-1"}
    assert lp.tracker.matrix is not None  # the next frame refines (tracking lives there)
    assert any(r.ssim_mean is not None for r in results)  # refreshed, not per frame


def test_live_preview_paused_ignores_frames(day_night):
    day, night = day_night
    lp = LivePreview(workers=1, colorize=False)
    lp.set_reference(day)
    lp.set_enabled(False)
    got = []
    lp.events.result.connect(got.append)
    lp.offer(night, 1)
    lp.stop()
    assert lp.join(5) and got == []


def test_mask_overlay_tints_by_the_mask_times_alpha_at_known_values():
    """Values worked out by hand (tint weight = mask x alpha; NaN counts as 1), gray and RGB."""
    gray = np.full((1, 4), 100, np.uint8)
    mask = np.array([[0.0, 0.5, 1.0, np.nan]], np.float32)
    out = mask_overlay(gray, mask, color=(255, 40, 90), alpha=0.6)
    expected = [
        [100, 100, 100],  # no mask: the night frame as it was
        [146.5, 82, 97],  # weight 0.3: 100 x 0.7 + (255, 40, 90) x 0.3
        [193, 64, 94],  # weight 0.6: 100 x 0.4 + (255, 40, 90) x 0.6
        [193, 64, 94],  # NaN = 1
    ]
    assert np.abs(out[0].astype(float) - np.array(expected)).max() <= 0.5
    rgb = np.zeros((1, 2, 3), np.uint8)
    rgb[...] = (10, 200, 30)
    out = mask_overlay(rgb, np.array([[0.0, 1.0]], np.float32), color=(255, 40, 90), alpha=0.6)
    assert out[0, 0].tolist() == [10, 200, 30]
    assert out[0, 1].tolist() == [157, 104, 66]  # (10, 200, 30) x 0.4 + (255, 40, 90) x 0.6


def test_contour_blend_and_masked_colorized_do_what_they_say():
    gray = np.full((20, 20), 100, np.uint8)
    mask = np.zeros((20, 20), np.float32)
    mask[5:15, 5:15] = 1.0
    c = mask_contour(gray, mask, color=(255, 0, 0), thickness=1)
    assert (c[5, 5:15] == (255, 0, 0)).all() and (c[10, 10] == 100).all() and (c[0, 0] == 100).all()
    col = np.zeros((20, 20, 3), np.uint8)
    col[..., 1] = 200
    m = masked_colorized(col, gray, mask)
    assert (m[10, 10] == 100).all() and (m[0, 0] == (0, 200, 0)).all()
    assert blend(gray, col, alpha=1.0)[0, 0].tolist() == [0, 200, 0]


def test_compose_live_view_every_combination(day_night):
    import dataclasses

    from engine.colorize import ReferenceTransferColorizer
    from engine.pipeline import process_pair

    day, night = day_night
    pair = process_pair(day, night, colorizer=ReferenceTransferColorizer())
    mask = np.zeros(night.shape, np.float32)
    mask[40:80, 60:100] = 1.0  # a leak to draw: the scene has none
    pair = dataclasses.replace(pair, leak_mask=mask)
    gray = np.repeat(night[..., None], 3, axis=2).astype(int)
    colour, aligned = pair.colorized.rgb.astype(int), pair.aligned_reference.astype(int)
    masked = np.where(mask[..., None] > 0, gray, colour)  # no reference colour under the mask
    bases = {
        "colorized": colour, "masked_colorized": masked, "night": gray,
        "reference_blend": (gray + aligned) / 2, "aligned_reference": aligned,
    }  # fmt: skip
    inside, outside = (slice(50, 70), slice(70, 90)), (slice(0, 30), slice(None))
    edge = (slice(38, 42), slice(60, 100))  # the mask's top side
    for base, want in bases.items():
        off = compose_live_view(pair, LiveViewSpec(base, "off"))
        assert off.shape == (120, 160, 3) and off.dtype == np.uint8
        assert np.abs(off - want).max() <= 1, base
        for style in ("heatmap", "contour"):
            out = compose_live_view(pair, LiveViewSpec(base, style)).astype(int)
            assert np.abs(out[outside] - off[outside]).max() <= 1, (base, style)  # untouched
            drawn = out[inside] if style == "heatmap" else out[edge]
            assert np.abs(drawn - off[inside if style == "heatmap" else edge]).mean() > 20
            if style == "contour":  # an outline, not a fill
                assert np.abs(out[inside] - off[inside]).max() <= 1, base


def test_inspection_views_and_nudge():
    night = np.zeros((16, 16), np.uint8)
    aligned = np.full((16, 16, 3), 200, np.uint8)
    cb = checkerboard(night, aligned, tiles=2)
    assert cb[0, 0].tolist() == [0, 0, 0] and cb[0, 15].tolist() == [200, 200, 200]
    assert difference(night, aligned).shape == (16, 16, 3)
    assert inspect_view("flicker", night, aligned, phase=1)[0, 0].tolist() == [200, 200, 200]
    m = nudge(np.eye(3), 2, -1)
    assert m @ np.array([0, 0, 1.0]) == pytest.approx([2, -1, 1])
    with pytest.raises(ValueError, match="view must be"):
        inspect_view("sepia", night, aligned)


def test_render_pair_uses_the_stored_matrix(day_night):
    day, night = day_night
    shift = np.array([[1.0, 0, 3], [0, 1, 0], [0, 0, 1]])
    v = render_pair(night, day, shift)
    np.testing.assert_array_equal(v.aligned[:, 3:], day[:, :-3])
    assert v.mask[:, :3].min() == 1.0  # outside the reference: no colour there
    assert v.colorized is None and v.image("mask").dtype == np.uint8
    assert thumbnail(v.aligned, 40).shape == (30, 40, 3)
    w = wipe(night, v.aligned, 0.25)
    assert w[0, 0].tolist() == [night[0, 0]] * 3 and w.shape == (120, 160, 3)


def test_burst_mean_and_median():
    a, b, c = (np.full((2, 2), v, np.uint8) for v in (10, 20, 250))
    assert average_frames([a, b]).tolist() == [[15, 15], [15, 15]]
    assert median_frames([a, b, c]).tolist() == [[20, 20], [20, 20]]
    with pytest.raises(ValueError, match="frame 1"):
        average_frames([a, np.zeros((3, 3), np.uint8)])
    cam = SimulatedCamera(resolution=(64, 48), fps=60)
    cam.start()
    try:
        frames = grab_burst(cam, 3, colour=True)
        seqs = [f.meta.sequence for f in frames]
        assert seqs == sorted(set(seqs))
        with pytest.raises(ValueError, match="not gray"):
            grab_burst(cam, 1, colour=False)
    finally:
        cam.close()


def test_on_camera_colorizer_supplies_the_colour(day_night):
    """With a camera colorizer the host aligns and masks, sends the aligned reference and
    the mask to it, and shows the camera's colour (a stand-in for the OAK's host side)."""
    from types import SimpleNamespace

    day, night = day_night
    colour = np.zeros((*night.shape, 3), np.uint8)
    colour[..., 2] = 200

    class FakeOak:
        def __init__(self):
            self.references = []

        def set_reference(self, night, reference, *, leak_mask=None):
            self.references.append((night.shape, reference.shape, leak_mask is not None))

        def latest_result(self):
            return SimpleNamespace(result=SimpleNamespace(rgb=colour))

    oak = FakeOak()
    lp = LivePreview(workers=1, colorize=True)
    lp.set_camera_colorizer(oak)
    got = []
    lp.events.result.connect(got.append)
    lp.set_reference(day)
    lp.offer(night, 1)
    deadline = time.monotonic() + 30
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    lp.stop()
    assert got and got[0].pair.colorized.rgb is colour
    assert oak.references == [(night.shape, (*night.shape, 3), True)]
    assert lp._colorizer is None  # the host model was never loaded


def test_a_job_asking_for_the_live_model_as_the_model_is_switched_gets_the_new_one(
    monkeypatch,
):
    """A job (the inspector's views, a capture) asks ``colorizer()`` for the live model; the
    operator switches models between its request and a worker taking it, so the worker loads
    the new model. The job must get that one, not wait for the old one forever (it did: the
    live-view churn of benchmarks/heap_stress.py hung so)."""
    import engine.colorize as colorize_mod
    from engine.live_preview import LivePreview

    monkeypatch.setattr(colorize_mod, "load_colorizer", lambda path=None, **kw: f"model {path}")
    preview = LivePreview(workers=1, model_path="a.onnx")
    real_preload = preview.preload

    def switched_then_asked():  # the switch lands between the job's read and its request
        preview.set_model("b.onnx")
        real_preload()

    monkeypatch.setattr(preview, "preload", switched_then_asked)
    got = []
    job = threading.Thread(target=lambda: got.append(preview.colorizer()), name="nightlab-job_0")
    try:
        job.start()
        job.join(10)
        assert not job.is_alive(), "colorizer() waited for a model no worker will load"
        assert got == ["model b.onnx"]
    finally:
        preview.stop()
        preview.join(10)
        job.join(10)
