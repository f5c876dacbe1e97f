"""ReplayCamera: sessions, image folders and videos play back exactly, loop, and end cleanly."""

from __future__ import annotations

import json
import time

import cv2
import numpy as np
import pytest

from engine._image import write_image
from engine.camera import CameraError, ReplayCamera, SimulatedCamera, StreamEnded


def wait_until(predicate, timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.005)
    return predicate()


@pytest.fixture
def session(tmp_path):
    """A saved session as the experiment log writes it: 4 captures, products beside them."""
    root = tmp_path / "session"
    cap = root / "captures"
    sim = SimulatedCamera(resolution=(64, 48), seed=9)
    frames = []
    for i in range(4):
        sim.set_control("mode", "night" if i % 2 else "day")
        f = sim.render_frame(i * 10)
        frames.append(f)
        write_image(cap / f"{i:04d}_{f.meta.mode}.png", f.image)
        (cap / f"{i:04d}.json").write_text(json.dumps(f.meta.to_dict()))
        write_image(cap / f"{i:04d}_colorized.png", np.zeros((48, 64, 3), np.uint8))
    (root / "session.json").write_text(json.dumps({"fps": 50.0, "device_id": "sim-9"}))
    return root, frames


def test_session_replays_frames_in_order_with_their_metadata(session):
    root, recorded = session
    cam = ReplayCamera(root)
    replayed = list(cam.frames())
    assert len(cam) == 4 and len(replayed) == 4, "products like _colorized are not frames"
    assert cam.info.fps == 50.0 and cam.info.details["kind"] == "session"
    for i, (got, want) in enumerate(zip(replayed, recorded, strict=True)):
        np.testing.assert_array_equal(got.image, want.image)
        assert got.meta.sequence == i and got.meta.extra["index"] == i
        assert got.meta.extra["source"] == f"{i:04d}_{want.meta.mode}.png"
        for field in ("timestamp", "exposure_us", "iso", "white_balance_k", "mode", "device_id"):
            assert getattr(got.meta, field) == getattr(want.meta, field), field
        assert got.meta.extra["warp"] == want.meta.extra["warp"], "ground truth survives"
        assert got.meta.extra["recorded_sequence"] == want.meta.sequence
    # the replayed ground truth still answers questions
    m = SimulatedCamera.true_warp(replayed[0], replayed[2])
    np.testing.assert_allclose(m, SimulatedCamera.true_warp(recorded[0], recorded[2]))


def test_two_replays_are_identical(session):
    root, _ = session
    a = [f.image for f in ReplayCamera(root).frames()]
    b = [f.image for f in ReplayCamera(root).frames()]
    assert len(a) == 4 and all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_stream_ends_cleanly_without_loop_and_restarts_from_the_top(session):
    root, _ = session
    cam = ReplayCamera(root, fps=200.0)
    events, seen = [], []
    cam.events.streaming_changed.connect(lambda on: events.append(("streaming", on)))
    cam.events.disconnected.connect(lambda m: events.append(("disconnected", m)))
    cam.events.error.connect(lambda m: events.append(("error", m)))
    cam.events.frame_ready.connect(lambda f: seen.append(f.meta.extra["index"]))
    cam.start()
    assert wait_until(lambda: not cam.is_streaming), "the stream stops by itself"
    assert seen == [0, 1, 2, 3]
    assert events == [("streaming", True), ("streaming", False)], "no disconnect storm"
    cam.stop()  # stopping an ended stream announces nothing twice
    assert events[-1] == ("streaming", False) and len(events) == 2
    cam.start()
    assert wait_until(lambda: not cam.is_streaming)
    assert seen == [0, 1, 2, 3, 0, 1, 2, 3]
    cam.close()


def test_loop_wraps_around_with_increasing_sequences(session):
    root, _ = session
    cam = ReplayCamera(root, fps=240.0, loop=True)
    got = []
    cam.events.frame_ready.connect(lambda f: got.append(f.meta))
    cam.start()
    assert wait_until(lambda: len(got) >= 9)
    cam.close()
    assert [m.extra["index"] for m in got[:9]] == [0, 1, 2, 3, 0, 1, 2, 3, 0]
    assert [m.extra["loop"] for m in got[:9]] == [0, 0, 0, 0, 1, 1, 1, 1, 2]
    assert [m.sequence for m in got[:9]] == list(range(9))


