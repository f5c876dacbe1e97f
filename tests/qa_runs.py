"""The QA panel on a session whose pairs have stored runs of two real models, for the tests of
judging stored runs (`test_gui_qa_runs`) and of the grid's thumbnails of them
(`test_gui_qa_thumbs`)."""

from __future__ import annotations

from tests.conftest import GUI_TIMEOUT, aligned_pairs, gray_model, record_runs


def qa_on_runs(store, open_window, qtbot, tmp_path):
    """Three pairs; every pair has a run of the shipped model, the first two a run of the gray
    model too; the window on the QA tab listing them. Returns (window, pair ids oldest first,
    {pair id: {"shipped"/"gray": run}})."""
    session = aligned_pairs(store, 3)
    ids = [p.id for p in store.pairs(session_id=session.id, sort="id")]
    shipped = record_runs(store, session.id)
    gray = record_runs(store, session.id, gray_model(tmp_path / "m"), pair_ids=ids[:2])
    runs = {i: {} for i in ids}
    for r in (*shipped, *gray):
        runs[r.pair_id]["gray" if r.model_name == "tiny" else "shipped"] = r
    win = open_window(resolution=(160, 120), fps=15.0)
    win.state.session = store.session(session.id)
    win.tabs.setCurrentWidget(win.qa)
    qtbot.waitUntil(lambda: win.qa.table.rowCount() == 3, timeout=GUI_TIMEOUT)
    return win, ids, runs


def runs_listed(qa, pair_id) -> bool:
    """The QA panel's choosers hold the runs of pair ``pair_id``."""
    return qa.sources.pair_id == pair_id and qa.sources.runs is not None
