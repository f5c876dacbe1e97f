"""engine.leakmask: SSIM map vs scikit-image, the leak mask and its parameters."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from skimage.metrics import structural_similarity

from engine.leakmask import (
    NORMALIZATIONS,
    LeakMaskParams,
    LeakMaskStages,
    leak_mask,
    leak_mask_stages,
    ssim_map,
    stages_from_similarity,
)
from engine.scene_change import donor_photos, paste_patches
from tests.conftest import shared_path

TOL = 1e-4


def _skimage(a, b, *, data_range, **kw) -> np.ndarray:
    return structural_similarity(a, b, data_range=data_range, full=True, **kw)[1]


def _pattern(kind: str, shape, rng) -> np.ndarray:
    """Float64 image in [0, 1] of a given character (noise, smooth, flat, ...)."""
    h, w = shape
    if kind == "noise":
        return rng.random(shape)
    if kind == "smooth":
        y, x = np.mgrid[:h, :w]
        return 0.5 + 0.5 * np.sin(x / 3.0 + rng.random() * 6) * np.cos(y / 4.0)
    if kind == "flat":
        return np.full(shape, rng.random())
    if kind == "near_flat_bright":  # where float32 SSIM is most sensitive to rounding
        return 0.9 + 0.01 * rng.random(shape)
    if kind == "binary":
        return (rng.random(shape) > 0.5).astype(float)
    raise AssertionError(kind)


def _as_dtype(img01: np.ndarray, dtype: str, scale: float) -> np.ndarray:
    if dtype == "uint8":
        return np.round(img01 * 255).astype(np.uint8)
    return (img01 * scale).astype(dtype)


# --- ssim_map vs scikit-image -----------------------------------------------------------


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    dtype=st.sampled_from(["uint8", "float32", "float64"]),
    win=st.sampled_from([3, 5, 7, 11]),
    extra=st.tuples(st.integers(0, 3), st.integers(0, 40)),
    gaussian=st.booleans(),
    sample_cov=st.booleans(),
    kinds=st.tuples(
        st.sampled_from(["noise", "smooth", "flat", "near_flat_bright", "binary"]),
        st.sampled_from(["noise", "smooth", "flat", "related"]),
    ),
    scale=st.sampled_from([1.0, 255.0]),
)
def test_ssim_map_matches_skimage(seed, dtype, win, extra, gaussian, sample_cov, kinds, scale):
    rng = np.random.default_rng(seed)
    # sizes from exactly win_size (the smallest allowed) up to win + 40, either side
    shape = (win + extra[0], win + extra[1]) if seed % 2 else (win + extra[1], win + extra[0])
    a01 = _pattern(kinds[0], shape, rng)
    if kinds[1] == "related":
        b01 = np.clip(a01 * 0.8 + 0.1 * rng.random(shape), 0, 1)
    else:
        b01 = _pattern(kinds[1], shape, rng)
    a, b = _as_dtype(a01, dtype, scale), _as_dtype(b01, dtype, scale)
    data_range = 255 if dtype == "uint8" else scale
    kw = dict(win_size=win, gaussian_weights=gaussian, use_sample_covariance=sample_cov)
    ours = ssim_map(a, b, data_range=data_range, **kw)
    ref = _skimage(a, b, data_range=data_range, **kw)
    assert ours.dtype == np.float32 and ours.shape == shape
    assert np.abs(ours - ref).max() <= TOL


@pytest.mark.parametrize("shape", [(1100, 1000), (333, 700)])
def test_ssim_map_matches_skimage_on_large_images(shape, rng):
    """Many strips (and two threads from 1 Mpx): the band seams must not show."""
    a = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.5)
    b = np.clip(a.astype(int) + rng.integers(-40, 40, shape), 0, 255).astype(np.uint8)
    assert np.abs(ssim_map(a, b, data_range=255) - _skimage(a, b, data_range=255)).max() <= TOL


@pytest.mark.parametrize(
    "kw", [dict(gaussian_weights=True, win_size=11), dict(win_size=15), dict(win_size=13)]
)
def test_ssim_map_float_and_wide_paths_on_many_strips(kw, rng):
    a = rng.integers(0, 256, (400, 520), dtype=np.uint8)
    b = cv2.GaussianBlur(a, (0, 0), 2.0)
    assert (
        np.abs(ssim_map(a, b, data_range=255, **kw) - _skimage(a, b, data_range=255, **kw)).max()
        <= TOL
    )


def _bright_near_flat(shape, rng, scale):
    """float32 pair where scikit-image's float32 map is furthest from the exact one: bright,
    nearly flat areas (the variance E[x^2] - E[x]^2 cancels), next to texture."""
    a = 0.95 + 0.01 * rng.random(shape)
    a[:, shape[1] // 2 :] = rng.random((shape[0], shape[1] - shape[1] // 2))
    b = np.clip(a + 0.003 * rng.standard_normal(shape), 0, 1)
    return (a * scale).astype(np.float32), (b * scale).astype(np.float32)


@pytest.mark.parametrize("gaussian", [False, True])
@pytest.mark.parametrize("scale", [1.0, 255.0, 1e4])
def test_float32_map_follows_skimage_rounding_not_just_the_exact_value(gaussian, scale, rng):
    # scikit-image's float32 map rounds every filter axis to float32; in bright flat areas
    # that moves it well beyond 1e-4 from the exact (float64) map. Matching it to ~1e-6
    # there shows the rounding is reproduced, not merely a more exact value computed.
    a, b = _bright_near_flat((300, 420), rng, scale)
    kw = dict(gaussian_weights=gaussian, win_size=11 if gaussian else 7)
    ref = _skimage(a, b, data_range=scale, **kw)
    exact = _skimage(a.astype(np.float64), b.astype(np.float64), data_range=scale, **kw)
    assert np.abs(ref - exact).max() > 1e-4  # the case is really sensitive
    assert np.abs(ssim_map(a, b, data_range=scale, **kw) - ref).max() <= 1e-6


@pytest.mark.parametrize("gaussian", [False, True])
def test_float32_and_gaussian_maps_match_skimage_on_a_real_photo(gaussian):
    """The bench's frames (a photo and a changed, re-exposed copy), split over strips and
    two threads at 640x480: equal to scikit-image at every pixel, within 1e-6."""
    from engine.bench._leakmask import _frames

    night, reference = _frames(640, 480)
    kw = dict(gaussian_weights=gaussian, win_size=11 if gaussian else 7)
    for a, b, data_range in (
        (night, reference, 255),
        (night.astype(np.float32) / 255, reference.astype(np.float32) / 255, 1.0),
    ):
        ours = ssim_map(a, b, data_range=data_range, **kw)
        assert np.abs(ours - _skimage(a, b, data_range=data_range, **kw)).max() <= 1e-6


@pytest.mark.parametrize("sigma", [0.5, 4.0])
def test_gaussian_wider_than_the_image_reflects_like_scipy(sigma, rng):
    # sigma 4 gives 29 taps: on a 9-row image the window reflects more than once
    a = rng.random((9, 40)).astype(np.float32)
    b = rng.random((9, 40)).astype(np.float32)
    kw = dict(gaussian_weights=True, sigma=sigma, win_size=3)
    ours = ssim_map(a, b, data_range=1.0, **kw)
    assert np.abs(ours - _skimage(a, b, data_range=1.0, **kw)).max() <= TOL


@pytest.mark.parametrize(
    ("dtype_a", "dtype_b"),
    [
        ("float32", "float64"),
        ("float64", "float32"),
        ("uint8", "float64"),
        ("uint16", "uint16"),
        ("float16", "float16"),
        ("bool", "bool"),
        ("int16", "uint8"),
    ],
)
def test_ssim_map_promotes_dtypes_like_skimage(dtype_a, dtype_b, rng):
    a = (rng.random((40, 50)) * 200).astype(dtype_a)
    b = (rng.random((40, 50)) * 200).astype(dtype_b)
    assert np.abs(ssim_map(a, b, data_range=200) - _skimage(a, b, data_range=200)).max() <= TOL


@pytest.mark.parametrize("dtype", [">f4", ">f8", ">u2", ">i4"])
def test_ssim_map_handles_big_endian_input_like_native(dtype, rng):
    # Bright, nearly flat areas are where float32 and float64 SSIM differ most (the
    # variance cancels): a non-native float32 computed in float64 is off by ~2.5e-4 there.
    scale = 1.0 if dtype[1] == "f" else 200.0
    base = (0.93 + 0.01 * rng.random((60, 80))) * scale
    base[:, 40:] = rng.random((60, 40)) * scale
    other = base + 0.004 * scale * rng.standard_normal(base.shape)
    a, b = base.astype(dtype), np.clip(other, 0, None).astype(dtype)
    assert a.dtype.byteorder == ">"
    native = a.astype(a.dtype.newbyteorder("=")), b.astype(b.dtype.newbyteorder("="))
    ours = ssim_map(a, b, data_range=scale)
    np.testing.assert_array_equal(ours, ssim_map(*native, data_range=scale))
    assert np.abs(ours - _skimage(a, b, data_range=scale)).max() <= TOL


def test_ssim_map_accepts_views_and_fortran_order(rng):
    big = rng.integers(0, 256, (90, 120), dtype=np.uint8)
    a, b = big[::2, 1::2], np.asfortranarray(big[1::2, ::2])
    assert np.abs(ssim_map(a, b, data_range=255) - _skimage(a, b, data_range=255)).max() <= TOL


@pytest.mark.parametrize("dtype", ["uint8", "float32", "float64"])
@pytest.mark.parametrize("gaussian", [False, True])
def test_ssim_of_an_image_with_itself_is_one(dtype, gaussian, rng):
    img = _as_dtype(rng.random((31, 45)), dtype, 1.0)
    s = ssim_map(img, img, data_range=255 if dtype == "uint8" else 1.0, gaussian_weights=gaussian)
    np.testing.assert_allclose(s, 1.0, atol=1e-6)


def test_ssim_map_is_symmetric_and_low_for_unrelated_noise(rng):
    a = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    b = rng.integers(0, 256, (64, 64), dtype=np.uint8)
    np.testing.assert_array_equal(ssim_map(a, b, data_range=255), ssim_map(b, a, data_range=255))
    assert abs(float(ssim_map(a, b, data_range=255).mean())) < 0.1


@pytest.mark.parametrize(
    ("args", "kw", "match"),
    [
        ((np.zeros((8, 8)), np.zeros((8, 9))), {}, "same shape"),
        ((np.zeros((8, 8, 3)), np.zeros((8, 8, 3))), {}, "2-D gray"),
        (([[0] * 8] * 8, np.zeros((8, 8))), {}, "numpy array, got list"),
        ((np.zeros((8, 8), complex), np.zeros((8, 8), complex)), {}, "real numeric dtype"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {"win_size": 4}, "odd integer >= 3, got 4"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {"win_size": 7.0}, "odd integer"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {"win_size": True}, "odd integer"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {"win_size": 1}, "N - 1 = 0"),
        ((np.zeros((5, 9)), np.zeros((5, 9))), {"win_size": 7}, "win_size=7 exceeds .* 5x9"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {"data_range": 0}, "data_range .* > 0, got 0"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {"data_range": None}, "data_range"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {"data_range": float("nan")}, "data_range"),
        ((np.zeros((8, 8)), np.zeros((8, 8))), {"sigma": -1.0}, "sigma .* > 0"),
    ],
)
def test_ssim_map_rejects_bad_input(args, kw, match):
    kw = {"data_range": 1.0, **kw}
    with pytest.raises(ValueError, match=match):
        ssim_map(*args, **kw)


def test_ssim_map_requires_data_range():
    with pytest.raises(TypeError, match="data_range"):
        ssim_map(np.zeros((8, 8)), np.zeros((8, 8)))  # type: ignore[call-arg]


def test_window_of_one_is_allowed_with_population_covariance(rng):
    a, b = rng.random((6, 6)), rng.random((6, 6))
    kw = dict(win_size=1, use_sample_covariance=False)
    assert (
        np.abs(ssim_map(a, b, data_range=1.0, **kw) - _skimage(a, b, data_range=1.0, **kw)).max()
        <= TOL
    )


# --- leak mask ----------------------------------------------------------------------------


def _ir_like(gray: np.ndarray, rng) -> np.ndarray:
    """A simulated modality gap: inverted, gamma-warped, with a different gain and noise."""
    x = (255 - gray.astype(np.float32)) / 255.0
    x = 0.15 + 0.7 * x**0.6 + rng.normal(0, 0.02, x.shape)
    return np.clip(x * 255, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def scene() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(night, changed reference, change mask): a real photo seen 'in IR', and the same
    photo as day reference with a region of another real photo pasted over its middle."""
    photos = donor_photos()
    truth = cv2.cvtColor(
        cv2.resize(photos[0], (320, 240), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY
    )  # astronaut
    night = _ir_like(truth, np.random.default_rng(7))
    donor = cv2.cvtColor(photos[2], cv2.COLOR_RGB2GRAY)  # coffee
    reference = truth.copy()
    changed = np.zeros(truth.shape, bool)
    changed[70:170, 110:230] = True
    reference[changed] = cv2.resize(donor[100:350, 150:450], (120, 100)).ravel()
    return night, reference, changed


def test_leak_mask_flags_a_pasted_patch_across_a_modality_gap(scene):
    night, reference, changed = scene
    mask = leak_mask(night, reference)
    inner = cv2.erode(changed.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    far = ~cv2.dilate(changed.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert inner.any() and far.any()
    assert float(mask[inner].mean()) > 0.5
    assert float((mask[far] > 0.5).mean()) < 0.05
    flagged = mask > 0.5
    assert (flagged & changed).sum() / (flagged | changed).sum() > 0.4  # IoU


def test_plain_ssim_cannot_see_through_the_modality_gap(scene):
    """Why we normalise: without it, plain SSIM finds no threshold separating the patch."""
    night, reference, changed = scene
    sim = leak_mask_stages(night, reference, params=LeakMaskParams(normalization="none")).similarity
    grad = leak_mask_stages(night, reference).similarity
    small = cv2.resize(changed.astype(np.uint8), sim.shape[::-1], interpolation=cv2.INTER_NEAREST)
    small = small.astype(bool)

    def separation(s):  # mean similarity outside minus inside the patch
        return float(s[~small].mean() - s[small].mean())

    assert separation(grad) > 2 * separation(sim)


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
def test_identical_images_give_an_empty_mask(normalization, rng):
    img = cv2.GaussianBlur(rng.integers(0, 256, (120, 160), dtype=np.uint8), (0, 0), 1.0)
    mask = leak_mask(img, img, params=LeakMaskParams(normalization=normalization))
    assert mask.dtype == np.float32 and mask.shape == img.shape
    assert float(mask.max()) < 0.5


@pytest.mark.parametrize("normalization", NORMALIZATIONS)
@pytest.mark.parametrize("shape", [(3, 3), (7, 300), (240, 320), (481, 643)])
def test_mask_range_dtype_and_shape(normalization, shape, rng):
    night = rng.integers(0, 256, shape, dtype=np.uint8)
    reference = rng.integers(0, 256, shape, dtype=np.uint8)
    mask = leak_mask(night, reference, params=LeakMaskParams(normalization=normalization))
    assert mask.shape == shape and mask.dtype == np.float32
    assert float(mask.min()) >= 0.0 and float(mask.max()) <= 1.0


def test_flat_versus_flat_is_unchanged_and_texture_versus_flat_is_changed(rng):
    night = np.full((96, 128), 40, np.uint8)
    reference = np.full((96, 128), 200, np.uint8)  # other brightness, same (no) structure
    assert float(leak_mask(night, reference).max()) < 0.5
    reference[24:72, 32:96] = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    mask = leak_mask(night, reference)
    assert float(mask[40:56, 56:72].min()) > 0.5


def test_stages_are_consistent(scene):
    night, reference, _ = scene
    p = LeakMaskParams()
    stages = leak_mask_stages(night, reference, params=p)
    assert isinstance(stages, LeakMaskStages)
    work = stages.similarity.shape
    for name in ("ramp", "binary", "closed", "soft"):
        assert getattr(stages, name).shape == work
    assert stages.similarity.dtype == np.float32 and stages.soft.dtype == np.float32
    assert stages.binary.dtype == bool and stages.closed.dtype == bool
    assert work[1] <= p.work_width < 2 * work[1]  # halved until at most work_width wide
    assert stages.cues  # the scene's reference has colour: the change cues are on
    for cue in stages.cues.values():  # the change cues add evidence, never remove it
        assert (stages.ramp >= cue - 1e-6).all()
    np.testing.assert_array_equal(stages.binary, stages.ramp >= 0.5)
    assert not (stages.binary & ~stages.closed).any()  # closing only adds
    np.testing.assert_array_equal(stages.mask, leak_mask(night, reference, params=p))
    assert 0.0 <= float(stages.soft.min()) and float(stages.soft.max()) <= 1.0


def test_ramp_runs_from_one_at_lo_to_zero_at_hi_at_known_values():
    """Similarity at or under ``lo`` is full change evidence, at or over ``hi`` none, linear
    between (values worked out by hand; threshold scale 1, no change cues)."""
    p = LeakMaskParams(lo=0.2, hi=0.6, work_width=64)
    sim = np.full((48, 64), 0.9, np.float32)
    sim[:, :16] = 0.1  # under lo
    sim[:, 16:32] = 0.4  # half-way
    sim[:, 32:48] = 0.5  # a quarter of the way from hi
    stages = stages_from_similarity(sim, (48, 64), params=p, threshold_scale=1.0)
    np.testing.assert_allclose(stages.ramp[:, :16], 1.0, atol=1e-6)
    np.testing.assert_allclose(stages.ramp[:, 16:32], 0.5, atol=1e-6)
    np.testing.assert_allclose(stages.ramp[:, 32:48], 0.25, atol=1e-6)
    np.testing.assert_allclose(stages.ramp[:, 48:], 0.0, atol=1e-6)
    np.testing.assert_array_equal(stages.binary[0], np.arange(64) < 32)  # ramp >= 0.5
    # a threshold scale of 1.5 moves both ends: lo' 0.3, hi' 0.9, so 0.5 is at (0.9-0.5)/0.6
    scaled = stages_from_similarity(sim, (48, 64), params=p, threshold_scale=1.5)
    np.testing.assert_allclose(scaled.ramp[:, 32:48], 2 / 3, atol=1e-6)
    # ... but hi never passes 1, the similarity's maximum: at 2, lo' 0.4, hi' 1 (not 1.2)
    capped = stages_from_similarity(sim, (48, 64), params=p, threshold_scale=2.0)
    np.testing.assert_allclose(capped.ramp[:, 32:48], 0.5 / 0.6, atol=1e-6)


def test_stages_from_similarity_rethresholds_without_recomputing(scene):
    night, reference, _ = scene
    strict = LeakMaskParams(lo=0.0, hi=0.05)
    base = leak_mask_stages(night, reference)
    again = stages_from_similarity(base.similarity, night.shape, params=strict)
    np.testing.assert_array_equal(again.mask, leak_mask(night, reference, params=strict))
    assert again.binary.sum() <= base.binary.sum()
    with pytest.raises(ValueError, match="similarity must be a"):
        stages_from_similarity(base.similarity[1:], night.shape)


@pytest.mark.parametrize(
    ("night", "reference", "match"),
    [
        (np.zeros((40, 40), np.uint8), np.zeros((40, 41), np.uint8), "same size"),
        (np.zeros((40, 40, 3), np.uint8), np.zeros((40, 40, 3), np.uint8), "gray"),
        (np.zeros((40, 40), np.float32), np.zeros((40, 40), np.float32), "uint8"),
        (np.zeros((0, 40), np.uint8), np.zeros((0, 40), np.uint8), "empty"),
        (np.zeros((2, 40), np.uint8), np.zeros((2, 40), np.uint8), "too small"),
    ],
)
def test_leak_mask_rejects_bad_input(night, reference, match):
    with pytest.raises(ValueError, match=match):
        leak_mask(night, reference)


def test_leak_mask_rejects_params_of_the_wrong_type():
    img = np.zeros((20, 20), np.uint8)
    with pytest.raises(ValueError, match="LeakMaskParams"):
        leak_mask(img, img, params={"lo": 0.1})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"normalization": "ssim"}, "normalization must be one of"),
        ({"window": 8}, "window must be odd"),
        ({"window": 1}, "window must be an integer >= 3"),
        ({"work_width": 8}, "work_width must be an integer >= 16"),
        ({"close_px": -1}, "close_px"),
        ({"close_px": 2.5}, "close_px"),
        ({"contrast_floor": 0}, "contrast_floor"),
        ({"lcn_sigma": float("inf")}, "lcn_sigma"),
        ({"blur_sigma": -0.5}, "blur_sigma"),
        ({"lo": 0.5, "hi": 0.5}, "lo < hi"),
        ({"lo": -0.1}, "0 <= lo"),
        ({"hi": 1.5}, "hi <= 1"),
    ],
)
def test_params_validation(kw, match):
    with pytest.raises(ValueError, match=match):
        LeakMaskParams(**kw)


