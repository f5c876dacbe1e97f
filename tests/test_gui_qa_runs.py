"""The QA panel judges a pair's stored runs, not only the live model's render.

Before, the colour views were always the live model's (the Model dock's): a night
reprocessed with model B could not be judged as B made it without loading B live, two
models' runs could not be compared on one pair, and a verdict did not say which result it
was given on. Real window, real store, real runs of two real models (the shipped one and a
gray passthrough model), made before the window opens (it forbids writes on the GUI thread).
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.conftest import GUI_TIMEOUT, aligned_pairs, gray_model, qa_oldest_first, record_runs
from tests.qa_runs import qa_on_runs
from tests.qa_runs import runs_listed as _listed

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


@pytest.fixture
def runs_window(store, open_window, qtbot, tmp_path):
    """`qa_on_runs`: (window, pair ids oldest first, {pair id: {model: run}})."""
    return qa_on_runs(store, open_window, qtbot, tmp_path)


def _stored(store, run, role="colorized"):
    from engine.overlay import as_display

    return as_display(store.read_image(run.outputs[role]))


def _shows(canvas, image) -> bool:
    return canvas.image() is not None and np.array_equal(canvas.image(), image)


def _qa_on(win, qtbot, session, rows: int, row: int, pair_id: int):
    """The QA tab on ``session`` (``rows`` pairs) oldest first, ``row`` (pair ``pair_id``)
    selected and its runs listed; returns the panel."""
    qa = win.qa
    win.state.session = session
    win.tabs.setCurrentWidget(qa)
    qtbot.waitUntil(lambda: qa.table.rowCount() == rows, timeout=GUI_TIMEOUT)
    qa_oldest_first(win, qtbot, row=row)
    qtbot.waitUntil(lambda: _listed(qa, pair_id), timeout=GUI_TIMEOUT)
    return qa


def test_b_shows_the_chosen_models_stored_run_and_keeps_that_model_from_pair_to_pair(
    runs_window, store, qtbot
):
    win, ids, runs = runs_window
    qa = win.qa
    assert qa_oldest_first(win, qtbot, row=0) == ids
    qtbot.waitUntil(lambda: _listed(qa, ids[0]), timeout=GUI_TIMEOUT)
    labels = [qa.source_b.itemText(i) for i in range(qa.source_b.count())]
    gray1, shipped1 = runs[ids[0]]["gray"], runs[ids[0]]["shipped"]
    assert labels[0] == "Live model" and labels[1].startswith(f"run #{gray1.id} · tiny · ")
    assert labels[2].startswith(f"run #{shipped1.id} · nightlab-refcolor-s · ")

    assert qa.sources.choose("b", gray1.model_sha256)
    qtbot.waitUntil(lambda: _shows(qa.view_b, _stored(store, gray1)), timeout=GUI_TIMEOUT)
    assert qa.view_b.caption() == f"Colorized · run #{gray1.id} (tiny)"

    qtbot.keyClick(qa.table, "J")  # the next pair: the gray model's run there
    gray2 = runs[ids[1]]["gray"]
    qtbot.waitUntil(lambda: _shows(qa.view_b, _stored(store, gray2)), timeout=GUI_TIMEOUT)
    assert qa.source_b.currentText().startswith(f"run #{gray2.id} · tiny")

    qtbot.keyClick(qa.table, "J")  # no gray run here: said, and no other result in its place
    qtbot.waitUntil(lambda: _listed(qa, ids[2]), timeout=GUI_TIMEOUT)
    qtbot.waitUntil(lambda: not qa.view_b.has_image(), timeout=GUI_TIMEOUT)
    assert qa.source_b.currentText() == "tiny · no run"
    assert f"Pair #{ids[2]} has no run of tiny" in qa.view_b.placeholder()
    assert qa.judged_on.text() == "on: live model"  # B shows nothing: A's live night frame

    qtbot.keyClick(qa.table, "K")  # and back: the gray run again
    qtbot.waitUntil(lambda: _shows(qa.view_b, _stored(store, gray2)), timeout=GUI_TIMEOUT)


def test_two_models_runs_compare_side_by_side_and_wiped_and_the_verdict_names_bs_run(
    store, open_window, qtbot, tmp_path
):
    from engine.live_preview import LivePreview
    from engine.overlay import as_display
    from engine.pair_views import wipe

    session = aligned_pairs(store, 2)
    ids = [p.id for p in store.pairs(session_id=session.id, sort="id")]
    (shipped, _s2) = record_runs(store, session.id)
    (gray,) = record_runs(store, session.id, gray_model(tmp_path / "m"), pair_ids=ids[:1])
    preview = LivePreview(workers=1)
    preview.colorizer = lambda: None  # no model loaded live: the runs are all there is
    win = open_window(resolution=(160, 120), preview=preview)
    qa = _qa_on(win, qtbot, store.session(session.id), 2, 0, ids[0])
    qa.role_a.setCurrentIndex(qa.role_a.findData("colorized"))
    assert qa.sources.choose("a", shipped.model_sha256)
    assert qa.sources.choose("b", gray.model_sha256)
    qtbot.waitUntil(
        lambda: (
            _shows(qa.view_a, _stored(store, shipped)) and _shows(qa.view_b, _stored(store, gray))
        ),
        timeout=GUI_TIMEOUT,
    )
    assert "no colorizer" not in qa.info.text()
    assert qa.view_a.caption() == f"Colorized · run #{shipped.id} (nightlab-refcolor-s)"

    qa.mode.setCurrentIndex(1)  # the wipe: the shipped model's run left, the gray one right
    qa.wipe_pos.setValue(0.3)
    want = as_display(wipe(store.read_image(shipped.outputs["colorized"]),
                           store.read_image(gray.outputs["colorized"]), 0.3))  # fmt: skip
    qtbot.waitUntil(lambda: _shows(qa.view_wipe, want), timeout=GUI_TIMEOUT)
    assert "run #" in qa.view_wipe.caption() and "(tiny)" in qa.view_wipe.caption()

    assert qa.judged_on.text() == f"on: run #{gray.id} (tiny)"
    verdicts = []
    store.events.verdict_set.connect(lambda v: verdicts.append((v, threading.current_thread())))
    qtbot.keyClick(qa.table, "F")
    qtbot.waitUntil(lambda: bool(verdicts), timeout=GUI_TIMEOUT)
    ((v, thread),) = verdicts
    assert v.pair_id == ids[0] and v.run_id == gray.id and thread is not threading.main_thread()
    assert store.pair(ids[0]).verdict_run_id == gray.id
    qtbot.keyClick(qa.table, "K")  # back to the judged pair: its line says on which run
    qtbot.waitUntil(lambda: f"verdict: fail on run #{gray.id} (tiny)" in qa.info.text(),
                    timeout=GUI_TIMEOUT)  # fmt: skip

    # back to the live model, which has no colour views here: the runs' images go, none stays
    # under a "live" label (before, a view change without a colorizer left what showed)
    qa.mode.setCurrentIndex(0)
    qtbot.waitUntil(lambda: qa.view_b.has_image(), timeout=GUI_TIMEOUT)
    qa.sources.choose("a", None)
    qa.sources.choose("b", None)
    qtbot.waitUntil(
        lambda: not qa.view_a.has_image() and not qa.view_b.has_image(), timeout=GUI_TIMEOUT
    )
    assert "no colorizer" in qa.info.text() and qa.judged_on.text() == "on: live model"


def test_a_verdict_on_the_live_render_names_no_run_though_the_pair_has_runs(
    runs_window, store, qtbot
):
    win, ids, runs = runs_window
    qa = win.qa
    qa_oldest_first(win, qtbot, row=0)
    qtbot.waitUntil(lambda: _listed(qa, ids[0]) and qa.view_b.has_image(), timeout=GUI_TIMEOUT)
    assert qa.source_b.currentText() == "Live model"
    assert qa.view_b.caption() == "Colorized · live model"
    qtbot.keyClick(qa.table, "P")
    qtbot.waitUntil(lambda: store.pair(ids[0]).verdict == "pass", timeout=GUI_TIMEOUT)
    assert store.verdicts(ids[0])[-1].run_id is None


def _colour_on_both_sides(qa, qtbot, win, pair_id, side: str, run) -> None:
    """The first pair, colorized on A as on B, ``side`` showing ``run``'s model."""
    qa_oldest_first(win, qtbot, row=0)
    qtbot.waitUntil(lambda: _listed(qa, pair_id), timeout=GUI_TIMEOUT)
    qa.role_a.setCurrentIndex(qa.role_a.findData("colorized"))
    assert qa.sources.choose(side, run.model_sha256)


