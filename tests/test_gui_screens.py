"""The window as its users meet it on a laptop screen and through a night: what is in view
without scrolling, what the operator is told about a running schedule, what the keyboard
does in QA, what the export dialog offers and reports (pytest-qt, offscreen)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import QPoint, QRect  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests.conftest import night_session, qa_oldest_first  # noqa: E402

TIMEOUT = 30_000  # ms; a shared machine: generous waits that end as soon as the thing happens


pytestmark = pytest.mark.usefixtures("no_leaked_windows")  # fixtures: tests/conftest.py


@pytest.fixture
def window(open_window):
    return open_window(resolution=(160, 120))


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


def test_day_night_mode_is_the_first_camera_control_in_view_on_a_768_px_screen(window, qtbot):
    # the first-run hint says to switch the camera to night; alphabetically "mode" came
    # ninth, below the fold of the Camera dock at 1366x768, and a new user could not find it
    window.resize(1366, 736)
    qtbot.waitUntil(lambda: window.height() == 736, timeout=TIMEOUT)
    window.dock_camera.raise_()  # on a 768 px screen a tab beside Capture's (the hint says)
    QApplication.processEvents()
    scroll = window.findChild(type(window.dock_camera.widget()), "dock_camera_scroll")
    mode = window.controls.editor("mode")
    assert not mode.visibleRegion().isEmpty()
    assert _fully_in_view(mode, scroll.viewport())
    from PySide6.QtWidgets import QLabel

    hints = [w.text() for w in window.live.result_view.findChildren(QLabel)]
    assert any("Camera dock: mode" in h for h in hints), hints


def test_sessions_table_fits_its_dock_on_a_768_px_screen_without_sideways_scrolling(window, qtbot):
    # Before: every column sized to its text, and at 1366x768 Pairs and State were only
    # reachable by scrolling the table sideways
    window.resize(1366, 736)
    qtbot.waitUntil(lambda: window.height() == 736, timeout=TIMEOUT)
    window.dock_sessions.raise_()
    name = "roof-east 2026-12-01 long exposure run with the new IR lamp"
    window.sessions.create(name)
    table = window.sessions.table
    qtbot.waitUntil(lambda: table.rowCount() == 1, timeout=TIMEOUT)
    QApplication.processEvents()
    assert table.isVisible()
    columns = range(table.columnCount())
    used = sum(table.columnWidth(c) for c in columns)
    assert used <= table.viewport().width(), (used, table.viewport().width())
    assert table.horizontalScrollBar().maximum() == 0
    # the figures whole (Captures, Pairs, State and the date), the name elided, whole in its tip
    header = table.horizontalHeader()
    for c in (2, 3, 4, 5):
        wanted = max(table.sizeHintForColumn(c), header.sectionSizeHint(c))
        assert table.columnWidth(c) >= wanted, (table.horizontalHeaderItem(c).text(), wanted)
    # the name keeps room to be told apart: the operator column gives way, into the tooltip
    assert table.isColumnHidden(1) and table.columnWidth(0) >= 120
    assert table.item(0, 0).text() == name and name in table.item(0, 0).toolTip()
    operator = table.item(0, 1).text()
    assert not operator or f"operator: {operator}" in table.item(0, 0).toolTip()


def test_night_run_health_shows_on_every_tab_turns_red_when_the_camera_goes_and_stays(
    qtbot, open_window
):
    from tests.test_live import UnpluggableCamera

    cam = UnpluggableCamera(resolution=(160, 120), fps=30.0, seed=3)
    win = open_window(cam)
    night_session(win, qtbot, "unattended")
    panel, health = win.night_panel, win.run_health
    # a capture every 3 s: a slot missed on this loaded machine (no frame in time) is
    # retried soon, not an hour later
    panel.every.setValue(0.05)
    panel.burst.setValue(1)
    panel.start_schedule()
    r = panel.runner
    qtbot.waitUntil(
        lambda: r.captured >= 1 and f"{r.captured} captured" in health.text(), timeout=TIMEOUT
    )
    assert "running since" in health.text()
    assert win.windowTitle() == f"NightLab — {cam.info.name} — capturing"
    qtbot.waitUntil(lambda: " · last " in health.text(), timeout=TIMEOUT)  # newest pair
    colour = "#2e7d32" if r.missed_count == 0 else "#b26a00"  # green, amber once one missed
    assert colour in health.styleSheet()
    assert "every 3s" in health.toolTip()  # the plan, in the long form
    win.tabs.setCurrentWidget(win.qa)  # another tab, another dock raised: still in view
    win.dock_sessions.raise_()
    assert health.isVisible()
    cam.unplugged.set()  # the cable is pulled: the camera's own thread notices
    qtbot.waitUntil(lambda: "CAMERA LOST" in health.text(), timeout=TIMEOUT)
    assert "#c62828" in health.styleSheet()
    assert panel.countdown.text().startswith("Camera lost at")
    assert win.windowTitle().endswith(" — CAMERA LOST")  # the taskbar says it too
    cam.unplugged.clear()
    qtbot.waitUntil(lambda: "camera gone 1×" in health.text(), timeout=TIMEOUT)
    assert "CAMERA LOST" not in health.text()
    assert "#b26a00" in health.styleSheet()  # it recovered, but the morning should know
    panel.cancel()
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)
    # the summary outlives the run: in the status bar and under the capture buttons
    text = health.text()
    assert text.startswith("● Last run ") and "(cancelled)" in text
    assert f"{r.captured} captured · {r.missed_count} missed · camera gone 1×" in text
    assert "Camera gone 1×, longest" in health.toolTip()
    assert panel.countdown.text().startswith("Idle · Last run ")
    assert win.windowTitle() == f"NightLab — {cam.info.name}"
    # however long the line, it never makes the window wider than a laptop screen
    assert win.minimumSizeHint().width() <= 1366


def test_space_and_ctrl_q_ask_before_ending_a_scheduled_run(window, qtbot):
    night_session(window, qtbot, "ask first")
    panel = window.night_panel
    panel.every.setValue(60.0)
    panel.burst.setValue(1)
    panel.start_schedule()
    # the first slot is behind it (captured, or missed on a loaded machine): the run waits
    qtbot.waitUntil(lambda: "Next capture in" in panel.countdown.text(), timeout=TIMEOUT)
    cam = window.state.camera
    # Space (Stop camera) mid-run: asked, and Enter keeps capturing
    window.act_stream.trigger()
    box = window.confirm_box
    assert box is not None and box.isVisible() and "scheduled capture" in box.text()
    assert box.defaultButton().text() == "Keep capturing"
    box.defaultButton().click()
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=TIMEOUT)
    assert cam.is_streaming and panel.runner is not None
    # Ctrl+Q mid-run: asked; confirming stops the run and closes the window
    window.act_quit.trigger()
    box = window.confirm_box
    assert box.isVisible() and window.isVisible()
    quit_button = next(b for b in box.buttons() if b.text() == "Stop capture and quit")
    runner = panel.runner
    quit_button.click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT)
    assert runner.wait(20) and runner.finish_reason == "cancelled"


def test_ctrl_q_without_a_scheduled_run_quits_at_once(window, qtbot):
    window.act_quit.trigger()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT)
    assert window.confirm_box is None


def test_qa_keys_judge_consecutive_pairs_however_fast_they_are_pressed(qa_window, qtbot):
    from PySide6.QtCore import Qt

    qa, store = qa_window.qa, qa_window.store
    ids = qa_oldest_first(qa_window, qtbot, row=0)
    assert "(1 of 4)" in qa.info.text() and "4 not judged" in qa.count.text()
    # three verdicts typed back to back, before any write has come back
    for key in (Qt.Key.Key_P, Qt.Key.Key_F, Qt.Key.Key_R):
        qtbot.keyClick(qa.table, key)
    qtbot.waitUntil(lambda: "1 not judged" in qa.count.text(), timeout=TIMEOUT)
    got = [store.pair(i).verdict for i in ids]
    assert got == ["pass", "fail", "review", None]
    assert qa.current().id == ids[3] and "(4 of 4)" in qa.info.text()
    # a click on a verdict button leaves the keyboard in the list: K goes back, J forward
    qa.verdict_buttons["pass"].click()
    assert qa.table.hasFocus() or not qa.verdict_buttons["pass"].hasFocus()
    qtbot.waitUntil(lambda: store.pair(ids[3]).verdict == "pass", timeout=TIMEOUT)
    qtbot.keyClick(qa.table, Qt.Key.Key_K)
    assert qa.current().id == ids[2]
    qtbot.keyClick(qa.table, Qt.Key.Key_J)
    assert qa.current().id == ids[3]
    # typing in the note field types letters, it does not judge; Esc, then F judges with it
    qa.note.setFocus()
    qtbot.keyClicks(qa.note, "pfr")
    assert qa.note.text() == "pfr"
    assert store.pair(ids[3]).verdict == "pass"
    qtbot.keyClick(qa.note, Qt.Key.Key_Escape)
    assert qa.table.hasFocus()
    qtbot.keyClick(qa.table, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: store.pair(ids[3]).verdict == "fail", timeout=TIMEOUT)
    assert store.verdicts(ids[3])[-1].note == "pfr"


def test_qa_zoom_and_wipe_from_the_keyboard(qa_window, qtbot):
    from PySide6.QtCore import Qt

    qa = qa_window.qa
    qtbot.waitUntil(qa.view_a.has_image, timeout=TIMEOUT)
    qa.table.setFocus()

    def width(view) -> float:
        lo, hi = view.view.viewRange()[0]
        return hi - lo

    before_a, before_b = width(qa.view_a), width(qa.view_b)
    qtbot.keyClick(qa.table, Qt.Key.Key_Plus)
    assert width(qa.view_a) < 0.9 * before_a
    assert width(qa.view_b) < 0.9 * before_b  # linked: the other side zooms with it
    qtbot.keyClick(qa.table, Qt.Key.Key_0)
    lo, hi = qa.view_a.view.viewRange()[0]
    assert lo <= 0.5 and hi >= 63.5  # the whole 64 px wide pair in view again
    qtbot.keyClick(qa.table, Qt.Key.Key_W)
    assert qa.mode.currentText() == "Wipe"
    qtbot.keyClick(qa.table, Qt.Key.Key_W)
    assert qa.mode.currentText() == "Side by side"


def test_export_dialog_offers_every_session_counts_the_choice_and_says_what_it_wrote(
    qa_window, qtbot, tmp_path
):
    import threading

    win, store = qa_window, qa_window.store
    first = win.state.session
    # a second session, newer, with no pair (written off the GUI thread, as the app does)
    t = threading.Thread(target=store.create_session, args=("empty evening",))
    t.start()
    t.join()
    win.state.session = None  # nothing open: the dialog still exports, by choice
    dlg = win.export_dialog(show=False, session=first)
    dlg.path.setText(str(tmp_path / "kept.zip"))  # set before the session list arrives
    dlg.show()
    qtbot.waitUntil(lambda: dlg.sessions.count() == 2, timeout=TIMEOUT)
    assert dlg.path.text() == str(tmp_path / "kept.zip")  # the list's arrival keeps it
    assert dlg.sessions.currentText().startswith("judge me")
    dlg.close()
    dlg = win.export_dialog(show=False)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.sessions.count() == 2, timeout=TIMEOUT)
    names = [dlg.sessions.itemText(i) for i in range(2)]
    assert names[0].startswith("empty evening · 0 pairs") and names[1].startswith("judge me")
    dlg.sessions.setCurrentIndex(1)
    qtbot.waitUntil(lambda: "whole session: 4 pairs" in dlg.selection.text(), timeout=TIMEOUT)
    assert dlg.path.text().endswith("judge-me.zip") and dlg.go.isEnabled()
    # a choice that covers nothing is said before anything is written, and Export waits
    dlg.verdict.setCurrentIndex(dlg.verdict.findData("pass"))
    qtbot.waitUntil(lambda: "No pair of 4 matches" in dlg.selection.text(), timeout=TIMEOUT)
    assert not dlg.go.isEnabled()
    dlg.verdict.setCurrentIndex(0)
    qtbot.waitUntil(dlg.go.isEnabled, timeout=TIMEOUT)
    out = tmp_path / "handover.zip"
    dlg.path.setText(str(out))
    assert not dlg.reveal.isEnabled()
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running, timeout=TIMEOUT)
    text = dlg.phase.text()
    assert f"Exported to {out}" in text and "4 pairs" in text and " files, " in text
    assert "have no model run" in text  # what the bag lacks, and how to add it
    assert out.is_file() and dlg.reveal.isEnabled() and dlg.written == out
    dlg.close()
    assert first is not None


def test_sessions_dock_exports_the_selected_session(qa_window, qtbot):
    from gui.sessions.exchange import ExportDialog

    win = qa_window
    panel = win.sessions
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=TIMEOUT)
    panel.table.selectRow(0)
    win.state.session = None
    panel.btn_export.click()
    qtbot.waitUntil(lambda: win.findChild(ExportDialog) is not None, timeout=TIMEOUT)
    dlg = win.findChild(ExportDialog)
    assert dlg.isVisible() and dlg.session is not None and dlg.session.name == "judge me"
    dlg.close()


def test_on_a_1080_px_screen_the_camera_controls_get_the_height_capture_does_not_need(
    window, qtbot
):
    window.resize(1920, 1048)
    qtbot.waitUntil(lambda: window.height() == 1048, timeout=TIMEOUT)
    window._size_right_column()  # what the first show does (the fixture showed it smaller)
    QApplication.processEvents()
    viewport = window.findChild(type(window.dock_capture.widget()), "dock_capture_scroll")
    assert _fully_in_view(window.night_panel.btn_run, viewport.viewport())
    assert _fully_in_view(window.night_panel.log, viewport.viewport())
    assert window.dock_camera.height() >= 250  # a screenful of camera controls, not a sliver


def test_ctrl_3_then_p_judges_and_ctrl_2_then_arrows_nudge(qa_window, qtbot):
    from PySide6.QtCore import Qt

    win, qa = qa_window, qa_window.qa
    win.tabs.setCurrentWidget(win.live)
    win.dock_capture.raise_()
    win.capture_panel.btn_frame.setFocus()  # the operator last clicked in a dock
    qtbot.waitUntil(win.capture_panel.btn_frame.hasFocus, timeout=TIMEOUT)
    win.tab_actions[2].trigger()  # Ctrl+3
    assert win.tabs.currentWidget() is qa
    qtbot.waitUntil(lambda: qa.current() is not None, timeout=TIMEOUT)
    first = qa.current()
    # the key goes wherever the focus is, as a real key press does
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_P)
    qtbot.waitUntil(lambda: win.store.pair(first.id).verdict == "pass", timeout=TIMEOUT)
    win.tab_actions[1].trigger()  # Ctrl+2: the inspector, on the pair under review
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Right)
    assert win.inspector.nudge_label.text() == "nudge +1, +0 px"


def test_qa_column_header_click_sorts_and_a_second_click_reverses(qa_window, qtbot):
    from gui.qa.panel import COLUMNS

    qa = qa_window.qa
    header = qa.table.horizontalHeader()
    header.sectionClicked.emit(COLUMNS.index("Leak %"))
    assert qa.sort.currentText() == "Leak area ↓"
    qtbot.waitUntil(
        lambda: [p.leak_area_pct for p in qa._pairs] == [4.0, 3.0, 2.0, 1.0], timeout=TIMEOUT
    )
    header.sectionClicked.emit(COLUMNS.index("Leak %"))
    qtbot.waitUntil(
        lambda: [p.leak_area_pct for p in qa._pairs] == [1.0, 2.0, 3.0, 4.0], timeout=TIMEOUT
    )
    assert qa.table.item(0, COLUMNS.index("Leak %")).text() == "1.0"
    header.sectionClicked.emit(COLUMNS.index("Night"))  # a thumbnail column: no order
    assert qa.sort.currentText() == "Leak area ↑"


def test_qa_wipe_is_composed_off_the_gui_thread_one_at_a_time_and_ends_on_the_last_position(
    qa_window, qtbot, monkeypatch
):
    import threading
    import time

    import gui.qa.panel as qa_module
    from engine.overlay import as_display
    from engine.pair_views import wipe

    qa = qa_window.qa
    qtbot.waitUntil(lambda: qa._views is not None, timeout=TIMEOUT)
    seen = {"gui": 0, "running": 0, "max": 0, "calls": 0}
    lock = threading.Lock()

    def slow_wipe(a, b, position):
        with lock:
            seen["calls"] += 1
            seen["running"] += 1
            seen["max"] = max(seen["max"], seen["running"])
            seen["gui"] += threading.current_thread() is threading.main_thread()
        time.sleep(0.05)
        with lock:
            seen["running"] -= 1
        return wipe(a, b, position)

    monkeypatch.setattr(qa_module, "wipe", slow_wipe)
    qa.mode.setCurrentIndex(1)
    for pos in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):  # a drag of the slider
        qa.wipe_pos.setValue(pos)
    v = qa._views
    want = as_display(wipe(v.image("night"), v.image("colorized"), 0.8))
    qtbot.waitUntil(
        lambda: (
            not qa._wipe_busy
            and qa.view_wipe.has_image()
            and np.array_equal(qa.view_wipe.image(), want)
        ),
        timeout=TIMEOUT,
    )
    assert seen["gui"] == 0, "a wipe was composed on the GUI thread"
    assert seen["max"] == 1 and seen["calls"] <= 3  # the positions between were skipped


def test_a_camera_loss_never_makes_the_window_wider_than_the_screen(window, qtbot):
    import threading

    window.resize(1366, 736)
    QApplication.processEvents()
    narrowest = window.minimumSizeHint().width()
    assert narrowest <= 1366
    cam = window.state.camera
    t = threading.Thread(target=cam.events.disconnected.emit, args=("USB cable pulled",))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: "disconnected" in window.live.camera_title.text(), timeout=TIMEOUT)
    QApplication.processEvents()
    assert window.minimumSizeHint().width() <= narrowest
    assert window.width() == 1366


def test_qa_compares_the_day_reference_as_taken_with_its_aligned_version(qa_window, qtbot):

    qa = qa_window.qa
    qtbot.waitUntil(lambda: qa._views is not None, timeout=TIMEOUT)
    qa.role_a.setCurrentIndex(qa.role_a.findData("reference"))
    qa.role_b.setCurrentIndex(qa.role_b.findData("aligned"))
    v = qa._views
    qtbot.waitUntil(
        lambda: (
            qa.view_a.image() is not None
            and np.array_equal(qa.view_a.image(), v.display("reference"))
            and np.array_equal(qa.view_b.image(), v.display("aligned"))
        ),
        timeout=TIMEOUT,
    )
    assert qa.role_a.currentText() == "Day reference (as taken)"


def test_start_and_capture_pair_wait_for_a_day_reference_and_say_so(window, qtbot):
    panel = window.night_panel
    window.sessions.create("no reference yet")
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=TIMEOUT)
    assert not panel.btn_run.isEnabled() and not panel.btn_pair.isEnabled()
    assert panel.countdown.text().startswith("Capture or load a day reference first")
    assert "day reference" in panel.btn_run.toolTip()
    qtbot.waitUntil(lambda: window.state.camera.latest_frame() is not None, timeout=TIMEOUT)
    assert window.capture_reference()
    qtbot.waitUntil(panel.btn_run.isEnabled, timeout=TIMEOUT)
    assert panel.btn_pair.isEnabled() and panel.countdown.text() == "Idle"
    assert panel.btn_run.toolTip() == "Start the scheduled capture"


def test_qa_count_is_of_every_match_not_of_the_page_listed(qa_window, qtbot, monkeypatch):
    import gui.qa.panel as qa_module

    qa = qa_window.qa
    monkeypatch.setattr(qa_module, "PAGE", 3)  # a session longer than a page
    qa.refresh()
    qtbot.waitUntil(lambda: qa.table.rowCount() == 3, timeout=TIMEOUT)
    assert qa.count.text() == "pairs 1–3 of 4 · 4 not judged" and qa.next_page.isEnabled()
    qa.verdict.setCurrentIndex(qa.verdict.findData("pass"))
    qtbot.waitUntil(lambda: qa.count.text() == "no pairs match", timeout=TIMEOUT)


def test_qa_tag_refused_by_the_store_keeps_the_typed_text_and_shows_why(qa_window, qtbot):
    from PySide6.QtCore import Qt

    qa, store = qa_window.qa, qa_window.store
    qa.table.selectRow(0)
    pair_id = qa.current().id
    too_long = "night-" + "x" * 70  # the store takes 1-64 characters
    qa.tags_edit.setFocus()
    qtbot.keyClicks(qa.tags_edit, too_long)
    qtbot.keyClick(qa.tags_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "1-64 characters" in qa.tags_edit.toolTip(), timeout=TIMEOUT)
    assert qa.tags_edit.text() == too_long  # corrected in place, not typed again
    assert "1-64 characters" in qa_window.statusBar().currentMessage()
    assert store.pair(pair_id).tags == ()
    # corrected: the mark goes as soon as it is edited, the text when the store has the tag
    qa.tags_edit.selectAll()
    qtbot.keyClicks(qa.tags_edit, "fog, van")
    assert "1-64" not in qa.tags_edit.toolTip()
    qtbot.keyClick(qa.tags_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: set(store.pair(pair_id).tags) == {"fog", "van"}, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: qa.tags_edit.text() == "", timeout=TIMEOUT)


def test_qa_verdict_refused_by_the_store_keeps_the_typed_note_on_its_pair(
    read_only_store, open_window, qtbot
):
    # Before: the note was cleared before the store was asked, so a verdict the store refused
    # (here a store opened read-only) lost what the operator had typed
    from PySide6.QtCore import Qt

    store = read_only_store
    win = open_window(store=store, resolution=(160, 120), fps=15.0)
    win.state.session = store.sessions()[0]
    win.tabs.setCurrentWidget(win.qa)
    qa = win.qa
    qtbot.waitUntil(lambda: qa.table.rowCount() == 2, timeout=TIMEOUT)
    qa.table.selectRow(0)
    judged = qa.current().id
    qa.note.setFocus()
    qtbot.keyClicks(qa.note, "van parked under the tree")
    qtbot.keyClick(qa.note, Qt.Key.Key_Escape)
    qtbot.keyClick(qa.table, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: "read-only" in win.statusBar().currentMessage(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: qa.note.text() == "van parked under the tree", timeout=TIMEOUT)
    # back on the pair the note is about, so a second F judges that pair with it
    assert qa.current().id == judged
    assert "read-only" in qa.note.toolTip()
    assert store.pair(judged).verdict is None


def test_buttons_of_the_schedule_leak_model_and_inspector_have_tooltips(window, qtbot):
    # the README promises a tooltip on every button; Pause, Stop, Defaults, Host and Reset
    # nudge had none
    from PySide6.QtWidgets import QAbstractButton

    panels = (window.night_panel, window.leak_panel, window.model_panel, window.inspector)
    bare = [
        b.text()
        for panel in panels
        for b in panel.findChildren(QAbstractButton)
        if b.text() and not b.toolTip() and type(b).__name__ != "QCheckBox"
    ]
    assert bare == []


def test_the_model_dock_shows_the_shipped_cards_licence_whole(window, qtbot):
    # the card was cut at 160 characters mid-word ("…via the VIS-NIR-regis"): the licence's
    # research-use terms and the photos' licences were out of sight
    import json

    from engine.models import card_path_for, default_model_path

    raw = json.loads(card_path_for(default_model_path()).read_text())
    panel = window.model_panel
    qtbot.waitUntil(lambda: "License" in panel.card.text(), timeout=TIMEOUT)
    last_words = raw["license"].split()[-3:]
    assert " ".join(last_words) in panel.card.text()
    assert raw["license"] in _tooltip_as_shown(panel.card.toolTip())


def _tooltip_as_shown(tip: str) -> str:
    """A tooltip's text as Qt shows it: as rich text when its first line has a tag."""
    from PySide6.QtGui import Qt as QtGuiNs
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    (doc.setHtml if QtGuiNs.mightBeRichText(tip) else doc.setPlainText)(tip)
    return doc.toPlainText()


