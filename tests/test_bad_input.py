"""The bad-input findings (issue 7, part 3): one line naming the file and the problem, a
non-zero exit, nothing partial left; engine functions raise precise ValueErrors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import skimage.data

from cli import main as cli_main
from engine._image import read_image, write_image
from tests.conftest import REPO
from tests.model_files import copy_model


def _nightlab(*args: str, env: dict | None = None, timeout: float = 180):
    """``python -m main ARGS`` as a user runs it: (exit code, stdout, stderr lines)."""
    proc = subprocess.run(
        [sys.executable, "-m", "main", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen", **(env or {})},
    )
    return proc.returncode, proc.stdout, proc.stderr.strip().splitlines()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    d = tmp_path_factory.mktemp("pair")
    day = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2])
    h, w = day.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), 2.0, 1.0)
    m[:, 2] += (6, -4)
    night = cv2.cvtColor(cv2.warpAffine(day, m, (w, h), borderMode=cv2.BORDER_REFLECT), 7)
    return write_image(d / "day.png", day), write_image(d / "night.png", night)


def _one_error_line(code: int, err: list[str], *needles: str) -> str:
    assert code != 0
    assert len(err) == 1, err
    for n in needles:
        assert n in err[0], (n, err[0])
    return err[0]


# --- process ------------------------------------------------------------------------------


def test_process_refuses_a_strip_too_elongated_to_align_naming_the_file(pair, tmp_path, capsys):
    # 2000x40 (50:1): it used to spend minutes and gigabytes in the frequency-domain search
    bad = write_image(tmp_path / "strip.png", np.full((40, 2000, 3), 128, np.uint8))
    day, night = pair
    out = tmp_path / "out"
    code = cli_main(["process", "--day", str(bad), "--night", str(night), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    _one_error_line(code, err, str(bad), "2000x40 pixels", "more elongated than 24:1")
    assert not out.exists()


@pytest.mark.parametrize("size", [(1, 1), (7, 7), (3, 5000)], ids=["1x1", "7x7", "3x5000"])
def test_process_tiny_or_thin_input_names_the_file(pair, tmp_path, capsys, size):
    w, h = size
    bad = write_image(tmp_path / f"img{w}x{h}.png", np.full((h, w, 3), 128, np.uint8))
    day, night = pair
    out = tmp_path / "out"
    code = cli_main(["process", "--day", str(bad), "--night", str(night), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    _one_error_line(code, err, str(bad), f"{w}x{h} pixels", "at least 32x32")
    code = cli_main(["process", "--day", str(day), "--night", str(bad), "--out", str(out)])
    _one_error_line(code, capsys.readouterr().err.strip().splitlines(), str(bad))
    assert not out.exists()


def test_process_unwritable_out_is_refused_before_any_work(pair, capsys, monkeypatch):
    import engine.pipeline

    monkeypatch.setattr(engine.pipeline, "process_pair", lambda *a, **k: pytest.fail("worked"))
    day, night = pair
    code = cli_main(["process", "--day", str(day), "--night", str(night), "--out", "/proc/x"])
    line = _one_error_line(code, capsys.readouterr().err.strip().splitlines(), "/proc/x")
    assert "cannot create /proc/x" in line and "No such file" not in line


def test_process_refuses_to_overwrite_an_input_living_in_out(pair, tmp_path, capsys):
    day, night = pair
    out = tmp_path / "out"
    out.mkdir()
    inside = out / "overlay.png"  # the day input, under an output's name
    inside.write_bytes(day.read_bytes())
    before = inside.read_bytes()
    code = cli_main(["process", "--day", str(inside), "--night", str(night), "--out", str(out)])
    _one_error_line(
        code, capsys.readouterr().err.strip().splitlines(), str(inside), "would be overwritten"
    )
    assert inside.read_bytes() == before and sorted(p.name for p in out.iterdir()) == [
        "overlay.png"
    ]


def test_process_folder_where_an_output_goes_is_refused_up_front(pair, tmp_path, capsys):
    day, night = pair
    out = tmp_path / "out"
    (out / "colorized.png").mkdir(parents=True)
    code = cli_main(["process", "--day", str(day), "--night", str(night), "--out", str(out)])
    _one_error_line(code, capsys.readouterr().err.strip().splitlines(), "colorized.png", "folder")
    assert sorted(p.name for p in out.iterdir()) == ["colorized.png"]


def test_truncated_png_is_one_line_without_libpng_chatter(pair, tmp_path):
    day, _ = pair
    data = day.read_bytes()
    bad = tmp_path / "trunc.png"
    bad.write_bytes(data[: len(data) // 2])
    code, _, err = _nightlab("process", "--day", str(day), "--night", str(bad), "--out", "o")
    line = _one_error_line(code, err, str(bad), "cannot decode")
    assert "libpng error" not in line  # folded into our line, not printed before it


def test_png_with_a_wrong_first_chunk_is_one_line_without_opencv_log_prefix(pair, tmp_path):
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    day, _ = pair
    bad = tmp_path / "bad.png"  # a valid signature, then tEXt where IHDR must come first
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"tEXt", b"k\x00v") + chunk(b"IEND", b""))
    code, _, err = _nightlab("process", "--day", str(day), "--night", str(bad), "--out", "o")
    line = _one_error_line(code, err, str(bad), "cannot decode", "IHDR")
    assert "[ERROR" not in line and "grfmt" not in line and ".cpp" not in line, line


def test_all_nan_float_tiff_is_one_line_without_numpy_warning(pair, tmp_path):
    import tifffile

    day, _ = pair
    bad = tmp_path / "nan.tif"
    tifffile.imwrite(bad, np.full((64, 64), np.nan, np.float32))
    code, _, err = _nightlab("process", "--day", str(day), "--night", str(bad), "--out", "o")
    _one_error_line(code, err, str(bad), "no finite pixel values")


def test_float_tiff_with_some_nan_reads_with_nan_as_the_minimum(tmp_path):
    import tifffile

    data = np.arange(64 * 64, dtype=np.float32).reshape(64, 64)
    data[0, :8] = np.nan
    tifffile.imwrite(tmp_path / "some.tif", data)
    img = read_image(tmp_path / "some.tif", mode="gray")
    assert img[0, :8].tolist() == [0] * 8 and img.max() == 255


def test_unreachable_stream_is_one_line_without_ffmpeg_chatter(tmp_path):
    code, _, err = _nightlab(
        "camera", "snap", "webcam:rtsp://127.0.0.1:9/none", "--out", str(tmp_path / "x.png")
    )
    line = _one_error_line(code, err, "rtsp://127.0.0.1:9/none", "cannot open")
    assert not line.startswith("[tcp @")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_process_huge_input_runs_at_the_working_resolution(tmp_path, monkeypatch, capsys):
    """The documented maximum (here lowered, so the test stays small) bounds the work size;
    metrics.json keeps speaking in the input files' pixels."""
    import engine.pipeline

    day = cv2.resize(skimage.data.astronaut(), (1200, 900), interpolation=cv2.INTER_CUBIC)
    m = cv2.getRotationMatrix2D((600, 450), 2.0, 1.0)
    m[:, 2] += (12, -8)
    night = cv2.cvtColor(cv2.warpAffine(day, m, (1200, 900), borderMode=cv2.BORDER_REFLECT), 7)
    d, n = write_image(tmp_path / "d.png", day), write_image(tmp_path / "n.png", night)
    real = engine.pipeline.to_working_resolution
    monkeypatch.setattr(
        engine.pipeline,
        "to_working_resolution",
        lambda img, **k: real(img, max_pixels=300_000),
    )
    out = tmp_path / "out"
    args = ["process", "--day", str(d), "--night", str(n), "--out", str(out), "--no-colorize"]
    assert cli_main(args) == 0, capsys.readouterr().err
    assert "processed at 632x474 (working maximum" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["night_size"] == [1200, 900]
    assert metrics["working_size"]["night"] == [632, 474]
    assert read_image(out / "leak_mask.png", mode="gray").shape == (474, 632)
    # the matrix maps the input files' pixels: the known warp, at full resolution
    matrix = np.asarray(metrics["alignment"]["matrix"])
    truth = np.vstack([m, [0, 0, 1]])
    corners = np.array([[0, 0, 1], [1199, 0, 1], [1199, 899, 1], [0, 899, 1]], float).T
    got, want = matrix @ corners, truth @ corners
    err = np.linalg.norm(got[:2] / got[2] - want[:2] / want[2], axis=0)
    assert err.max() < 3.0, err