def _judged_on_no_run(qa, qtbot, store, pair_id, key: str, verdict: str) -> None:
    """Said before the key, then recorded: the verdict names no stored run."""
    assert qa.judged_on.text() == "on: live model"
    qtbot.keyClick(qa.table, key)
    qtbot.waitUntil(lambda: store.pair(pair_id).verdict == verdict, timeout=GUI_TIMEOUT)
    assert store.verdicts(pair_id)[-1].run_id is None


def test_a_verdict_on_bs_live_render_beside_a_stored_run_on_a_names_no_run(
    runs_window, store, qtbot
):
    # the new model live on B, judged against a stored run on A: the verdict is on B's live
    # render (it was recorded as given on A's run, the baseline)
    win, ids, runs = runs_window
    qa, shipped = win.qa, runs[ids[0]]["shipped"]
    _colour_on_both_sides(qa, qtbot, win, ids[0], "a", shipped)
    qtbot.waitUntil(
        lambda: (
            _shows(qa.view_a, _stored(store, shipped))
            and qa.view_b.caption() == "Colorized · live model"
        ),
        timeout=GUI_TIMEOUT,
    )
    _judged_on_no_run(qa, qtbot, store, ids[0], "F", "fail")


def test_a_verdict_beside_bs_live_leak_mask_is_on_as_stored_run(runs_window, store, qtbot):
    # the live render's leak mask comes from the pair's stored registration, no model: what
    # is judged is A's colorization, the stored run's
    win, ids, runs = runs_window
    qa, shipped = win.qa, runs[ids[0]]["shipped"]
    _colour_on_both_sides(qa, qtbot, win, ids[0], "a", shipped)
    qa.role_b.setCurrentIndex(qa.role_b.findData("mask"))
    qtbot.waitUntil(lambda: _shows(qa.view_a, _stored(store, shipped)), timeout=GUI_TIMEOUT)
    assert qa.judged_on.text() == f"on: run #{shipped.id} (nightlab-refcolor-s)"


