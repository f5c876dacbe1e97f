"""The Sessions dock with no session says where it looked and how to start one. Found as a
new operator at 1366x768: an empty white table under New… / Open / Close / Export…, nothing
naming the data folder it listed (a mistyped $NIGHTLAB_DATA_DIR looked like a lost night)."""

from __future__ import annotations

import pytest

from tests.conftest import GUI_TIMEOUT


@pytest.fixture
def jobs():
    from gui.jobs import JobRunner

    runner = JobRunner()
    yield runner
    runner.shutdown()
    runner.wait()


def _panel(qtbot, store, jobs):
    from engine.app_state import AppState
    from gui.sessions.panel import SessionsPanel

    panel = SessionsPanel(AppState(), store, jobs)
    qtbot.addWidget(panel)
    panel.resize(380, 500)
    panel.show()
    return panel


def _inked(table) -> int:
    """Pixels of the table's empty area that are not its background."""
    from PySide6.QtGui import QPalette

    image = table.viewport().grab().toImage()
    base = table.palette().color(QPalette.ColorRole.Base).rgb()
    return sum(
        image.pixel(x, y) != base
        for y in range(0, image.height(), 2)
        for x in range(0, image.width(), 2)
    )


def test_an_empty_sessions_table_names_the_data_folder_and_how_to_start(qtbot, store, jobs):
    panel = _panel(qtbot, store, jobs)
    qtbot.waitUntil(lambda: _inked(panel.table) > 0, timeout=GUI_TIMEOUT)  # old code: blank
    assert panel.table.empty_text == (
        f"No sessions yet in {store.root}.\n\nNew… (Ctrl+N) starts one; "
        "File → Import session… (Ctrl+I) adds one exported elsewhere."
    )


def test_the_hint_goes_once_a_session_is_listed(qtbot, store, jobs):
    store.create_session("roof")
    panel = _panel(qtbot, store, jobs)
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=GUI_TIMEOUT)
    qtbot.wait(50)
    below = panel.table.rowViewportPosition(0) + panel.table.rowHeight(0) + 4
    image = panel.table.viewport().grab().toImage()
    from PySide6.QtGui import QPalette

    base = panel.table.palette().color(QPalette.ColorRole.Base).rgb()
    assert all(
        image.pixel(x, y) == base
        for y in range(below, image.height(), 2)
        for x in range(0, image.width(), 2)
    )
