"""Training data pipeline, night degradations, the network's shapes/ops, the shipped artefact.

The data tests need only numpy/OpenCV; the network tests skip cleanly without torch (CI
installs the ``test`` extra only). Everything runs on small synthetic arrays.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from training.data import (
    HELDOUT_PAIRS,
    TRAIN_PAIRS,
    SampleConfig,
    Source,
    load_country_pairs,
    make_sample,
    to_sample,
)
from training.degrade import NightDegradation, degrade_night, leak_mask_like, synthesize_nir

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "resources" / "models"
# what the MyriadX runs (the list); Sub is an Eltwise op there too
ALLOWED_OPS = {
    "Conv", "Relu", "LeakyRelu", "PRelu", "Add", "Sub", "Mul", "Concat",
    "SpaceToDepth", "DepthToSpace", "Resize", "Sigmoid", "Tanh",
}  # fmt: skip


def _smooth_rgb(rng: np.random.Generator, h: int = 120, w: int = 160) -> np.ndarray:
    small = rng.integers(0, 256, (6, 8, 3)).astype(np.uint8)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)


def _sources(rng: np.random.Generator) -> list[Source]:
    a, b = _smooth_rgb(rng), _smooth_rgb(rng)
    return [Source("synthetic/nir", a, cv2.cvtColor(a, cv2.COLOR_RGB2GRAY)), Source("x", b, None)]


# --- degradations --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, 77, 255])
def test_synthesize_nir_keeps_neutral_gray(value):
    rgb = np.full((5, 7, 3), value, np.uint8)
    for seed in range(5):
        nir = synthesize_nir(rgb, rng=np.random.default_rng(seed))
        assert nir.shape == (5, 7) and nir.dtype == np.uint8
        assert np.abs(nir.astype(int) - value).max() <= 1  # weights sum to one


def test_synthesize_nir_red_and_foliage_bright_sky_dark():
    rgb = np.zeros((1, 3, 3), np.uint8)
    rgb[0, 0] = (160, 0, 0)  # red object
    rgb[0, 1] = (0, 160, 0)  # foliage
    rgb[0, 2] = (0, 0, 160)  # sky
    nir = np.mean([synthesize_nir(rgb, rng=np.random.default_rng(s))[0] for s in range(40)], axis=0)
    assert nir[0] > nir[2] and nir[1] > nir[2]


def test_degrade_night_clean_is_identity(rng):
    gray = rng.integers(0, 256, (24, 32), dtype=np.uint8)
    out = degrade_night(gray, rng=rng, params=NightDegradation(p_clean=1.0))
    np.testing.assert_array_equal(out, gray)


def test_degrade_night_is_reproducible(rng):
    gray = rng.integers(0, 256, (24, 32), dtype=np.uint8)
    a = degrade_night(gray, rng=np.random.default_rng(7), params=NightDegradation(p_clean=0.0))
    b = degrade_night(gray, rng=np.random.default_rng(7), params=NightDegradation(p_clean=0.0))
    np.testing.assert_array_equal(a, b)
    assert a.shape == gray.shape and a.dtype == np.uint8


def test_degrade_night_noise_grows_with_gain():
    # flat fields, no blur/vignetting/tone change: the darker scene needs more auto-gain
    params = NightDegradation(
        p_clean=0.0, min_exposure=1.0, max_gamma_change=0.0, max_blur_sigma=0.0,
        max_vignetting=0.0, max_read_noise=1.0, max_shot_noise=0.05,
    )  # fmt: skip
    stds = {}
    for value in (12, 200):
        flat = np.full((96, 128), value, np.uint8)
        out = degrade_night(flat, rng=np.random.default_rng(3), params=params)
        stds[value] = out.astype(np.float32).std()
        assert 70 < out.mean() < 200 or value == 200  # auto-gain lifts the dark field
    assert stds[12] > 2 * stds[200]


def test_leak_mask_like_covers_change_and_stays_in_range():
    change = np.zeros((96, 128), bool)
    change[30:70, 40:90] = True
    for seed in range(10):
        soft = leak_mask_like(change, rng=np.random.default_rng(seed))
        assert soft.dtype == np.float32 and soft.shape == change.shape
        assert 0.0 <= soft.min() and soft.max() <= 1.0
        assert soft[40:60, 50:80].min() > 0.9  # the core of a change is always masked


def test_leak_mask_like_without_change_or_false_alarms_is_empty(rng):
    soft = leak_mask_like(np.zeros((48, 64), bool), rng=rng, max_false_blobs=0)
    assert not soft.any()


# --- samples --------------------------------------------------------------------------------


def test_to_sample_units_and_leak_zeroing():
    night = np.array([[0, 255]], np.uint8)
    ref = np.full((1, 2, 3), 128, np.uint8)
    truth = np.zeros((1, 2, 3), np.uint8)
    truth[0, 1] = (255, 0, 0)
    s = to_sample(night, ref, truth, np.zeros((1, 2), bool), leak_mask=np.ones((1, 2), np.float32))
    np.testing.assert_allclose(s.night_l[0, 0], [0.0, 1.0], atol=1e-4)
    np.testing.assert_array_equal(s.ref_ab, 0.0)  # neutral reference, and zeroed anyway
    assert s.ab[0, 0, 1] > 0.5  # red: a* about +80 -> 0.63 in tensor units
    assert s.night_l.shape == (1, 1, 2) and s.ab.shape == (2, 1, 2)


def test_make_sample_shapes_ranges_and_reproducibility(rng):
    sources = _sources(rng)
    donors = [_smooth_rgb(rng)]
    cfg = SampleConfig(size=(64, 48))
    a = make_sample(sources, donors, rng=np.random.default_rng(5), config=cfg)
    b = make_sample(sources, donors, rng=np.random.default_rng(5), config=cfg)
    for name, shape in (("night_l", (1, 48, 64)), ("ref_l", (1, 48, 64)), ("ab", (2, 48, 64))):
        assert getattr(a, name).shape == shape and getattr(a, name).dtype == np.float32
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert a.ref_ab.shape == (2, 48, 64) and a.change_mask.shape == (48, 64)
    assert 0.0 <= a.night_l.min() and a.night_l.max() <= 1.0
    assert np.abs(a.ab).max() <= 1.0 and np.abs(a.ref_ab).max() <= 1.0


def test_make_sample_without_changes_reference_matches_truth(rng):
    sources = _sources(rng)
    cfg = SampleConfig(
        size=(64, 48), p_night_object=0.0, p_zero_leak=0.0, max_shift_px=0.0,
        max_rotation_deg=0.0, max_patches=0,
    )  # fmt: skip
    for seed in range(4):
        s = make_sample(sources, [_smooth_rgb(rng)], rng=np.random.default_rng(seed), config=cfg)
        assert not s.change_mask.any()
        # only exposure / white balance differ: a few ab units on these saturated colours,
        # far less than between unrelated pixels of the same image
        err = np.abs(s.ref_ab - s.ab).mean() * 128
        unrelated = np.abs(s.ref_ab - s.ab[:, ::-1, ::-1]).mean() * 128
        assert err < 10.0 and err < unrelated / 2


def test_make_sample_changes_are_marked(rng):
    sources = _sources(rng)
    cfg = SampleConfig(size=(64, 48), p_night_object=1.0, p_zero_leak=0.0, max_patches=2)
    for seed in range(4):
        s = make_sample(sources, [_smooth_rgb(rng)], rng=np.random.default_rng(seed), config=cfg)
        marked = s.change_mask
        assert 0 < marked.mean() < 0.5  # an object, not the whole frame
        # marked where the reference's colour is not the truth's: far more wrong there
        wrong = np.abs(s.ref_ab - s.ab).sum(axis=0) * 128  # Lab units
        assert wrong[marked].mean() > 20 and wrong[marked].mean() > 3 * wrong[~marked].mean()


def test_train_and_heldout_pairs_are_disjoint():
    assert not set(TRAIN_PAIRS) & set(HELDOUT_PAIRS)
    assert TRAIN_PAIRS == tuple(f"{i:04d}" for i in range(36))
    assert all(int(s) >= 36 for s in HELDOUT_PAIRS)


def test_load_country_pair_is_registered():
    from tests.conftest import shared_path

    root = shared_path("data", "visnir", "country")
    (src,) = load_country_pairs(root, ("0000",))
    assert src.nir is not None and src.nir.shape == src.rgb.shape[:2]
    # registered: the edges of both bands line up (phase correlation of the gradient
    # magnitudes finds no shift; the same NIR moved 7 px shows it is measured)

    def edges(img):
        img = img.astype(np.float32)
        return np.hypot(cv2.Sobel(img, cv2.CV_32F, 1, 0), cv2.Sobel(img, cv2.CV_32F, 0, 1))

    gray = edges(cv2.cvtColor(src.rgb, cv2.COLOR_RGB2GRAY))
    shift, _ = cv2.phaseCorrelate(gray, edges(src.nir))
    assert np.hypot(*shift) < 1.0, shift
    moved, _ = cv2.phaseCorrelate(gray, edges(np.roll(src.nir, 7, axis=1)))
    assert abs(moved[0] - 7) < 1.0, moved


# --- network (torch) ------------------------------------------------------------------------


def test_space_to_depth_matches_onnx_order():
    torch = pytest.importorskip("torch")
    from training.model import SpaceToDepth

    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    y = SpaceToDepth(2)(x)
    assert y.shape == (1, 8, 2, 3)
    # ONNX SpaceToDepth (DCR): out[(by*b + bx)*C + c, i, j] = in[c, i*b + by, j*b + bx]
    for c in range(2):
        for by in range(2):
            for bx in range(2):
                expect = x[0, c, by::2, bx::2]
                torch.testing.assert_close(y[0, (by * 2 + bx) * 2 + c], expect)


def test_network_starts_as_copy_and_stays_bounded():
    torch = pytest.importorskip("torch")
    from training.model import RefColorNet

    torch.manual_seed(0)
    net = RefColorNet().eval()
    ref_ab = torch.rand(1, 2, 32, 48) * 2 - 1
    with torch.no_grad():
        out = net(torch.rand(1, 1, 32, 48), torch.rand(1, 1, 32, 48), ref_ab)
        extreme = net(torch.full((1, 1, 32, 48), 50.0), torch.zeros(1, 1, 32, 48), -ref_ab.sign())
    assert out.shape == (1, 2, 32, 48)
    # the stretched, clipped gate starts at 1.1 * sigmoid(3) - 0.05 = 0.998: copy the reference
    gate = torch.sigmoid(torch.tensor(3.0)) * 1.1 - 0.05
    torch.testing.assert_close(out, gate * ref_ab, atol=0.02, rtol=0)
    assert extreme.abs().max() <= 1.0


def test_gate_can_pass_the_reference_through_exactly():
    torch = pytest.importorskip("torch")
    from training.model import RefColorNet

    torch.manual_seed(0)
    net = RefColorNet(gate_bias=4.0).eval()  # 1.1 * sigmoid(4) - 0.05 > 1: clipped to 1
    ref_ab = torch.rand(1, 2, 32, 48) * 2 - 1
    with torch.no_grad():
        out = net(torch.rand(1, 1, 32, 48), torch.rand(1, 1, 32, 48), ref_ab)
    # a plain sigmoid gate would mix in 2 % of the estimate here; the clipped one none
    torch.testing.assert_close(out, ref_ab, atol=1e-3, rtol=0)


def test_weighted_l1_is_zero_only_for_perfect_prediction():
    torch = pytest.importorskip("torch")
    from training.train_refcolor import weighted_l1

    truth = torch.rand(2, 2, 16, 16) - 0.5
    changed = torch.zeros(2, 1, 16, 16)
    assert float(weighted_l1(truth, truth, changed)) == 0.0
    assert float(weighted_l1(truth + 0.1, truth, changed)) == pytest.approx(0.1, rel=1e-5)


def test_parts_output_is_the_gated_mix_of_reference_and_estimate():
    torch = pytest.importorskip("torch")
    from training.model import RefColorNet

    torch.manual_seed(0)
    net = RefColorNet(gate_bias=0.0).eval()  # gate mid-way, so both terms matter
    x = (torch.rand(1, 1, 32, 48), torch.rand(1, 1, 32, 48), torch.rand(1, 2, 32, 48) * 2 - 1)
    with torch.no_grad():
        ab, gate, est = net.parts(*x)
        out = net(*x)
    assert bool(((gate >= 0) & (gate <= 1)).all())
    torch.testing.assert_close(ab, est + gate * (x[2] - est))
    torch.testing.assert_close(out, ab)


def test_gate_pass_loss_counts_only_pixels_where_the_reference_is_the_truth():
    torch = pytest.importorskip("torch")
    from training.train_refcolor import gate_pass_loss

    truth = torch.zeros(1, 2, 4, 4)
    ref = truth.clone()
    ref[..., :, 2:] = 10.0 / 128.0  # right half: the reference is 14 Lab units off
    gate = torch.full((1, 2, 4, 4), 0.25)
    gate[..., :, 2:] = 0.0  # closed where the reference is wrong: no charge there
    # left half agrees (within 2 Lab units): charged 1 - 0.25 on average, nothing else counts
    assert float(gate_pass_loss(gate, ref, truth, tol=2.0)) == pytest.approx(0.75)
    gate[..., :, :2] = 1.0
    assert float(gate_pass_loss(gate, ref, truth, tol=2.0)) == 0.0
    # 1 Lab unit off in a and b (1.41 Euclidean): inside a 2-unit tolerance, outside a 1-unit one
    near = truth + 1.0 / 128.0
    assert float(gate_pass_loss(torch.zeros(1, 2, 4, 4), near, truth, tol=2.0)) == 1.0
    assert float(gate_pass_loss(torch.zeros(1, 2, 4, 4), near, truth, tol=1.0)) == 0.0


def test_chroma_shortfall_charges_desaturation_only():
    torch = pytest.importorskip("torch")
    from training.train_refcolor import chroma_shortfall

    truth = torch.zeros(1, 2, 4, 4)
    truth[:, 0] = 0.3
    truth[:, 1] = 0.4  # chroma 0.5
    assert float(chroma_shortfall(truth, truth)) == pytest.approx(0.0, abs=1e-6)
    assert float(chroma_shortfall(truth * 0.8, truth)) == pytest.approx(0.1, rel=1e-4)
    assert float(chroma_shortfall(truth * 1.5, truth)) == 0.0  # more colour is not charged
    assert float(chroma_shortfall(-truth, truth)) == pytest.approx(0.0, abs=1e-6)  # L1's job


def test_export_uses_only_myriadx_ops_and_matches_torch(tmp_path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnxruntime")
    from training.export import export_onnx, onnx_ops, onnx_vs_torch
    from training.model import RefColorNet

    torch.manual_seed(0)
    net = RefColorNet(ch0=8, ch1=8, ch2=8).eval()
    path = tmp_path / "tiny.onnx"
    export_onnx(net, path, width=64, height=48)
    ops = set(onnx_ops(path))
    assert ops <= ALLOWED_OPS, ops - ALLOWED_OPS
    assert {"SpaceToDepth", "DepthToSpace"} <= ops
    rng = np.random.default_rng(0)
    feed = {
        "night_l": rng.random((1, 1, 48, 64), np.float32),
        "ref_l": rng.random((1, 1, 48, 64), np.float32),
        "ref_ab": rng.uniform(-1, 1, (1, 2, 48, 64)).astype(np.float32),
    }
    assert onnx_vs_torch(net, path, [feed]) < 1e-5


# --- the shipped artefact -------------------------------------------------------------------


def test_shipped_model_matches_its_card(shipped_model):
    import onnx  # a core dependency

    path = shipped_model
    card = json.loads((MODELS / "refcolor_s.onnx.card.json").read_text())
    assert card["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_size < 5 * 1024 * 1024
    model = onnx.load(str(path))
    dims = {
        v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
        for v in (*model.graph.input, *model.graph.output)
    }
    for t in (*card["inputs"], *card["outputs"]):
        assert dims[t["name"]] == t["shape"]
    assert {n.op_type for n in model.graph.node} <= ALLOWED_OPS
    used = {p.split("/")[-1] for p in card["training"]["pairs_used"]}
    assert used == set(TRAIN_PAIRS) and not used & set(HELDOUT_PAIRS)


# --- evaluation -----------------------------------------------------------------------------


def test_ab_errors_known_answer():
    from training.evaluate import ab_errors

    truth = np.zeros((2, 2, 2), np.float32)
    pred = truth.copy()
    pred[:, 0, 0] = 1.0 / 128  # one Lab unit off on both channels, in a changed pixel
    changed = np.zeros((2, 2), bool)
    changed[0, 0] = True
    assert ab_errors(pred, truth, changed) == pytest.approx((0.0, 1.0))


def test_evaluate_copy_predictor_equals_copy_baseline(rng):
    from training.evaluate import evaluate, false_alarm_errors

    sources = _sources(rng)
    cfg = SampleConfig(size=(64, 48), p_zero_leak=0.0, p_night_object=0.0, max_patches=2)
    samples = []
    for seed in range(3):
        s = make_sample(sources, [_smooth_rgb(rng)], rng=np.random.default_rng(seed), config=cfg)
        samples.append((s, s.change_mask.astype(np.float32)))
    res = evaluate(lambda n, r, ab: ab, samples)
    assert res["model"] == res["copy_ref"]
    assert res["model_leak_zeroed"] == res["copy_ref_leak_zeroed"]
    fa = false_alarm_errors(lambda n, r, ab: ab, samples)
    assert fa["model"] == pytest.approx(fa["neutral"])