def test_a_verdict_beside_a_run_that_cannot_be_shown_is_not_recorded_on_that_run(
    runs_window, store, qtbot
):
    # B's run lost its colorized file: B says why and shows nothing, A shows the live model's
    # render; the verdict is on what was seen (it named B's unseen run)
    win, ids, runs = runs_window
    qa, gray = win.qa, runs[ids[0]]["gray"]
    (store.root / gray.outputs["colorized"]).unlink()
    _colour_on_both_sides(qa, qtbot, win, ids[0], "b", gray)
    qtbot.waitUntil(
        lambda: (
            f"Run #{gray.id} cannot be shown" in qa.view_b.placeholder()
            and qa.view_a.caption() == "Colorized · live model"
        ),
        timeout=GUI_TIMEOUT,
    )
    assert not qa.view_b.has_image() and "file missing" in qa.view_b.placeholder()
    _judged_on_no_run(qa, qtbot, store, ids[0], "P", "pass")


def test_a_run_recorded_for_the_pair_shown_comes_into_its_chooser(
    runs_window, store, qtbot, tmp_path
):
    win, ids, runs = runs_window
    qa = win.qa
    qa_oldest_first(win, qtbot, row=0)
    qtbot.waitUntil(lambda: _listed(qa, ids[0]), timeout=GUI_TIMEOUT)
    assert qa.sources.choose("b", runs[ids[0]]["gray"].model_sha256)
    qa.table.selectRow(2)  # the pair without a gray run
    qtbot.waitUntil(lambda: qa.source_b.currentText() == "tiny · no run", timeout=GUI_TIMEOUT)
    session_id, made = win.state.session.id, []
    worker = threading.Thread(  # the store's writes are refused on the GUI thread
        target=lambda: made.extend(
            record_runs(store, session_id, gray_model(tmp_path / "m"), pair_ids=[ids[2]])
        )
    )
    worker.start()
    worker.join(timeout=60)
    assert len(made) == 1
    qtbot.waitUntil(lambda: _shows(qa.view_b, _stored(store, made[0])), timeout=GUI_TIMEOUT)
    assert qa.source_b.currentText().startswith(f"run #{made[0].id} · tiny")


def test_a_pair_without_runs_shows_the_live_render_and_its_choosers_say_why_they_are_off(
    store, open_window, qtbot
):
    session = aligned_pairs(store, 1)
    win = open_window(resolution=(160, 120), fps=15.0)
    qa = win.qa
    win.state.session = store.session(session.id)
    win.tabs.setCurrentWidget(qa)
    qtbot.waitUntil(lambda: qa.table.rowCount() == 1, timeout=GUI_TIMEOUT)
    qa.table.selectRow(0)
    pid = qa.current().id
    qtbot.waitUntil(lambda: _listed(qa, pid) and qa.view_b.has_image(), timeout=GUI_TIMEOUT)
    assert qa.sources.runs == []
    for combo in (qa.source_a, qa.source_b):
        assert not combo.isEnabled() and combo.currentText() == "Live model"
        assert f"Pair #{pid} has no stored run" in combo.toolTip()
    assert qa.view_b.caption() == "Colorized · live model"


