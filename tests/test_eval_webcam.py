"""``nightlab eval --webcam``: leaks measured without labels, as agreement between
colorizations from earlier and later day frames of a fixed camera."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data

from cli import main as cli_main
from engine._image import read_image, write_image
from engine.colorize import ReferenceTransferColorizer, load_colorizer
from engine.evaluation import (
    evaluate_webcam,
    find_webcam_frames,
    webcam_cameras,
    webcam_montage,
)
from engine.evaluation._webcam import CONFIGS
from tests.conftest import shared_path

SCENE = np.ascontiguousarray(skimage.data.coffee()[::2, ::2])  # 200x300, a real photo


def _camera(folder: Path, *, transient_after: bool) -> Path:
    """A fixed camera: 3 day frames before the night (2024-05-10 22:00), 3 after; the
    first day after has a big blue car in the middle when ``transient_after``."""
    folder.mkdir(parents=True)
    for day in (1, 4, 7, 13, 16, 19):
        frame = SCENE.copy()
        if transient_after and day == 13:
            frame[60:140, 100:220] = (30, 60, 220)
        write_image(folder / f"202405{day:02d}_120000.png", frame)
    write_image(folder / "20240510_220000.png", SCENE)  # the night (used as luminance)
    (folder / "notes.txt").write_text("not a frame")
    write_image(folder / "calibration.png", SCENE)  # not named by time: ignored
    return folder


def test_frames_are_found_by_capture_time_and_cameras_by_folder(tmp_path):
    cam = _camera(tmp_path / "cams" / "square", transient_after=False)
    frames = find_webcam_frames(cam)
    assert [f.name for f in frames][:3] == ["20240501_120000", "20240504_120000", "20240507_120000"]
    assert len(frames) == 7 and frames[3].time.hour == 22
    assert webcam_cameras(cam) == [cam]
    assert webcam_cameras(tmp_path / "cams") == [cam]
    with pytest.raises(ValueError, match="no images named by capture time"):
        find_webcam_frames(tmp_path)
    with pytest.raises(ValueError, match="no webcam frames"):
        webcam_cameras(tmp_path / "cams" / "square" / ".." / "..")


def test_static_scene_agrees_and_a_transient_in_one_reference_disagrees(tmp_path):
    colorizer = ReferenceTransferColorizer()
    static = evaluate_webcam(
        _camera(tmp_path / "static", transient_after=False), colorizer, registration="translation"
    )
    leaky = evaluate_webcam(
        _camera(tmp_path / "leaky", transient_after=True), colorizer, registration="translation"
    )
    s = {r.config: r for r in static.rows}
    lk = {r.config: r for r in leaky.rows}
    assert set(s) == set(CONFIGS) and len(static.rows) == len(CONFIGS)
    assert s["single"].disagreement < 0.5  # same scene in both references: they agree
    assert lk["single"].disagreement > 3.0  # the car's colour lands on the night frame
    # the before side uses the latest days before the night, the after side the first after
    assert lk["single"].refs_a == ("20240507_120000",)
    assert lk["single"].refs_b == ("20240513_120000",)
    assert lk["fused"].refs_b == ("20240513_120000", "20240516_120000", "20240519_120000")
    assert (leaky.day_frames_tried, leaky.day_frames_refused) == (6, 0)
    # three days fused: the car is in one of them, so the fusion drops it
    assert lk["fused"].disagreement < 0.3 * lk["single"].disagreement
    assert lk["fused+mask"].disagreement < 0.3 * lk["single"].disagreement
    assert lk["fused+mask"].chroma > 0.8 * s["single"].chroma


def test_nights_without_days_on_both_sides_are_skipped_with_the_reason(tmp_path):
    cam = _camera(tmp_path / "c", transient_after=False)
    for p in cam.glob("2024051*_120000.png"):
        p.unlink()  # keep one day after the night
    report = evaluate_webcam(cam, ReferenceTransferColorizer(), registration="translation")
    assert report.rows == () and len(report.skipped) == 1
    assert "3 day frames before it and 0 after" in report.skipped[0][1]


def test_montage_shows_every_image(tmp_path):
    kept = []
    evaluate_webcam(
        _camera(tmp_path / "c", transient_after=True),
        ReferenceTransferColorizer(),
        registration="translation",
        keep=kept.append,
    )
    img = webcam_montage(kept[0], tile_width=150)
    assert img.dtype == np.uint8 and img.shape == (2 * 100, 5 * 150, 3)
    # the layout the docstring gives: each tile, below its label, is its image at half size
    k = kept[0]
    a, b, res = k["sides"]["a"], k["sides"]["b"], k["results"]
    layout = [
        [k["night"], a["single"], b["single"], a["fused"].image, b["fused"].image],
        [res["single"]["a"][0], res["single"]["b"][0], res["fused+mask"]["a"][0],
         res["fused+mask"]["b"][0], k["masks"]["fused+mask"]["a"]],
    ]  # fmt: skip
    for row, images in enumerate(layout):
        for col, image in enumerate(images):
            if image.dtype != np.uint8:  # the leak mask, 0..1
                image = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8)
            if image.ndim == 2:
                image = np.dstack([image] * 3)
            h, w = image.shape[:2]
            want = image.reshape(h // 2, 2, w // 2, 2, 3).mean(axis=(1, 3))[20:]  # below label
            got = img[row * 100 + 20 : (row + 1) * 100, col * 150 : (col + 1) * 150]
            assert np.abs(got - want).mean() < 1, (row, col)
    # the blue car of the first day after shows in its tile, not in the day before's
    before, after = (img[30:70, x + 50 : x + 110].astype(int) for x in (150, 300))
    assert (after[..., 2] - after[..., 0]).mean() > 100 > (before[..., 2] - before[..., 0]).mean()


@pytest.mark.slow
def test_eval_webcam_on_real_footage_subset(tmp_path, capsys):
    """One night frame of the real mexico webcam, three day frames per side, the real model:
    the fused references agree better than single frames, and the outputs are written."""
    cam = shared_path("data", "webcam", "mexico")
    out, montage = tmp_path / "rows.json", tmp_path / "docs"
    argv = [
        "eval",
        "--webcam",
        str(cam),
        "--limit",
        "1",
        "--max-refs",
        "3",
        "--json",
        str(out),
        "--montage",
        str(montage),
        "--markdown",
    ]
    assert cli_main(argv) == 0
    text = capsys.readouterr().out
    assert "| mexico | fused+mask | 1 |" in text and "target" in text
    rows = json.loads(out.read_text())["rows"]
    by = {r["config"]: r for r in rows}
    assert set(by) == set(CONFIGS)
    night = rows[0]["night"]
    assert all(n < night for n in by["fused"]["refs_a"]) and len(by["fused"]["refs_a"]) == 3
    assert all(n > night for n in by["fused"]["refs_b"]) and len(by["fused"]["refs_b"]) == 3
    assert by["fused+mask"]["disagreement"] < by["single"]["disagreement"]
    img = read_image(montage / "webcam_mexico.png", mode="rgb")
    assert img.shape[1] == 5 * 320


def test_model_and_baseline_both_evaluate(tmp_path):
    cam = _camera(tmp_path / "c", transient_after=True)
    for colorizer in (load_colorizer(), ReferenceTransferColorizer()):
        report = evaluate_webcam(cam, colorizer, registration="translation", max_refs=3)
        assert report.ratio("all", "fused+mask", "disagreement") < 0.5


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--night-hours", "late"], "--night-hours must look like 20-6"),
        (["--night-hours", "20-30"], "hours must be in 0..24"),
    ],
)
def test_cli_webcam_bad_options_are_one_line(tmp_path, capsys, args, expect):
    cam = _camera(tmp_path / "c", transient_after=False)
    assert cli_main(["eval", "--webcam", str(cam), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and expect in err[0]


def test_cli_webcam_folder_without_frames_is_one_line(tmp_path, capsys):
    assert cli_main(["eval", "--webcam", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no webcam frames" in err[0]


@pytest.mark.parametrize(
    ("option", "make", "expect"),
    [
        ("--json", lambda d: d.mkdir(), "is a folder; give a file name"),
        ("--json", lambda d: None, "exists and is not a folder"),  # its folder is a file
        ("--montage", lambda d: d.write_text("a file"), "exists and is not a folder"),
    ],
    ids=["json-is-a-folder", "json-under-a-file", "montage-is-a-file"],
)
def test_cli_webcam_unwritable_output_is_refused_before_evaluating(
    tmp_path, capsys, monkeypatch, option, make, expect
):
    import engine.evaluation

    cam = _camera(tmp_path / "c", transient_after=False)
    blocker = tmp_path / "out"
    make(blocker)
    if option == "--json" and not blocker.exists():
        blocker.write_text("a file where the folder should be")
        blocker = blocker / "rows.json"

    def never(*a, **k):
        raise AssertionError("evaluated before the outputs were checked")

    monkeypatch.setattr(engine.evaluation, "evaluate_webcam", never)
    assert cli_main(["eval", "--webcam", str(cam), "--baseline", option, str(blocker)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and option in err[0] and expect in err[0], err
