"""The compiled night-colour cue equals the straightforward OpenCV/numpy computation it
replaced (kept here as the reference), on real webcam frames and on fixed synthetic input."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.leakmask import LeakMaskParams, leak_mask_stages
from engine.leakmask._colour_kernels import shrink_image, shrink_pair
from engine.leakmask._cues import colour_ramp
from engine.scene_change import donor_photos
from tests.conftest import shared_path

P = LeakMaskParams()


#: these tests are about the compiled kernels: loaded before the first test (until then the
#: leak mask serves its maps with OpenCV)
pytestmark = pytest.mark.usefixtures("compiled_kernels")


def _reference_shrink(rgb: np.ndarray, factor: int) -> np.ndarray:
    """The OpenCV shrink the cue falls back on (repeated 2x ``INTER_AREA`` after cropping to a
    multiple of ``factor``): the compiled kernel must give the same pixels."""
    from engine.leakmask._mask import _shrink_by

    return _shrink_by(rgb, factor)


def _reference_colour_ramp(night_rgb, reference_rgb, factor, window, lo, hi) -> np.ndarray:
    """The colour cue as it was computed before the compiled version: float ab per image,
    OpenCV box blurs, numpy median, ``cv2.magnitude`` and a clipped ramp."""

    def small_ab(rgb):
        lab = cv2.cvtColor(_reference_shrink(rgb, factor), cv2.COLOR_RGB2Lab)
        return lab[..., 1:].astype(np.float32) - 128.0

    k = (window, window)
    d = cv2.blur(small_ab(night_rgb), k, borderType=cv2.BORDER_REFLECT) - cv2.blur(
        small_ab(reference_rgb), k, borderType=cv2.BORDER_REFLECT
    )
    d -= np.median(d[::2, ::2].reshape(-1, 2), axis=0).astype(np.float32)
    dist = cv2.magnitude(np.ascontiguousarray(d[..., 0]), np.ascontiguousarray(d[..., 1]))
    return np.clip((dist - lo) / (hi - lo), 0.0, 1.0)


def _ours(night_rgb, reference_rgb, factor, window=P.luminance_window):
    return colour_ramp(
        night_rgb, reference_rgb, factor=factor, window=window, lo=P.colour_lo, hi=P.colour_hi
    )


@pytest.mark.parametrize(
    ("shape", "factor"),
    [
        (s, f)
        for s in ((480, 640, 3), (483, 645, 3), (37, 22, 3), (6, 10, 3))
        for f in (1, 2, 4, 8)
        if min(s[:2]) // f >= 1
    ],
)
def test_shrink_pair_equals_repeated_opencv_area_resizes(shape, factor):
    rng = np.random.default_rng(factor)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = rng.integers(0, 256, shape, dtype=np.uint8)
    h, w = shape[0] // factor, shape[1] // factor
    out = np.empty((2, h, w * 3), np.uint8)
    flat = (shape[0], shape[1] * 3)
    shrink_pair(a.reshape(flat), b.reshape(flat), factor, out)
    np.testing.assert_array_equal(out[0].reshape(h, w, 3), _reference_shrink(a, factor))
    np.testing.assert_array_equal(out[1].reshape(h, w, 3), _reference_shrink(b, factor))
    one = np.empty((h, w * 3), np.uint8)  # the single-image version (the reference alone)
    shrink_image(b.reshape(flat), factor, one)
    np.testing.assert_array_equal(one, out[1])


def _synthetic_pair() -> tuple[np.ndarray, np.ndarray]:
    """A real photo and a recoloured copy with a colour cast, at an odd size (cropped rows
    and columns), with saturated and flat patches."""
    photo = cv2.resize(donor_photos()[2], (645, 483), interpolation=cv2.INTER_AREA)
    other = photo.astype(np.int16)
    other[..., 0] += 12  # a global cast
    other[100:220, 150:330] = (200, 30, 40)  # a red flag that was not there
    other[300:400, 20:90, 2] = 255
    return photo, np.clip(other, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("factor", [1, 2, 4])
@pytest.mark.parametrize("window", [3, 5, 7])
def test_colour_ramp_matches_the_opencv_reference_on_a_fixed_input(factor, window):
    night, ref = _synthetic_pair()
    ours = _ours(night, ref, factor, window)
    expected = _reference_colour_ramp(night, ref, factor, window, P.colour_lo, P.colour_hi)
    assert ours.dtype == np.float32 and ours.shape == expected.shape
    assert 0.05 < float((expected > 0).mean()) < 0.9  # the ramp is neither empty nor full
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2e-5)


def test_colour_ramp_matches_the_opencv_reference_on_real_webcam_frames():
    """Every pair of consecutive frames of each shared webcam (different days, light and
    transients), at the leak mask's working resolution for their size."""
    from engine.leakmask._mask import _shrink_factor

    compared = 0
    for camera in ("chamonix", "mexico", "stlouis"):
        files = sorted(shared_path("data", "webcam", camera).glob("*.png"))[:4]
        frames = [cv2.cvtColor(cv2.imread(str(f)), cv2.COLOR_BGR2RGB) for f in files]
        for night, ref in zip(frames, frames[1:], strict=False):
            if night.shape != ref.shape:
                continue
            factor = _shrink_factor(night.shape[:2], P.work_width)
            expected = _reference_colour_ramp(
                night, ref, factor, P.luminance_window, P.colour_lo, P.colour_hi
            )
            np.testing.assert_allclose(_ours(night, ref, factor), expected, rtol=0, atol=2e-5)
            compared += 1
    assert compared >= 6