def test_bench_rows_report_both_targets(monkeypatch):
    import engine.bench._leakmask as bench

    monkeypatch.setattr(bench, "SIZES", ((96, 64), (640, 480)))
    rows = bench.rows(repeats=1)
    assert [r.stage.split()[0] for r in rows] == ["ssim_map", "leak_mask"] * 2
    assert [r.size for r in rows] == ["96x64", "96x64", "640x480", "640x480"]
    for r in rows[0::2]:
        assert r.target == ">= 10x" and r.reference_ms > 0 and r.ours_ms > 0
        assert isinstance(r.met, bool)
    assert rows[1].target == "" and rows[1].met is None  # the mask target is for 640x480
    assert rows[3].target == "<= 3 ms" and isinstance(rows[3].met, bool)


def test_bench_rows_judge_targets_from_the_timings(monkeypatch):
    """Scripted timings on both sides of each target: the verdicts must follow them."""
    import engine.bench
    import engine.bench._leakmask as bench

    monkeypatch.setattr(bench, "SIZES", ((96, 64), (640, 480)))
    ssim_times = iter([(1.0, 12.0), (2.0, 15.0)])  # 12x (met), then 7.5x (not met)
    mask_times = iter([5.0, 2.5])  # 96x64: no target; 640x480: 2.5 <= 3 ms (met)
    monkeypatch.setattr(bench, "_alternating_medians", lambda *a, **k: next(ssim_times))
    monkeypatch.setattr(engine.bench, "median_ms", lambda *a, **k: next(mask_times))
    rows = bench.rows(repeats=1)
    assert [r.met for r in rows] == [True, None, False, True]
    assert [round(r.speedup, 2) for r in rows[0::2]] == [12.0, 7.5]
    assert [r.ours_ms for r in rows[1::2]] == [5.0, 2.5]


