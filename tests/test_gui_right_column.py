"""The right column's docks as the window first opens on a laptop, a 920 px and a 1080 px
screen (pytest-qt, offscreen): nothing an operator needs is a sliver.

Before: on a 1366x768 screen the Camera dock got two rows of controls under its chooser,
beside a scroll bar (the Capture dock took 3/4 of the column, 192 px of it an empty log), and
the Leak mask and Model tabs, which share it, the same two rows; at 1480x920 three rows."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QRect  # noqa: E402
from PySide6.QtWidgets import QApplication, QScrollArea  # noqa: E402

TIMEOUT = 30_000  # ms

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _scroll(win, dock) -> QScrollArea:
    return win.findChild(QScrollArea, f"{dock.objectName()}_scroll")


def _shown_in(widget, scroll: QScrollArea) -> bool:
    """``widget`` is on screen (its dock's tab in front: a tab behind it stays "visible",
    moved out of the window) and wholly inside ``scroll``'s visible part."""
    viewport = scroll.viewport()
    top_left = widget.mapTo(viewport, QPoint(0, 0))
    inside = viewport.rect().contains(QRect(top_left, widget.size()))
    return widget.isVisible() and not widget.visibleRegion().isEmpty() and inside


def test_on_a_768_px_screen_the_docks_share_one_set_of_tabs_each_the_column_high(window_at):
    win = window_at(1366, 736)
    assert win.right_column_tabbed()
    docks = (win.dock_capture, win.dock_sessions, win.dock_camera, win.dock_leak, win.dock_model)
    assert set(win.tabifiedDockWidgets(win.dock_capture)) == set(docks) - {win.dock_capture}
    # Capture is the tab in front: Start and the countdown in view without scrolling
    capture = _scroll(win, win.dock_capture)
    assert _shown_in(win.night_panel.btn_run, capture)
    assert _shown_in(win.night_panel.countdown, capture)
    assert win.dock_camera.visibleRegion().isEmpty()  # a tab behind Capture's
    # one click on the Camera tab: its chooser and every control in view, nothing to scroll
    win.dock_camera.raise_()
    QApplication.processEvents()
    camera = _scroll(win, win.dock_camera)
    assert camera.verticalScrollBar().maximum() == 0
    assert _shown_in(win.chooser, camera)
    for name in ("mode", "auto_exposure", "exposure_us", "iso"):
        assert _shown_in(win.controls.editor(name), camera), name
    assert win.dock_camera.height() >= win.dock_capture.widget().sizeHint().height()


@pytest.mark.parametrize("size", [(1480, 920), (1920, 1048)], ids=["920", "1080"])
def test_on_taller_screens_camera_sits_above_capture_with_room_for_its_controls(window_at, size):
    win = window_at(*size)
    assert not win.right_column_tabbed()
    # the two groups stacked: Camera (with Leak mask and Model) above Capture (with Sessions)
    assert win.dock_camera.geometry().bottom() < win.dock_capture.geometry().top()
    assert win.dock_sessions in win.tabifiedDockWidgets(win.dock_capture)
    assert win.dock_leak in win.tabifiedDockWidgets(win.dock_camera)
    assert win.dock_camera.height() >= win.CAMERA_DOCK_MIN
    capture = _scroll(win, win.dock_capture)
    assert _shown_in(win.night_panel.btn_run, capture)
    assert _shown_in(win.night_panel.countdown, capture)
    camera = _scroll(win, win.dock_camera)
    for name in ("mode", "auto_exposure", "exposure_us"):
        assert _shown_in(win.controls.editor(name), camera), name


def test_a_window_first_shown_small_and_laid_out_again_tall_splits_the_column(window_at):
    # the layout follows the screen it is laid out on, both ways (no dock lost on the way)
    win = window_at(1366, 736)
    assert win.right_column_tabbed()
    win.resize(1920, 1048)
    QApplication.processEvents()
    win._size_right_column()  # what a first show at that size does
    QApplication.processEvents()
    assert not win.right_column_tabbed()
    assert win.dock_camera.height() >= win.CAMERA_DOCK_MIN
    for dock in (win.dock_capture, win.dock_sessions, win.dock_camera, win.dock_leak,
                 win.dock_model):  # fmt: skip
        assert not dock.isFloating() and win.dockWidgetArea(dock) == win.dockWidgetArea(
            win.dock_capture
        )


def test_an_empty_schedule_log_says_what_will_be_listed_there(window_at):
    # Before: a blank white box under Start; a new operator could not tell what it was for
    import numpy as np

    win = window_at(1480, 920)
    log = win.night_panel.log
    assert log.count() == 0 and "newest first" in log.PLACEHOLDER

    def dark_pixels_mid_height() -> int:
        """Text pixels in the middle third of the log, where the hint is centred and where
        one logged line (at the top) never reaches."""
        image = log.viewport().grab().toImage()
        image = image.convertToFormat(image.Format.Format_Grayscale8)
        width, height = image.width(), image.height()
        row = image.bytesPerLine()
        gray = np.frombuffer(image.constBits(), np.uint8, row * height).reshape(height, row)
        return int((gray[height // 3 : 2 * height // 3, :width] < 200).sum())

    assert log.viewport().height() >= 80
    assert dark_pixels_mid_height() > 100  # the hint, drawn in the placeholder colour
    log.addItem("21:00:00  started: every 10m")
    QApplication.processEvents()
    assert dark_pixels_mid_height() == 0  # a line to read: the hint is gone
    log.clear()
    QApplication.processEvents()
    assert dark_pixels_mid_height() > 100  # and back when the log is emptied
