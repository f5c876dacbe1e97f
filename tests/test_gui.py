"""The main window on the simulated camera: frames flow, controls round-trip, live processing
produces results off the GUI thread, and a disconnect is shown without losing anything."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QApplication, QDoubleSpinBox, QSpinBox  # noqa: E402

from engine.camera import SimulatedCamera  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    before = set(QApplication.topLevelWidgets())
    yield
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    assert not leaked, f"top-level widgets left open: {leaked}"


@pytest.fixture
def window(qtbot):
    cam = SimulatedCamera(resolution=(320, 240), fps=60.0, seed=3)
    cam.start()
    win = MainWindow(cam)
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()


def test_live_view_pulls_frames(window, qtbot):
    qtbot.waitUntil(window.live_view.has_image, timeout=5000)
    seq = window._last_seq
    qtbot.waitUntil(lambda: window._last_seq > seq, timeout=5000)
    assert window.live_view.has_image() and window._last_seq > seq


def test_capture_reference_refuses_night_frames(window, qtbot):
    window.camera.set_control("mode", "night")
    qtbot.waitUntil(
        lambda: (f := window.camera.latest_frame()) is not None and f.is_gray, timeout=5000
    )
    assert window.capture_reference() is False
    assert "day mode" in window.statusBar().currentMessage()
    assert not window.processor.has_reference()


def test_controls_write_to_camera_and_follow_it(window, qtbot):
    editor = window.controls.editor("exposure_us")
    assert isinstance(editor, QSpinBox)
    editor.setValue(20000)
    assert window.camera.get_control("exposure_us") == 20000
    window.camera.set_control("exposure_us", 5000)
    qtbot.waitUntil(lambda: editor.value() == 5000, timeout=2000)
    drift = window.controls.editor("drift_px")
    assert isinstance(drift, QDoubleSpinBox)
    assert drift.maximum() == window.camera.capabilities()["drift_px"].maximum


def test_live_colorize_runs_off_thread(window, qtbot):
    qtbot.waitUntil(lambda: window.camera.latest_frame() is not None, timeout=5000)
    assert window.capture_reference()
    window.camera.set_control("mode", "night")
    with qtbot.waitSignal(window.processor.result, timeout=30000) as blocker:
        window.set_live(True)
    res = blocker.args[0]
    assert res.pair.ok, res.pair.alignment.reason
    # a reference captured from this camera is registered with the fixed-camera prior
    assert res.pair.alignment.method == "fixed+ecc", res.pair.alignment.reason
    assert res.overlay.shape == (240, 320, 3) and res.overlay.dtype == np.uint8
    qtbot.waitUntil(lambda: window.info["alignment"].text() not in ("—", ""), timeout=5000)
    window.result_choice.setCurrentText("Leak mask overlay")
    assert window.result_view.has_image()


def test_live_requires_reference(window):
    window.set_live(True)
    assert not window.act_live.isChecked()
    assert "reference" in window.statusBar().currentMessage()


def test_disconnect_is_reported(window, qtbot):
    window.camera.events.disconnected.emit("USB cable pulled")
    qtbot.waitUntil(lambda: "disconnected" in window.live_title.text(), timeout=2000)
    assert "USB cable pulled" in window.statusBar().currentMessage()
    window.camera.events.reconnected.emit("back")
    qtbot.waitUntil(lambda: "disconnected" not in window.live_title.text(), timeout=2000)


def test_load_reference_bad_file_is_one_line(window, tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"nope")
    assert window.load_reference(bad) is False
    msg = window.statusBar().currentMessage()
    assert "x.png" in msg and "\n" not in msg


def test_stream_button_follows_camera(window, qtbot):
    assert window.act_stream.text() == "Stop camera"
    window.toggle_stream()
    qtbot.waitUntil(lambda: window.act_stream.text() == "Start camera", timeout=3000)
    assert not window.camera.is_streaming
    window.toggle_stream()
    qtbot.waitUntil(lambda: window.act_stream.text() == "Stop camera", timeout=3000)