def test_working_resolution_bounds_pixels_and_reports_the_scale():
    from engine.pipeline import MAX_WORKING_PIXELS, to_working_resolution

    img, scale = to_working_resolution(np.zeros((6000, 8000), np.uint8))
    assert img.size <= MAX_WORKING_PIXELS and scale[0] == pytest.approx(img.shape[1] / 8000)
    small = np.zeros((480, 640), np.uint8)
    assert to_working_resolution(small) == (small, (1.0, 1.0))
    with pytest.raises(ValueError, match="max_pixels"):
        to_working_resolution(small, max_pixels=0)


# --- the app's options ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "args, needle",
    [
        (["--smoke", "-1"], "--smoke must be a number of seconds > 0, got -1"),
        (["--smoke", "nan"], "--smoke must be a number of seconds > 0"),
        # a folder that cannot come to exist (README.md is a file): a run that wrongly went
        # ahead must not create it as root and make the next run pass
        (["--smoke", "2", "--screenshot", "README.md/s.png"], "folder README.md does not"),
        (["--smoke", "2", "--screenshot", "shot.gif"], "must be .png, .jpg or .bmp"),
        (["--screenshot", "s.png"], "--screenshot needs --smoke"),
        (["--smoke", "2", "--stats", "README.md/s.json"], "folder README.md does not exist"),
        (["--smoke", "2", "--stats", "tests"], "tests: is a folder"),
        (["--stats", "s.json"], "--stats needs --smoke"),
    ],
    ids=[
        "negative",
        "nan",
        "missing-folder",
        "format",
        "no-smoke",
        "stats-missing-folder",
        "stats-is-a-folder",
        "stats-no-smoke",
    ],  # fmt: skip
)
def test_app_options_are_refused_before_any_window(args, needle):
    code, _, err = _nightlab(*args, timeout=60)
    assert code == 2
    assert err == [err[0]] and needle in err[0], err


