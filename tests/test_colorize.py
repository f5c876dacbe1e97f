"""Colorization engine: guided upsampling, tensors per card, recombination, colorizers."""

from __future__ import annotations

import dataclasses

import cv2
import numpy as np
import pytest

from engine.color import gray_to_l, rgb_to_lab
from engine.colorize import (
    ColorizeResult,
    RecombineParams,
    ReferenceTransferColorizer,
    Workspace,
    decode_output,
    encode_tensor,
    fast_guided_lab,
    fast_guided_upsample,
    guided_filter,
    load_colorizer,
    prepare_inputs,
    recombine,
)
from engine.models import ModelError, TensorSpec, load_card, write_tiny_model

H, W = 48, 64


@pytest.fixture
def scene(rng):
    """A night frame and an aligned, colourful reference of the same structure."""
    truth = np.zeros((H, W, 3), np.uint8)
    truth[:, : W // 2] = (200, 60, 40)  # red left half
    truth[:, W // 2 :] = (40, 90, 200)  # blue right half
    truth = np.clip(truth + rng.normal(0, 3, truth.shape), 0, 255).astype(np.uint8)
    night = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY)
    return night, truth


@pytest.fixture
def tiny(tmp_path):
    return write_tiny_model(tmp_path / "tiny.onnx", width=32, height=24)


# --- guided filter ------------------------------------------------------------------------


@pytest.mark.parametrize("channels", [None, 1, 2, 3])
def test_constant_guide_gives_box_blur(rng, channels):
    shape = (H, W) if channels is None else (H, W, channels)
    src = rng.random(shape).astype(np.float32)
    guide = np.full((H, W), 0.4, np.float32)
    out = guided_filter(guide, src, radius=2, eps=1e-3)
    assert out.shape == src.shape and out.dtype == np.float32
    # a = 0 where the guide is flat, so q = mean(b) = box(box(src)): a 5x5 mean over
    # mirrored borders (scipy's, not our box_mean, which the filter itself uses)
    from scipy.ndimage import uniform_filter

    size = (5, 5) + (1,) * (src.ndim - 2)
    expected = uniform_filter(uniform_filter(src, size, mode="reflect"), size, mode="reflect")
    np.testing.assert_allclose(out.reshape(expected.shape), expected, atol=1e-5)


@pytest.mark.parametrize("radius", [1, 3])
def test_guided_filter_keeps_constants_and_guide_itself(rng, radius):
    guide = rng.random((H, W)).astype(np.float32)
    const = np.full((H, W, 2), 7.5, np.float32)
    np.testing.assert_allclose(guided_filter(guide, const, radius=radius, eps=1e-3), 7.5, atol=1e-4)
    # filtering the guide by itself with a tiny eps returns it (a -> 1, b -> 0)
    np.testing.assert_allclose(
        guided_filter(guide, guide, radius=radius, eps=1e-8), guide, atol=1e-2
    )


def test_fast_guided_upsample_shapes_and_constants(rng):
    guide = rng.random((H, W)).astype(np.float32)
    low = np.full((12, 16, 2), -3.0, np.float32)
    out = fast_guided_upsample(guide, low, radius=1, eps=1e-3)
    assert out.shape == (H, W, 2)
    np.testing.assert_allclose(out, -3.0, atol=1e-4)
    assert fast_guided_upsample(guide, low[..., 0], radius=1, eps=1e-3).shape == (H, W)
    assert fast_guided_upsample(guide, low[..., :1], radius=1, eps=1e-3).shape == (H, W, 1)


def test_fast_guided_lab_matches_upsample(rng):
    guide = rng.random((H, W)).astype(np.float32)
    low = rng.normal(0, 20, (12, 16, 2)).astype(np.float32)
    lab = fast_guided_lab(guide, low, radius=2, eps=1e-3)
    np.testing.assert_allclose(lab[..., 0], guide * 100, atol=1e-3)
    np.testing.assert_allclose(
        lab[..., 1:], fast_guided_upsample(guide, low, radius=2, eps=1e-3), atol=1e-3
    )


@pytest.mark.parametrize(("method", "factor"), [("fast_guided", 0.5), ("guided", 1.0)])
def test_guided_upsampling_follows_edges_better_than_bilinear(method, factor):
    # a sharp luminance edge at x = 25 (not on the low-res grid); chroma changes at the same edge
    big_w, big_h = 100, 40
    night = np.full((big_h, big_w), 60, np.uint8)
    night[:, 25:] = 200
    ab_full = np.zeros((big_h, big_w, 2), np.float32)
    ab_full[:, 25:] = (40.0, -30.0)
    low = cv2.resize(ab_full, (25, 10), interpolation=cv2.INTER_AREA)
    err = {}
    for m in (method, "bilinear"):
        res = recombine(night, low, params=RecombineParams(upsample=m, radius=1, eps=1e-4))
        err[m] = float(np.abs(res.ab - ab_full)[:, 18:33].mean())
    assert err[method] < factor * err["bilinear"]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"radius": 0}, "radius must be >= 1"),
        ({"eps": 0}, "eps must be > 0"),
    ],
)
def test_guided_filter_errors(kwargs, expected):
    args = {"radius": 1, "eps": 1e-3, **kwargs}
    with pytest.raises(ValueError, match=expected):
        guided_filter(np.zeros((4, 4), np.float32), np.zeros((4, 4), np.float32), **args)


