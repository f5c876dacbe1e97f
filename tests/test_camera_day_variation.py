"""The simulated camera's day captures vary as a fixed camera's do: visitors (a tent, something
parked) come and go between captures, the light's residual exposure and cast change, the view
drifts a pixel or two. Where they differ is known (`SimulatedCamera.change_mask`), elsewhere
they agree, and the fused reference of several captures (`engine.reference.fuse_day_captures`)
removes a visitor and marks it unstable."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.camera import SimulatedCamera
from engine.camera._day_variation import LIGHT_CAST, LIGHT_GAIN, SLOT_S
from engine.reference import fuse_day_captures

SIZE = (320, 240)


def _at(slot: int) -> float:
    """A capture time in ``slot``: its first half, where the slot's light holds."""
    return slot * SLOT_S + 0.3 * SLOT_S


def _onto(cam: SimulatedCamera, frame, target) -> np.ndarray:
    """``frame``'s image warped onto ``target``'s pixel grid by the true (known) warp."""
    m = SimulatedCamera.true_warp(frame, target)[:2]
    return cv2.warpAffine(frame.image, m, SIZE, flags=cv2.INTER_LINEAR)


def _mask_onto(cam: SimulatedCamera, frame, target, grow: int = 3) -> np.ndarray:
    """``frame``'s change mask in ``target``'s grid, grown by ``grow`` px (the warp's blur)."""
    m = SimulatedCamera.true_warp(frame, target)[:2]
    mask = cv2.warpAffine(cam.change_mask(frame).astype(np.uint8), m, SIZE) > 0
    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * grow + 1,) * 2, np.uint8)) > 0


def _tent_mask(cam: SimulatedCamera, frame) -> np.ndarray:
    """Where the tent stands in ``frame`` (only the tent: rendered with and without it)."""
    renderer = cam.renderer
    t = frame.meta.extra["t"]
    (tent, (x, y)) = next((v, xy) for v, xy in renderer.day_visitors(t) if v.kind == "tent")
    canvas = np.zeros(renderer.scene_size[::-1], np.uint8)
    h, w = tent.shape.shape
    canvas[y : y + h, x : x + w] = tent.shape * 255
    m = np.asarray(frame.meta.extra["warp"])[:2]
    return cv2.warpAffine(canvas, m, SIZE, flags=cv2.INTER_LINEAR) > 127


def test_the_first_frames_are_the_photo_as_shot_and_the_tent_stands_in_slot_1():
    cam = SimulatedCamera(resolution=SIZE, seed=3)
    first = cam.render(0.2)
    assert first.meta.extra["visitors"] == [] and first.meta.extra["light"] == [1.0, 0.0]
    calm = SimulatedCamera(resolution=SIZE, seed=3, light_changes=False)
    np.testing.assert_array_equal(calm.render(0.2).image, first.image)
    kinds = [v.kind for v, _ in cam.renderer.day_visitors(_at(1))]
    assert "tent" in kinds
    standing = [v.ident for v, _ in cam.renderer.day_visitors(_at(1))]
    assert cam.render(_at(1)).meta.extra["visitors"] == standing


def test_day_variation_is_deterministic_per_seed_and_varies_between_slots():
    def timetable(seed: int) -> list:
        cam = SimulatedCamera(resolution=SIZE, seed=seed)
        extras = [cam.render(_at(k)).meta.extra for k in range(1, 16)]
        return [(tuple(e["visitors"]), tuple(e["light"])) for e in extras]

    a = timetable(11)
    assert a == timetable(11), "same seed: same visitors, same light"
    assert a != timetable(12), "another seed: another day"
    visitor_sets = {v for v, _ in a}
    assert len(visitor_sets) >= 3, f"visitors come and go between slots: {visitor_sets}"
    gains = [g for _, (g, _) in a]
    casts = [c for _, (_, c) in a]
    assert all(abs(g - 1) <= LIGHT_GAIN + 1e-9 for g in gains)
    assert all(abs(c) <= LIGHT_CAST + 1e-9 for c in casts)
    assert max(gains) - min(gains) > 0.03 and max(casts) - min(casts) > 0.02