def test_smoke_screenshot_is_written_whole(tmp_path):
    shot = tmp_path / "s.png"
    code, _, err = _nightlab("--smoke", "3", "--screenshot", str(shot), timeout=120)
    assert code == 0, err
    assert shot.read_bytes().endswith(b"IEND\xaeB`\x82")
    assert [p.name for p in tmp_path.iterdir()] == ["s.png"]  # no temporary left


# --- model tools ---------------------------------------------------------------------------


@pytest.fixture
def model_copy(tmp_path, shipped_model) -> Path:
    from engine.models import card_path_for

    dst = tmp_path / "m.onnx"
    dst.write_bytes(shipped_model.read_bytes())
    card = json.loads(card_path_for(shipped_model).read_text())
    card["file"] = dst.name
    card_path_for(dst).write_text(json.dumps(card))
    return dst


def test_model_inspect_folder_says_folder(tmp_path, capsys):
    assert cli_main(["model", "inspect", str(tmp_path)]) == 2
    line = _one_error_line(2, capsys.readouterr().err.strip().splitlines(), str(tmp_path))
    assert "is a folder, not a model file" in line and "no suffix" not in line


def test_export_fp16_of_an_archive_names_the_problem_not_a_derived_name(tmp_path, capsys):
    arc = tmp_path / "a.tar.xz"
    arc.write_bytes(b"")
    assert cli_main(["model", "export-fp16", str(arc)]) == 2
    line = _one_error_line(2, capsys.readouterr().err.strip().splitlines(), "a.tar.xz")
    assert "needs an ONNX model" in line and "a.tar_fp16" not in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.xz"]


