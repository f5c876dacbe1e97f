"""Capturing a day reference from a camera that has no day mode (a replay) says what to do."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")


def test_capture_reference_on_a_gray_replay_points_to_load_file(qtbot, tmp_path):
    # Before: "switch the camera to day mode" -- a replay has no mode to switch
    import numpy as np

    from engine._image import write_image
    from engine.app_state import AppState
    from engine.camera import open_camera
    from gui.capture.reference import ReferencePanel
    from gui.jobs import JobRunner

    folder = tmp_path / "frames"
    folder.mkdir()
    write_image(folder / "0001.png", np.full((48, 64), 90, np.uint8))
    cam = open_camera(f"replay:{folder}")
    assert "mode" not in cam.capabilities()
    cam.start()
    jobs = JobRunner(workers=1)
    panel = ReferencePanel(AppState(camera=cam, camera_spec="replay"), jobs)
    qtbot.addWidget(panel)
    messages = []
    panel.message.connect(messages.append)
    try:
        qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=10_000)
        assert panel.capture_frame() is False
        assert "no day mode" in messages[-1] and "Load file" in messages[-1]
    finally:
        cam.close()
        jobs.shutdown()
        jobs.wait()