def test_the_light_never_jumps_between_frames():
    cam = SimulatedCamera(resolution=SIZE, seed=4)
    dv = cam.renderer.day_variation
    ts = np.arange(0.0, 6 * SLOT_S, 1 / 30)  # a 30 fps stream over six slots
    gains = np.array([dv.light_at(float(t))[0] for t in ts])
    casts = np.array([dv.light_at(float(t))[1] for t in ts])
    # a smoothstep over half a slot (60 frames) moves at most 1.5x its mean rate per frame
    step = 1.5 * 2 * LIGHT_GAIN / (SLOT_S / 2 * 30) + 0.001
    assert np.abs(np.diff(gains)).max() <= step
    assert np.abs(np.diff(casts)).max() <= 1.5 * 2 * LIGHT_CAST / (SLOT_S / 2 * 30) + 0.001


def test_night_frames_have_no_visitors_and_no_day_light():
    cam = SimulatedCamera(resolution=SIZE, seed=5, mode="night")
    frame = cam.render(_at(1))
    assert "visitors" not in frame.meta.extra and "light" not in frame.meta.extra
    calm = SimulatedCamera(resolution=SIZE, seed=5, mode="night", light_changes=False)
    np.testing.assert_array_equal(calm.render(_at(1)).image, frame.image)
    night_mask = cam.change_mask(frame)
    cam.set_control("mode", "day")
    assert (cam.change_mask(cam.render(_at(1))) & ~night_mask).any(), "the tent is day only"