def test_loop_control_turns_an_endless_replay_into_a_finite_one(session):
    root, _ = session
    cam = ReplayCamera(root, loop=True)
    cam.open()
    cam.set_control("loop", False)
    assert [cam._grab(1.0).meta.extra["index"] for _ in range(4)] == [0, 1, 2, 3]
    with pytest.raises(StreamEnded, match="end of session"):
        cam._grab(1.0)
    cam.close()


def test_image_folder_plays_in_natural_order_gray_stays_gray(tmp_path):
    for n in (10, 2, 1):
        write_image(tmp_path / f"f{n}.png", np.full((8, 8), n, np.uint8))
    write_image(tmp_path / "f3.jpg", np.full((8, 8, 3), 3, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    frames = list(ReplayCamera(tmp_path).frames())
    assert [f.meta.extra["source"] for f in frames] == ["f1.png", "f2.png", "f3.jpg", "f10.png"]
    assert [f.image.ndim for f in frames] == [2, 2, 3, 2]
    assert frames[0].meta.device_id == f"replay:{tmp_path.name}" and frames[0].meta.mode is None


def test_corrupt_file_is_reported_once_and_skipped(tmp_path):
    write_image(tmp_path / "0.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "1.png").write_bytes(b"not a png")
    write_image(tmp_path / "2.png", np.full((8, 8), 2, np.uint8))
    cam = ReplayCamera(tmp_path, fps=200.0)
    errors, seen = [], []
    cam.events.error.connect(errors.append)
    cam.events.frame_ready.connect(lambda f: seen.append(f.meta.extra["index"]))
    cam.start()
    assert wait_until(lambda: not cam.is_streaming)
    assert seen == [0, 2] and len(errors) == 1 and "1.png" in errors[0]


def test_tolerant_metadata(tmp_path):
    cap = tmp_path / "captures"
    write_image(cap / "0000_night.png", np.zeros((8, 8), np.uint8))
    (cap / "0000.json").write_text('{"iso": "high", "exposure_us": 5000, "note": "moon"}')
    write_image(cap / "0001.png", np.zeros((8, 8), np.uint8))
    (cap / "0001.json").write_text("{broken")
    a, b = ReplayCamera(tmp_path).frames()
    assert a.meta.mode == "night" and a.meta.exposure_us == 5000 and a.meta.iso is None
    assert a.meta.extra["iso"] == "high" and a.meta.extra["note"] == "moon"
    assert b.meta.mode is None and b.meta.exposure_us is None


@pytest.fixture
def video(tmp_path):
    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 25.0, (64, 48))
    assert writer.isOpened(), "MJPG/AVI writing works in opencv-python-headless"
    for i in range(6):
        writer.write(np.full((48, 64, 3), 20 + 40 * i, np.uint8))
    writer.release()
    return path


def test_video_replays_in_order_at_its_rate(video):
    cam = ReplayCamera(video)
    frames = list(cam.frames())
    assert cam.info.fps == pytest.approx(25.0) and len(cam) == 6
    assert [f.meta.extra["index"] for f in frames] == list(range(6))
    means = [f.image.mean() for f in frames]
    np.testing.assert_allclose(means, [20 + 40 * i for i in range(6)], atol=3)
    assert all(f.is_gray for f in frames), "gray content is delivered gray"
    cam.set_control("fps", 240.0)
    cam.start()
    assert wait_until(lambda: not cam.is_streaming)
    assert cam.frames_delivered == 6
    cam.close()


def test_missing_and_empty_sources_fail_with_one_line(tmp_path):
    with pytest.raises(CameraError, match="no such file or folder"):
        ReplayCamera(tmp_path / "nope").open()
    with pytest.raises(CameraError, match="no images"):
        ReplayCamera(tmp_path).open()
    bad = tmp_path / "clip.mp4"
    bad.write_bytes(b"garbage")
    with pytest.raises(CameraError, match="not a video"):
        ReplayCamera(bad).open()
    with pytest.raises(ValueError, match="out of range"):
        ReplayCamera(tmp_path, fps=0)