# --- real pairs (../shared) ----------------------------------------------------------------


def test_leak_mask_on_real_ir_visible_pairs():
    """Country pairs: NIR = night, RGB = aligned day reference, patches pasted into it."""
    from engine._image import read_image, to_gray

    folder = shared_path("data", "visnir", "country")
    photos = donor_photos()
    inside, outside, fps = [], [], []
    for i, nir_path in enumerate(sorted(folder.glob("*_nir.jpg"))[:4]):
        nir = read_image(nir_path, mode="gray")
        rgb = read_image(folder / nir_path.name.replace("_nir", "_rgb"), mode="rgb")
        h, w = min(nir.shape[0], rgb.shape[0]), min(nir.shape[1], rgb.shape[1])
        ref, changed = paste_patches(
            np.ascontiguousarray(rgb[:h, :w]), photos, rng=np.random.default_rng(i)
        )
        mask = leak_mask(nir[:h, :w], to_gray(ref))
        inside.append(float(mask[changed].mean()))
        outside.append(float(mask[~changed].mean()))
        fps.append(float((mask[~changed] > 0.5).mean()))
    # changed areas are far more masked than unchanged ones, and few unchanged pixels flip
    assert np.mean(inside) > 3 * np.mean(outside)
    assert np.mean(fps) < 0.1