def test_guided_filter_shape_mismatch():
    with pytest.raises(ValueError, match="same"):
        guided_filter(np.zeros((4, 4), np.float32), np.zeros((5, 4), np.float32), radius=1, eps=1)


# --- recombination ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["fast_guided", "guided", "bilinear"])
def test_zero_chroma_gives_back_the_night_frame(rng, method):
    night = rng.integers(0, 256, (H, W), dtype=np.uint8)
    res = recombine(
        night, np.zeros((12, 16, 2), np.float32), params=RecombineParams(upsample=method)
    )
    assert res.rgb.dtype == np.uint8 and res.rgb.shape == (H, W, 3)
    assert np.abs(res.rgb.astype(int) - night[..., None]).max() <= 1
    assert set(res.timings_ms) == {"upsample", "recombine"}


def test_recombine_keeps_night_luminance(rng):
    night = rng.integers(40, 200, (H, W), dtype=np.uint8)
    res = recombine(night, np.full((12, 16, 2), (12.0, -8.0), np.float32))
    lab = rgb_to_lab(res.rgb)
    assert np.abs(lab[..., 0] - gray_to_l(night)).mean() < 1.0
    np.testing.assert_allclose(lab[..., 1:].mean(axis=(0, 1)), (12.0, -8.0), atol=1.5)


def test_full_leak_mask_gives_neutral_chroma(rng):
    night = rng.integers(0, 256, (H, W), dtype=np.uint8)
    ab = rng.normal(0, 30, (12, 16, 2)).astype(np.float32)
    full = RecombineParams(leak_strength=1.0)
    res = recombine(night, ab, leak_mask=np.ones((H, W), np.float32), params=full)
    assert np.abs(res.ab).max() < 1e-4
    assert np.abs(res.rgb.astype(int) - night[..., None]).max() <= 1


def test_leak_strength_zero_keeps_model_estimate(rng):
    night = rng.integers(0, 256, (H, W), dtype=np.uint8)
    ab = rng.normal(0, 30, (12, 16, 2)).astype(np.float32)
    ones = np.ones((H, W), np.float32)
    kept = recombine(night, ab, leak_mask=ones, params=RecombineParams(leak_strength=0.0))
    np.testing.assert_allclose(kept.ab, recombine(night, ab).ab, atol=1e-5)
    grey = RecombineParams(leak_strength=1.0, fallback="neutral")
    half = recombine(night, ab, leak_mask=ones * 0.5, params=grey)
    np.testing.assert_allclose(half.ab, 0.5 * kept.ab, atol=1e-4)
    quarter = recombine(night, ab, leak_mask=ones * 0.25, params=grey)
    np.testing.assert_allclose(quarter.ab, 0.75 * kept.ab, atol=1e-4)  # default strength 1.0


