"""Quality evaluation: metrics with known answers, the pair runner, ``nightlab eval``."""

from __future__ import annotations

import csv
import math

import cv2
import numpy as np
import pytest

from cli import main
from engine._image import write_image
from engine.colorize import ReferenceTransferColorizer, load_colorizer
from engine.evaluation import (
    EvalRow,
    ab_error,
    colourfulness,
    evaluate,
    find_pairs,
    oracle_leak_mask,
    psnr,
    ssim,
)
from engine.models import write_tiny_model
from tests.conftest import shared_path

# --- metrics ------------------------------------------------------------------------------


def test_psnr_known_answers():
    a = np.zeros((10, 10, 3), np.uint8)
    assert psnr(a, a, data_range=255) == math.inf
    b = a.copy()
    b[...] = 10  # MSE 100 -> 10 log10(255^2 / 100)
    assert psnr(b, a, data_range=255) == pytest.approx(10 * math.log10(255**2 / 100))
    region = np.zeros((10, 10), bool)
    region[:2] = True
    c = a.copy()
    c[5:] = 200  # outside the region: no effect
    assert psnr(c, a, data_range=255, region=region) == math.inf
    assert math.isnan(psnr(c, a, data_range=255, region=np.zeros((10, 10), bool)))


def test_ssim_identity_and_drop(rng):
    img = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert ssim(img, img, data_range=255) == pytest.approx(1.0)
    noisy = np.clip(img + rng.normal(0, 40, img.shape), 0, 255).astype(np.uint8)
    assert ssim(noisy, img, data_range=255) < 0.9


def test_ab_error_known_answer_and_region():
    ab = np.zeros((4, 4, 2), np.float32)
    truth = np.zeros_like(ab)
    truth[:2] = (3.0, 4.0)  # Euclidean 5, mean abs 3.5 on the top half
    mae, err = ab_error(ab, truth)
    assert (mae, err) == pytest.approx((1.75, 2.5))
    top = np.zeros((4, 4), bool)
    top[:2] = True
    assert ab_error(ab, truth, region=top) == pytest.approx((3.5, 5.0))
    assert ab_error(ab, truth, region=~top) == (0.0, 0.0)
    with pytest.raises(ValueError, match="region must be a bool"):
        ab_error(ab, truth, region=top.astype(np.uint8))
    with pytest.raises(ValueError, match="must have the same shape"):
        ab_error(ab, truth[:3])


def test_colourfulness_orders_images(rng):
    gray = np.full((16, 16, 3), 90, np.uint8)
    assert colourfulness(gray) == 0.0
    dull = gray.copy()
    dull[..., 0] += 20
    vivid = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert 0 < colourfulness(dull) < colourfulness(vivid)


def test_oracle_leak_mask_is_soft_and_covers_change():
    change = np.zeros((40, 40), bool)
    change[10:30, 10:30] = True
    m = oracle_leak_mask(change)
    assert m.dtype == np.float32 and 0 <= m.min() and m.max() <= 1
    assert m[20, 20] == 1.0 and m[0, 0] == 0.0 and 0 < m[10, 8] < 1


# --- runner on synthetic pairs ------------------------------------------------------------


@pytest.fixture
def pairs_dir(tmp_path):
    """Three registered pairs: muted-colour truth + its gray 'night' (a perfect night camera).

    The truth is desaturated so the pasted (vivid) donor patches are clearly foreign colour.
    """
    import skimage.data

    folder = tmp_path / "synthetic"
    photos = [skimage.data.astronaut(), skimage.data.coffee(), skimage.data.chelsea()]
    for i, photo in enumerate(photos):
        small = cv2.resize(photo, (96, 72), interpolation=cv2.INTER_AREA).astype(np.float32)
        gray = small.mean(axis=2, keepdims=True)
        truth = np.clip(gray + 0.3 * (small - gray), 0, 255).astype(np.uint8)
        write_image(folder / f"{i:04d}_rgb.png", truth)
        write_image(folder / f"{i:04d}_nir.png", cv2.cvtColor(truth, cv2.COLOR_RGB2GRAY))
    (folder / "notes.txt").write_text("not a pair")
    write_image(folder / "0009_rgb.png", truth)  # no night frame: ignored
    return folder


def test_find_pairs(pairs_dir, tmp_path):
    pairs = find_pairs(pairs_dir)
    assert [p.id for p in pairs] == ["synthetic/0000", "synthetic/0001", "synthetic/0002"]
    assert pairs[0].night.name == "0000_nir.png"
    with pytest.raises(ValueError, match="no NNNN_rgb / NNNN_nir image pairs"):
        find_pairs(tmp_path / "synthetic" / ".." / "synthetic" / "..")
    with pytest.raises(ValueError, match="not a folder"):
        find_pairs(tmp_path / "missing")