def test_soft_tail_never_changes_which_pixels_are_flagged(rng):
    from engine.leakmask import LeakMaskParams, leak_mask

    night = (rng.random((120, 160)) * 255).astype(np.uint8)
    night = cv2.GaussianBlur(night, (0, 0), 2.0)
    ref = night.copy()
    ref[30:80, 40:110] = 255 - ref[30:80, 40:110]  # changed structure
    ref[90:, :] = cv2.GaussianBlur(ref[90:, :], (0, 0), 3.0)  # partly degraded: low-ish similarity
    # thresholds not raised by the frame's agreement: raised (x2 on this scene), the ramp
    # itself lies above the tail wherever the tail is non-zero
    with_tail = leak_mask(night, ref, params=LeakMaskParams(adapt=False))
    without = leak_mask(night, ref, params=LeakMaskParams(adapt=False, tail_max=0.0))
    np.testing.assert_array_equal(with_tail > 0.5, without > 0.5)
    assert (with_tail >= without - 1e-6).all()
    assert with_tail.max() <= 1.0 and (with_tail > without + 1e-3).any()


@pytest.mark.parametrize("field, value", [("tail_max", 0.6), ("tail_max", -0.1), ("tail_hi", 1.5)])
def test_soft_tail_params_validated(field, value):
    from engine.leakmask import LeakMaskParams

    with pytest.raises(ValueError, match=field):
        LeakMaskParams(**{field: value})


