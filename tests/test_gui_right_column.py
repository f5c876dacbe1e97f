"""The right column's docks as the window first opens on a laptop, a 920 px and a 1080 px
screen (pytest-qt, offscreen): nothing an operator needs is a sliver.

Before: on a 1366x768 screen the Camera dock got two rows of controls under its chooser,
beside a scroll bar (the Capture dock took 3/4 of the column, 192 px of it an empty log), and
the Leak mask and Model tabs, which share it, the same two rows; at 1480x920 three rows."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QRect  # noqa: E402
from PySide6.QtWidgets import QApplication, QScrollArea, QWidget  # noqa: E402

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


def _lowest_control(win):
    """The Camera dock's last control (its bottom-most editor)."""
    from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox

    kinds = (QAbstractButton, QAbstractSpinBox, QComboBox)
    editors = [w for w in win.controls.findChildren(QWidget) if isinstance(w, kinds)]
    return max(editors, key=lambda w: w.mapTo(win.controls, QPoint(0, w.height())).y())


def test_on_a_1080_px_screen_every_camera_control_and_start_show_without_scrolling(window_at):
    # Before: the Capture dock took the height it asked for (its log five lines) and the
    # Camera dock 373 px, its last rows below the fold (a scroll bar); the column 375 px wide
    win = window_at(1920, 1048)
    assert not win.right_column_tabbed()
    camera = _scroll(win, win.dock_camera)
    assert camera.verticalScrollBar().maximum() == 0
    assert _shown_in(win.chooser, camera)
    assert _shown_in(_lowest_control(win), camera)
    capture = _scroll(win, win.dock_capture)
    assert capture.verticalScrollBar().maximum() == 0
    for widget in (win.capture_panel, win.night_panel.btn_pair, win.night_panel.btn_run,
                   win.night_panel.countdown):  # fmt: skip
        assert _shown_in(widget, capture)
    # the log takes what is left: short, but two lines of it in view
    log = win.night_panel.log
    assert _shown_in(log, capture) and log.height() >= log.minimumSizeHint().height()
    # the column follows the screen's width: a quarter of it, not the 375 px of a laptop's
    assert win.dock_capture.width() >= 1920 // 4


def test_on_a_1080_px_screen_the_kept_captures_strip_takes_the_log_down_to_two_lines(
    window_at, qtbot
):
    # Before: the strip grew the Capture dock to its log's five lines (Camera dock 321 px);
    # the height does not allow both docks whole with it: the Camera dock's last row scrolls
    win = window_at(1920, 1048)
    camera_height = win.dock_camera.height()
    cam = win.state.camera
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=TIMEOUT)
    panel = win.capture_panel
    for _ in range(2):
        qtbot.waitUntil(lambda: panel.btn_add.isEnabled(), timeout=TIMEOUT)
        panel.add_capture()
    qtbot.waitUntil(lambda: panel.kept_box.isVisible(), timeout=TIMEOUT)
    QApplication.processEvents()
    strip = panel.kept_box.height()
    assert win.dock_camera.height() >= camera_height - strip - 16  # (+ the layout's spacing)
    capture = _scroll(win, win.dock_capture)
    assert _shown_in(win.night_panel.btn_run, capture)
    assert _shown_in(panel.kept_box, capture)
    log = win.night_panel.log
    assert _shown_in(log, capture) and log.height() < log.sizeHint().height()


@pytest.mark.parametrize("size", [(1366, 736), (1480, 920)], ids=["768", "920"])
def test_shorter_screens_keep_their_layout_and_the_column_its_width(window_at, size):
    win = window_at(*size)
    assert win.right_column_tabbed() == (size[1] < 800)
    assert win.dock_capture.width() < 400


def test_on_a_2560_px_screen_the_column_stops_at_its_widest_and_the_log_takes_the_rest(
    window_at,
):
    win = window_at(2560, 1408)
    assert win.dock_capture.width() == win.COLUMN_WIDTH_MAX
    assert _scroll(win, win.dock_camera).verticalScrollBar().maximum() == 0
    log = win.night_panel.log
    assert _shown_in(log, _scroll(win, win.dock_capture))
    assert log.height() > log.sizeHint().height()  # the Camera dock took only its controls'


def _ini(tmp_path):
    from PySide6.QtCore import QSettings

    return QSettings(str(tmp_path / "nightlab.ini"), QSettings.Format.IniFormat)


def _reopened_at(window_at, tmp_path, width, height, *, drag_to=None):
    """The column's width after a start at 1920x1048 (the column dragged to ``drag_to``
    if given), closed, and a start at ``width`` x ``height`` on the saved layout."""
    from PySide6.QtCore import Qt

    big = window_at(1920, 1048, settings=_ini(tmp_path))
    if drag_to is not None:
        big.resizeDocks([big.dock_capture], [drag_to], Qt.Orientation.Horizontal)
        QApplication.processEvents()
        drag_to = big.dock_capture.width()
    big.close()
    assert big.wait_closed(timeout=20)
    return window_at(width, height, settings=_ini(tmp_path)).dock_capture.width(), drag_to


def test_a_saved_column_never_dragged_gets_a_fresh_starts_width_on_a_laptop(window_at, tmp_path):
    # Before (with the 1080 px screen's 480 px column): Qt restored it 381 px wide at 1366
    fresh = window_at(1366, 736)
    fresh_width = fresh.dock_capture.width()
    fresh.close()
    assert fresh.wait_closed(timeout=20)
    width, _ = _reopened_at(window_at, tmp_path, 1366, 736)
    assert width == fresh_width


def test_a_column_the_operator_dragged_keeps_its_width_on_the_next_start(window_at, tmp_path):
    width, dragged = _reopened_at(window_at, tmp_path, 1920, 1048, drag_to=700)
    assert dragged > 600 and width == dragged