def test_evaluate_rows_summary_targets(pairs_dir, tmp_path):
    tiny = load_colorizer(write_tiny_model(tmp_path / "tiny.onnx", width=64, height=48))
    report = evaluate(
        find_pairs(pairs_dir),
        [tiny],
        baseline=ReferenceTransferColorizer(),
        exclude=["synthetic/0001"],
        mask="oracle",
    )
    assert report.pairs_used == ("synthetic/0000", "synthetic/0002")
    assert report.pairs_excluded == ("synthetic/0001",)
    assert len(report.rows) == 2 * 2 * 2  # pairs x (model + baseline) x (with, without mask)
    assert {(r.method, r.leak_mask) for r in report.summary} == {
        ("tiny", False),
        ("tiny", True),
        ("reference-transfer", False),
        ("reference-transfer", True),
    }
    by = {(r.method, r.leak_mask): r for r in report.summary}
    for method in ("tiny", "reference-transfer"):
        off, on = by[(method, False)], by[(method, True)]
        # pasted patches carry foreign colours; the (oracle) leak mask removes most of them
        assert on.ab_err_changed < 0.6 * off.ab_err_changed
        assert abs(on.psnr_unchanged - off.psnr_unchanged) < 1.0
        assert off.colourfulness_truth > 0 and 0 < off.ssim <= 1
    assert len(report.targets) == 2 + 2 * 2
    assert all(t.value for t in report.targets)
    out = report.write_csv(tmp_path / "out" / "eval.csv")
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 8 + 4 and rows[-1]["pair"] == "mean"
    assert set(rows[0]) == set(EvalRow.__dataclass_fields__)


def test_evaluate_is_reproducible(pairs_dir):
    pairs = find_pairs(pairs_dir)[:1]
    runs = [
        evaluate(pairs, [], baseline=ReferenceTransferColorizer(), seed=3, mask="oracle")
        for _ in range(2)
    ]
    assert runs[0].rows == runs[1].rows
    other = evaluate(pairs, [], baseline=ReferenceTransferColorizer(), seed=4, mask="oracle")
    assert other.rows != runs[0].rows


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"mask": "perfect"}, "mask must be one of"),
        ({"limit": 0}, "limit must be >= 1"),
        ({"exclude": ["synthetic/0000", "synthetic/0001", "synthetic/0002"]}, "no pairs left"),
    ],
)
def test_evaluate_errors(pairs_dir, kwargs, expected):
    with pytest.raises(ValueError, match=expected):
        evaluate(find_pairs(pairs_dir), [], baseline=ReferenceTransferColorizer(), **kwargs)


def test_computed_leak_mask_is_the_one_scored_and_cuts_the_pasted_colour(pairs_dir):
    def rows(mask):
        report = evaluate(
            find_pairs(pairs_dir)[:1], [], baseline=ReferenceTransferColorizer(), mask=mask
        )
        assert [r.leak_mask for r in report.rows] == [False, True]
        return report.rows

    off, on = rows("computed")
    # the mask the leak mask computes from the pair, not the oracle's from the known change
    assert on != rows("oracle")[1]
    assert on.ab_err_changed < 0.75 * off.ab_err_changed  # the pasted patches lose colour
    assert abs(on.ab_err_unchanged - off.ab_err_unchanged) < 0.5  # the rest keeps it


def test_cli_eval(pairs_dir, tmp_path, capsys):
    tiny = write_tiny_model(tmp_path / "tiny.onnx", width=64, height=48)
    out = tmp_path / "eval.csv"
    argv = ["eval", "--pairs", str(pairs_dir), "--model", str(tiny), "--no-default"]
    argv += ["--mask", "oracle", "--csv", str(out), "--limit", "2", "--markdown"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "pairs: 2 used, 0 excluded" in text
    assert "| tiny | yes |" in text and "| reference-transfer | no |" in text
    assert "target" in text and out.is_file()


def test_cli_eval_bad_folder(tmp_path, capsys):
    argv = ["eval", "--pairs", str(tmp_path / "none"), "--no-default", "--mask", "oracle"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a folder" in err


def test_real_pair_leak_mask_removes_foreign_colour():
    folder = shared_path("data", "visnir", "country")
    pairs = [p for p in find_pairs(folder) if p.id == "country/0040"]
    report = evaluate(pairs, [], baseline=ReferenceTransferColorizer(), mask="oracle")
    off, on = sorted(report.summary, key=lambda r: r.leak_mask)
    # neutral instead of a donor's colour: the remaining error is the scene's own chroma
    assert on.ab_err_changed < 0.75 * off.ab_err_changed
    assert off.psnr_unchanged - on.psnr_unchanged < 0.5


def _option_choices(parser, *path_and_dest):
    """The ``choices`` of an option, following subcommand names down to it."""
    *path, dest = path_and_dest
    for name in path:
        sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
        parser = sub.choices[name]
    return next(a.choices for a in parser._actions if a.dest == dest)


def test_eval_command_offers_exactly_the_modes_recombination_accepts():
    # the CLI keeps its choices literal (importing the colorizer would slow every command's
    # start by about 0.6 s), so this is what keeps them from drifting apart
    from cli import build_parser
    from engine.colorize import FALLBACKS, PASSTHROUGH_MODES

    parser = build_parser()
    assert tuple(_option_choices(parser, "eval", "passthrough")) == PASSTHROUGH_MODES
    assert tuple(_option_choices(parser, "eval", "fallback")) == FALLBACKS
    for mode in PASSTHROUGH_MODES:
        args = parser.parse_args(["eval", "--pairs", "x", "--passthrough", mode])
        assert args.passthrough == mode
