"""Status-bar messages (pytest-qt, offscreen): progress passes, a failure stays.

Before: every message, a failed job's too ("cannot write ...: disk full"), left the status
bar after 8 s; an operator back at the window after a minute never saw that anything went
wrong."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

TIMEOUT = 30_000  # ms

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _fail() -> None:
    raise OSError("cannot write /data/night.png: disk full")


def test_a_failed_job_stays_in_the_status_bar_while_progress_messages_pass(open_window, qtbot):
    window = open_window(resolution=(160, 120))
    window.MESSAGE_MS = 200  # the progress messages' 8 s, shortened for the test
    bar = window.statusBar()
    window.show_message("Session 'roof' open")
    assert bar.currentMessage() == "Session 'roof' open"
    qtbot.waitUntil(lambda: bar.currentMessage() == "", timeout=TIMEOUT)  # it passed

    window.jobs.submit(_fail, label="save")  # a real job, failing on the pool
    qtbot.waitUntil(lambda: "disk full" in bar.currentMessage(), timeout=TIMEOUT)
    qtbot.wait(1000)  # five times the progress messages' time
    assert "cannot write /data/night.png: disk full" in bar.currentMessage()
    # the next message replaces it, and passes in its turn
    window.show_message("Pair #3: pass")
    assert bar.currentMessage() == "Pair #3: pass"
    qtbot.waitUntil(lambda: bar.currentMessage() == "", timeout=TIMEOUT)


def test_a_camera_error_stays_in_the_status_bar(open_window, qtbot):
    window = open_window(resolution=(160, 120))
    window.MESSAGE_MS = 200
    window.state.camera.events.error.emit("frame grab failed: USB reset")
    bar = window.statusBar()
    qtbot.waitUntil(lambda: "USB reset" in bar.currentMessage(), timeout=TIMEOUT)
    qtbot.wait(1000)
    assert "frame grab failed: USB reset" in bar.currentMessage()
