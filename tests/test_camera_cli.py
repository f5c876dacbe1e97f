"""Webcam backend (through a video file), camera specs and discovery, and the CLI:
``nightlab camera list``, ``nightlab camera snap``, ``nightlab doctor``."""

from __future__ import annotations

import json
import sys
import time

import cv2
import numpy as np
import pytest

import cli
from engine._image import read_image
from engine.camera import (
    CameraError,
    ReplayCamera,
    SimulatedCamera,
    WebcamCamera,
    list_cameras,
    make_camera,
    open_camera,
)
from engine.camera._webcam import _QUERYCTRL, parse_queryctrl
from tests.conftest import record_connection


@pytest.fixture
def clip(tmp_path):
    """A colour video standing in for a stream: frame i is a gradient plus a red bar at i."""
    path = tmp_path / "stream.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 100.0, (64, 48))
    for i in range(5):
        bgr = np.zeros((48, 64, 3), np.uint8)
        bgr[:, :, 0] = 40  # blue in BGR
        bgr[:, 10 * i : 10 * i + 8, 2] = 230  # a red bar that moves
        writer.write(bgr)
    writer.release()
    return path


# -- webcam ---------------------------------------------------------------------------------
def test_webcam_on_a_video_file_delivers_rgb_frames_and_lists_controls(clip):
    cam = WebcamCamera(str(clip))
    with cam:
        frame = cam.snap()
        caps = cam.capabilities()
        info = cam.info
    assert frame.image.shape == (48, 64, 3) and frame.meta.device_id == str(clip)
    red, blue = frame.image[:, 2, 0].mean(), frame.image[:, 2, 2].mean()
    assert red > 150 and blue < 80, "converted BGR -> RGB exactly once"
    assert info.resolution == (64, 48) and info.fps == pytest.approx(100.0)
    assert info.details["kind"] == "file"
    assert {"exposure", "gain", "auto_exposure", "white_balance_k", "focus"} <= set(caps)
    assert not caps["exposure"].supported and "not exposed" in caps["exposure"].reason
    with pytest.raises(ValueError, match="unsupported on this device"):
        cam.set_control("exposure", 100)


def test_webcam_end_of_stream_is_a_disconnect_and_it_reconnects(clip):
    cam = WebcamCamera(str(clip))
    cam.reconnect_interval = 0.02
    events, frames = record_connection(cam)
    cam.start()
    deadline = time.monotonic() + 5.0
    while len(frames) < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    cam.close()
    assert [e[0] for e in events[:2]] == ["disconnected", "reconnected"]
    assert "stream lost" in events[0][1]
    assert len(frames) >= 8, "frames resume after the reconnect"
    seqs = [f.meta.sequence for f, _ in frames]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    for frame, copy in frames:
        np.testing.assert_array_equal(frame.image, copy)


def test_webcam_missing_device_or_file_is_a_one_line_error(tmp_path):
    with pytest.raises(CameraError, match=r"^webcam 57: no such device or it is busy$"):
        WebcamCamera(57).open()
    with pytest.raises(CameraError, match="cannot open"):
        WebcamCamera(str(tmp_path / "missing.avi")).open()
    with pytest.raises(ValueError, match="device index, URL or file"):
        WebcamCamera("")


def test_v4l2_queryctrl_decoding():
    raw = _QUERYCTRL.pack(0x009A0902, 1, b"Exposure, Absolute\0junk", 3, 2047, 1, 250, 0, 0, 0)
    ctrl = parse_queryctrl(raw)
    assert ctrl == {"id": 0x009A0902, "type": 1, "name": "Exposure, Absolute", "minimum": 3,
                    "maximum": 2047, "step": 1, "default": 250}  # fmt: skip
    disabled = _QUERYCTRL.pack(0x00980913, 1, b"Gain", 0, 255, 1, 0, 0x0001, 0, 0)
    assert parse_queryctrl(disabled) is None
    assert _QUERYCTRL.size == 68  # sizeof(struct v4l2_queryctrl)


# -- specs and discovery --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "cls", "attr", "value"),
    [
        ("sim", SimulatedCamera, "settings.mode", "day"),
        ("sim:night", SimulatedCamera, "settings.mode", "night"),
        ("webcam", WebcamCamera, "source", 0),
        ("webcam:2", WebcamCamera, "source", 2),
        ("webcam:rtsp://10.0.0.5:554/live", WebcamCamera, "source", "rtsp://10.0.0.5:554/live"),
        ("replay:/data/session 1", ReplayCamera, "source.name", "session 1"),
    ],
)
def test_make_camera_parses_specs(spec, cls, attr, value):
    cam = make_camera(spec)
    assert isinstance(cam, cls)
    obj = cam
    for part in attr.split("."):
        obj = getattr(obj, part)
    assert obj == value


def test_make_camera_oak_spec_uses_the_oak_backend():
    from engine.camera import _oak as oak  # depthai is a core dependency: always importable

    first, named = make_camera("oak"), make_camera("oak:14442C10D13EABCE00")
    assert isinstance(first, oak.OakCamera) and isinstance(named, oak.OakCamera)
    # the serial after the colon picks that device; without one, the first found
    assert named.info.device_id == "14442C10D13EABCE00"
    assert first.info.device_id == "(first found)"


@pytest.mark.parametrize(
    ("spec", "message"),
    [("", "camera spec must be one of"), ("kinect", "unknown camera 'kinect'"),
     ("replay:", "replay needs a path")],
)  # fmt: skip
def test_bad_specs_are_value_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        make_camera(spec)


def test_open_camera_opens_and_passes_options(clip):
    cam = open_camera("sim:night", resolution=(80, 60), seed=3)
    assert cam.is_open and cam.snap().image.shape == (60, 80)
    cam.close()
    cam = open_camera(f"replay:{clip}", fps=5.0)
    assert cam.info.fps == 5.0
    cam.close()