def test_ssim_bench_rows_time_each_case_against_a_default_and_a_warm_heap(monkeypatch):
    """Two timing processes, one with glibc's defaults and one whose heap stays warm (as
    each reports from its own environment), every case timed in both, one thread each."""
    import engine.bench._ssim as bench

    monkeypatch.setattr(bench, "SIZES", ((96, 64), (80, 48)))
    monkeypatch.setattr(bench, "TARGET_SIZE", (96, 64))
    rows = bench.rows(repeats=2)
    stages = [stage for stage, *_ in bench.CASES]
    assert [r.stage for r in rows] == [s for s in stages for _ in (0, 1)] * 2
    heaps = [r.reference.rsplit(", ", 1)[1] for r in rows]
    assert heaps == ["default heap", "warm heap"] * 8
    for r in rows:
        assert r.ours_ms > 0 and r.reference_ms > 0
        assert "interleaved with the other heap's process" in r.note
        assert "per-round ratio" in r.note and "load" in r.note and "CPU time ours" in r.note
        assert "ours 1 thread(s), skimage 1" in r.note  # no helper thread for ours
        if r.reference.endswith("warm heap"):
            assert "MALLOC_MMAP_THRESHOLD_=1000000000" in r.note
            assert "MALLOC_TRIM_THRESHOLD_=4000000000" in r.note
        else:
            assert "glibc defaults" in r.note and "MALLOC" not in r.note
    for r in rows[:8]:  # the target size: `repeats` rounds, judged
        goal = 10 if r.stage == "ssim_map (uint8, 7x7 box)" else 5
        assert r.size == "96x64" and r.target == f">= {goal}x" and r.met == (r.speedup >= goal)
        assert "2 rounds" in r.note
    for r in rows[8:]:  # shown for the record, judged against no target; a median of 3
        assert r.size == "80x48" and r.target == "" and r.met is None
        assert "3 rounds" in r.note


