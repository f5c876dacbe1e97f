"""Day reference messages a new user meets: no day mode on a replay, a gray file loaded."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from engine._image import write_image  # noqa: E402
from engine.app_state import AppState  # noqa: E402


@pytest.fixture
def jobs():
    from gui.jobs import JobRunner

    runner = JobRunner(workers=1)
    yield runner
    runner.shutdown()
    runner.wait()


def _panel(qtbot, state: AppState, jobs):
    """The day reference panel on ``state``, and the list of the messages it shows."""
    from gui.capture.reference import ReferencePanel

    panel = ReferencePanel(state, jobs)
    qtbot.addWidget(panel)
    messages: list[str] = []
    panel.message.connect(messages.append)
    return panel, messages


def test_capture_reference_on_a_gray_replay_points_to_load_file(qtbot, tmp_path, jobs):
    # Before: "switch the camera to day mode" -- a replay has no mode to switch
    from engine.camera import open_camera

    folder = tmp_path / "frames"
    folder.mkdir()
    write_image(folder / "0001.png", np.full((48, 64), 90, np.uint8))
    cam = open_camera(f"replay:{folder}")
    assert "mode" not in cam.capabilities()
    cam.start()
    try:
        panel, messages = _panel(qtbot, AppState(camera=cam, camera_spec="replay"), jobs)
        qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=10_000)
        assert panel.capture_frame() is False
        assert "no day mode" in messages[-1] and "Load file" in messages[-1]
    finally:
        cam.close()


def test_loading_a_gray_day_reference_file_says_it_has_no_colour(qtbot, tmp_path, jobs):
    # Before: "Day reference loaded from ..." and a gray colorization, not a word why
    gray = write_image(tmp_path / "night-by-mistake.png", np.full((48, 64), 90, np.uint8))
    colour = write_image(
        tmp_path / "day.png", np.dstack([np.full((48, 64), v, np.uint8) for v in (200, 90, 40)])
    )
    state = AppState()
    panel, messages = _panel(qtbot, state, jobs)
    panel.load_file(gray)
    qtbot.waitUntil(lambda: bool(messages), timeout=10_000)
    assert "no colour" in messages[-1] and str(gray) in messages[-1]
    assert state.reference is not None  # still loaded: alignment alone works
    panel.load_file(colour)
    qtbot.waitUntil(lambda: len(messages) == 2, timeout=10_000)
    assert messages[-1] == f"Day reference loaded from {colour}"


def test_loading_a_day_reference_that_cannot_be_aligned_is_refused_with_one_line(
    qtbot, tmp_path, jobs
):
    # Before: the strip became the reference and every live frame failed on it instead
    strip = write_image(tmp_path / "strip.png", np.full((40, 2000, 3), (200, 90, 40), np.uint8))
    state = AppState()
    panel, _ = _panel(qtbot, state, jobs)
    errors = []
    jobs.message.connect(errors.append)
    panel.load_file(strip)
    qtbot.waitUntil(lambda: bool(errors), timeout=10_000)
    assert len(errors) == 1 and "strip.png" in errors[0] and "more elongated than 24:1" in errors[0]
    assert state.reference is None
