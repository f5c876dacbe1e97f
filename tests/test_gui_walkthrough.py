"""A new user's first hour with the window: it fits their screen, every control is reachable,
session names read whole, and a first session gets an operator."""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")

from PySide6.QtWidgets import QScrollArea  # noqa: E402

# window (and the store it is on): tests/conftest.py
pytestmark = pytest.mark.usefixtures("no_leaked_windows")  # no dialog left open


def test_window_can_shrink_to_a_1366x768_laptop_screen(window):
    # Before: the stacked right-hand docks made the minimum 1254x1200, so on a 1080p screen
    # the Sessions tab, the schedule's Start button and the status bar sat below the edge.
    hint = window.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768 - 40, hint
    window.resize(1366, 728)
    assert window.height() <= 728


def test_window_starts_no_larger_than_the_screen_where_its_minimum_allows(window):
    free, hint = window.screen().availableGeometry(), window.minimumSizeHint()
    assert window.width() <= max(free.width(), hint.width())
    assert window.height() <= max(free.height(), hint.height())
    assert free.height() < 900, "the test screen must be smaller than the default 1440x900"


def test_dock_contents_scroll_vertically_and_keep_their_width(window, qtbot):
    window.resize(window.width(), 420)  # shorter than the camera and capture docks' contents
    tall = (window.dock_camera, window.dock_capture)
    # the operator can scroll down to what does not fit: a bar with somewhere to go
    qtbot.waitUntil(
        lambda: all(
            (bar := d.widget().verticalScrollBar()).isVisible() and bar.maximum() > 0 for d in tall
        )
    )
    for dock in (window.dock_camera, window.dock_capture, window.dock_sessions):
        scroll = dock.widget()
        assert isinstance(scroll, QScrollArea)
        content = scroll.widget()
        # never narrower than the content: no clipped labels, no horizontal scroll bar
        assert scroll.minimumWidth() >= content.minimumSizeHint().width()
        assert scroll.horizontalScrollBar().maximum() == 0, dock.objectName()


def test_session_names_are_readable_in_the_sessions_dock(window, qtbot):
    # Before: the stretched Name column gave way to the others and showed "r… e…"
    name = "roof-east 2026-12-01"
    # the GUI thread may not write to the store: create it from a worker, as the app does
    worker = threading.Thread(target=window.store.create_session, args=(name,))
    worker.start()
    worker.join()
    window.dock_sessions.raise_()
    table = window.sessions.table
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=20_000)
    qtbot.waitUntil(lambda: table.isVisible(), timeout=5_000)
    needed = table.fontMetrics().horizontalAdvance(name)
    assert table.columnWidth(0) >= needed, (table.columnWidth(0), needed)


def test_new_session_dialog_offers_the_login_name_on_a_fresh_machine(window, monkeypatch):
    # Before: empty on a fresh machine (no earlier session), while `nightlab capture` and
    # `ingest` record the login name: GUI sessions went out with no operator
    from PySide6.QtWidgets import QApplication

    from gui.sessions.panel import NewSessionDialog

    monkeypatch.setattr("getpass.getuser", lambda: "ana")
    assert window.store.sessions() == []  # a fresh machine: no session to take it from
    window.sessions.new_dialog()
    (dlg,) = [w for w in QApplication.topLevelWidgets()
              if isinstance(w, NewSessionDialog) and w.isVisible()]  # fmt: skip
    try:
        assert dlg.operator.text() == "ana" and dlg.values()["operator"] == "ana"
    finally:
        dlg.reject()


def test_a_new_session_the_store_refuses_comes_back_as_typed_with_the_reason(
    read_only_store, open_window, qtbot
):
    # Before: the dialog closed on Create and the store's refusal was only a status-bar line;
    # the name and the scene notes the operator had typed were gone
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.sessions.panel import NewSessionDialog

    win = open_window(store=read_only_store)

    def dialogs():
        return [w for w in QApplication.topLevelWidgets()
                if isinstance(w, NewSessionDialog) and w.isVisible()]  # fmt: skip

    def fill_and_create():
        (dlg,) = dialogs()
        dlg.name.setText("roof east")
        dlg.notes.setPlainText("fog over the river; the van leaves at 2")
        dlg._ok.click()

    QTimer.singleShot(0, fill_and_create)
    win.sessions.new_dialog()
    qtbot.waitUntil(lambda: "read-only" in win.statusBar().currentMessage(), timeout=30_000)
    qtbot.waitUntil(lambda: len(dialogs()) == 1, timeout=30_000)
    (again,) = dialogs()
    assert again.values()["name"] == "roof east"
    assert again.values()["scene_notes"] == "fog over the river; the van leaves at 2"
    assert "read-only" in again.refused.text() and again.refused.isVisible()
    again.reject()
    assert [s.name for s in read_only_store.sessions()] == ["read-only judging"]