def test_leak_mask_uses_the_colour_cue_at_the_working_resolution():
    night, ref = _synthetic_pair()
    gray_n = cv2.cvtColor(night, cv2.COLOR_RGB2GRAY)
    gray_r = cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY)
    st = leak_mask_stages(gray_n, gray_r, night_color=night, reference_color=ref)
    expected = _reference_colour_ramp(
        night, ref, 4, P.luminance_window, P.colour_lo, P.colour_hi
    )  # 645 px wide: shrunk by 4 to 161 px (<= work_width 256)
    assert st.cues["colour"].shape == st.similarity.shape == expected.shape
    np.testing.assert_allclose(st.cues["colour"], expected, rtol=0, atol=2e-5)


def test_leakcues_bench_rows_time_each_cue_interleaved_with_ranges_and_cpu_time(monkeypatch):
    import engine.bench._leakcues as bench
    import engine.reference

    # the per-reference fusion row is timed by other tests' subject; keep this one quick
    monkeypatch.setattr(engine.reference, "fuse_aligned", lambda days: days[0])
    rows = bench.rows(repeats=1)
    assert [r.stage for r in rows[:4]] == [
        "leak_mask + luminance cue (default)",
        "leak_mask + luminance cue, colour-guided refinement",
        "leak_mask + luminance + stability",
        "leak_mask + luminance + stability + night colour",
    ]
    for r in rows[:4]:
        assert r.size == "640x480" and r.ours_ms > 0 and r.reference_ms > 0
        assert r.target == "<= 3 ms" and r.met == (r.ours_ms <= 3.0)
        assert "interleaved medians of 6 calls" in r.note and "middle half" in r.note
        assert "CPU time (process)" in r.note and "load" in r.note
    assert rows[4].stage.startswith("fuse 8 aligned day frames") and rows[4].met is None


def test_until_the_kernels_are_loaded_opencv_gives_the_same_colour_ramp(monkeypatch):
    import engine.leakmask._cues as cues

    night, ref = _synthetic_pair()
    compiled = _ours(night, ref, 4)
    started = []
    monkeypatch.setattr(cues, "kernels_ready", lambda: False)
    monkeypatch.setattr(cues, "fallback_used", lambda: started.append(1))
    fallback = _ours(night, ref, 4)
    np.testing.assert_allclose(fallback, compiled, rtol=0, atol=2e-5)
    assert started
