"""``nightlab process`` end to end, and its one-line errors on bad input."""

from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest
import skimage.data

from cli import main as cli_main
from engine._image import read_image, write_image
from tests.conftest import BAD_IMAGE_FILES
from tests.warp_errors import worst_corner_error


def _night_from_day(day: np.ndarray, shift=(6.0, -4.0), angle=2.0) -> np.ndarray:
    """A simulated night frame: warped, IR-like channel mix, gamma, noise."""
    h, w = day.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    m[:, 2] += shift
    warped = cv2.warpAffine(day, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    ir = warped.astype(np.float32) @ np.array([0.6, 0.3, 0.1], np.float32)
    ir = 255 * (ir / 255) ** 0.7 + np.random.default_rng(0).normal(0, 4, ir.shape)
    return np.clip(ir, 0, 255).astype(np.uint8)


@pytest.fixture
def pair(tmp_path):
    day = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2])
    return (
        write_image(tmp_path / "day.png", day),
        write_image(tmp_path / "night.png", _night_from_day(day)),
    )


SHIFT, ANGLE = (6.0, -4.0), 2.0  # the synthetic pair's known warp


def _true_matrix(shape) -> np.ndarray:
    h, w = shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), ANGLE, 1.0)
    m[:, 2] += SHIFT
    return np.vstack([m, [0.0, 0.0, 1.0]])


def test_process_writes_outputs_and_metrics(pair, tmp_path, capsys):
    day, night = pair
    out = tmp_path / "out"
    code = cli_main(
        ["process", "--day", str(day), "--night", str(night), "--out", str(out), "--no-colorize"]
    )
    assert code == 0, capsys.readouterr().err
    names = sorted(p.name for p in out.iterdir())
    assert names == ["aligned_reference.png", "leak_mask.png", "metrics.json", "overlay.png"]
    m = json.loads((out / "metrics.json").read_text())
    assert m["alignment"]["ok"] is True
    # the recovered warp is the one the pair was made with: 6, -4 px and 2 degrees
    matrix = np.asarray(m["alignment"]["matrix"])
    shape = read_image(night, mode="gray").shape
    assert worst_corner_error(matrix, _true_matrix(shape), shape) < 1.0
    assert np.degrees(np.arctan2(-matrix[1, 0], matrix[0, 0])) == pytest.approx(ANGLE, abs=0.1)
    assert m["alignment"]["score"] > 0.5
    assert m["ssim_mean"] > 0.5 and m["leak_area_pct"] < 10.0  # nothing changed in the scene
    for stage in ("align", "warp", "leak_mask", "ssim", "total"):
        assert m["timings_ms"][stage] > 0
    assert "colorize" not in m and "colorize" not in m["timings_ms"]
    assert set(m["output_sha256"]) == {"aligned_reference.png", "leak_mask.png", "overlay.png"}
    mask = cv2.imread(str(out / "leak_mask.png"), cv2.IMREAD_UNCHANGED)
    assert mask.shape == shape


def test_process_with_colorize_writes_the_colorized_frame(pair, tmp_path, capsys, shipped_model):
    day, night = pair
    out = tmp_path / "out"
    code = cli_main(["process", "--day", str(day), "--night", str(night), "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "colorized with nightlab-refcolor-s" in capsys.readouterr().out
    m = json.loads((out / "metrics.json").read_text())
    assert m["colorize"]["model"] == "nightlab-refcolor-s"
    assert set(m["colorize"]["timings_ms"]) >= {"prep", "infer", "upsample", "recombine"}
    assert m["timings_ms"]["colorize"] > 0
    assert m["outputs"]["colorized"] == str(out / "colorized.png")
    colorized = read_image(out / "colorized.png", mode="rgb")
    gray_night = read_image(night, mode="gray")
    assert colorized.shape == (*gray_night.shape, 3)
    # the night luminance is kept; the colour comes from the aligned day reference
    lum = cv2.cvtColor(colorized, cv2.COLOR_RGB2GRAY).astype(float)
    assert np.abs(lum - gray_night)[8:-8, 8:-8].mean() < 4.0
    chroma = cv2.cvtColor(colorized, cv2.COLOR_RGB2LAB)[..., 1:].astype(float) - 128
    assert np.abs(chroma).mean() > 3.0  # not a gray image


@BAD_IMAGE_FILES
def test_process_bad_input_is_one_line(pair, tmp_path, make, expect):
    day, _ = pair
    bad = make(tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "main",
            "process",
            "--day",
            str(day),
            "--night",
            str(bad),
            "--out",
            str(tmp_path / "o"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0
    err = proc.stderr.strip().splitlines()
    assert len(err) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert expect in err[0] and str(bad.name) in err[0]


def test_process_unrelated_images_fail_cleanly(tmp_path, capsys):
    day = write_image(tmp_path / "day.png", skimage.data.astronaut())
    noise = np.random.default_rng(3).integers(0, 256, (300, 400), dtype=np.uint8)
    night = write_image(tmp_path / "night.png", noise)
    code = cli_main(
        [
            "process",
            "--day",
            str(day),
            "--night",
            str(night),
            "--out",
            str(tmp_path / "o"),
            "--no-colorize",
        ]
    )
    assert code == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "cannot align" in err[0]
    m = json.loads((tmp_path / "o" / "metrics.json").read_text())
    assert m["alignment"]["ok"] is False and m["alignment"]["reason"]
    # a refused pair's metrics carry the identity, never the rejected candidate (issue 10)
    assert m["alignment"]["matrix"] == np.eye(3).tolist()


def test_process_fixed_camera_on_a_real_webcam_night(tmp_path, capsys):
    from tests.conftest import shared_path

    folder = shared_path("data", "webcam", "stlouis")
    out = tmp_path / "out"
    args = [
        "process",
        "--day",
        str(folder / "20120822_132844.png"),
        "--night",
        str(folder / "20120922_112851.png"),
        "--out",
        str(out),
        "--no-colorize",
    ]
    assert cli_main([*args, "--fixed-camera"]) == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["alignment"]["ok"] is True and m["alignment"]["method"] == "fixed+ecc"
    # a camera that did not move: within a few pixels of the identity
    assert np.abs(np.asarray(m["alignment"]["matrix"]) - np.eye(3))[:2, 2].max() < 5
