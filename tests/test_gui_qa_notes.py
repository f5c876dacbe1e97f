"""A note typed for a verdict the store refuses is never lost, wherever the judge has gone
meanwhile (the verdict key moves on at once; the refusal comes later, from the job runner).
Real store opened read-only (every write refused, as on a partner's copy of the data), real
job runner; its one worker is held by a job waiting on a gate, so the refusal comes exactly
after what the judge did meanwhile (on a busy machine it often does)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.conftest import GUI_TIMEOUT

N = 5
PAGE = 2
NOTE = "van parked under the tree"


def _panel(qtbot, tmp_path, monkeypatch, *, read_only: bool):
    """A QA panel over a store of `N` pairs (opened read-only: every write refused),
    `PAGE` pairs a page, sorted oldest first, the first pair selected and the keyboard in
    the list; with its job runner (one worker) and the store."""
    import gui.qa.panel as qa_module
    from engine.app_state import AppState
    from engine.store import Store
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache
    from gui.qa.panel import QAPanel

    monkeypatch.setattr(qa_module, "PAGE", PAGE)
    data = tmp_path / "data"
    with Store(data) as writer:
        s = writer.create_session("judging", operator="ana")
        for i in range(N):
            writer.capture_pair(s.id, day=np.full((8, 8, 3), 40 * i, np.uint8),
                                night=np.full((8, 8), 30, np.uint8))  # fmt: skip
    store = Store(data, read_only=read_only)
    state = AppState()
    state.session = store.session(s.id)
    jobs = JobRunner(workers=1)
    qa = QAPanel(state, store, jobs, PairCache(store, jobs, lambda: None))
    qtbot.addWidget(qa)
    qa.resize(1300, 700)
    qa.show()
    qa.activateWindow()
    qtbot.waitExposed(qa)
    qa.sort.setCurrentText("Oldest")
    qtbot.waitUntil(lambda: _ids(qa) == [1, 2] and not jobs.active, timeout=GUI_TIMEOUT)
    qa.table.selectRow(0)
    qa.table.setFocus()
    return qa, jobs, store


@pytest.fixture
def refusing(qtbot, tmp_path, monkeypatch):
    """`_panel` over a read-only store, and ``hold()``, which keeps the runner's one worker
    busy until the returned gate is set."""
    qa, jobs, store = _panel(qtbot, tmp_path, monkeypatch, read_only=True)

    def hold() -> threading.Event:
        gate = threading.Event()
        jobs.submit(gate.wait, label="a job before")
        return gate

    yield qa, jobs, hold
    jobs.shutdown()
    jobs.wait()
    store.close()


@pytest.fixture
def judging(qtbot, tmp_path, monkeypatch):
    """`_panel` over a store that takes verdicts."""
    qa, jobs, store = _panel(qtbot, tmp_path, monkeypatch, read_only=False)
    yield qa, jobs, store
    jobs.shutdown()
    jobs.wait()
    store.close()


def _ids(qa) -> list[int]:
    return [int(qa.table.item(r, 0).text().lstrip("#")) for r in range(qa.table.rowCount())]


def _settled(qtbot, jobs) -> None:
    qtbot.wait(20)
    qtbot.waitUntil(lambda: not jobs.active, timeout=GUI_TIMEOUT)
    qtbot.wait(20)


def _type_note(qtbot, qa) -> None:
    qa.note.setFocus()
    qtbot.keyClicks(qa.note, NOTE)
    qtbot.keyClick(qa.note, Qt.Key.Key_Escape)  # back to the list, as the hint says


def test_a_note_refused_after_j_turned_the_page_comes_back_on_its_pair_not_on_another(
    qtbot, refusing
):
    # Before: F moved to pair #2, J turned the page; the refusal found the judge on neither
    # pair #2 nor #1 and dropped the note: typed for nothing
    qa, jobs, hold = refusing
    assert qa.current().id == 1
    _type_note(qtbot, qa)
    gate = hold()
    qtbot.keyClick(qa.table, Qt.Key.Key_F)  # refused (later): pair #1, with the note
    assert qa.current().id == 2 and qa.note.text() == ""
    qtbot.keyClick(qa.table, Qt.Key.Key_J)  # past the page's last row: the next page
    gate.set()
    _settled(qtbot, jobs)
    assert qa.current().id == 3
    assert qa.note.text() == ""  # the note is about pair #1, not the pair now judged
    qtbot.keyClick(qa.table, Qt.Key.Key_K)
    _settled(qtbot, jobs)
    qtbot.keyClick(qa.table, Qt.Key.Key_K)
    assert qa.current().id == 1
    assert qa.note.text() == NOTE  # back on its pair: there, whole, a verdict key away
    assert "read-only" in qa.note.toolTip()
    # moved away again without judging: it does not ride along, and it is still kept
    qtbot.keyClick(qa.table, Qt.Key.Key_J)
    assert qa.current().id == 2 and qa.note.text() == ""
    qtbot.keyClick(qa.table, Qt.Key.Key_K)
    assert qa.current().id == 1 and qa.note.text() == NOTE


def test_a_note_refused_while_the_grid_was_refilled_comes_back_on_its_pair(qtbot, refusing):
    # Before: a refill (every pair a night's run records lists the page again) made new
    # `Pair` objects, so the judge still on the next pair looked "moved on" and lost the note
    qa, jobs, hold = refusing
    _type_note(qtbot, qa)
    gate = hold()
    qa.refresh()  # listed again before the store answers the verdict
    qtbot.keyClick(qa.table, Qt.Key.Key_F)
    gate.set()
    _settled(qtbot, jobs)
    assert qa.current().id == 1  # back on the pair the note is about, as with no refill
    assert qa.note.text() == NOTE and "read-only" in qa.note.toolTip()


def test_a_note_edited_after_its_refusal_comes_back_as_edited(qtbot, refusing):
    qa, jobs, hold = refusing
    _type_note(qtbot, qa)
    gate = hold()
    qtbot.keyClick(qa.table, Qt.Key.Key_F)
    qtbot.keyClick(qa.table, Qt.Key.Key_J)
    gate.set()
    _settled(qtbot, jobs)
    qtbot.keyClick(qa.table, Qt.Key.Key_K)
    _settled(qtbot, jobs)
    qtbot.keyClick(qa.table, Qt.Key.Key_K)
    assert qa.current().id == 1 and qa.note.text() == NOTE
    qa.note.setFocus()
    qtbot.keyClicks(qa.note, ", left at 02:10")
    qtbot.keyClick(qa.note, Qt.Key.Key_Escape)
    qtbot.keyClick(qa.table, Qt.Key.Key_J)
    assert qa.note.text() == ""
    qtbot.keyClick(qa.table, Qt.Key.Key_K)
    assert qa.note.text() == NOTE + ", left at 02:10"


def _key(qtbot, key) -> None:
    """A key pressed wherever the keyboard is, as a real one goes."""
    from PySide6.QtWidgets import QApplication

    qtbot.keyClick(QApplication.focusWidget(), key)


def test_a_note_typed_then_left_stays_with_its_pair_and_is_not_stored_on_the_next(qtbot, judging):
    # Before: the note field kept its text when J moved on, and P stored pair #1's note
    # with pair #2's verdict
    qa, jobs, store = judging
    _type_note(qtbot, qa)
    _key(qtbot, Qt.Key.Key_J)  # not judged after all: the next pair first
    assert qa.current().id == 2 and qa.note.text() == ""
    _key(qtbot, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: store.pair(2).verdict == "pass", timeout=GUI_TIMEOUT)
    assert store.verdicts(2)[-1].note == ""
    _settled(qtbot, jobs)
    assert qa.current().id == 3 and qa.note.text() == ""  # P turned the page
    _key(qtbot, Qt.Key.Key_K)
    _settled(qtbot, jobs)
    _key(qtbot, Qt.Key.Key_K)  # back to pair #1: the note is there, and goes with its verdict
    assert qa.current().id == 1 and qa.note.text() == NOTE
    _key(qtbot, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: store.pair(1).verdict == "fail", timeout=GUI_TIMEOUT)
    assert store.verdicts(1)[-1].note == NOTE
    _settled(qtbot, jobs)
    _key(qtbot, Qt.Key.Key_K)
    assert qa.current().id == 1 and qa.note.text() == ""  # stored: not offered again


def test_a_verdict_clicked_while_typing_a_note_gives_the_keyboard_back_to_the_list(qtbot, judging):
    # Before: the keyboard stayed in the emptied note field, and the next P typed "p" there
    qa, jobs, store = judging
    qa.note.setFocus()
    qtbot.keyClicks(qa.note, "halo")
    qtbot.mouseClick(qa.verdict_buttons["fail"], Qt.MouseButton.LeftButton)
    assert qa.current().id == 2
    _key(qtbot, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: store.pair(2).verdict == "pass", timeout=GUI_TIMEOUT)
    assert store.pair(1).verdict == "fail" and store.verdicts(1)[-1].note == "halo"
    assert qa.note.text() == ""


def test_tags_added_with_enter_give_the_keyboard_back_to_the_list(qtbot, judging):
    # Before: the keyboard stayed in the tags field, and P typed "p" into it
    qa, jobs, store = judging
    qa.tags_edit.setFocus()
    qtbot.keyClicks(qa.tags_edit, "fog, van")
    qtbot.keyClick(qa.tags_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: set(store.pair(1).tags) == {"fog", "van"}, timeout=GUI_TIMEOUT)
    _settled(qtbot, jobs)
    _key(qtbot, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: store.pair(1).verdict == "pass", timeout=GUI_TIMEOUT)
    assert qa.tags_edit.text() == ""


def test_a_judged_pairs_note_is_shown_in_its_pair_line_as_typed(qtbot, judging):
    # A note went into the record and the export but was shown nowhere: a judge coming back
    # to a pair could not read why it failed. Typed with markup, it shows as text.
    qa, jobs, store = judging
    qa.note.setFocus()
    qtbot.keyClicks(qa.note, "<b>halo</b> on the roof")
    qtbot.keyClick(qa.note, Qt.Key.Key_Escape)
    _key(qtbot, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: store.pair(1).verdict == "fail", timeout=GUI_TIMEOUT)
    _settled(qtbot, jobs)
    _key(qtbot, Qt.Key.Key_K)
    qtbot.waitUntil(lambda: qa.current().id == 1 and bool(qa.current().note), timeout=GUI_TIMEOUT)
    assert "verdict: fail · note: “&lt;b&gt;halo&lt;/b&gt; on the roof”" in qa.info.text()
    assert qa.current().note == store.verdicts(1)[-1].note == "<b>halo</b> on the roof"


def test_tags_typed_without_enter_stay_with_their_pair_and_never_tag_the_next(qtbot, judging):
    # Before: the typed tags stayed in the field when J moved on, and Enter tagged pair #2
    qa, jobs, store = judging
    qa.tags_edit.setFocus()
    qtbot.keyClicks(qa.tags_edit, "halo, van")
    qtbot.keyClick(qa.tags_edit, Qt.Key.Key_Escape)
    _key(qtbot, Qt.Key.Key_J)
    assert qa.current().id == 2 and qa.tags_edit.text() == ""
    qtbot.keyClick(qa.tags_edit, Qt.Key.Key_Return)  # an empty field tags nothing
    _settled(qtbot, jobs)
    assert store.pair(2).tags == ()
    _key(qtbot, Qt.Key.Key_K)
    assert qa.current().id == 1 and qa.tags_edit.text() == "halo, van"
    qtbot.keyClick(qa.tags_edit, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: store.pair(1).tags == ("halo", "van"), timeout=GUI_TIMEOUT)
    _settled(qtbot, jobs)
    assert qa.tags_edit.text() == ""
    _key(qtbot, Qt.Key.Key_J)
    _key(qtbot, Qt.Key.Key_K)
    assert qa.current().id == 1 and qa.tags_edit.text() == ""  # added: not offered again
    assert store.pair(2).tags == ()
