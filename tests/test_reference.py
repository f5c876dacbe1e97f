"""engine.reference: several day frames -> one clean reference and a stability map;
``nightlab process`` with several ``--day``."""

from __future__ import annotations

import doctest
import json

import cv2
import numpy as np
import pytest
import skimage.data

import engine.reference._fuse
import engine.reference._reference
from cli import main as cli_main
from engine._image import read_image, to_gray, write_image
from engine.reference import FuseParams, fuse_aligned, fuse_references
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    return np.ascontiguousarray(skimage.data.coffee()[::2, ::2])  # 200x300 real photo


def _exposed(img: np.ndarray, gain: float, cast=(0, 0, 0)) -> np.ndarray:
    out = img.astype(np.float32) * gain + np.asarray(cast, np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def test_transients_in_a_minority_of_frames_vanish_from_the_fusion(scene):
    """Five days at different exposures and colour casts; a red car on day 1, a person on
    day 3: the fused reference shows the scene, not them, and stays stable there."""
    days = [
        _exposed(scene, g, c)
        for g, c in (
            (1.0, (0, 0, 0)),
            (0.7, (10, 0, -5)),
            (1.2, (0, 5, 0)),
            (0.9, (0, 0, 10)),
            (1.1, (-5, 0, 0)),
        )
    ]
    days[1][40:90, 60:140] = (220, 20, 20)
    days[3][100:180, 200:240] = (30, 200, 40)
    fused = fuse_aligned(days)
    car, person = (slice(40, 90), slice(60, 140)), (slice(100, 180), slice(200, 240))
    for region in (car, person):
        err = np.abs(fused.image[region].astype(int) - scene[region].astype(int)).mean()
        assert err < 8, err  # the scene's own colour, within the exposure spread
        assert float(fused.stability[region].mean()) > 0.8
    assert fused.valid.all() and int(fused.count.min()) == 5


def test_stability_is_low_where_the_frames_genuinely_disagree(scene):
    """A fountain that is blue on some days and pink on others has no reliable colour."""
    days = [scene.copy() for _ in range(6)]
    for i, d in enumerate(days):
        d[20:80, 150:250] = (40, 90, 230) if i % 2 else (240, 80, 160)
    fused = fuse_aligned(days)
    assert float(fused.stability[30:70, 160:240].max()) < 0.2
    assert float(fused.stability[120:, :100].min()) > 0.9


def test_fusion_keeps_the_frames_chroma(scene):
    """Hue jitter between frames must not turn the fused reference grey."""
    lab = cv2.cvtColor(scene, cv2.COLOR_RGB2Lab).astype(np.float32)
    days = []
    for angle in (-20, -10, 0, 10, 20):  # rotate the hue of the whole frame a little
        a, b = lab[..., 1] - 128, lab[..., 2] - 128
        t = np.deg2rad(angle)
        rot = lab.copy()
        rot[..., 1] = 128 + a * np.cos(t) - b * np.sin(t)
        rot[..., 2] = 128 + a * np.sin(t) + b * np.cos(t)
        days.append(cv2.cvtColor(np.clip(rot, 0, 255).astype(np.uint8), cv2.COLOR_Lab2RGB))

    def chroma(img):
        x = cv2.cvtColor(img, cv2.COLOR_RGB2Lab).astype(np.float32) - 128
        return float(np.hypot(x[..., 1], x[..., 2]).mean())

    assert chroma(fuse_aligned(days).image) > 0.95 * chroma(scene)


def test_fusion_respects_coverage(scene):
    days = [scene.copy() for _ in range(3)]
    valid = [np.ones(scene.shape[:2], bool) for _ in days]
    valid[0][:, :20] = False
    valid[1][:, :10] = False
    fused = fuse_aligned(days, valid=valid, params=FuseParams(min_frames=2))
    assert fused.count[0, 5] == 1 and fused.count[0, 15] == 2 and fused.count[0, 50] == 3
    assert not fused.valid[:, :10].any() and fused.valid[:, 10:].all()
    assert (fused.image[:, :10] == 0).all() and float(fused.stability[:, :10].max()) == 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: fuse_aligned([]), "at least one"),
        (lambda s: fuse_aligned([s, s[:50]]), "same grid"),
        (lambda s: fuse_aligned([s, to_gray(s)]), "RGB"),
        (lambda s: fuse_aligned([s], valid=[np.ones(3, bool)]), "valid\\[0\\]"),
        (lambda s: fuse_aligned([s], valid=[]), "1 frames"),
        (lambda s: FuseParams(spread_lo=5, spread_hi=5), "spread_lo < spread_hi"),
        (lambda s: FuseParams(min_frames=0), "min_frames"),
        (lambda s: fuse_references([s], to_gray(s), registration="magic"), "registration"),
    ],
)
def test_fusion_errors_are_precise(scene, call, match):
    with pytest.raises(ValueError, match=match):
        call(scene)


