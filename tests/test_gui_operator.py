"""An operator's pass over the screens: what a control says is true, a control that cannot
work is not offered, the keyboard reaches what the mouse does (pytest-qt, offscreen)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from tests import test_gui_screens  # noqa: E402
from tests.conftest import qa_oldest_first  # noqa: E402

TIMEOUT = 30_000

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


@pytest.fixture
def window(open_window):
    return open_window(resolution=(160, 120))


def _session_of_one_pair(store, name: str):
    rng = np.random.default_rng(2)
    s = store.create_session(name)
    ok = {"ok": True, "method": "ecc", "motion": "homography", "score": 0.9, "reason": "",
          "matrix": np.eye(3).tolist()}  # fmt: skip
    store.capture_pair(
        s.id,
        day=rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
        night=rng.integers(0, 255, (48, 64), dtype=np.uint8),
        alignment=ok,
    )
    return s


def _inspected(win, qtbot, pair):
    win.tabs.setCurrentWidget(win.inspector)
    win.inspector.show_pair(pair)
    qtbot.waitUntil(win.inspector.canvas.has_image, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not win.inspector._in_flight, timeout=TIMEOUT)
    return win.inspector


def test_inspector_nudge_label_starts_again_at_zero_for_the_next_pair(qa_window, qtbot):
    # it kept saying "nudge +3, +0 px" on the next pair, whose registration was untouched:
    # an operator pressing Accept there believed they were storing a nudge
    store = qa_window.store
    first, second = store.pairs(session_id=qa_window.state.session.id, sort="id")[:2]
    ins = _inspected(qa_window, qtbot, first)
    ins.setFocus()
    for _ in range(3):
        qtbot.keyClick(ins, Qt.Key.Key_Right)
    assert ins.nudge_label.text() == "nudge +3, +0 px"
    ins.show_pair(second)
    assert ins.nudge_label.text() == "nudge +0, +0 px"
    assert not ins._offset.any()


def test_inspector_enter_accepts_the_nudge_and_ctrl_z_undoes_it(qa_window, qtbot):
    store = qa_window.store
    pair = store.pairs(session_id=qa_window.state.session.id, sort="id")[0]
    ins = _inspected(qa_window, qtbot, pair)
    ins.view.setFocus()  # the keys work from the panel's controls too, not only the view
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Down)  # the combo takes this one
    ins.setFocus()
    qtbot.keyClick(ins, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClick(ins, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert ins.nudge_label.text() == "nudge +0, +0 px"
    qtbot.keyClick(ins, Qt.Key.Key_Left)
    before = np.asarray(store.pair(pair.id).matrix)
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: "alignment-checked" in store.pair(pair.id).tags, timeout=TIMEOUT)
    after = np.asarray(store.pair(pair.id).matrix)
    np.testing.assert_allclose(after[:2, 2], before[:2, 2] + [-1, 0], atol=1e-6)
    assert "(Enter)" in ins.btn_accept.toolTip() and "(Ctrl+Z)" in ins.btn_reset.toolTip()


def test_inspector_blend_weight_is_offered_only_for_the_blend_view(window, qtbot):
    ins = window.inspector
    assert ins.pair is None
    assert not ins.alpha.isEnabled(), "checkerboard first: the weight does nothing"
    ins.view.setCurrentIndex(ins.view.findData("blend"))
    assert ins.alpha.isEnabled()
    ins.view.setCurrentIndex(ins.view.findData("difference"))
    assert not ins.alpha.isEnabled()


def test_the_blend_and_wipe_sliders_are_named_and_greyed_with_their_label(window, qtbot):
    """A bare "0.50" beside a slider said nothing of what it weighs or where it cuts."""
    ins, qa = window.inspector, window.qa
    assert ins.alpha_label.text() == "Blend" and ins.alpha_label.buddy() is ins.alpha
    for view in ("checkerboard", "blend", "difference"):
        ins.view.setCurrentIndex(ins.view.findData(view))
        assert ins.alpha_label.isEnabled() == ins.alpha.isEnabled() == (view == "blend")
    assert qa.wipe_label.text() == "Wipe" and qa.wipe_label.buddy() is qa.wipe_pos
    assert not qa.wipe_label.isEnabled() and not qa.wipe_pos.isEnabled()  # side by side
    qa.mode.setCurrentIndex(1)  # the wipe
    assert qa.wipe_label.isEnabled() and qa.wipe_pos.isEnabled()
    qa.mode.setCurrentIndex(0)
    assert not qa.wipe_label.isEnabled()


def test_qa_verdicts_note_and_tags_wait_for_a_selected_pair(window, qtbot, store):
    qa = window.qa
    window.tabs.setCurrentWidget(qa)
    assert window.state.session is None
    controls = [*qa.verdict_buttons.values(), qa.note, qa.tags_edit]
    assert not any(w.isEnabled() for w in controls), "no pair: nothing to judge"
    # and they look it: the verdict colours gave way to the disabled grey
    from PySide6.QtGui import QColor

    def text_colour(button) -> QColor:
        img = button.grab().toImage()
        counts = {}
        for y in range(img.height()):
            for x in range(img.width()):
                c = img.pixelColor(x, y)
                if c.saturation() > 90 and c.value() > 60:  # coloured text pixels
                    counts[c.hue() // 20] = counts.get(c.hue() // 20, 0) + 1
        return counts

    assert not any(text_colour(b) for b in qa.verdict_buttons.values()), "greyed out"
    assert not qa.wipe_pos.isEnabled(), "side by side: the wipe position does nothing"
    # the window forbids store writes on the GUI thread: written as a worker would
    writer = ThreadPoolExecutor(1)
    s = writer.submit(_session_of_one_pair, store, "one pair").result()
    writer.shutdown()
    window.state.session = store.session(s.id)
    qtbot.waitUntil(lambda: qa.current() is not None, timeout=TIMEOUT)
    assert all(w.isEnabled() for w in controls)
    assert all(text_colour(b) for b in qa.verdict_buttons.values()), "in their colours again"
    qa.verdict.setCurrentIndex(qa.verdict.findData("fail"))  # a filter that matches none
    qtbot.waitUntil(lambda: qa.table.rowCount() == 0, timeout=TIMEOUT)
    assert not any(w.isEnabled() for w in controls)


def test_qa_says_once_that_colour_views_need_a_colorizer(store, open_window, qtbot):
    from engine.live_preview import LivePreview

    s = _session_of_one_pair(store, "no model")  # before the window: no thread needed
    preview = LivePreview(workers=1)
    preview.colorizer = lambda: None  # as when no model can be loaded: no colour views
    win = open_window(resolution=(160, 120), preview=preview)
    qa = win.qa
    win.state.session = store.session(s.id)
    win.tabs.setCurrentWidget(qa)
    qtbot.waitUntil(lambda: "no colorizer" in qa.info.text(), timeout=TIMEOUT)
    for role in ("masked", "colorized", "masked"):  # the operator tries the colour views
        qa.role_b.setCurrentIndex(qa.role_b.findData(role))
    qa.mode.setCurrentIndex(1)
    qa.mode.setCurrentIndex(0)
    assert qa.info.text().count("no colorizer") == 1, qa.info.text()
    assert qa.info.text().startswith("<b>Pair #")
    qa.role_b.setCurrentIndex(qa.role_b.findData("aligned"))
    qtbot.waitUntil(qa.view_b.has_image, timeout=TIMEOUT)
    assert "no colorizer" not in qa.info.text(), "gone when no colour view is asked for"


def test_sessions_open_is_offered_once_a_session_is_selected(qa_window, qtbot):
    panel = qa_window.sessions
    qtbot.waitUntil(lambda: panel.table.rowCount() == 1, timeout=TIMEOUT)
    panel.table.clearSelection()
    assert not panel.btn_open.isEnabled(), "Open with nothing selected did nothing"
    panel.table.selectRow(0)
    assert panel.btn_open.isEnabled()


def test_leak_mask_sizes_say_their_unit_and_which_pixels(window):
    from PySide6.QtWidgets import QFormLayout

    panel = window.leak_panel
    form = panel.findChild(QFormLayout)
    labels = {}
    for name, slider in panel.sliders.items():
        label = form.labelForField(slider)
        labels[name] = (label.text(), label.toolTip())
    for name in ("window", "close_px", "blur_sigma", "refine_radius"):
        text, tip = labels[name]
        assert text.endswith("(px)") and "working copy" in tip and "256 px" in tip, labels[name]
    for name in ("lo", "hi", "tail_max"):  # similarities: no unit
        assert "px" not in labels[name][0]


def test_ctrl_m_switches_day_and_night_and_follows_the_camera(window, qtbot):
    cam = window.state.camera
    act = window.controls.act_night
    assert act in window.menu_camera.actions() and act.isEnabled()
    assert not act.isChecked() and cam.get_control("mode") == "day"
    window.activateWindow()
    qtbot.keyClick(window, Qt.Key.Key_M, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: cam.get_control("mode") == "night", timeout=TIMEOUT)
    mode = window.controls.editor("mode")
    qtbot.waitUntil(lambda: mode.currentText() == "night", timeout=TIMEOUT)
    assert act.isChecked()
    # changed elsewhere (a script, the CLI, the mode box): the menu says so
    worker = ThreadPoolExecutor(1)
    worker.submit(cam.set_control, "mode", "day").result()
    worker.shutdown()
    qtbot.waitUntil(lambda: not act.isChecked(), timeout=TIMEOUT)
    assert cam.get_control("mode") == "day", "showing the change did not echo it back"


def test_camera_controls_write_microseconds_as_operators_read_them(window):
    from PySide6.QtWidgets import QFormLayout

    form = window.controls.findChild(QFormLayout)
    label = form.labelForField(window.controls.editor("exposure_us"))
    assert label.text() == "exposure (µs)"


def test_export_and_import_wait_for_a_path(qa_window, qtbot, tmp_path):
    # with the path field emptied, Export ran and failed; now the button waits for a path
    dlg = qa_window.export_dialog(show=False)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(lambda: "pairs" in dlg.selection.text(), timeout=TIMEOUT)
    qtbot.waitUntil(dlg.go.isEnabled, timeout=TIMEOUT)
    dlg.path.clear()
    assert not dlg.go.isEnabled()
    dlg.path.setText(str(tmp_path / "bag.zip"))
    assert dlg.go.isEnabled()
    qtbot.mouseClick(dlg.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (tmp_path / "bag.zip").exists() and not dlg.running, timeout=TIMEOUT)
    assert dlg.go.isEnabled(), "after the export, another one can be made"
    dlg.tag.setText("no-such-tag")  # a choice that covers no pair still holds it back
    qtbot.waitUntil(lambda: not dlg.go.isEnabled(), timeout=TIMEOUT)
    imp = qa_window.import_dialog(show=False)
    qtbot.addWidget(imp)
    assert not imp.go.isEnabled(), "no bag chosen"
    imp.path.setText(str(tmp_path / "bag.zip"))
    assert imp.go.isEnabled()


def test_an_import_says_it_opened_the_imported_session(qa_window, qtbot, tmp_path):
    # the import opens the session it added, so the next Capture pair records into it; the
    # dialog said only "Imported 'x (copy)': 4 pairs, 24 captures", and an operator who
    # imported last week's bag mid-night went on capturing into the copy unawares
    before = qa_window.state.session
    dlg = qa_window.export_dialog(show=False)
    qtbot.addWidget(dlg)
    qtbot.waitUntil(dlg.go.isEnabled, timeout=TIMEOUT)
    dlg.path.setText(str(tmp_path / "bag.zip"))
    qtbot.mouseClick(dlg.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: (tmp_path / "bag.zip").exists() and not dlg.running, timeout=TIMEOUT)
    imp = qa_window.import_dialog(show=False)
    qtbot.addWidget(imp)
    imp.path.setText(str(tmp_path / "bag.zip"))
    imp.as_copy.setChecked(True)
    qtbot.mouseClick(imp.go, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "Imported" in imp.phase.text(), timeout=TIMEOUT)
    opened = qa_window.state.session
    assert opened.id != before.id and opened.name == f"{before.name} (copy)"
    assert f"now open: captures go into {opened.name!r}" in imp.phase.text()


def test_live_colorize_in_day_mode_says_it_waits_for_a_night_frame(window, qtbot):
    # Live colorize switched on before the camera went to night: the result pane kept the
    # day reference and its caption, 0 results/s, and nothing said why (a new user pressed
    # it again). It says what it waits for, and a night frame's result replaces the line
    cam, view = window.state.camera, window.live.result_view
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=TIMEOUT)
    assert window.capture_reference()
    window.set_live(True)
    assert window.state.live
    qtbot.waitUntil(lambda: "waits for a night frame" in view._caption.text(), timeout=TIMEOUT)
    assert view._caption.isVisibleTo(view) and "Ctrl+M" in view._caption.text()
    with ThreadPoolExecutor(1) as worker:  # switched elsewhere (the mode box, Ctrl+M)
        worker.submit(cam.set_control, "mode", "night").result()
    qtbot.waitUntil(lambda: "colorized" in view._caption.text(), timeout=TIMEOUT)


def test_day_captures_taken_in_the_app_are_recorded_with_their_frame_metadata(window, qtbot):
    # the GUI recorded its day reference's captures with no metadata ({}) and the time they
    # were written: three captures added 3 s apart and fused at 21:48:49 were all "taken"
    # at 21:48:49, exposure unknown; `nightlab capture` keeps both (README: everything
    # captured is kept, with the frame's metadata)
    import time

    cam, store, panel = window.state.camera, window.store, window.capture_panel
    window.sessions.create("metadata night")
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=TIMEOUT)
    sid = window.state.session.id
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=TIMEOUT)
    assert window.capture_reference()  # one frame: recorded at once
    seq = int(window.state.reference_source.rsplit("#", 1)[1])
    qtbot.waitUntil(lambda: len(store.captures(sid, kind="day")) == 1, timeout=TIMEOUT)
    (one,) = store.captures(sid, kind="day")
    device = cam.latest_frame().meta.device_id
    assert one.meta["sequence"] == seq and one.meta["device_id"] == device
    assert one.meta["exposure_us"] is not None and one.taken_at == one.meta["timestamp"]

    for _ in range(2):  # kept over time, then fused: each recorded as taken
        after = cam.latest_frame().meta.sequence
        qtbot.waitUntil(lambda a=after: cam.latest_frame().meta.sequence > a + 3, timeout=TIMEOUT)
        assert panel.add_capture()
        time.sleep(0.2)
    kept = [c.taken_at for c in panel.captures.captures]
    panel.use_median()
    qtbot.waitUntil(lambda: len(store.captures(sid, kind="day")) == 3, timeout=TIMEOUT)
    fused = store.captures(sid, kind="day")[1:]
    assert [c.taken_at for c in fused] == kept
    assert all(c.meta["sequence"] and c.meta["device_id"] == device for c in fused)


def test_night_burst_says_it_counts_frames(window):
    burst = window.night_panel.burst
    burst.setValue(4)
    assert burst.text() == "burst of 4 frames"
    burst.setValue(1)
    assert burst.text() == "1 frame (no burst)" and burst.value() == 1


def test_day_captures_are_greyed_while_the_camera_is_in_night_mode(window, qtbot):
    panel, cam = window.capture_panel, window.state.camera
    day_controls = [panel.btn_frame, panel.btn_burst, panel.btn_add, window.act_capture]
    assert all(w.isEnabled() for w in day_controls)
    worker = ThreadPoolExecutor(1)  # switched elsewhere (the mode box, a script, Ctrl+M)
    worker.submit(cam.set_control, "mode", "night").result()
    qtbot.waitUntil(lambda: not any(w.isEnabled() for w in day_controls), timeout=TIMEOUT)
    assert "night mode" in panel.btn_frame.toolTip() and "Ctrl+M" in panel.btn_frame.toolTip()
    assert panel.btn_load.isEnabled(), "a day photo from a file still works"
    worker.submit(cam.set_control, "mode", "day").result()
    worker.shutdown()
    qtbot.waitUntil(lambda: all(w.isEnabled() for w in day_controls), timeout=TIMEOUT)
    assert "newest camera frame" in panel.btn_frame.toolTip()
    # a burst holds its button until it lands, and does not wake it in night mode
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=TIMEOUT)
    panel.capture_burst(2)
    assert not panel.btn_burst.isEnabled()
    qtbot.waitUntil(panel.btn_burst.isEnabled, timeout=TIMEOUT)


def _settled(qa_window, qtbot) -> None:
    """Every verdict write the panel asked for has come back (the job runner is idle)."""
    qtbot.waitUntil(lambda: qa_window.jobs.active == 0, timeout=TIMEOUT)
    QApplication.processEvents()


def test_qa_double_key_on_the_last_pair_judges_it_once_and_moving_back_judges_it_again(
    qa_window, qtbot
):
    # Before: P on the last pair could not move on, so the pair stayed selected and a second
    # P (or F) pressed quickly judged the same pair again: two verdicts in its history for
    # one pair the operator saw
    qa, store = qa_window.qa, qa_window.store
    last = qa_oldest_first(qa_window, qtbot, row=3)[-1]
    assert "(4 of 4)" in qa.info.text()
    qtbot.keyClick(qa.table, Qt.Key.Key_P)
    qtbot.keyClick(qa.table, Qt.Key.Key_F)  # a quick second key: not a second verdict
    qtbot.keyClick(qa.table, Qt.Key.Key_P)
    _settled(qa_window, qtbot)
    assert [v.verdict for v in store.verdicts(last)] == ["pass"]
    assert qa.current().id == last
    said = qa_window.statusBar().currentMessage()
    assert "the last pair listed: K then J (or a click on it) to judge it again" in said
    # a verdict button pressed again is the same double press
    qa.verdict_buttons["fail"].click()
    _settled(qa_window, qtbot)
    assert [v.verdict for v in store.verdicts(last)] == ["pass"]
    # moved away and back (K, J): a deliberate re-judgement, kept in the history
    qtbot.keyClick(qa.table, Qt.Key.Key_K)
    qtbot.keyClick(qa.table, Qt.Key.Key_J)
    assert qa.current().id == last
    qtbot.keyClick(qa.table, Qt.Key.Key_F)
    _settled(qa_window, qtbot)
    assert [v.verdict for v in store.verdicts(last)] == ["pass", "fail"]
    assert store.pair(last).verdict == "fail"  # the latest wins
    # a click on the pair's row is deliberate too
    rect = qa.table.visualRect(qa.table.model().index(3, 0))
    qtbot.mouseClick(qa.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.keyClick(qa.table, Qt.Key.Key_R)
    _settled(qa_window, qtbot)
    assert [v.verdict for v in store.verdicts(last)] == ["pass", "fail", "review"]


def test_qa_verdict_key_held_down_judges_one_pair_not_one_per_key_repeat(qa_window, qtbot):
    # Before: the verdict shortcuts repeated with the keyboard's auto-repeat, so P held a
    # moment too long judged the pair and then the next ones, unseen
    from PySide6.QtCore import QEvent
    from PySide6.QtGui import QKeyEvent

    qa, store = qa_window.qa, qa_window.store
    ids = qa_oldest_first(qa_window, qtbot, row=0)
    qtbot.keyClick(qa.table, Qt.Key.Key_P)  # the press
    window = qa_window.windowHandle()
    for _ in range(3):  # the key held: what the system sends while it stays down
        held = QKeyEvent(QEvent.Type.KeyPress, Qt.Key.Key_P, Qt.KeyboardModifier.NoModifier,
                         "p", True)  # fmt: skip
        assert held.isAutoRepeat()
        QApplication.sendEvent(window, held)
    QApplication.sendEvent(
        window, QKeyEvent(QEvent.Type.KeyRelease, Qt.Key.Key_P, Qt.KeyboardModifier.NoModifier)
    )
    _settled(qa_window, qtbot)
    assert [store.pair(i).verdict for i in ids] == ["pass", None, None, None]
    assert qa.current().id == ids[1]  # on to the next pair, once


def test_add_capture_list_shows_what_was_kept_and_remove_and_clear_empty_the_engines_list(
    window, qtbot, monkeypatch
):
    # Before: Add capture kept frames in the widget, out of sight; the only trace was the
    # "Use fused of N" button, and nothing could be taken out but by fusing them
    import threading

    import engine.pair_views

    made_on = []
    real_thumbnail = engine.pair_views.thumbnail

    def thumbnail(image, width=128):  # the real one, noting the thread it ran on
        made_on.append(threading.current_thread())
        return real_thumbnail(image, width)

    monkeypatch.setattr(engine.pair_views, "thumbnail", thumbnail)
    panel, kept, cam = window.capture_panel, window.day_captures, window.state.camera
    assert panel.captures is kept  # the window's engine object, not a list of the widget's
    window.dock_capture.raise_()
    assert not panel.kept_box.isVisible() and not panel.btn_median.isEnabled()
    sequences = []
    for _ in range(3):  # three different frames, as over minutes
        qtbot.waitUntil(
            lambda: (f := cam.latest_frame()) is not None and f.meta.sequence not in sequences,
            timeout=TIMEOUT,
        )
        sequences.append(cam.latest_frame().meta.sequence)
        panel.btn_add.click()
    assert len(kept) == 3
    assert panel.kept_box.isVisible() and panel.kept.count() == 3
    assert panel.box.title() == "Day reference · 3 kept for fusing"
    assert panel.kept.toolTip().startswith("3 captures kept, ")  # and when: HH:MM:SS–HH:MM:SS
    assert panel.btn_median.isEnabled() and panel.btn_median.text() == "Use fused of 3"
    # each says when it was taken and which frame it is; its thumbnail comes from a worker
    tips = [panel.kept.item(i).toolTip() for i in range(3)]
    assert all(tip.startswith(f"Capture {i + 1} · ") for i, tip in enumerate(tips)), tips
    # the frame number and exposure, as the engine recorded them from the camera
    assert len({c.meta.sequence for c in kept.captures}) == 3
    for c, tip in zip(kept.captures, tips, strict=True):
        assert f"frame #{c.meta.sequence}" in tip and f"{c.clock()}" in tip
        assert f"exposure {c.meta.exposure_us / 1000:.3g} ms" in tip
    qtbot.waitUntil(
        lambda: all(not panel.kept.item(i).icon().isNull() for i in range(3)), timeout=TIMEOUT
    )
    assert len(made_on) == 3, "one thumbnail a capture, however often the list changed"
    assert threading.main_thread() not in made_on
    # Remove the selected (the middle one): gone from the engine's list, not only the widget
    assert not panel.btn_remove.isEnabled()  # nothing selected
    panel.kept.item(1).setSelected(True)
    assert panel.btn_remove.isEnabled()
    panel.btn_remove.click()
    assert [c.id for c in kept.captures] == [1, 3]
    qtbot.waitUntil(lambda: panel.kept.count() == 2, timeout=TIMEOUT)
    assert panel.btn_median.text() == "Use fused of 2"
    # the fusion takes what the list shows, and the list stays for another try
    panel.use_median()
    qtbot.waitUntil(lambda: "2 day captures fused" in window.state.reference_source,
                    timeout=TIMEOUT)  # fmt: skip
    assert len(kept) == 2
    # Delete removes the selected too
    panel.kept.setFocus()
    panel.kept.item(0).setSelected(True)
    qtbot.keyClick(panel.kept, Qt.Key.Key_Delete)
    assert [c.id for c in kept.captures] == [3]
    qtbot.waitUntil(lambda: panel.kept.count() == 1, timeout=TIMEOUT)
    assert not panel.btn_median.isEnabled()
    # Clear empties the engine's list, and the panel gives its room back
    panel.btn_clear.click()
    assert len(kept) == 0
    qtbot.waitUntil(lambda: not panel.kept_box.isVisible(), timeout=TIMEOUT)
    assert panel.kept.count() == 0 and panel.btn_median.text() == "Use fused"
    assert len(made_on) == 3  # the ones left were listed again from their kept thumbnails


def test_kept_captures_leave_start_in_view_and_the_dock_no_wider_on_a_768_px_screen(window, qtbot):
    # the kept captures' strip sits beside its buttons, one row high, and scrolls sideways
    # rather than widening the dock (a first layout pushed Clear out of the dock's view)
    window.resize(1366, 736)
    qtbot.waitUntil(lambda: window.height() == 736, timeout=TIMEOUT)
    panel, cam = window.capture_panel, window.state.camera
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=TIMEOUT)
    for _ in range(8):
        assert panel.add_capture()
    QApplication.processEvents()
    scroll = window.findChild(type(window.dock_capture.widget()), "dock_capture_scroll")
    viewport = scroll.viewport()
    assert panel.kept_box.isVisible() and panel.kept.count() == 8
    for w in (panel.btn_clear, panel.btn_remove, window.night_panel.btn_run,
              window.night_panel.countdown):  # fmt: skip
        assert test_gui_screens._fully_in_view(w, viewport), w.text()
    assert scroll.horizontalScrollBar().maximum() == 0
    assert window.minimumSizeHint().width() <= 1366


def test_capture_pair_action_is_greyed_with_the_panels_button_and_says_why(window, qtbot):
    # Before: the toolbar's Capture pair (and Ctrl+P) stayed enabled with no session or no
    # day reference while the Capture dock's button was greyed; a click only said, in the
    # status bar afterwards, to open a session
    from tests.conftest import night_session

    act, button = window.act_pair, window.night_panel.btn_pair
    assert not button.isEnabled() and not act.isEnabled()
    assert act.toolTip().startswith("Open or create a session first")
    night_session(window, qtbot, "pair action")
    qtbot.waitUntil(act.isEnabled, timeout=TIMEOUT)
    assert button.isEnabled() and act.toolTip().startswith("Record the next night frame")
    assert "Ctrl+P" in act.toolTip()
    act.trigger()  # a pair is being recorded: no second one on top of it
    assert not act.isEnabled() and not button.isEnabled()
    assert act.toolTip().startswith("A capture is being recorded")
    qtbot.waitUntil(act.isEnabled, timeout=TIMEOUT)
    assert window.store.pairs(session_id=window.state.session.id)


def test_qa_last_not_judged_pair_leaving_the_list_puts_no_other_pair_under_the_key(
    qa_window, qtbot
):
    # Before: with "Not judged" shown, the last pair judged left the list and the first one
    # was selected in its place, so a second press a moment later judged a pair unseen
    qa, store = qa_window.qa, qa_window.store
    qa.verdict.setCurrentIndex(qa.verdict.findData("none"))
    ids = qa_oldest_first(qa_window, qtbot, row=3)
    qtbot.keyClick(qa.table, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: qa.table.rowCount() == 3, timeout=TIMEOUT)  # it left the list
    _settled(qa_window, qtbot)
    assert qa.current() is None
    qtbot.keyClick(qa.table, Qt.Key.Key_F)  # the second press: nothing under it
    _settled(qa_window, qtbot)
    assert [store.pair(i).verdict for i in ids] == [None, None, None, "pass"]
    qtbot.keyClick(qa.table, Qt.Key.Key_J)  # the operator goes on: the first pair left
    assert qa.current().id == ids[0]
    qtbot.keyClick(qa.table, Qt.Key.Key_F)
    _settled(qa_window, qtbot)
    assert store.pair(ids[0]).verdict == "fail"


def test_kept_captures_of_another_camera_are_cleared_and_the_same_one_reopened_keeps_them(
    window, qtbot
):
    from engine.camera import SimulatedCamera

    panel, kept, cam = window.capture_panel, window.day_captures, window.state.camera
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=TIMEOUT)
    assert panel.add_capture() and panel.add_capture()
    same = SimulatedCamera(resolution=(320, 240), fps=30.0, seed=3)
    same.start()
    window.set_camera(same, window.state.camera_spec)  # e.g. reopened to colorize on it
    QApplication.processEvents()
    assert len(kept) == 2
    said = []
    panel.message.connect(said.append)
    other = SimulatedCamera(resolution=(320, 240), fps=30.0, seed=9)  # same size, other scene
    other.start()
    window.set_camera(other, "replay:/tmp/another-scene")
    qtbot.waitUntil(lambda: len(kept) == 0, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: panel.kept.count() == 0, timeout=TIMEOUT)
    assert said == ["2 kept captures of sim cleared: the camera is now replay:/tmp/another-scene"]


def test_qa_leak_filter_reads_any_leak_when_it_filters_nothing(qa_window, qtbot):
    # Before: beside "any SSIM" the leak filter read "leak ≤ 100.00 %" when it filtered
    # nothing, a bound the operator had to work out was none
    qa = qa_window.qa
    leak = qa.max_leak
    assert leak.text() == "any leak" and "leak_area_pct" not in qa.query().ranges
    width = leak.width()
    leak.stepDown()
    assert leak.text() == "leak ≤ 99.00 %" and qa.query().ranges["leak_area_pct"] == (None, 99.0)
    assert leak.width() == width  # the filter bar does not jump
    leak.selectAll()
    qtbot.keyClicks(leak, "3")
    qtbot.keyClick(leak, Qt.Key.Key_Return)
    assert leak.value() == 3.0 and leak.text() == "leak ≤ 3.00 %"
    qtbot.waitUntil(lambda: qa.table.rowCount() == 3, timeout=TIMEOUT)  # leak 1, 2, 3 %
    leak.selectAll()
    qtbot.keyClicks(leak, "any leak")
    qtbot.keyClick(leak, Qt.Key.Key_Return)
    assert leak.value() == 100.0
    qtbot.waitUntil(lambda: qa.table.rowCount() == 4, timeout=TIMEOUT)


def test_night_frame_and_result_split_the_live_view_evenly_on_a_768_px_screen(window, qtbot):
    # The result's view options sat in the result pane, so its width was set by them: at
    # 1366x768 the night frame got 360 px against the result's 615, and Blend shrank to a dot.
    window.resize(1366, 736)
    qtbot.waitUntil(lambda: window.height() == 736, timeout=TIMEOUT)
    window.tabs.setCurrentWidget(window.live)
    QApplication.processEvents()
    live = window.live
    night, result = live.camera_view.width(), live.result_view.width()
    assert night > 0 and abs(night - result) <= 0.05 * max(night, result), (night, result)
    assert live.blend.width() >= 110, live.blend.width()
    assert live.blend_label.text() == "Blend" and live.blend_label.buddy() is live.blend
    for base in ("colorized", "reference_blend", "night"):
        live.base_choice.setCurrentIndex(live.base_choice.findData(base))
        assert live.blend_label.isEnabled() == live.blend.isEnabled() == (base == "reference_blend")