def test_list_cameras_reports_every_backend_and_never_raises(monkeypatch):
    # without the OAK backend / depthai the listing says so instead of failing
    monkeypatch.setitem(sys.modules, "engine.camera._oak", None)
    listings = list_cameras()
    by_backend = {c.backend: c for c in listings}
    assert set(by_backend) == {"sim", "oak", "webcam", "replay"}
    sim = by_backend["sim"]
    assert sim.available and sim.spec == "sim" and sim.info.resolution == (640, 480)
    assert sim.controls["iso"].minimum == 100 and sim.controls["iso"].maximum == 3200
    oak = by_backend["oak"]
    assert not oak.available and "backend not available" in oak.reason
    json.dumps([c.to_dict() for c in listings], default=str)
    with pytest.raises(ValueError, match="unknown backend"):
        list_cameras(backends=("sim", "gopro"))


# -- CLI ------------------------------------------------------------------------------------
def test_cli_camera_list_prints_backends_and_control_ranges(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "engine.camera._oak", None)  # no device search: fast
    assert cli.main(["camera", "list"]) == 0
    out = capsys.readouterr().out
    for text in ("BACKEND", "sim", "oak", "webcam", "replay:PATH", "not available"):
        assert text in out
    assert "exposure_us" in out and "[10, 100000] us" in out and "day | night" in out
    assert cli.main(["camera", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    sim = next(d for d in data if d["backend"] == "sim")
    iso = next(c for c in sim["controls"] if c["name"] == "iso")
    assert (iso["minimum"], iso["maximum"]) == (100, 3200)


def test_cli_camera_snap_writes_image_and_metadata(tmp_path, capsys):
    out = tmp_path / "snaps" / "night.png"
    args = ["camera", "snap", "sim:night", "--out", str(out), "--set", "iso=800"]
    assert cli.main([*args, "--set", "auto_exposure=off"]) == 0
    assert "wrote" in capsys.readouterr().out
    img = read_image(out, mode="any")
    meta = json.loads(out.with_suffix(".json").read_text())
    assert img.shape == (480, 640) and meta["iso"] == 800 and meta["mode"] == "night"
    # the snapshot folder replays with its metadata
    (frame,) = ReplayCamera(out.parent).frames()
    assert frame.meta.iso == 800 and frame.meta.extra["warp"] == meta["extra"]["warp"]


def test_cli_camera_snap_leaves_no_image_when_its_metadata_cannot_be_written(tmp_path, capsys):
    # Before: the image was written, then the sidecar failed: an image without its metadata
    out = tmp_path / "night.png"
    (tmp_path / "night.json").mkdir()  # a folder where the sidecar goes
    assert cli.main(["camera", "snap", "sim:night", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(tmp_path / "night.json") in err[0], err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night.json"]  # no image, no temporaries


def test_cli_camera_snap_removes_the_placed_image_when_the_sidecar_rename_fails(
    tmp_path, capsys, monkeypatch
):
    import errno
    import os

    out = tmp_path / "night.png"
    replace = os.replace

    def refuse_the_sidecar(src, dst):  # the disk refuses the last step, after the image landed
        if os.fspath(dst) == str(out.with_suffix(".json")):
            raise OSError(errno.EIO, "Input/output error")
        return replace(src, dst)

    monkeypatch.setattr(os, "replace", refuse_the_sidecar)
    assert cli.main(["camera", "snap", "sim:night", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"cannot write {out.with_suffix('.json')}" in err[0], err
    assert list(tmp_path.iterdir()) == []  # neither file, no staging folder


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["sim", "--set", "iso=5"], "iso: 5 out of range"),
        (["sim", "--set", "iso"], "--set expects NAME=VALUE"),
        (["replay:/no/such/dir"], "no such file or folder"),
        (["kinect"], "unknown camera"),
    ],
)
def test_cli_camera_snap_errors_are_one_line(tmp_path, capsys, argv, message):
    code = cli.main(["camera", "snap", *argv, "--out", str(tmp_path / "x.png")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [("x.txt", "x.txt: cannot encode image as .txt"), ("x.json", "give an image file")],
)
def test_cli_camera_snap_names_the_file_asked_for_not_a_temporary(tmp_path, capsys, name, message):
    # Before the staged writes named the hidden staging folder's file; a .json image would
    # have been overwritten by its own sidecar
    assert cli.main(["camera", "snap", "sim", "--out", str(tmp_path / name)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and message in err[0] and str(tmp_path / name) in err[0], err
    assert ".partial" not in err[0] and list(tmp_path.iterdir()) == []


def test_cli_doctor_reports_each_check(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setitem(sys.modules, "engine.camera._oak", None)
    code = cli.main(["doctor"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert all(line.split()[0] in ("OK", "WARN", "FAIL") for line in lines)
    text = "\n".join(lines)
    for what in ("python", "numpy", "opencv", "onnxruntime", "depthai", "PySide6",
                 "scikit-image", "camera sim", "default model", "data directory"):  # fmt: skip
        assert what in text, what
    # everything this test needs is installed and the data directory is writable: no FAIL
    assert [line for line in lines if line.startswith("FAIL")] == [] and code == 0
    assert f"OK    data directory {tmp_path / 'data' / 'NightLab'}: writable" in text
    assert (tmp_path / "data" / "NightLab").is_dir()


def test_cli_doctor_fails_when_the_data_directory_is_not_writable(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data directory should go")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    monkeypatch.setitem(sys.modules, "engine.camera._oak", None)
    assert cli.main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert f"FAIL  data directory {blocker / 'NightLab'}: not writable" in out
