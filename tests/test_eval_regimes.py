"""``nightlab eval``: the perfect-reference regime and affine-registered (bordered) pairs."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data

from cli import main
from engine._image import write_image
from engine.colorize import ReferenceTransferColorizer
from engine.evaluation import evaluate, find_pairs, load_pair
from tests.conftest import shared_path


@pytest.fixture
def registration_dir(tmp_path):
    """Two pairs like visnir/field: an unregistered RGB, its gray 'NIR' warped by a known
    affine M (``NNNN_nir.npy``), so ``warpAffine(rgb, M)`` lines the RGB up with the NIR."""
    folder = tmp_path / "field"
    for i, photo in enumerate([skimage.data.coffee(), skimage.data.astronaut()]):
        rgb = cv2.resize(photo, (120, 90), interpolation=cv2.INTER_AREA)
        m = np.array([[1.0, 0.02, 14.0], [-0.02, 1.0, 9.0]])  # shift right/down: border
        warped = cv2.warpAffine(rgb, m, (120, 90))
        write_image(folder / f"{i:04d}_rgb.png", rgb)
        write_image(folder / f"{i:04d}_nir.png", cv2.cvtColor(warped, cv2.COLOR_RGB2GRAY))
        np.save(folder / f"{i:04d}_nir.npy", m)
    return folder


def test_registration_pair_is_warped_onto_the_night_frame(registration_dir):
    pairs = find_pairs(registration_dir)
    assert [p.affine.name for p in pairs] == ["0000_nir.npy", "0001_nir.npy"]
    truth, night, footprint = load_pair(pairs[0])
    assert truth.shape[:2] == night.shape == footprint.shape
    assert not footprint[:, :10].any() and footprint[40:, 30:].all()
    assert not truth[~footprint].any()  # black outside its footprint, as a warped reference
    # inside, the warped truth's luminance is the night frame (same warp)
    gray = cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY).astype(int)
    inner = cv2.erode(footprint.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert np.abs(gray - night)[inner].mean() < 2.0


def test_bad_affine_is_one_clear_error(registration_dir):
    np.save(registration_dir / "0000_nir.npy", np.eye(2))
    pair = find_pairs(registration_dir)[0]
    with pytest.raises(ValueError, match=r"0000_nir.npy: expected a finite 2x3 affine"):
        load_pair(pair)


def test_perfect_reference_regime_scores_inside_the_footprint(registration_dir):
    base = ReferenceTransferColorizer()
    report = evaluate(find_pairs(registration_dir), [], baseline=base, reference="perfect")
    by = {r.leak_mask: r for r in report.summary}
    # nothing changed: no changed-region error, and the copied chroma is near the truth
    assert math.isnan(by[False].ab_err_changed)
    assert by[False].ab_err_unchanged < 3.0
    names = [t.name for t in report.targets]
    assert not any("cuts chroma error" in n for n in names)  # no leak to cut
    assert any("costs < 0.5 dB" in n for n in names)
    degraded = evaluate(find_pairs(registration_dir), [], baseline=base, mask="oracle")
    assert degraded.summary[0].ab_err_unchanged > by[False].ab_err_unchanged
    with pytest.raises(ValueError, match="reference must be one of"):
        evaluate(find_pairs(registration_dir), [], baseline=base, reference="ideal")


def test_cli_eval_perfect_reference_over_two_folders(registration_dir, tmp_path, capsys):
    other = tmp_path / "country"
    photo = cv2.resize(skimage.data.chelsea(), (96, 72), interpolation=cv2.INTER_AREA)
    write_image(other / "0000_rgb.png", photo)
    write_image(other / "0000_nir.png", cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY))
    argv = ["eval", "--pairs", str(registration_dir), "--pairs", str(other), "--no-default"]
    argv += ["--reference", "perfect", "--mask", "oracle", "--fallback", "neutral"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "pairs: 3 used" in out and "reference: perfect" in out and "fallback neutral" in out


def test_cli_eval_passthrough_reaches_the_baseline_too(registration_dir, capsys):
    """``--passthrough`` applies to every colorizer, the baseline included (like with like):
    with a perfect reference full-resolution transfer is closer to the truth."""
    errors = {}
    for mode in ("off", "direct"):
        argv = ["eval", "--pairs", str(registration_dir), "--no-default", "--markdown"]
        argv += ["--reference", "perfect", "--mask", "oracle", "--passthrough", mode]
        assert main(argv) == 0
        out = capsys.readouterr().out
        assert f"passthrough {mode})" in out
        row = next(
            line for line in out.splitlines() if line.startswith("| reference-transfer | no")
        )
        errors[mode] = float(row.split("|")[7])  # the ΔE_ab column
    assert errors["direct"] < 0.9 * errors["off"], errors


def test_real_registration_pair_perfect_reference():
    folder = shared_path("data", "visnir", "field")
    pair = [p for p in find_pairs(folder) if p.id == "field/0006"]
    report = evaluate(pair, [], baseline=ReferenceTransferColorizer(), reference="perfect")
    off = next(r for r in report.summary if not r.leak_mask)
    assert off.ab_err_unchanged < 2.5  # copying the true colours, scored inside the footprint


def test_ssim_metric_equals_scikit_image_on_rgb(rng):
    from skimage.metrics import structural_similarity

    from engine.evaluation import ssim

    a = cv2.resize(skimage.data.astronaut(), (160, 120), interpolation=cv2.INTER_AREA)
    b = np.clip(a + rng.normal(0, 25, a.shape), 0, 255).astype(np.uint8)
    expected = structural_similarity(a, b, data_range=255, channel_axis=2)
    assert ssim(a, b, data_range=255) == pytest.approx(expected, abs=1e-6)
