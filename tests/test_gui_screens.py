"""The window as its users meet it on a laptop screen and through a night: what is in view
without scrolling, what the operator is told about a running schedule, what the keyboard
does in QA, what the export dialog offers and reports (pytest-qt, offscreen)."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QRect  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from engine.camera import SimulatedCamera  # noqa: E402
from engine.live_preview import LivePreview  # noqa: E402
from engine.store import Store  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402

TIMEOUT = 30_000  # ms; a shared machine: generous waits that end as soon as the thing happens


@pytest.fixture(autouse=True)
def no_leaked_windows(qapp):
    before = set(QApplication.topLevelWidgets())
    yield
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    assert not leaked, f"top-level widgets left open: {leaked}"


@pytest.fixture
def store(tmp_path):
    with Store(tmp_path / "data") as s:
        yield s


@pytest.fixture
def window(qtbot, store):
    cam = SimulatedCamera(resolution=(160, 120), fps=30.0, seed=3)
    cam.start()
    win = MainWindow(cam, store=store, preview=LivePreview(workers=1))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.close()
    assert win.wait_closed(timeout=20)


def _fully_in_view(widget, viewport) -> bool:
    """``widget`` lies wholly inside ``viewport`` (a scroll area's visible part)."""
    top_left = widget.mapTo(viewport, QPoint(0, 0))
    return viewport.rect().contains(QRect(top_left, widget.size()))


def test_schedule_start_and_countdown_in_view_on_a_768_px_screen(window, qtbot):
    # 1366x768 less a title bar: the operator starts the night and reads the countdown
    # without scrolling the capture dock
    window.resize(1366, 736)
    qtbot.waitUntil(lambda: window.height() == 736, timeout=TIMEOUT)
    QApplication.processEvents()
    viewport = window.findChild(type(window.dock_capture.widget()), "dock_capture_scroll")
    viewport = viewport.viewport()
    panel = window.night_panel
    assert _fully_in_view(panel.btn_run, viewport)
    assert _fully_in_view(panel.countdown, viewport)
    # the live figures stay, in a strip that leaves the images their height
    assert window.dock_status.height() <= 110
    assert window.status_strip.values["stages"].isVisible()