def test_a_loaded_cards_markup_is_shown_as_text_in_the_tooltip(window, qtbot, tmp_path):
    # Before: the tooltip was the card's text as is; Qt rendered a card's "<b>" (or an image,
    # a link) from a model file someone else wrote, instead of showing it
    import json

    from engine.models import card_path_for, write_tiny_model

    model = write_tiny_model(tmp_path / "tiny.onnx")
    card_file = card_path_for(model)
    card = json.loads(card_file.read_text())
    card["description"] = "<b>Retrained</b> by R&D <img src='x.png'>"
    card_file.write_text(json.dumps(card))
    panel = window.model_panel
    window.state.model_path = str(model)
    qtbot.waitUntil(lambda: "Retrained" in panel.card.toolTip(), timeout=TIMEOUT)
    shown = _tooltip_as_shown(panel.card.toolTip())
    assert "Description: <b>Retrained</b> by R&D <img src='x.png'>" in shown, shown


def test_a_loaded_cards_long_text_is_cut_at_a_word_and_its_markup_shown_as_text():
    from types import SimpleNamespace

    from gui.model.panel import card_html

    long = "<b>bold</b> " + "word " * 200 + "tail"
    card = SimpleNamespace(
        name="m", version="1", format="onnx", input_size=(8, 8), file="m.onnx",
        sha256="0" * 64, raw={"description": long},
    )  # fmt: skip
    text = card_html(card)
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>" not in text
    assert "word …</td>" in text and "tail" not in text