def test_export_fp16_verifies_the_source_against_its_card_first(model_copy, capsys):
    from engine.models import card_path_for

    card = json.loads(card_path_for(model_copy).read_text())
    card["sha256"] = "0" * 64
    card_path_for(model_copy).write_text(json.dumps(card))
    assert cli_main(["model", "export-fp16", str(model_copy)]) == 2
    _one_error_line(2, capsys.readouterr().err.strip().splitlines(), "m.onnx", "sha256 mismatch")
    assert sorted(p.name for p in model_copy.parent.iterdir()) == ["m.onnx", "m.onnx.card.json"]


def test_export_fp16_failing_late_leaves_nothing_behind(model_copy, capsys, monkeypatch):
    """The FP32/FP16 comparison fails (onnxruntime refuses): neither copy nor card remain,
    and an earlier export is kept as it was."""
    import engine.evaluation

    earlier = model_copy.with_name("m_fp16.onnx")
    assert cli_main(["model", "export-fp16", str(model_copy)]) == 0
    kept = {p.name: p.read_bytes() for p in model_copy.parent.iterdir()}
    assert earlier.name in kept and "m_fp16.onnx.card.json" in kept
    capsys.readouterr()

    def refuse(*a, **k):
        raise RuntimeError("[ONNXRuntimeError] : 10 : INVALID_GRAPH : simulated")

    monkeypatch.setattr(engine.evaluation, "output_max_abs_diff", refuse)
    assert cli_main(["model", "export-fp16", str(model_copy)]) == 2
    _one_error_line(2, capsys.readouterr().err.strip().splitlines(), "ONNXRuntimeError")
    assert {p.name: p.read_bytes() for p in model_copy.parent.iterdir()} == kept


def test_export_fp16_beyond_tolerance_writes_nothing(model_copy, capsys, monkeypatch):
    import engine.evaluation

    monkeypatch.setattr(engine.evaluation, "output_max_abs_diff", lambda *a, **k: 0.5)
    assert cli_main(["model", "export-fp16", str(model_copy)]) == 2
    _one_error_line(2, capsys.readouterr().err.strip().splitlines(), "fp16_tolerance")
    assert sorted(p.name for p in model_copy.parent.iterdir()) == ["m.onnx", "m.onnx.card.json"]


# --- bench / eval outputs --------------------------------------------------------------------


def test_eval_csv_into_a_folder_is_refused_before_the_run(tmp_path, capsys, monkeypatch):
    import engine.evaluation

    monkeypatch.setattr(engine.evaluation, "evaluate", lambda *a, **k: pytest.fail("ran"))
    argv = ["eval", "--pairs", str(tmp_path), "--no-default", "--csv", str(tmp_path)]
    assert cli_main(argv) == 2
    _one_error_line(2, capsys.readouterr().err.strip().splitlines(), "--csv", "is a folder")


def test_eval_skips_and_counts_a_corrupt_pair(tmp_path, capsys):
    folder = tmp_path / "pairs"
    for i, photo in enumerate([skimage.data.astronaut(), skimage.data.coffee()]):
        small = cv2.resize(photo, (96, 72), interpolation=cv2.INTER_AREA)
        write_image(folder / f"{i:04d}_rgb.png", small)
        write_image(folder / f"{i:04d}_nir.png", cv2.cvtColor(small, cv2.COLOR_RGB2GRAY))
    broken = folder / "0001_nir.png"
    broken.write_bytes(broken.read_bytes()[:100])  # truncated
    csv_out = tmp_path / "e.csv"
    argv = ["eval", "--pairs", str(folder), "--no-default", "--mask", "oracle"]
    code = cli_main([*argv, "--csv", str(csv_out)])
    out, err = capsys.readouterr()
    assert code == 1  # finished, but not every pair counted
    assert "pairs: 1 used, 0 excluded as seen in training, 1 skipped (unreadable)" in out
    assert any(
        line.startswith("skipped pairs/0001") and "0001_nir.png" in line
        for line in err.splitlines()
    ), err
    assert "1 pair(s) skipped" in err.strip().splitlines()[-1]
    rows = csv_out.read_text().splitlines()
    assert rows[0].startswith("pair,") and not any("pairs/0001" in r for r in rows)


