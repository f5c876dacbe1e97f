"""While the live view reuses a registration, it reuses what was made from it too.

The warped reference (`engine.pipeline.WarpedReference`: the warp, the coverage mask, the
luminance) and the colorizer's preparation of that reference (`engine.colorize.
reference_planes`: coverage, reference L and ab at the model's size) depend on the reference
and the registration alone. These tests count the real calls and check every output is the
same, bit for bit, as the path that recomputes them for each frame.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import alignment
import engine.colorize._colorizer as colorizer_module
from engine.colorize import RecombineParams, ReferenceTransferColorizer, load_colorizer
from engine.leakmask import LeakMaskParams
from engine.live import PairTracker
from engine.live_preview import LivePreview
from engine.pipeline import WarpedReference, process_pair
from tests.conftest import still_camera_frames
from tests.live_feed import feed_one_at_a_time


@pytest.fixture(scope="module")
def frames():
    return still_camera_frames(5, seed=5)


@pytest.fixture(scope="module")
def model(shipped_model):
    return load_colorizer(shipped_model, threads=1)


@pytest.fixture
def calls(monkeypatch):
    """Counts of the real preparation calls: the warp, the colorizer's reference planes and
    the registration."""
    counts = {"warp": 0, "planes": 0, "align": 0}
    real_warp = alignment.Alignment.warp
    real_planes = colorizer_module.reference_planes
    real_align = alignment.align

    def warp(self, *args, **kw):
        counts["warp"] += 1
        return real_warp(self, *args, **kw)

    def planes(*args, **kw):
        counts["planes"] += 1
        return real_planes(*args, **kw)

    def align(*args, **kw):
        counts["align"] += 1
        return real_align(*args, **kw)

    monkeypatch.setattr(alignment.Alignment, "warp", warp)
    monkeypatch.setattr(colorizer_module, "reference_planes", planes)
    monkeypatch.setattr(alignment, "align", align)
    return counts


def _same(a, b) -> None:
    """Every output of two results of the same frame is identical."""
    assert a.ok and b.ok
    np.testing.assert_array_equal(a.aligned_reference, b.aligned_reference)
    np.testing.assert_array_equal(a.valid, b.valid)
    np.testing.assert_array_equal(a.leak_mask, b.leak_mask)
    assert a.leak_area_pct == b.leak_area_pct
    np.testing.assert_array_equal(a.colorized.rgb, b.colorized.rgb)
    np.testing.assert_array_equal(a.colorized.ab, b.colorized.ab)
    np.testing.assert_array_equal(a.colorized.ab_lowres, b.colorized.ab_lowres)


@pytest.mark.parametrize("kind", ["model", "transfer"])
def test_a_reused_registration_prepares_the_reference_once_and_changes_no_pixel(
    frames, model, calls, kind
):
    day, nights = frames
    col = model if kind == "model" else ReferenceTransferColorizer()
    tracker = PairTracker()
    ref = tracker.set_reference(day, fixed_camera=True)
    live = [tracker.process(n, colorizer=col, ssim=False, reuse_s=60.0) for n in nights]
    # one registration, two warps (the image and its footprint), one preparation: for 5 frames
    assert calls == {"align": 1, "warp": 2, "planes": 1}
    assert all(r.warped is live[0].warped for r in live)
    assert [r.timings_ms["warp"] for r in live[1:]] == [0.0] * 4
    # the path that warps and prepares for every frame, with the same registration and a
    # colorizer of its own (so nothing it kept can be reused either)
    fresh_col = (
        load_colorizer(model.card.model_path, threads=1)
        if kind == "model"
        else (ReferenceTransferColorizer())
    )
    for night, reused in zip(nights, live, strict=True):
        again = process_pair(
            ref.image,
            night,
            colorizer=fresh_col,
            ssim=False,
            fixed_camera=True,
            registered=live[0].alignment,
        )
        _same(reused, again)
    assert calls["warp"] == 2 + 2 * len(nights)
    # a fresh WarpedReference per frame: the colorizer prepared each one anew
    assert calls["planes"] == 1 + len(nights)


def test_a_partial_footprint_reuses_its_coverage_and_gives_the_same_colour(frames, model, calls):
    """A registration that leaves black borders: the colorizer's normalised averaging over the
    covered part (its costliest reference preparation) is reused as well."""
    day, nights = frames
    day = np.ascontiguousarray(day)
    shifted = alignment.Alignment(
        np.array([[1.0, 0, 14.0], [0, 1.0, -9.0], [0, 0, 1.0]]),
        ok=True,
        score=1.0,
        method="test",
        motion="translation",
        fixed_shape=nights[0].shape[:2],
        moving_shape=day.shape[:2],
    )
    first = process_pair(day, nights[0], colorizer=model, ssim=False, registered=shifted)
    warped = first.warped
    assert isinstance(warped, WarpedReference) and not warped.valid.all()
    before = dict(calls)
    reused = [
        process_pair(day, n, colorizer=model, ssim=False, registered=warped) for n in nights[1:]
    ]
    assert calls == before  # no warp, no preparation
    other = load_colorizer(model.card.model_path, threads=1)
    for night, r in zip(nights[1:], reused, strict=True):
        _same(r, process_pair(day, night, colorizer=other, ssim=False, registered=shifted))


def test_a_new_registration_reference_model_or_setting_prepares_again(frames, model, calls):
    day, nights = frames
    tracker = PairTracker()
    tracker.set_reference(day, fixed_camera=True)
    first = tracker.process(nights[0], colorizer=model, ssim=False, reuse_s=60.0)
    tracker.process(nights[1], colorizer=model, ssim=False, reuse_s=60.0)
    assert calls == {"align": 1, "warp": 2, "planes": 1}

    # the registration grew too old: registered, warped and prepared again
    time.sleep(0.02)
    renewed = tracker.process(nights[2], colorizer=model, ssim=False, reuse_s=0.01)
    assert calls == {"align": 2, "warp": 4, "planes": 2}
    assert renewed.warped is not first.warped

    # another model: its own preparation of the same warped reference
    other = ReferenceTransferColorizer()
    tracker.process(nights[3], colorizer=other, ssim=False, reuse_s=60.0)
    assert calls == {"align": 2, "warp": 4, "planes": 3}

    # a new reference (even the same pixels): registered, warped, prepared again
    tracker.set_reference(day.copy(), fixed_camera=True)
    tracker.process(nights[3], colorizer=model, ssim=False, reuse_s=60.0)
    assert calls == {"align": 3, "warp": 6, "planes": 4}

    # another registration setting: the reused registration no longer applies
    tracker.motion = "affine"
    tracker.process(nights[4], colorizer=model, ssim=False, reuse_s=60.0)
    assert calls == {"align": 4, "warp": 8, "planes": 5}

    # leak-mask and recombination settings change what is computed from the preparation,
    # not the preparation: reused, and the result equals the recomputed one's
    tracker.leak_params = LeakMaskParams(close_px=0, blur_sigma=0.0)
    soft = ReferenceTransferColorizer(params=RecombineParams(leak_softness=3.0, upsample="guided"))
    a = tracker.process(nights[0], colorizer=soft, ssim=False, reuse_s=60.0)
    b = tracker.process(nights[1], colorizer=soft, ssim=False, reuse_s=60.0)
    assert calls == {"align": 4, "warp": 8, "planes": 6}
    ref_image = tracker.reference.image
    for night, res in ((nights[0], a), (nights[1], b)):
        again = process_pair(
            ref_image,
            night,
            colorizer=ReferenceTransferColorizer(params=soft.params),
            ssim=False,
            leak_params=tracker.leak_params,
            registered=res.alignment,
        )
        _same(res, again)


def test_a_writeable_reference_is_prepared_for_every_call(frames, calls):
    """Only a read-only reference can be trusted not to change between calls."""
    day, nights = frames
    col = ReferenceTransferColorizer()
    ref = np.ascontiguousarray(day)  # writeable, the same object every time
    out = [col.colorize(nights[0], ref).rgb for _ in range(2)]
    assert calls["planes"] == 2
    ref[:] = 255 - ref  # it changed: so does the colour
    assert not np.array_equal(col.colorize(nights[0], ref).rgb, out[0])
    frozen = ref.copy()
    frozen.setflags(write=False)
    for _ in range(3):
        col.colorize(nights[0], frozen)
    assert calls["planes"] == 4


def test_warped_reference_is_checked_against_the_day_image_and_frame(frames):
    day, nights = frames
    first = process_pair(day, nights[0], ssim=False, fixed_camera=True)
    with pytest.raises(ValueError, match="another day image"):
        process_pair(day.copy(), nights[1], registered=first.warped)
    half = np.ascontiguousarray(nights[1][::2, ::2])
    with pytest.raises(ValueError, match="warped for a"):
        process_pair(day, half, registered=first.warped)
    with pytest.raises(ValueError, match="read-only"):
        first.warped.image[0, 0] = 1  # shared by every frame that reuses it: read-only


def test_the_preparation_is_kept_per_thread(frames, calls):
    """Two live workers share one colorizer without a lock: each keeps its own."""
    day, nights = frames
    first = process_pair(day, nights[0], ssim=False)
    col = ReferenceTransferColorizer()
    ref = first.warped.image
    errors = []

    def run():
        try:
            for n in nights:
                col.colorize(n, ref)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert calls["planes"] == 2


@pytest.mark.parametrize(("realign_s", "prepared"), [(60.0, 1), (0.0, 4)])
def test_live_preview_prepares_the_colorizer_once_per_registration(
    frames, calls, shipped_model, realign_s, prepared
):
    day, nights = frames
    live = LivePreview(workers=1, model_path=str(shipped_model), realign_s=realign_s)
    results = feed_one_at_a_time(live, day, nights, 4)
    assert len(results) == 4 and all(r.pair.colorized is not None for r in results)
    assert calls["planes"] == prepared
    assert calls["align"] == (1 if realign_s else 4)