def test_interleaved_timing_alternates_reference_and_ours():
    from engine.bench._ssim import interleaved

    order = []
    t_ours, t_ref = interleaved(lambda: order.append("o"), lambda: order.append("r"), 3)
    assert order == ["o", "r"] + ["r", "o"] * 3  # warm-up, then one of each per round
    assert len(t_ours) == len(t_ref) == 3


def test_ssim_map_from_several_threads_at_once_is_still_exact(rng):
    # Large maps share one long-lived helper thread: concurrent callers must neither
    # deadlock nor mix strips.

    from engine.leakmask import SSIM_PARALLEL_PIXELS

    shape = (1024, 1000)
    assert shape[0] * shape[1] >= SSIM_PARALLEL_PIXELS  # the two-thread path
    pairs = [
        (rng.integers(0, 256, shape, dtype=np.uint8), rng.integers(0, 256, shape, dtype=np.uint8))
        for _ in range(3)
    ]
    expected = _maps_equal_from_concurrent_threads(pairs, dict(data_range=255), repeats=1)
    a, b = pairs[0]
    assert np.abs(expected[0] - _skimage(a, b, data_range=255)).max() <= TOL


def _maps_equal_from_concurrent_threads(pairs, kw: dict, *, repeats: int) -> list[np.ndarray]:
    """`ssim_map` of each pair, alone, then from one thread a pair all at once (``repeats``
    maps each): the same maps to the bit. Returns the maps made alone."""
    import threading

    expected = [ssim_map(a, b, **kw) for a, b in pairs]
    results: dict[int, np.ndarray] = {}

    def run(i):
        for _ in range(repeats):
            results[i] = ssim_map(*pairs[i], **kw)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(pairs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    for i in range(len(pairs)):
        np.testing.assert_array_equal(results[i], expected[i])
    return expected


def test_a_stalled_helper_thread_neither_holds_up_nor_overwrites_the_map():
    # On a shared machine the helper thread can be descheduled mid-strip. The caller must
    # then compute that strip itself instead of waiting, and the helper's late copy must
    # never reach the output once the call has returned.
    import os
    import threading

    import cv2

    from engine.leakmask._strips import run_strips, strips

    if min(os.cpu_count() or 1, cv2.getNumThreads()) < 2:
        pytest.skip("one core: run_strips never starts the helper")
    helper_has_a_strip, release, helper_done = (threading.Event() for _ in range(3))
    out = np.zeros((800, 400), np.float32)  # >= SSIM_PARALLEL_PIXELS: two threads
    parts = strips(800, 100, 0)

    def work(items):
        on_helper = threading.current_thread().name.startswith("ssim")
        if not on_helper:  # let the helper take a strip before the caller empties the queue
            helper_has_a_strip.wait(10)
        for (s0, s1, _, _), dst in items:
            if on_helper:
                helper_has_a_strip.set()
                release.wait(10)  # stalled until the call has returned
                dst[:] = -1.0
            else:
                dst[:] = np.arange(s0, s1)[:, None]
        if on_helper:
            helper_done.set()

    run_strips(work, out, parts)
    expected = np.broadcast_to(np.arange(800, dtype=np.float32)[:, None], out.shape)
    np.testing.assert_array_equal(out, expected)  # the stalled strip was computed by the caller
    release.set()
    assert helper_done.wait(10)
    np.testing.assert_array_equal(out, expected)  # and the helper's late copy was dropped


@pytest.mark.parametrize(("shape", "helper_used"), [((800, 400), True), ((300, 400), False)])
def test_the_helper_thread_joins_only_for_large_images(shape, helper_used):
    import os
    import threading

    import cv2

    from engine.leakmask._strips import run_strips, strips

    if min(os.cpu_count() or 1, cv2.getNumThreads()) < 2:
        pytest.skip("one core: run_strips never starts the helper")
    threads, helper_in = set(), threading.Event()

    def work(items):
        on_helper = threading.current_thread().name.startswith("ssim")
        for (s0, _, _, _), dst in items:
            if on_helper:
                helper_in.set()
            elif helper_used:  # however busy the machine, let the helper reach a strip
                helper_in.wait(5)
            threads.add(threading.current_thread().name)
            dst[:] = s0

    out = np.zeros(shape, np.float32)
    run_strips(work, out, strips(shape[0], 100, 0))
    assert any(name.startswith("ssim") for name in threads) == helper_used
    np.testing.assert_array_equal(out[::100, 0], np.arange(0, shape[0], 100))


def test_strip_buffers_are_kept_per_thread_and_never_shared():
    import threading

    from engine.leakmask._strips import scratch

    spec = (((4, 8), "<f4"), ((4, 8), "<i4"))
    mine = scratch(spec)
    assert [(b.shape, b.dtype.str) for b in mine] == [((4, 8), "<f4"), ((4, 8), "<i4")]
    assert all(x is y for x, y in zip(scratch(spec), mine, strict=True))  # kept between calls
    theirs = []
    t = threading.Thread(target=lambda: theirs.extend(scratch(spec)))
    t.start()
    t.join()
    assert len(theirs) == 2 and not any(x is y for x in theirs for y in mine)


@pytest.mark.parametrize("dtype", ["uint8", "float32"])
def test_gaussian_maps_from_several_threads_at_once_are_still_exact(dtype, rng):
    # The compiled path keeps buffers per thread (window rows, float32 copies of uint8
    # images) and shares the helper thread: concurrent callers must not mix them.

    shape = (700, 500)  # >= SSIM_PARALLEL_PIXELS: the two-thread path
    scale = 255 if dtype == "uint8" else 1.0
    pairs = [tuple((rng.random(shape) * scale).astype(dtype) for _ in range(2)) for _ in range(3)]
    kw = dict(data_range=scale, gaussian_weights=True, win_size=11)
    expected = _maps_equal_from_concurrent_threads(pairs, kw, repeats=3)
    a, b = pairs[0]
    assert np.abs(expected[0] - _skimage(a, b, **kw)).max() <= 1e-6


@pytest.mark.parametrize("factor", [1, 2, 4, 8])
def test_the_enlarged_mask_stays_in_0_1_without_a_full_size_clip(factor, rng):
    """`_finish` clips the working-size map and not the full-size one: the power-of-two
    bilinear enlargement must keep values in [0, 1] exactly (saturated areas, values one
    ulp under 1, odd remainders)."""
    from engine.leakmask._mask import _enlarge

    soft = rng.random((37, 53)).astype(np.float32)
    soft[rng.random(soft.shape) < 0.4] = 1.0
    soft[rng.random(soft.shape) < 0.1] = np.nextafter(np.float32(1), np.float32(0))
    soft[rng.random(soft.shape) < 0.1] = 0.0
    shape = (37 * factor + factor // 2, 53 * factor + factor - 1)
    big = _enlarge(soft, shape, factor)
    assert big.shape == shape and float(big.min()) >= 0.0 and float(big.max()) <= 1.0