# --- engine: precise ValueErrors ---------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf, 1e308], ids=str)
def test_ssim_map_refuses_non_finite_or_overflowing_values(bad):
    from engine.leakmask import ssim_map

    a = np.random.default_rng(0).random((32, 32))
    b = a.copy()
    b[5, 5] = bad
    with pytest.raises(ValueError, match="^b "):
        ssim_map(a, b, data_range=1.0)
    with pytest.raises(ValueError, match="^a "):
        ssim_map(b, a, data_range=1.0)


def test_ssim_map_refuses_an_overflowing_data_range():
    from engine.leakmask import ssim_map

    a = np.random.default_rng(0).random((32, 32))
    with pytest.raises(ValueError, match="data_range"):
        ssim_map(a, a, data_range=1e308)


@pytest.mark.parametrize(
    "matrix, needle",
    [
        (np.full((3, 3), np.nan), "finite"),
        (np.diag([1e308, 1e308, 1.0]), r"entries up to 1e\+308"),
        (np.array([[1, 0, 1e6], [0, 1, 0], [0, 0, 1.0]]), "overlap"),
        (np.diag([-1.0, 1.0, 1.0]), "folded or mirrored"),
        (np.array([[1, 0, 0], [0, 1, 0], [0.1, 0, 1.0]]), "perspective"),
        (np.diag([50.0, 50.0, 1.0]), "scale"),
    ],
    ids=["nan", "huge", "far-away", "mirrored", "horizon", "scale-50"],
)
def test_align_refuses_a_non_finite_or_absurd_initial(matrix, needle):
    from alignment import align

    day = np.ascontiguousarray(skimage.data.astronaut()[::4, ::4])
    night = cv2.cvtColor(day, cv2.COLOR_RGB2GRAY)
    with pytest.raises(ValueError, match=needle):
        align(day, night, initial=matrix)


# --- camera --------------------------------------------------------------------------------


def test_camera_snap_iso_really_is_the_iso(tmp_path, capsys):
    out = tmp_path / "n.png"
    argv = ["camera", "snap", "sim:night", "--out", str(out), "--set", "iso=800"]
    assert cli_main(argv) == 0
    meta = json.loads(out.with_suffix(".json").read_text())
    assert meta["iso"] == 800


def test_a_manual_value_switches_its_auto_mode_off_on_every_backend():
    from engine.camera import MANUAL_OVERRIDES, Camera, ReplayCamera, SimulatedCamera, WebcamCamera
    from engine.camera._oak import OakCamera

    # every backend takes a control through Camera.set_control, where the override lives
    # (the OAK's manual values carry manual mode: tests/test_camera_oak.py checks its side)
    for backend in (SimulatedCamera, WebcamCamera, ReplayCamera, OakCamera):
        assert backend.set_control is Camera.set_control, backend.__name__
    applied = []

    class Driver(SimulatedCamera):  # what reaches the driver, in order
        def _apply_control(self, name, value):
            applied.append(name)
            super()._apply_control(name, value)

    cam = Driver(seed=0)
    for manual, auto in MANUAL_OVERRIDES.items():
        cam.set_control(auto, True)
        value = cam.capabilities()[manual].maximum
        applied.clear()
        cam.set_control(manual, value)
        assert cam.get_control(auto) is False, manual
        assert cam.get_control(manual) == value
        assert applied == [auto, manual]  # auto off first: drivers ignore manual values in auto