def test_fuse_references_aligns_shifted_frames_and_leaves_out_unrelated_ones(scene):
    night = to_gray(scene)
    days = [np.roll(scene, s, axis=(0, 1)) for s in ((0, 0), (2, -3), (-1, 4))]
    days.append(np.ascontiguousarray(skimage.data.astronaut()[:200, :300]))  # another scene
    ref = fuse_references(days, night, registration="translation")
    assert ref.used == (0, 1, 2)
    assert [i for i, _ in ref.refused] == [3] and ref.refused[0][1]
    for i, s in zip((1, 2), ((2, -3), (-1, 4)), strict=True):
        t = ref.alignments[i].matrix[:2, 2]
        np.testing.assert_allclose(t, -np.array(s[::-1], float), atol=0.5)
    inner = (slice(10, -10), slice(10, -10))
    err = np.abs(ref.image[inner].astype(int) - scene[inner].astype(int)).mean()
    assert err < 3, err


def test_fuse_references_says_why_when_nothing_aligns(scene):
    other = np.ascontiguousarray(skimage.data.astronaut()[:200, :300])
    with pytest.raises(ValueError, match="none of the 1 day frames aligns"):
        fuse_references([other], to_gray(scene), registration="translation")


def test_reference_docstring_examples_run():
    for mod in (engine.reference, engine.reference._fuse, engine.reference._reference):
        result = doctest.testmod(mod)
        assert result.attempted > 0, f"{mod.__name__}: no examples ran"
        assert result.failed == 0, f"{mod.__name__}: {result.failed} example(s) failed"


def test_process_with_several_day_frames_names_every_one(tmp_path, capsys):
    """Real fixed-webcam frames: four day frames fused onto a fifth frame's luminance."""
    cam = shared_path("data", "webcam", "mexico")
    names = ["20130123_143213", "20130127_133216", "20130128_111716", "20130201_134717"]
    days = [cam / f"{n}.png" for n in names]
    night_rgb = read_image(cam / "20130224_214726.png", mode="rgb")
    night = write_image(tmp_path / "night.png", to_gray(night_rgb))
    out = tmp_path / "out"
    argv = [
        "process",
        "--night",
        str(night),
        "--out",
        str(out),
        "--no-colorize",
        "--registration",
        "fixed",
    ]
    for d in days:
        argv += ["--day", str(d)]
    assert cli_main(argv) == 0, capsys.readouterr().err
    m = json.loads((out / "metrics.json").read_text())
    assert m["inputs"]["day"] == [str(d) for d in days]
    assert [f["path"] for f in m["day_frames"]] == [str(d) for d in days]
    assert all(f["used"] and f["ok"] for f in m["day_frames"])
    assert 0.0 < m["stability_mean"] <= 1.0
    ref = read_image(out / "aligned_reference.png", mode="rgb")
    assert ref.shape == night_rgb.shape
    # the fused reference is none of the day frames: each differs from it somewhere
    for d in days:
        assert np.abs(ref.astype(int) - read_image(d, mode="rgb").astype(int)).mean() > 1


def test_process_with_several_days_exits_3_when_none_aligns(tmp_path, capsys):
    scene = np.ascontiguousarray(skimage.data.coffee()[::2, ::2])
    other = np.ascontiguousarray(skimage.data.astronaut()[:200, :300])
    night = write_image(tmp_path / "night.png", to_gray(scene))
    d1 = write_image(tmp_path / "d1.png", other)
    d2 = write_image(tmp_path / "d2.png", np.ascontiguousarray(other[::-1]))
    out = tmp_path / "out"
    code = cli_main(
        [
            "process",
            "--day",
            str(d1),
            "--day",
            str(d2),
            "--night",
            str(night),
            "--out",
            str(out),
            "--no-colorize",
            "--registration",
            "translation",
        ]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 3 and len(err) == 1 and "no day frame aligns" in err[0]
    m = json.loads((out / "metrics.json").read_text())
    assert [f["used"] for f in m["day_frames"]] == [False, False]