def test_leak_softness_feathers_the_transition():
    night = np.full((H, W), 120, np.uint8)
    ab = np.full((12, 16, 2), 30.0, np.float32)
    mask = np.zeros((H, W), np.float32)
    mask[:, W // 2 :] = 1.0
    hard_params = RecombineParams(leak_strength=1.0, fallback="neutral")
    soft_params = RecombineParams(leak_strength=1.0, leak_softness=3, fallback="neutral")
    hard = recombine(night, ab, leak_mask=mask, params=hard_params).ab[0, :, 0]
    soft = recombine(night, ab, leak_mask=mask, params=soft_params).ab[0, :, 0]
    assert hard[W // 2 - 2] == pytest.approx(30.0, abs=0.1) and hard[W // 2] == 0
    assert 0 < soft[W // 2] < 30 and 0 < soft[W // 2 - 2] < 30


@pytest.mark.parametrize(
    ("night", "ref", "mask", "expected"),
    [
        (np.zeros((H, W, 3), np.uint8), None, None, "night must be gray"),
        (np.zeros((H, W), np.float32), None, None, "night must be uint8"),
        (None, np.zeros((H, W + 1, 3), np.uint8), None, r"reference must be aligned to night"),
        (None, np.zeros((H, W), np.uint8), None, r"reference must be RGB"),
        (None, None, np.zeros((H, W), np.uint8), "leak_mask must be a float32 array"),
        (None, None, np.zeros((H - 1, W), np.float32), r"leak_mask must be \(H, W\)"),
        (None, None, np.full((H, W), 1.5, np.float32), r"leak_mask values must be in \[0, 1\]"),
        (None, None, np.full((H, W), np.nan, np.float32), r"leak_mask values must be in"),
    ],
)
def test_colorize_input_errors(scene, night, ref, mask, expected):
    good_night, good_ref = scene
    with pytest.raises(ValueError, match=expected):
        ReferenceTransferColorizer().colorize(
            good_night if night is None else night,
            good_ref if ref is None else ref,
            leak_mask=mask,
        )


def test_recombine_param_errors():
    with pytest.raises(ValueError, match="upsample must be one of"):
        RecombineParams(upsample="nearest")
    with pytest.raises(ValueError, match="leak_strength"):
        RecombineParams(leak_strength=2)
    with pytest.raises(ValueError, match="ab_lowres must be"):
        recombine(np.zeros((H, W), np.uint8), np.zeros((12, 16, 3), np.float32))


def test_results_do_not_share_reused_buffers(scene, rng):
    night, truth = scene
    col = ReferenceTransferColorizer()
    mask = np.zeros((H, W), np.float32)
    mask[:, :10] = 1
    first = col.colorize(night, truth, leak_mask=mask)
    rgb, ab = first.rgb.copy(), first.ab.copy()
    other_night = rng.integers(0, 256, (H, W), dtype=np.uint8)
    col.colorize(other_night, np.zeros((H, W, 3), np.uint8), leak_mask=1 - mask)
    np.testing.assert_array_equal(first.rgb, rgb)
    np.testing.assert_array_equal(first.ab, ab)
    # an explicit workspace gives the same picture as none
    ws = Workspace()
    low = rng.normal(0, 20, (12, 16, 2)).astype(np.float32)
    a = recombine(night, low, leak_mask=mask, workspace=ws)
    b = recombine(night, low, leak_mask=mask, workspace=ws)
    np.testing.assert_array_equal(a.rgb, recombine(night, low, leak_mask=mask).rgb)
    np.testing.assert_array_equal(a.rgb, b.rgb)
    assert not np.shares_memory(a.ab, b.ab)


# --- classical baseline -------------------------------------------------------------------


def test_baseline_transfers_reference_chroma(scene):
    night, truth = scene
    res = ReferenceTransferColorizer().colorize(night, truth)
    assert isinstance(res, ColorizeResult) and res.model_name == "reference-transfer"
    assert res.rgb.shape == (H, W, 3) and res.ab.shape == (H, W, 2)
    assert res.ab_lowres.shape == (192, 256, 2)
    assert set(res.timings_ms) == {"prep", "infer", "upsample", "recombine", "total"}
    truth_ab = rgb_to_lab(truth)[..., 1:]
    assert np.abs(res.ab - truth_ab)[:, 4:-4].mean() < 3.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        res.model_name = "x"


def test_baseline_neutral_reference_gives_neutral_output(scene):
    night, _ = scene
    gray_ref = np.repeat(night[..., None], 3, axis=2)
    res = ReferenceTransferColorizer().colorize(night, gray_ref)
    assert np.abs(res.ab).max() < 0.5
    assert np.abs(res.rgb.astype(int) - night[..., None]).max() <= 1


@pytest.mark.parametrize("working_size", [(256, 192), (16, 12), None])
def test_baseline_full_leak_mask_gives_neutral_output(scene, working_size):
    night, truth = scene
    col = ReferenceTransferColorizer(working_size=working_size)
    res = col.colorize(night, truth, leak_mask=np.ones((H, W), np.float32))
    assert np.abs(res.ab).max() < 1e-3
    zero = col.colorize(night, truth, leak_mask=np.zeros((H, W), np.float32))
    np.testing.assert_allclose(zero.ab, col.colorize(night, truth).ab, atol=1e-4)


# --- tensors per card ---------------------------------------------------------------------


@pytest.mark.parametrize("layout", ["NCHW", "NHWC", "CHW", "HWC"])
@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_encode_decode_roundtrip(rng, layout, dtype):
    dims = {"N": 1, "C": 2, "H": 6, "W": 8}
    spec = TensorSpec("ab", "ab", layout, tuple(dims[c] for c in layout), dtype, 1 / 128, 0.25)
    ab = rng.uniform(-100, 100, (6, 8, 2)).astype(np.float32)
    t = encode_tensor(ab, spec)
    assert t.shape == spec.shape and t.dtype == np.dtype(dtype)
    np.testing.assert_allclose(decode_output(t, spec), ab, atol=0.1)
    np.testing.assert_allclose(decode_output(t.ravel(), spec), ab, atol=0.1)  # flat from device


def test_encode_uint8_rounds_and_clips():
    spec = TensorSpec("x", "night_l", "NCHW", (1, 1, 1, 3), "uint8", 2.55, 0.0)
    t = encode_tensor(np.array([[0.0, 50.0, 120.0]], np.float32), spec)
    assert t.dtype == np.uint8 and t.ravel().tolist() == [0, 128, 255]


def test_decode_output_wrong_size():
    spec = TensorSpec("ab", "ab", "NCHW", (1, 2, 4, 4), "float32", 1 / 128, 0.0)
    with pytest.raises(ValueError, match=r"10 values, card shape \[1, 2, 4, 4\] needs 32"):
        decode_output(np.zeros(10, np.float32), spec)


def test_prepare_inputs_honours_card(tiny, scene):
    night, truth = scene
    card = load_card(tiny)
    mask = np.zeros((H, W), np.float32)
    mask[:, : W // 2] = 1.0
    feeds = prepare_inputs(night, truth, leak_mask=mask, card=card)
    assert {k: v.shape for k, v in feeds.items()} == {
        "night_l": (1, 1, 24, 32),
        "ref_l": (1, 1, 24, 32),
        "ref_ab": (1, 2, 24, 32),
    }
    assert all(v.dtype == np.float32 for v in feeds.values())
    small = cv2.resize(night, (32, 24), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(feeds["night_l"][0, 0], gray_to_l(small) * 0.01, atol=1e-6)
    assert 0 <= feeds["ref_l"].min() and feeds["ref_l"].max() <= 1
    # reference chroma is zeroed under the leak mask, kept (/128) elsewhere
    assert np.abs(feeds["ref_ab"][0, :, :, :14]).max() == 0
    right = rgb_to_lab(cv2.resize(truth, (32, 24), interpolation=cv2.INTER_AREA))[:, 18:, 1:]
    np.testing.assert_allclose(
        feeds["ref_ab"][0, :, :, 18:], right.transpose(2, 0, 1) / 128, atol=1e-5
    )


# --- ONNX host path -----------------------------------------------------------------------


def test_tiny_model_equals_baseline(tiny, scene):
    night, truth = scene
    model = load_colorizer(tiny)
    assert model.name == "tiny" and model.input_size == (32, 24)
    base = ReferenceTransferColorizer(working_size=(32, 24))
    a = model.colorize(night, truth)
    b = base.colorize(night, truth)
    np.testing.assert_allclose(a.ab, b.ab, atol=1e-3)
    assert a.timings_ms["infer"] > 0 and a.timings_ms["total"] >= a.timings_ms["infer"]
    leak = model.colorize(night, truth, leak_mask=np.ones((H, W), np.float32))
    assert np.abs(leak.ab).max() < 1e-3


def test_host_path_is_prepare_infer_decode_recombine(tiny, scene):
    """The camera path reuses prepare_inputs / decode_output / recombine: same picture."""
    night, truth = scene
    mask = np.zeros((H, W), np.float32)
    mask[10:30, 10:30] = 1
    model = load_colorizer(tiny)
    feeds = prepare_inputs(night, truth, leak_mask=mask, card=model.card)
    (out,) = model.session.run(None, feeds)
    manual = recombine(night, decode_output(out, model.card), leak_mask=mask)
    np.testing.assert_array_equal(manual.rgb, model.colorize(night, truth, leak_mask=mask).rgb)


def test_fp16_model_runs_on_host(tiny, scene, tmp_path):
    from engine.models import export_fp16

    night, truth = scene
    col16 = load_colorizer(export_fp16(tiny, dst=tmp_path / "t16.onnx"))
    ab16 = col16.colorize(night, truth).ab
    np.testing.assert_allclose(ab16, load_colorizer(tiny).colorize(night, truth).ab, atol=1.0)


def test_load_colorizer_errors(tmp_path, monkeypatch):
    import engine.colorize._colorizer as colorizer_module

    with pytest.raises(ValueError, match="threads must be >= 1"):
        load_colorizer(tmp_path / "x.onnx", threads=0)
    monkeypatch.setattr(colorizer_module, "default_model_path", lambda: tmp_path / "none.onnx")
    with pytest.raises(ModelError, match="default model none.onnx is not installed"):
        load_colorizer()


def test_blob_is_refused_on_host(tmp_path):
    from tests.conftest import shared_path

    blob = shared_path("fixtures", "blobs", "diff_openvino_2021.4_6shave.blob")
    local = tmp_path / "diff.blob"
    local.write_bytes(blob.read_bytes())
    with pytest.raises(ModelError, match="diff.blob: a MyriadX blob runs on the OAK camera only"):
        load_colorizer(local)


# --- the shipped default model ------------------------------------------------------------


def test_default_model_colorizes_a_frame(scene, shipped_model):
    night, truth = scene
    col = load_colorizer()
    assert col.input_size == (256, 192)
    res = col.colorize(night, truth)
    assert res.rgb.shape == (H, W, 3) and res.ab_lowres.shape == (192, 256, 2)
    assert np.isfinite(res.ab).all() and np.abs(res.ab).max() < 128
    # with an unchanged, aligned reference the model's chroma follows it
    truth_ab = rgb_to_lab(truth)[..., 1:]
    assert np.abs(res.ab - truth_ab)[:, 4:-4].mean() < 15.0
    ones = np.ones((H, W), np.float32)
    assert np.abs(col.colorize(night, truth, leak_mask=ones).ab).max() < 1e-3  # neutral
    # leak_strength 0 keeps the model's own estimate there, made without reference colour
    own = load_colorizer(params=RecombineParams(leak_strength=0.0))
    own_ab = own.colorize(night, truth, leak_mask=ones).ab
    assert np.abs(own_ab - truth_ab)[:, 4:-4].mean() > np.abs(res.ab - truth_ab)[:, 4:-4].mean()