def test_output_into_a_closed_pipe_ends_quietly(tmp_path):
    # `nightlab sessions list | head -1`: the reader leaves early; no "error: Broken pipe" line
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first line is written
    proc = subprocess.run(
        [sys.executable, "-m", "main", "camera", "list"],
        cwd=REPO,
        stdout=write_end,
        stderr=subprocess.PIPE,
        text=True,
        timeout=180,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    os.close(write_end)
    assert proc.stderr == ""
    assert proc.returncode == 128 + 13  # as a program the shell's SIGPIPE ended


@pytest.mark.parametrize(
    "night",
    [np.zeros((48, 64, 3), np.int16), np.zeros((48, 64), np.float64), "night.png"],
    ids=["int16-rgb", "float64-gray", "a-path"],
)
@pytest.mark.parametrize("fused", [False, True], ids=["pair", "fused"])
def test_pipeline_refuses_a_night_frame_that_is_not_a_uint8_image(night, fused):
    from engine.pipeline import process_fused, process_pair

    day = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(ValueError, match="night must be uint8"):
        process_fused([day], night) if fused else process_pair(day, night)


def test_burst_frames_must_be_gray_or_rgb():
    from engine.burst import average_frames, median_frames

    two_channel = np.zeros((8, 8, 2), np.uint8)
    for combine in (average_frames, median_frames):
        with pytest.raises(ValueError, match=r"\(H, W\) or \(H, W, 3\)"):
            combine([two_channel, two_channel])


@pytest.mark.parametrize("shift", [(float("nan"), 0.0), (0.0, float("inf"))], ids=["nan", "inf"])
def test_nudge_refuses_a_shift_that_is_not_finite(shift):
    from engine.inspect_views import nudge

    with pytest.raises(ValueError, match="finite"):
        nudge(np.eye(3), *shift)


@pytest.mark.parametrize(
    "argv",
    [
        ["qa", "1", "pass"],
        ["sessions", "delete", "roof", "--yes"],
        ["reprocess", "--session", "roof", "--serial"],
    ],
    ids=["qa", "sessions-delete", "reprocess"],
)
def test_a_data_dir_typo_is_one_line_and_creates_no_record_there(tmp_path, capsys, argv):
    # Before: these commands opened the typo'd folder for writing, so it was created with an
    # empty database in it, and the user read "no pair 1" / "no session 'roof'" about it
    typo = tmp_path / "nigthlab-data"
    assert cli_main([*argv, "--data-dir", str(typo)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    command = argv[0]
    assert err == [
        f"nightlab {command}: error: {typo}: no NightLab record here "
        "(check --data-dir or $NIGHTLAB_DATA_DIR)"
    ]
    assert not typo.exists()


# --- eval ---------------------------------------------------------------------------------


def test_eval_csv_onto_the_default_model_it_evaluates_is_refused(
    pair, tmp_path, monkeypatch, capsys
):
    """`eval --csv` refused a pair's image or a --model given as the table, but not the
    default model it evaluates too: the table replaced the installed model."""
    import shutil

    import engine.models
    from engine.models import card_path_for

    day, night = pair
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    shutil.copy(day, pairs / "0000_rgb.png")
    shutil.copy(night, pairs / "0000_nir.png")
    real = engine.models.default_model_path()
    if not real.is_file():
        pytest.skip(f"{real}: the default model is not installed")
    model = copy_model(real, tmp_path / "models")
    monkeypatch.setattr(engine.models, "default_model_path", lambda: model)
    before = model.read_bytes()
    for target in (model, card_path_for(model)):
        code = cli_main(["eval", "--pairs", str(pairs), "--limit", "1", "--csv", str(target)])
        err = capsys.readouterr().err.strip().splitlines()
        _one_error_line(code, err, target.name, "is an input")
    assert model.read_bytes() == before


def test_a_jpeg_header_past_opencvs_pixel_limit_is_one_readable_line(tmp_path):
    """A PNG names its size (``image is 60000x60000 pixels, ...``); a JPEG's refusal read
    "image header declares, more than can be read": a sentence without its object."""
    import struct

    from engine._image import ImageError

    ok, buf = cv2.imencode(".jpg", np.zeros((8, 8, 3), np.uint8))
    data = bytearray(buf.tobytes())
    sof = data.find(b"\xff\xc0")  # baseline frame header: length, precision, height, width
    data[sof + 5 : sof + 9] = struct.pack(">HH", 65000, 65000)
    path = tmp_path / "huge.jpg"
    path.write_bytes(bytes(data))
    with pytest.raises(ImageError) as err:
        read_image(path)
    assert str(err.value) == (
        f"{path}: image header declares more pixels than can be read "
        "(at most 2^30 pixels, 2^20 a side)"
    )
