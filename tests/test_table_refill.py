"""Refilling the QA grid and the Sessions table reuses each cell's item.

PySide6 (6.11) keeps one reference to ``None`` for good the first time Qt asks a Python-made
table item for its data. The grids are refilled at every pair an overnight run records, and
made new items at each refill: the capture soak saw ``refcount(None)`` climb ~10,000 a
minute. These tests pin the reuse (no drift over refills) and that a reused row carries
nothing of the record it showed before.
"""

from __future__ import annotations

import sys
import time

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
    """The listing job done and its fill shown. Not qtbot.waitUntil or qtbot.wait: PySide6
    6.11's event loop keeps a few references to None at each turn, so the drift measured
    how long the machine took (6 a refill, up to 20 under a load of 15: the test failed on
    a busy machine), not the grid; plain processEvents keeps none."""
    from PySide6.QtWidgets import QApplication

    deadline = time.monotonic() + GUI_TIMEOUT / 1000
    while jobs.active:
        assert time.monotonic() < deadline, "the listing job did not finish"
        QApplication.processEvents()
        time.sleep(0.005)
    for _ in range(3):  # the fill and the columns' measurement
        QApplication.processEvents()


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
    # new items at every refill: 6 a row a refill (900 for these 5); now none (waited on
    # without Qt's event loop, see `_settled`: the listing job's hand-off leaves none either)
    assert abs(drift) <= 5, drift


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
    assert abs(drift) <= 5, drift  # before: 1,831 (12 a row a refill)


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


def _icon_bgr(item) -> np.ndarray | None:
    """The pixels an item's icon shows (BGR), or None for no icon."""
    from PySide6.QtGui import QImage

    icon = item.icon()
    if icon.isNull():
        return None
    image = icon.pixmap(icon.availableSizes()[0]).toImage()
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    rows = np.frombuffer(image.constBits(), np.uint8).reshape(image.height(), -1, 4)
    return rows[:, : image.width(), :3].copy()


def test_an_unchanged_qa_refill_touches_no_cell_and_a_reused_row_shows_its_own_thumbnails(
    qtbot, store, jobs
):
    """Thumbnails were cleared by every refill and set again: two changes of each icon cell
    (five a row) that each made the view lay the table out again, for nothing."""
    from engine.app_state import AppState
    from engine.colorize import ReferenceTransferColorizer
    from gui.pair_cache import THUMB_ROLES, PairCache
    from gui.qa.panel import THUMBS, QAPanel
    from tests.conftest import aligned_pairs

    session = aligned_pairs(store, 3, size=(96, 72))  # pairs 1-3, rendered into thumbnails
    store.capture_pair(session.id, day=np.zeros((72, 96, 3), np.uint8),
                       night=np.zeros((72, 96), np.uint8))  # fmt: skip  # 4: never rendered
    state = AppState()
    state.session = store.session(session.id)
    colorizer = ReferenceTransferColorizer()
    cache = PairCache(store, jobs, lambda: colorizer)
    qa = QAPanel(state, store, jobs, cache)
    qtbot.addWidget(qa)
    qa.resize(1300, 700)
    qa.show()
    qtbot.waitUntil(lambda: cache.thumbs_held == 3 and not jobs.active, timeout=60_000)
    _refilled(qtbot, qa, jobs, 1)
    assert [p.id for p in qa._pairs] == [4, 3, 2, 1]  # newest first
    icon_columns = range(2, 2 + len(THUMBS))
    assert THUMBS == THUMB_ROLES

    def assert_each_row_shows_its_own_pairs_thumbnails():
        for r, pair in enumerate(qa._pairs):
            thumbs = cache.thumbs(pair)
            for c, role in zip(icon_columns, THUMBS, strict=True):
                shown = _icon_bgr(qa.table.item(r, c))
                if role not in thumbs:
                    assert shown is None, (r, pair.id, role)
                else:
                    assert shown is not None, (r, pair.id, role)
                    np.testing.assert_array_equal(shown, thumbs[role][..., :3])

    assert_each_row_shows_its_own_pairs_thumbnails()
    changed = []
    qa.table.model().dataChanged.connect(
        lambda first, last, roles: changed.append((first.row(), first.column(), list(roles)))
    )
    _refilled(qtbot, qa, jobs, 2)  # nothing changed: e.g. a pair of another session recorded
    assert changed == []  # before: 2 changes of every icon cell a refill (30 here)
    assert_each_row_shows_its_own_pairs_thumbnails()

    # oldest first: row 0 showed pair 4 (no thumbnails), now pair 1; row 3 the other way
    last_row_icon = qa.table.item(3, 2)
    qa.sort.setCurrentText("Oldest")
    qtbot.waitUntil(lambda: [p.id for p in qa._pairs] == [1, 2, 3, 4], timeout=GUI_TIMEOUT)
    _settled(qtbot, jobs)
    assert qa.table.item(3, 2) is last_row_icon  # the same item, now showing pair 4
    assert_each_row_shows_its_own_pairs_thumbnails()
    assert {(0, 2), (3, 2)} <= {(r, c) for r, c, _ in changed}  # both icons did change


def test_set_cell_leaves_an_icon_it_already_shows_alone(qtbot):
    from PySide6.QtGui import QColor, QIcon, QPixmap
    from PySide6.QtWidgets import QTableWidget

    from gui.table_fill import set_cell

    table = QTableWidget(1, 1)
    qtbot.addWidget(table)
    pix = QPixmap(8, 8)
    pix.fill(QColor("red"))
    icon = QIcon(pix)
    item = set_cell(table, 0, 0, "", icon=icon)
    assert item.icon().cacheKey() == icon.cacheKey()
    changed = []
    table.model().dataChanged.connect(lambda *a: changed.append(a))
    assert set_cell(table, 0, 0, "", icon=icon) is item
    assert changed == []
    other = QIcon(pix.copy())
    set_cell(table, 0, 0, "", icon=other)
    assert len(changed) == 1 and item.icon().cacheKey() == other.cacheKey()
    set_cell(table, 0, 0, "")
    assert len(changed) == 2 and item.icon().isNull()