def test_day_captures_differ_where_a_visitor_is_and_agree_elsewhere():
    cam = SimulatedCamera(resolution=SIZE, seed=7)  # defaults: drift, objects, visitors, light
    with_tent = cam.render(_at(1), sequence=1)
    tent = _tent_mask(cam, with_tent)
    # a later capture where nothing at all stood on the tent's place
    clear = next(
        f
        for k in range(2, 40)
        if not ((f := cam.render(_at(k), sequence=k)).meta.extra["visitors"] or
                (_mask_onto(cam, f, with_tent) & tent).any())
    )  # fmt: skip
    assert clear.meta.extra["light"] != with_tent.meta.extra["light"]
    assert not np.allclose(SimulatedCamera.true_warp(clear, with_tent), np.eye(3), atol=0.05), (
        "the view drifted between the captures"
    )
    other = _onto(cam, clear, with_tent).astype(np.float32)
    mine = with_tent.image.astype(np.float32)
    changed = _mask_onto(cam, clear, with_tent) | _mask_onto(cam, with_tent, with_tent)
    border = np.zeros(tent.shape, bool)
    border[8:-8, 8:-8] = True  # the warp leaves no pixel outside the frame's inner part
    agree = border & ~changed
    # the light's residual is global: one gain per channel explains the rest
    gains = np.median(mine[agree], axis=0) / np.median(other[agree], axis=0)
    (ga, ca), (gb, cb) = with_tent.meta.extra["light"], clear.meta.extra["light"]
    linear = np.array([ga * (1 + ca) / (gb * (1 + cb)), ga / gb, ga * (1 - ca) / (gb * (1 - cb))])
    np.testing.assert_allclose(gains, linear ** (1 / 2.2), atol=0.015)  # 8-bit gamma 2.2
    diff = np.abs(mine - other * gains).max(axis=-1)
    assert np.median(diff[agree]) < 3.0, "the captures agree away from visitors and objects"
    assert np.mean(diff[agree] > 30) < 0.01
    inner_tent = cv2.erode(tent.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert np.median(diff[inner_tent]) > 40, "they differ where the tent stood"


def test_the_fused_reference_of_several_captures_removes_the_tent_and_marks_it_unstable():
    cam = SimulatedCamera(resolution=SIZE, seed=7)
    anchor = cam.render(_at(1), sequence=1)  # the tent stands in the anchor capture
    tent = _tent_mask(cam, anchor)
    others = []
    for k in range(2, 60):
        f = cam.render(_at(k), sequence=k)
        if not (_mask_onto(cam, f, anchor, grow=4) & tent).any():
            others.append(f)  # nothing stood on the tent's place in this one
        if len(others) == 4:
            break
    days = [anchor, *others]
    ref = fuse_day_captures([f.image for f in days])
    assert ref.used == tuple(range(len(days)))
    inner = cv2.erode(tent.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    clean = SimulatedCamera(resolution=SIZE, seed=7, scene_changes=False, light_changes=False)
    truth = clean.render(_at(1), sequence=1).image.astype(np.float32)  # same view, no tent
    fused = ref.image.astype(np.float32)
    settled = np.ones(tent.shape, bool)
    for f in days:
        settled &= ~_mask_onto(cam, f, anchor, grow=6)
    settled[:12], settled[-12:], settled[:, :12], settled[:, -12:] = False, False, False, False
    # the fusion matches every capture to the consensus light: compare up to one gain each
    gains = np.median(fused[settled], axis=0) / np.median(truth[settled], axis=0)
    tent_left = np.abs(fused - anchor.image).max(axis=-1)[inner]
    vs_truth = np.abs(fused - truth * gains).max(axis=-1)[inner]
    assert np.median(tent_left) > 40, "the fused reference no longer shows the tent"
    assert np.median(vs_truth) < 10, "it shows what stands there without the tent"


def test_a_tent_on_half_the_captures_shows_in_the_stability_map_and_the_leak_mask():
    from engine import to_gray
    from engine.leakmask import leak_mask

    cam = SimulatedCamera(resolution=SIZE, seed=7)
    anchor = cam.render(_at(1), sequence=1)  # the tent is pitched
    tent = _tent_mask(cam, anchor)
    pitched, empty = [anchor], []
    for k in range(2, 80):
        f = cam.render(_at(k), sequence=k)
        stood = "tent" in [v.kind for v, _ in cam.renderer.day_visitors(_at(k))]
        (pitched if stood else empty).append(f)
        if len(pitched) >= 2 and len(empty) >= 2:
            break
    days = pitched[:2] + empty[:2]  # the market on half the days
    ref = fuse_day_captures([f.image for f in days])
    assert ref.used == (0, 1, 2, 3) and ref.stability is not None
    inner = cv2.erode(tent.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    settled = np.ones(tent.shape, bool)
    for f in days:
        settled &= ~_mask_onto(cam, f, anchor, grow=6)
    settled[:12], settled[-12:], settled[:, :12], settled[:, -12:] = False, False, False, False
    assert ref.stability[inner].mean() < 0.3, "where the tent stood, the captures disagreed"
    assert ref.stability[settled].mean() > 0.85, "elsewhere they agree"
    # a night frame in the anchor's view, without the tent: no reference colour goes there
    cam.set_control("mode", "night")
    night = cam.render(_at(1), sequence=1).image
    mask = leak_mask(night, to_gray(ref.image), stability=ref.stability)
    without = leak_mask(night, to_gray(ref.image))
    assert mask[inner].mean() > 0.8, "the leak mask withholds colour where the tent was"
    assert mask[inner].mean() > without[inner].mean() + 0.2, "because of the stability map"


@pytest.mark.parametrize("control", ["scene_changes", "light_changes"])
def test_each_kind_of_variation_can_be_switched_off(control):
    cam = SimulatedCamera(resolution=SIZE, seed=7, drift_px=0.0)
    cam.set_control(control, False)
    a, b = cam.render(_at(1), sequence=1), cam.render(_at(2), sequence=1)
    if control == "scene_changes":
        assert a.meta.extra["visitors"] == [] and not cam.change_mask(a).any()
        assert a.meta.extra["light"] != b.meta.extra["light"]
    else:
        assert a.meta.extra["light"] == b.meta.extra["light"] == [1.0, 0.0]
        assert a.meta.extra["visitors"]