def test_runs_that_cannot_be_listed_are_said_not_taken_for_no_run(
    runs_window, store, qtbot, monkeypatch
):
    import engine.run_views as run_views

    win, ids, runs = runs_window
    qa = win.qa
    qa_oldest_first(win, qtbot, row=0)
    qtbot.waitUntil(lambda: _listed(qa, ids[0]), timeout=GUI_TIMEOUT)
    assert qa.sources.choose("b", runs[ids[0]]["gray"].model_sha256)

    def unreadable(_store, _pair_id):
        raise OSError("database disk image is malformed")

    monkeypatch.setattr(run_views, "pair_runs", unreadable)
    qtbot.keyClick(qa.table, "J")
    qtbot.waitUntil(lambda: "unreadable" in qa.view_b.placeholder(), timeout=GUI_TIMEOUT)
    assert "malformed" in qa.view_b.placeholder() and not qa.view_b.has_image()
    assert "has no run" not in qa.view_b.placeholder()


def test_a_deleted_sessions_run_is_not_shown_for_the_run_given_its_id(store, open_window, qtbot):
    # SQLite gives a deleted session's pair and run ids to the next ones recorded: the views
    # kept under a run's id were shown for the new run of that id (another night's images)
    old = aligned_pairs(store, 2)
    old_ids = [p.id for p in store.pairs(session_id=old.id, sort="id")]
    old_runs = record_runs(store, old.id)
    old_image = _stored(store, old_runs[1])
    win = open_window(resolution=(160, 120), fps=15.0)
    qa = _qa_on(win, qtbot, store.session(old.id), 2, 1, old_ids[1])
    assert qa.sources.choose("b", old_runs[1].model_sha256)
    qtbot.waitUntil(lambda: _shows(qa.view_b, old_image), timeout=GUI_TIMEOUT)

    win.state.session = None
    made = {}

    def deleted_then_another_night() -> None:  # (the store refuses writes on the GUI thread)
        store.delete_session(old.id)
        new = aligned_pairs(store, 3)
        ids = [p.id for p in store.pairs(session_id=new.id, sort="id")]
        runs = record_runs(store, new.id, pair_ids=[ids[0], ids[2]])
        made.update(session=new, ids=ids, run=runs[1])

    worker = threading.Thread(target=deleted_then_another_night)
    worker.start()
    worker.join(timeout=120)
    new_run, new_pair = made["run"], made["ids"][2]
    assert (new_run.id, new_run.pair_id) == (old_runs[1].id, new_pair)  # the id given again
    new_image = _stored(store, new_run)
    assert not np.array_equal(new_image, old_image)
    _qa_on(win, qtbot, made["session"], 3, 2, new_pair)
    qtbot.waitUntil(qa.view_b.has_image, timeout=GUI_TIMEOUT)
    assert _shows(qa.view_b, new_image)


def test_a_run_of_a_model_whose_card_name_looks_like_markup_is_named_as_typed(
    store, open_window, qtbot, tmp_path
):
    # a model's name comes from its card, someone else's file: "<i>gray</i> & co" read
    # "gray & co" in italics in the view's caption, beside the verdict buttons and in their
    # tooltips
    import json

    from PySide6.QtCore import Qt
    from PySide6.QtGui import QTextDocument
    from PySide6.QtWidgets import QLabel

    from engine.atomic import write_json_atomic

    session = aligned_pairs(store, 2)
    ids = [p.id for p in store.pairs(session_id=session.id, sort="id")]
    model = gray_model(tmp_path / "m")
    card = model.with_name(model.name + ".card.json")
    write_json_atomic(card, {**json.loads(card.read_text()), "name": "<i>gray</i> & co"})
    (run,) = record_runs(store, session.id, model, pair_ids=ids[:1])
    win = open_window(resolution=(160, 120), fps=15.0)
    qa = _qa_on(win, qtbot, store.session(session.id), 2, 0, ids[0])
    assert qa.sources.choose("b", run.model_sha256)
    qtbot.waitUntil(lambda: _shows(qa.view_b, _stored(store, run)), timeout=GUI_TIMEOUT)
    caption = next(w for w in qa.view_b.findChildren(QLabel) if w.text() == qa.view_b.caption())
    for label, text in ((caption, f"Colorized · run #{run.id} (<i>gray</i> & co)"),
                        (qa.judged_on, f"on: run #{run.id} (<i>gray</i> & co)")):  # fmt: skip
        assert label.text() == text
        typed = QLabel(text)  # what the text takes shown as typed, in the label's font
        typed.setTextFormat(Qt.TextFormat.PlainText)
        typed.setFont(label.font())
        typed.setStyleSheet(label.styleSheet())
        assert label.sizeHint() == typed.sizeHint(), text
    shown = QTextDocument()  # the tooltips: the chooser's and the verdict line's
    for tip in (qa.source_b.toolTip(), qa.judged_on.toolTip()):
        shown.setHtml(tip)
        assert f"run #{run.id} · <i>gray</i> & co · " in shown.toPlainText(), tip
