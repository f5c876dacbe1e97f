"""Refilling the QA grid and the Sessions table reuses each cell's item.

PySide6 (6.11) keeps one reference to ``None`` for good the first time Qt asks a Python-made
table item for its data. The grids are refilled at every pair an overnight run records, and
made new items at each refill: the capture soak saw ``refcount(None)`` climb ~10,000 a
minute. These tests pin the reuse (no drift over refills) and that a reused row carries
nothing of the record it showed before.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest

from tests.conftest import GUI_TIMEOUT


@pytest.fixture
def jobs():
    from gui.jobs import JobRunner

    runner = JobRunner()
    yield runner
    runner.shutdown()
    runner.wait()


def _qa_panel(qtbot, store, jobs, n: int):
    from engine.app_state import AppState
    from gui.pair_cache import PairCache
    from gui.qa.panel import QAPanel

    s = store.create_session("night")
    for i in range(n):  # unaligned pairs: listed without any render
        store.capture_pair(s.id, day=np.full((48, 64, 3), i, np.uint8),
                           night=np.full((48, 64), 30, np.uint8))  # fmt: skip
    state = AppState()
    state.session = store.session(s.id)
    qa = QAPanel(state, store, jobs, PairCache(store, jobs, lambda: None))
    qtbot.addWidget(qa)
    qa.resize(1300, 700)
    qa.show()
    return qa


def _settled(qtbot, jobs) -> None:
    from PySide6.QtWidgets import QApplication

    qtbot.waitUntil(lambda: not jobs.active, timeout=GUI_TIMEOUT)
    for _ in range(3):  # the fill and the columns' measurement (not qtbot.wait: PySide6
        QApplication.processEvents()  # 6.11's event loop keeps a few references to None)


def _refilled(qtbot, qa, jobs, times: int) -> None:
    for _ in range(times):
        qa.refresh()
        _settled(qtbot, jobs)


def test_refilling_the_qa_grid_leaves_no_references_to_none_behind(qtbot, store, jobs):
    n = 30
    qa = _qa_panel(qtbot, store, jobs, n)
    _refilled(qtbot, qa, jobs, 2)  # first fill and first measurement done
    assert qa.table.rowCount() == n
    before = sys.getrefcount(None)
    _refilled(qtbot, qa, jobs, 5)
    drift = sys.getrefcount(None) - before
    # new items at every refill: 6 a row a refill (900 for these 5). What is left is the
    # listing job's hand-off back to the GUI thread, a few a refill whatever the rows.
    assert abs(drift) <= 5 * 8, drift


def test_refilling_the_sessions_table_leaves_no_references_to_none_behind(qtbot, store, jobs):
    from engine.app_state import AppState
    from gui.sessions.panel import SessionsPanel

    n = 30
    for i in range(n):
        store.create_session(f"roof {i}", operator="ana")
    panel = SessionsPanel(AppState(), store, jobs)
    qtbot.addWidget(panel)
    panel.resize(900, 700)
    panel.show()
    for _ in range(2):
        panel.refresh()
        _settled(qtbot, jobs)
    assert panel.table.rowCount() == n
    before = sys.getrefcount(None)
    for _ in range(5):
        panel.refresh()
        _settled(qtbot, jobs)
    drift = sys.getrefcount(None) - before
    assert abs(drift) <= 5 * 8, drift  # before: 1,831 (12 a row a refill)


def test_a_reused_qa_row_shows_the_new_pair_and_nothing_of_the_one_before(qtbot, store, jobs):
    from PySide6.QtCore import Qt

    qa = _qa_panel(qtbot, store, jobs, 3)
    _refilled(qtbot, qa, jobs, 1)
    first = qa._pairs[0]
    store.set_verdict(first.id, "fail", operator="ana")
    _refilled(qtbot, qa, jobs, 1)
    row0 = qa.table.item(0, 1)
    assert row0.text() == "fail"
    assert row0.background().style() != Qt.BrushStyle.NoBrush  # the verdict's colour
    qa.verdict.setCurrentIndex(qa.verdict.findData("none"))  # only the not-judged pairs
    qtbot.waitUntil(lambda: not jobs.active and qa.table.rowCount() == 2, timeout=GUI_TIMEOUT)
    _settled(qtbot, jobs)
    assert qa.table.item(0, 1) is row0  # the same item, now another pair's
    assert qa.table.item(0, 0).text() == f"#{qa._pairs[0].id}" != f"#{first.id}"
    assert row0.text() == "—"
    assert row0.background().style() == Qt.BrushStyle.NoBrush
    assert row0.foreground().style() == Qt.BrushStyle.NoBrush


def test_set_cell_clears_what_the_previous_record_set(qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtGui import QColor, QIcon, QPixmap
    from PySide6.QtWidgets import QTableWidget

    from gui.table_fill import set_cell

    table = QTableWidget(1, 1)
    qtbot.addWidget(table)
    pix = QPixmap(8, 8)
    pix.fill(QColor("red"))
    item = set_cell(table, 0, 0, "a", foreground=Qt.GlobalColor.white,
                    background=QColor("#f85149"), tooltip="why")  # fmt: skip
    item.setIcon(QIcon(pix))
    again = set_cell(table, 0, 0, "b")
    assert again is item and table.item(0, 0) is item
    assert (item.text(), item.toolTip()) == ("b", "")
    assert item.icon().isNull()
    assert item.background().style() == Qt.BrushStyle.NoBrush
    assert item.foreground().style() == Qt.BrushStyle.NoBrush
