"""The QA review tab on a 1366x768 laptop screen, where engineers judge pairs for hours
(pytest-qt, offscreen): how many pairs the grid shows beside a comparison still worth
looking at, the grid / comparison split the operator drags and finds again after a restart,
compact or large thumbnails, focus mode, and the judge's keys through all of them.

Before: the grid of 78 px rows showed 2 full rows (2.3) above the comparison, the split was
330:470 at every start whatever the operator had dragged, and a selected pair could end up
out of view when the split moved."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QEvent, QPoint, QSettings, Qt  # noqa: E402
from PySide6.QtWidgets import QApplication, QSplitter  # noqa: E402

TIMEOUT = 30_000  # ms
PAIRS = 14

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


@pytest.fixture
def judged_store(store):
    """The ``store`` with a session of `PAIRS` recorded pairs (small random images)."""
    rng = np.random.default_rng(11)
    s = store.create_session("laptop night", operator="ana")
    ok = {"ok": True, "method": "ecc", "motion": "homography", "score": 0.9, "reason": "",
          "matrix": np.eye(3).tolist()}  # fmt: skip
    for i in range(PAIRS):
        store.capture_pair(s.id, day=rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
                           night=rng.integers(0, 255, (48, 64), dtype=np.uint8), alignment=ok,
                           ssim_mean=0.8 + i / 100, leak_area_pct=1.0 + i)  # fmt: skip
    return store


@pytest.fixture
def laptop(window_at, judged_store, qtbot):
    """``laptop(settings=None, qa_tab=True)``: a MainWindow at 1366x768 (`window_at`) on the
    QA review tab, every pair listed (``qa_tab=False``: on the Live tab, QA never shown)."""
    session = judged_store.pairs(sort="id")[0].session_id

    def open_(settings: QSettings | None = None, *, qa_tab: bool = True):
        win = window_at(1366, 768, settings=settings)
        win.state.session = judged_store.session(session)
        if not qa_tab:
            return win
        win.tabs.setCurrentWidget(win.qa)
        qtbot.waitUntil(lambda: win.qa.table.rowCount() == PAIRS, timeout=TIMEOUT)
        QApplication.processEvents()
        return win

    return open_


def _split(win) -> QSplitter:
    """The QA panel's grid / comparison splitter (found as a user's eye finds it: the
    vertical splitter whose first pane holds the grid)."""
    for split in win.qa.findChildren(QSplitter):
        if split.orientation() == Qt.Orientation.Vertical and split.widget(0).isAncestorOf(
            win.qa.table
        ):
            return split
    raise AssertionError("no vertical splitter above the QA grid")


def _full_rows(table) -> list[int]:
    """The rows wholly inside the grid's visible part, from the widgets' real geometry."""
    area = table.viewport().rect()
    rows = []
    for r in range(table.rowCount()):
        rect = table.visualRect(table.model().index(r, 0))
        if rect.isValid() and area.contains(rect.adjusted(0, 0, 0, -1)):
            rows.append(r)
    return rows


def _settings(tmp_path) -> QSettings:
    return QSettings(str(tmp_path / "nightlab.ini"), QSettings.Format.IniFormat)


def test_at_1366x768_the_qa_grid_shows_six_full_rows_beside_a_usable_comparison(laptop):
    win = laptop()
    qa = win.qa
    assert len(_full_rows(qa.table)) >= 6, len(_full_rows(qa.table))  # before: 2
    # the small thumbnails' columns still read Night, Reference, Colorized, Masked, Mask whole
    header = qa.table.horizontalHeader()
    for c in range(2, 7):
        assert qa.table.columnWidth(c) >= header.sectionSizeHint(c), header.model().headerData(
            c, Qt.Orientation.Horizontal
        )
    # the comparison keeps nearly what it had (487x259 before): both sides, each a real view
    for view in (qa.view_a, qa.view_b):
        assert view.isVisible() and view.height() >= 230 and view.width() >= 450, view.size()
    # the verdict row and the pair's line stay in view under it
    panel_bottom = qa.mapToGlobal(qa.rect().bottomLeft()).y()
    for w in (qa.verdict_buttons["pass"], qa.note, qa.info):
        assert w.mapToGlobal(w.rect().bottomLeft()).y() <= panel_bottom


def test_the_dragged_split_and_the_row_size_are_restored_after_a_restart(laptop, tmp_path):
    win = laptop(_settings(tmp_path))
    split = _split(win)
    total = sum(split.sizes())
    split.setSizes([300, total - 300])  # the operator drags the grid taller
    win.qa.grid_layout.act_compact.setChecked(False)  # and wants the large thumbnails
    assert split.sizes()[0] == 300
    win.close()
    assert win.wait_closed(timeout=20)

    again = laptop(_settings(tmp_path))  # a new start, reading the same settings file
    assert _split(again).sizes()[0] == 300
    assert not again.qa.grid_layout.act_compact.isChecked()
    assert again.qa.table.iconSize().height() == 72
    assert again.qa.table.rowHeight(0) > 72  # the large thumbnails fit their rows


def test_a_start_that_never_opened_qa_leaves_the_next_one_the_laptop_default(laptop, tmp_path):
    # the split of a panel never shown is no one's choice (its splitter was never laid out):
    # quitting from the Live tab saves none, and the next start sizes the grid for six rows
    first = laptop(_settings(tmp_path), qa_tab=False)
    first.close()
    assert first.wait_closed(timeout=20)
    assert not _settings(tmp_path).contains("qa/grid_height")
    again = laptop(_settings(tmp_path))
    assert len(_full_rows(again.qa.table)) >= 6


def test_the_selected_pair_stays_in_view_when_the_split_shrinks_the_grid(laptop, qtbot):
    win = laptop()
    qa, split = win.qa, _split(win)
    total = sum(split.sizes())
    split.setSizes([total - 200, 200])  # the grid tall: the 13th pair is in view
    QApplication.processEvents()
    qa.table.selectRow(12)
    qa.table.setFocus()
    qtbot.waitUntil(lambda: 12 in _full_rows(qa.table), timeout=TIMEOUT)
    split.setSizes([160, total - 160])  # dragged short: a couple of rows
    qtbot.waitUntil(lambda: 12 in _full_rows(qa.table), timeout=TIMEOUT)
    # larger thumbnails (taller rows) in the same height: still in view
    qa.grid_layout.act_compact.setChecked(False)
    qtbot.waitUntil(lambda: 12 in _full_rows(qa.table), timeout=TIMEOUT)
    assert qa.current().id == qa._pairs[12].id


def test_focus_mode_gives_the_comparison_the_docks_room_and_gives_the_docks_back(laptop, qtbot):
    win = laptop()
    qa = win.qa
    before = qa.view_a.height(), qa.view_a.width()
    shown = [d for d in win.docks() if d.isVisible()]
    assert win.dock_status in shown and win.dock_capture in shown
    judged = qa.current()
    qa.table.setFocus()
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(qa.table, Qt.Key.Key_F, ctrl_shift)  # focus mode: not F, the verdict
    assert win.act_focus.isChecked()
    qtbot.waitUntil(lambda: not any(d.isVisible() for d in win.docks()), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: qa.view_a.height() >= before[0] + 80, timeout=TIMEOUT)
    assert qa.view_a.width() >= before[1] + 150
    assert len(_full_rows(qa.table)) >= 6
    qtbot.keyClick(qa.table, Qt.Key.Key_F, ctrl_shift)  # again: the docks as they were
    qtbot.waitUntil(lambda: all(d.isVisible() for d in shown), timeout=TIMEOUT)
    assert [d for d in win.docks() if d.isVisible()] == shown
    qtbot.waitUntil(lambda: qa.view_a.height() == before[0], timeout=TIMEOUT)
    assert qa.current().id == judged.id and win.store.pair(judged.id).verdict is None


def test_a_restart_after_quitting_in_focus_mode_brings_the_docks_back(laptop, tmp_path):
    win = laptop(_settings(tmp_path))
    win.set_focus_mode(True)
    assert not win.dock_status.isVisible()
    win.close()
    assert win.wait_closed(timeout=20)
    again = laptop(_settings(tmp_path))
    assert again.dock_status.isVisible() and again.dock_capture.isVisible()
    assert not again.act_focus.isChecked()


def test_judging_keys_work_in_focus_mode_and_after_the_row_size_changes(laptop, qtbot):
    win = laptop()
    qa, store = win.qa, win.store
    qa.sort.setCurrentText("Oldest")
    qtbot.waitUntil(lambda: qa._pairs[0].id < qa._pairs[-1].id, timeout=TIMEOUT)
    qa.table.selectRow(0)
    qa.table.setFocus()
    ids = [p.id for p in qa._pairs]
    win.act_focus.trigger()
    qa.rows_button.click()  # a click on the row-size button leaves the keys in the list
    assert not qa.grid_layout.act_compact.isChecked()

    def key(k) -> None:  # wherever the focus is, as a real key press goes
        qtbot.keyClick(QApplication.focusWidget(), k)

    assert QApplication.focusWidget() is qa.table
    key(Qt.Key.Key_P)
    key(Qt.Key.Key_F)
    qtbot.waitUntil(lambda: store.pair(ids[1]).verdict == "fail", timeout=TIMEOUT)
    assert store.pair(ids[0]).verdict == "pass"
    assert qa.current().id == ids[2]
    key(Qt.Key.Key_J)
    key(Qt.Key.Key_J)
    key(Qt.Key.Key_K)
    assert qa.current().id == ids[3]
    qa.note.setFocus()
    qtbot.keyClicks(qa.note, "halo")
    key(Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is qa.table
    key(Qt.Key.Key_R)
    qtbot.waitUntil(lambda: store.pair(ids[3]).verdict == "review", timeout=TIMEOUT)
    assert store.verdicts(ids[3])[-1].note == "halo"
    # J down the list with large rows: each pair judged next is in view
    for _ in range(PAIRS):
        key(Qt.Key.Key_J)
    qtbot.waitUntil(lambda: qa.table.currentRow() in _full_rows(qa.table), timeout=TIMEOUT)


def _drawn(canvas) -> tuple[float, float]:
    """The image's size on screen in ``canvas`` (px), from its view's range and size."""
    (x0, x1), (y0, y1) = canvas.view.viewRange()
    h, w = canvas.image().shape[:2]
    box = canvas.view.sceneBoundingRect()
    return box.width() * w / (x1 - x0), box.height() * h / (y1 - y0)


def _fills(canvas) -> bool:
    """The whole image drawn as large as ``canvas`` allows (fitted: one side touches)."""
    dw, dh = _drawn(canvas)
    box = canvas.view.sceneBoundingRect()
    return (dw >= box.width() - 2 or dh >= box.height() - 2) and (
        dw <= box.width() + 2 and dh <= box.height() + 2
    )


def test_the_wipe_fills_its_view_when_it_grows_and_w_carries_the_zoom_across(laptop, qtbot):
    # Before: the wipe was linked pixel for pixel to the hidden side-by-side view, and in
    # focus mode (or with the grid dragged shorter) it kept that view's scale: the pair drawn
    # 242 px high in a 331 px view
    win = laptop()
    qa = win.qa
    qtbot.waitUntil(qa.view_a.has_image, timeout=TIMEOUT)
    qa.table.setFocus()
    qtbot.keyClick(qa.table, Qt.Key.Key_W)
    qtbot.waitUntil(qa.view_wipe.has_image, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: _fills(qa.view_wipe), timeout=TIMEOUT)
    small = _drawn(qa.view_wipe)
    win.set_focus_mode(True)
    qtbot.waitUntil(lambda: qa.view_wipe.height() > 300, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: _fills(qa.view_wipe), timeout=TIMEOUT)
    assert _drawn(qa.view_wipe)[1] > small[1] + 60
    split = _split(win)
    split.setSizes([140, sum(split.sizes()) - 140])  # the grid dragged short
    qtbot.waitUntil(lambda: _fills(qa.view_wipe), timeout=TIMEOUT)
    # zoomed in on the wipe, W: the side-by-side views show the same part of the pair
    qtbot.keyClick(qa.table, Qt.Key.Key_Plus)
    qtbot.keyClick(qa.table, Qt.Key.Key_Plus)
    wiped = qa.view_wipe.view.viewRect()
    qtbot.keyClick(qa.table, Qt.Key.Key_W)
    qtbot.waitUntil(lambda: qa.view_a.isVisible(), timeout=TIMEOUT)
    side = qa.view_a.view.viewRect()
    assert abs(side.center().x() - wiped.center().x()) < 1.0
    assert abs(side.center().y() - wiped.center().y()) < 1.0
    assert side.height() < qa.view_a.image().shape[0]  # still zoomed in
    qtbot.keyClick(qa.table, Qt.Key.Key_0)  # fit, then back to the wipe: fitted there too
    qtbot.keyClick(qa.table, Qt.Key.Key_W)
    qtbot.waitUntil(lambda: _fills(qa.view_wipe), timeout=TIMEOUT)


def test_a_long_pair_count_beside_the_row_size_button_never_widens_the_window(laptop, qtbot):
    # a night of thousands of pairs says so in the filter bar's count, beside the row-size
    # button: the bar gives way (the count is cut at its end) rather than push the window
    # past a 1366 px screen (1472 px wide with the button and the whole count)
    win = laptop()
    # the form the panel writes (`QAPanel._fill`), for a record of six figures
    win.qa.count.setText("pairs 120,801–121,000 of 121,000 · 112,140 not judged · 8,860 judged")
    for _ in range(10):  # each layout up to the window's asks again: until none is left
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        QApplication.processEvents()
    assert win.minimumSizeHint().width() <= 1366
    assert win.width() == 1366
    assert win.qa.rows_button.isVisible() and not win.qa.rows_button.visibleRegion().isEmpty()


def test_a_tagged_pairs_line_never_widens_the_window(laptop, qtbot):
    # the pair line under the comparison lists the selected pair's tags: a pair tagged
    # "cat, halo" made the window 1384 px wide and five tags 1658 px, past a 1366 px screen
    # (the comparison and the docks moved off it). It is cut at its end instead, whole in
    # its tooltip
    win = laptop()
    qa = win.qa
    pid = qa.current().id
    qtbot.keyClicks(qa.tags_edit, "ask-partner, cat, halo, needs-realign, orange-cat-head")
    qtbot.keyClicks(qa.tags_edit, ", recheck-ecc")
    qtbot.keyClick(qa.tags_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "recheck-ecc" in qa.info.text(), timeout=TIMEOUT)
    for _ in range(10):  # each layout up to the window's asks again: until none is left
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest)
        QApplication.processEvents()
    assert win.minimumSizeHint().width() <= 1366
    assert win.width() == 1366
    assert qa.current().id == pid and "recheck-ecc" in qa.info.toolTip()


def test_w_carries_the_zoom_into_a_wipe_not_composed_yet(laptop, qtbot):
    # the wipe is composed on the job runner when W is pressed: the zoom carried to its empty
    # view was undone when its first image came (a new image shape is fitted), so the first W
    # of a pair zoomed in side by side showed the wipe fitted
    win = laptop()
    qa = win.qa
    qtbot.waitUntil(qa.view_a.has_image, timeout=TIMEOUT)
    assert not qa.view_wipe.has_image()
    qa.table.setFocus()
    qtbot.keyClick(qa.table, Qt.Key.Key_Plus)
    qtbot.keyClick(qa.table, Qt.Key.Key_Plus)
    side = qa.view_a.view.viewRect()
    assert side.height() < qa.view_a.image().shape[0]  # zoomed in
    qtbot.keyClick(qa.table, Qt.Key.Key_W)
    qtbot.waitUntil(qa.view_wipe.has_image, timeout=TIMEOUT)
    QApplication.processEvents()
    wiped = qa.view_wipe.view.viewRect()
    assert wiped.height() < qa.view_wipe.image().shape[0], wiped  # still zoomed in
    assert abs(side.center().x() - wiped.center().x()) < 1.0
    assert abs(side.center().y() - wiped.center().y()) < 1.0


def _laptop_window(window_at, judged_store, qtbot, settings, width, height):
    """A MainWindow at ``width`` x ``height`` on the QA tab, every pair listed."""
    session = judged_store.pairs(sort="id")[0].session_id
    win = window_at(width, height, settings=settings)
    win.state.session = judged_store.session(session)
    win.tabs.setCurrentWidget(win.qa)
    qtbot.waitUntil(lambda: win.qa.table.rowCount() == PAIRS, timeout=TIMEOUT)
    QApplication.processEvents()
    return win


def test_a_split_dragged_on_a_big_screen_leaves_the_laptop_comparison_its_fresh_size(
    window_at, judged_store, qtbot, tmp_path
):
    # the grid dragged tall on a 1920x1080 screen (a remembered split is pixels): restored at
    # 1366x768 it took the laptop's comparison down to 487x180 (a fresh start gives 487x241)
    fresh = _laptop_window(window_at, judged_store, qtbot, None, 1366, 768)
    fresh_view = fresh.qa.view_a.size()
    fresh.close()
    assert fresh.wait_closed(timeout=20)

    big = _laptop_window(window_at, judged_store, qtbot, _settings(tmp_path), 1920, 1080)
    split = _split(big)
    total = sum(split.sizes())
    split.setSizes([total - 330, 330])  # as many rows as the big screen holds
    dragged = split.sizes()[0]
    big.close()
    assert big.wait_closed(timeout=20)

    laptop_again = _laptop_window(window_at, judged_store, qtbot, _settings(tmp_path), 1366, 768)
    qa = laptop_again.qa
    assert qa.view_a.height() >= fresh_view.height(), (qa.view_a.size(), fresh_view)  # was 180
    assert qa.view_a.width() >= fresh_view.width(), (qa.view_a.size(), fresh_view)
    assert len(_full_rows(qa.table)) >= 6  # and the grid still shows what a fresh start does
    laptop_again.close()
    assert laptop_again.wait_closed(timeout=20)

    # back on the big screen, the operator's own split comes back as they dragged it
    big_again = _laptop_window(window_at, judged_store, qtbot, _settings(tmp_path), 1920, 1080)
    assert _split(big_again).sizes()[0] == dragged


def test_the_note_and_tags_fields_read_their_placeholders_whole_at_1366x768(laptop):
    # the tags field read "add tags, comma..." (how to add several, and that Enter adds them,
    # were cut off): each field's text area holds its placeholder
    win = laptop()
    for edit in (win.qa.note, win.qa.tags_edit):
        room = edit.contentsRect().width() - 4  # QLineEdit's own 2 px either side
        need = edit.fontMetrics().horizontalAdvance(edit.placeholderText())
        assert room >= need, (edit.placeholderText(), room, need)


def test_a_split_dragged_then_quit_in_focus_mode_comes_back_exactly(laptop, qtbot, tmp_path):
    # the split is remembered with the height it was dragged in: quitting in focus mode (the
    # docks hidden, the panel taller) must not make the next start think it was another screen
    win = laptop(_settings(tmp_path))
    split = _split(win)
    handle = split.handle(1)
    start = handle.rect().center()
    qtbot.mousePress(handle, Qt.MouseButton.LeftButton, pos=start)
    for dy in range(10, 70, 10):  # dragged 60 px down, as a hand does
        qtbot.mouseMove(handle, start + QPoint(0, dy))
    qtbot.mouseRelease(handle, Qt.MouseButton.LeftButton, pos=start + QPoint(0, 60))
    dragged, normal = split.sizes()[0], sum(split.sizes())
    assert dragged > 300  # (the fresh split's grid is 253 px)
    win.set_focus_mode(True)
    qtbot.waitUntil(lambda: sum(split.sizes()) > normal + 50, timeout=TIMEOUT)  # docks gone
    assert split.sizes()[0] == dragged
    win.close()
    assert win.wait_closed(timeout=20)
    again = laptop(_settings(tmp_path))
    assert _split(again).sizes()[0] == dragged
