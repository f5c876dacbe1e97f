"""The app processes the open session's pairs that have no run (the Sessions dock's action).

Before: pairs captured in the app had no run, and the export sent the operator to
`nightlab reprocess`, which the open app's hold on the data folder refuses; the operator had to
quit mid-session. The app is the store's writer, so it now records the runs itself.
"""

from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")

import cli  # noqa: E402
from tests.conftest import GUI_TIMEOUT, aligned_pairs  # noqa: E402


def _runs_of(store, session):
    return {p.id: store.runs(p.id) for p in store.pairs(session_id=session.id, limit=None)}


def _watch_run_threads(store) -> list[threading.Thread]:
    """The thread each run was recorded on (psygnal calls a direct slot on the emitter's)."""
    threads: list[threading.Thread] = []
    store.events.run_added.connect(lambda _run: threads.append(threading.current_thread()))
    return threads


def _open_on(open_window, store, session, qtbot):
    win = open_window(resolution=(160, 120), fps=15.0)
    win.state.session = store.session(session.id)
    return win, win.sessions.runs


def test_process_action_records_runs_for_exactly_the_pairs_without_one_off_the_gui_thread(
    store, open_window, qtbot, shipped_model, tmp_path, capsys
):
    from engine.reprocess import DEFAULT_OPTIONS, RunSpec, missing_run_jobs, process_missing_runs

    session = aligned_pairs(store, 3)
    spec = RunSpec.for_model(None, **DEFAULT_OPTIONS)
    first = missing_run_jobs(store, session.id, spec)[:1]  # one pair already has its run
    process_missing_runs(store, session.id, spec, jobs=first)
    before = _runs_of(store, session)
    had = {pid for pid, runs in before.items() if runs}
    assert len(had) == 1
    threads = _watch_run_threads(store)

    win, action = _open_on(open_window, store, session, qtbot)
    report, recorder = _process_all(action, qtbot, 2)
    assert (report.processed, report.failed, report.cancelled) == (2, 0, False), recorder.failures

    after = _runs_of(store, session)
    for pid, runs in after.items():
        if pid in had:
            assert runs == before[pid], "a pair that had a run got no second one"
        else:
            assert len(runs) == 1 and runs[0].model_sha256 == spec.model_sha256
            assert set(runs[0].outputs) == {"aligned_reference", "leak_mask", "colorized"}
    assert len(threads) == 2 and threading.main_thread() not in threads
    assert (
        action.result.text().startswith("2 pairs processed, ")
        and "s a pair" in action.result.text()
    )
    qtbot.waitUntil(lambda: action.button.text() == "Every pair has a run", timeout=GUI_TIMEOUT)
    assert not action.button.isEnabled()

    # the export has nothing left to ask for
    dlg = win.export_dialog(show=False)
    dlg.as_zip.setChecked(False)
    dlg.path.setText(str(tmp_path / "bag"))
    qtbot.waitUntil(dlg.go.isEnabled, timeout=GUI_TIMEOUT)
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running, timeout=GUI_TIMEOUT)
    assert "Exported to" in dlg.phase.text()
    assert "no model run" not in dlg.phase.text()
    assert len(list((tmp_path / "bag" / "data" / "pairs").rglob("colorized.png"))) == 3
    dlg.close()

    # and `nightlab reprocess` (the app closed) finds the app's runs done: same key
    win.close()
    assert win.wait_closed(timeout=30)
    capsys.readouterr()
    argv = ["reprocess", "--session", str(session.id), "--serial", "--data-dir", str(store.root)]
    store.close()
    assert cli.main(argv) == 0
    assert "0 processed, 3 skipped" in capsys.readouterr().out


def test_cancel_stops_between_pairs_and_leaves_a_record_that_verifies(
    store, open_window, qtbot, shipped_model, capsys
):
    session = aligned_pairs(store, 6)
    win, action = _open_on(open_window, store, session, qtbot)
    qtbot.waitUntil(
        lambda: action.button.text() == "Process 6 pairs without a run", timeout=GUI_TIMEOUT
    )
    recorded = threading.Event()
    store.events.run_added.connect(lambda _run: recorded.set())
    with qtbot.waitSignal(action.finished, timeout=120_000) as ended:
        action.button.click()
        assert not action.cancel.isHidden() and action.running
        qtbot.waitUntil(recorded.is_set, timeout=120_000)
        action.cancel.click()
    report, _ = ended.args[0]
    assert report.cancelled and 1 <= report.processed < 6
    left = 6 - report.processed
    assert f"stopped: {left} still without a run" in action.result.text()

    # every pair has a whole run or none; no output file without its row
    runs = _runs_of(store, session)
    with_run = [r for rs in runs.values() for r in rs]
    assert len(with_run) == report.processed and all(len(rs) <= 1 for rs in runs.values())
    assert all(len(r.outputs) == 3 for r in with_run)
    on_disk = [p for p in store.root.rglob("runs/*.png")]
    assert len(on_disk) == 3 * report.processed
    capsys.readouterr()
    assert cli.main(["sessions", "verify", str(session.id), "--data-dir", str(store.root)]) == 0
    assert "all present, checksums match" in capsys.readouterr().out

    # the next press resumes with the pairs still without a run
    report, _ = _process_all(action, qtbot, left)
    assert report.processed == left
    assert all(len(rs) == 1 for rs in _runs_of(store, session).values())


def test_process_action_is_hidden_on_a_read_only_store(read_only_store, open_window, qtbot):
    # a partner's copy opened read-only cannot record runs: the action is not offered
    win = open_window(store=read_only_store, resolution=(160, 120), fps=15.0)
    win.state.session = read_only_store.sessions()[0]
    assert win.sessions.runs.isHidden()


def _write_pair(store, session_id: int, qtbot, *, ok: bool) -> int:
    """A pair recorded by another thread (as a capture is), with an identity registration that
    is accepted (``ok``) or not (then a run cannot be made from it); its id."""
    import numpy as np

    rng = np.random.default_rng(7)
    reg = {"ok": ok, "method": "ecc", "motion": "homography", "score": 0.9,
           "reason": "" if ok else "too dark", "matrix": np.eye(3).tolist()}  # fmt: skip
    out: list[int] = []

    def write() -> None:
        day = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
        night = rng.integers(0, 255, (120, 160), dtype=np.uint8)
        out.append(store.capture_pair(session_id, day=day, night=night, alignment=reg).id)

    t = threading.Thread(target=write)
    t.start()
    qtbot.waitUntil(lambda: not t.is_alive(), timeout=GUI_TIMEOUT)
    return out[0]


def test_automatic_processing_gives_new_pairs_a_run_and_tries_a_failing_pair_once(
    store, open_window, qtbot, shipped_model
):
    session = aligned_pairs(store, 1)
    win, action = _open_on(open_window, store, session, qtbot)
    assert not action.auto.isChecked()  # off by default
    qtbot.waitUntil(
        lambda: action.button.text() == "Process 1 pair without a run", timeout=GUI_TIMEOUT
    )
    action.auto.setChecked(True)  # the pair already there goes first
    qtbot.waitUntil(lambda: action.button.text() == "Every pair has a run", timeout=120_000)

    bad = _write_pair(store, session.id, qtbot, ok=False)
    qtbot.waitUntil(lambda: "1 failed" in action.result.text(), timeout=120_000)
    good = _write_pair(store, session.id, qtbot, ok=True)
    qtbot.waitUntil(lambda: len(store.runs(good)) == 1, timeout=120_000)
    qtbot.waitUntil(lambda: not action.running, timeout=120_000)
    assert store.runs(bad) == []
    tries = [e for e in store.log_entries(session.id) if e.kind == "reprocess-failed"]
    assert len(tries) == 1 and f"pair {bad}: stored registration is not aligned" in tries[0].message
    qtbot.waitUntil(  # the button tries it again
        lambda: action.button.text() == "Process 1 pair without a run", timeout=GUI_TIMEOUT
    )

    # Cancel turns it off: the next pair waits for a press
    action.stop()
    assert not action.auto.isChecked()
    later = _write_pair(store, session.id, qtbot, ok=True)
    qtbot.waitUntil(
        lambda: action.button.text() == "Process 2 pairs without a run", timeout=GUI_TIMEOUT
    )
    assert store.runs(later) == [] and not action.running


def test_a_model_that_cannot_be_read_is_said_on_the_button_once_not_at_every_pair(
    store, open_window, qtbot, tmp_path
):
    # Before: the count failed as a job, the button stayed disabled without a reason and the
    # status bar said the failure again at every pair recorded
    session = aligned_pairs(store, 1)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    win, action = _open_on(open_window, store, session, qtbot)
    errors: list[str] = []
    win.jobs.message.connect(errors.append)
    win.state.model_path = str(broken)
    qtbot.waitUntil(lambda: "cannot be read" in action.button.text(), timeout=GUI_TIMEOUT)
    assert not action.button.isEnabled()
    assert str(broken) in action.button.toolTip()
    _write_pair(store, session.id, qtbot, ok=True)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=GUI_TIMEOUT)
    assert not [e for e in errors if "counting pairs without a run" in e], errors


def test_pairs_failed_in_a_deleted_session_do_not_hold_back_those_given_their_ids(
    store, open_window, qtbot, shipped_model
):
    # a session deleted (a test before the night) gives its id and its pairs' ids to the next
    # ones recorded: its failed pairs were remembered by those ids, and the night's pairs that
    # took them were left by automatic processing (never started: as many "failed" as missing)
    trial = store.create_session("trial")
    win, action = _open_on(open_window, store, trial, qtbot)
    action.auto.setChecked(True)
    bad = _write_pair(store, trial.id, qtbot, ok=False)
    qtbot.waitUntil(lambda: "1 failed" in action.result.text(), timeout=120_000)
    win.state.session = None
    night = []

    def deleted_then_the_night() -> None:  # (the store refuses writes on the GUI thread)
        store.delete_session(trial.id)
        night.append(store.create_session("night"))

    worker = threading.Thread(target=deleted_then_the_night)
    worker.start()
    worker.join(timeout=60)
    assert night[0].id == trial.id  # the id given again
    win.state.session = night[0]
    good = _write_pair(store, night[0].id, qtbot, ok=True)
    assert good == bad  # and the pair's
    qtbot.waitUntil(lambda: len(store.runs(good)) == 1, timeout=GUI_TIMEOUT)


def test_automatic_processing_that_cannot_record_is_not_restarted_until_a_new_pair(
    store, open_window, qtbot, shipped_model
):
    # Before: a processing that failed as a whole (its runs cannot be written: a full disk,
    # here a file where the session's runs folder goes) recounted, found the same pairs
    # without a run and started again at once, for ever: a pair processed and thrown away
    # and a status-bar failure every second or so, all night
    import time

    session = aligned_pairs(store, 1)
    night = store.capture(store.pairs(session_id=session.id)[0].night_id)
    folder = store.path(night.path).parent.parent  # the session's folder (captures in one)
    assert folder.name == session.uid
    (folder / "runs").write_bytes(b"")  # a file where the runs folder goes: no run is written
    win, action = _open_on(open_window, store, session, qtbot)
    failures: list[str] = []
    win.jobs.message.connect(
        lambda m: failures.append(m) if m.startswith("processing pairs failed") else None
    )
    qtbot.waitUntil(
        lambda: action.button.text() == "Process 1 pair without a run", timeout=GUI_TIMEOUT
    )
    action.auto.setChecked(True)
    qtbot.waitUntil(lambda: len(failures) == 1, timeout=120_000)
    deadline = time.monotonic() + 8.0  # several pairs' time: the old code restarted meanwhile
    while time.monotonic() < deadline:
        qtbot.wait(100)
    qtbot.waitUntil(lambda: not action.running, timeout=GUI_TIMEOUT)
    assert len(failures) == 1, failures
    assert action.auto.isChecked()  # the operator's setting stays
    assert "Processing stopped: " in action.result.text()
    assert action.button.text() == "Process 1 pair without a run"  # a press tries again

    # a new pair is a new chance (the disk may have room again): tried once more, not looped
    _write_pair(store, session.id, qtbot, ok=True)
    qtbot.waitUntil(lambda: len(failures) == 2, timeout=120_000)
    deadline = time.monotonic() + 8.0
    while time.monotonic() < deadline:
        qtbot.wait(100)
    assert len(failures) == 2, failures


def _retrained(path, gain: float) -> str:
    """The tiny model written (again) at ``path`` with its card; its new sha256."""
    from engine.models import sha256_file, write_tiny_model

    write_tiny_model(path, gain=gain)
    return sha256_file(path)


def _process_all(action, qtbot, n: int):
    """Press "Process N pairs without a run" once it counts ``n``; (report, recorder) when
    it has finished."""
    qtbot.waitUntil(
        lambda: action.button.text() == f"Process {n} pair{'s' * (n != 1)} without a run",
        timeout=GUI_TIMEOUT,
    )
    with qtbot.waitSignal(action.finished, timeout=120_000) as ended:
        action.button.click()
    return ended.args[0]


def test_a_model_retrained_over_the_same_path_is_hashed_again_and_its_runs_recorded(
    store, open_window, qtbot, tmp_path
):
    # Before: the sha256 was cached by path; after the file was written over, the count still
    # used the old one and every pair failed with "model changed since the run was planned"
    session = aligned_pairs(store, 2)
    model = tmp_path / "tiny.onnx"
    old_sha = _retrained(model, 1.0)
    win, action = _open_on(open_window, store, session, qtbot)
    win.state.model_path = str(model)
    report, recorder = _process_all(action, qtbot, 2)
    assert (report.processed, report.failed) == (2, 0), recorder.failures

    new_sha = _retrained(model, 0.5)
    assert new_sha != old_sha
    _write_pair(store, session.id, qtbot, ok=True)  # a new pair: the action counts again
    report, recorder = _process_all(action, qtbot, 3)  # the two done with the old model too
    assert (report.processed, report.failed) == (3, 0), recorder.failures
    runs = _runs_of(store, session)
    assert all(new_sha in {r.model_sha256 for r in rs} for rs in runs.values())


def test_loading_the_same_path_again_after_the_file_changed_is_a_model_change(
    store, open_window, qtbot, tmp_path, monkeypatch
):
    # Before: the same path set again sent no event; the card and the count kept the old model
    from PySide6.QtWidgets import QFileDialog

    session = aligned_pairs(store, 1)
    model = tmp_path / "tiny.onnx"
    _retrained(model, 1.0)
    win, action = _open_on(open_window, store, session, qtbot)
    panel = win.model_panel
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(model), ""))
    panel.btn_load.click()
    _process_all(action, qtbot, 1)
    qtbot.waitUntil(lambda: action.button.text() == "Every pair has a run", timeout=GUI_TIMEOUT)
    changes: list[str] = []
    win.state.events.model_path.connect(changes.append)

    panel.btn_load.click()  # the same file, unchanged: not a change
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=GUI_TIMEOUT)
    assert changes == []

    new_sha = _retrained(model, 0.5)
    panel.btn_load.click()  # written over since: a change
    qtbot.waitUntil(lambda: changes == [str(model)], timeout=GUI_TIMEOUT)
    qtbot.waitUntil(lambda: new_sha[:16] in panel.card.text(), timeout=GUI_TIMEOUT)
    _process_all(action, qtbot, 1)
    assert new_sha in {r.model_sha256 for rs in _runs_of(store, session).values() for r in rs}


def test_automatic_processing_tries_a_pair_that_failed_with_one_model_again_with_another(
    store, open_window, qtbot, tmp_path
):
    # Before: the pairs that failed were remembered by session alone, so after the model was
    # switched automatic processing still left them (only a press tried them again)
    session = aligned_pairs(store, 1)
    first, second = tmp_path / "first.onnx", tmp_path / "second.onnx"
    _retrained(first, 1.0)
    second_sha = _retrained(second, 0.5)
    win, action = _open_on(open_window, store, session, qtbot)
    win.state.model_path = str(first)
    qtbot.waitUntil(
        lambda: action.button.text() == "Process 1 pair without a run", timeout=GUI_TIMEOUT
    )
    action.auto.setChecked(True)
    qtbot.waitUntil(lambda: action.button.text() == "Every pair has a run", timeout=120_000)
    bad = _write_pair(store, session.id, qtbot, ok=False)
    qtbot.waitUntil(lambda: "1 failed" in action.result.text(), timeout=120_000)
    qtbot.waitUntil(lambda: not action.running, timeout=GUI_TIMEOUT)

    def tries() -> list[str]:
        log = store.log_entries(session.id)
        return [
            e.message for e in log if e.kind == "reprocess-failed" and f"pair {bad}:" in e.message
        ]

    assert len(tries()) == 1
    win.state.model_path = str(second)  # both pairs lack a run of this one: both are tried
    good = [p.id for p in store.pairs(session_id=session.id, limit=None) if p.id != bad]
    qtbot.waitUntil(
        lambda: [r.model_sha256 for r in store.runs(good[0])][-1:] == [second_sha],
        timeout=120_000,
    )
    qtbot.waitUntil(lambda: not action.running, timeout=GUI_TIMEOUT)
    assert len(tries()) == 2, tries()
    assert "1 failed" in action.result.text()


def test_a_result_that_ends_after_another_session_was_opened_names_its_own_session(
    store, open_window, qtbot, tmp_path
):
    # Before: the line said "3 pairs processed" under the session opened meanwhile, whose
    # pairs were not processed at all
    roof = aligned_pairs(store, 4)
    store.update_session(roof.id, name="roof")
    other = aligned_pairs(store, 1)
    store.update_session(other.id, name="car park")
    model = tmp_path / "tiny.onnx"
    _retrained(model, 1.0)
    win, action = _open_on(open_window, store, roof, qtbot)
    win.state.model_path = str(model)
    recorded = threading.Event()
    store.events.run_added.connect(lambda _run: recorded.set())
    qtbot.waitUntil(
        lambda: action.button.text() == "Process 4 pairs without a run", timeout=GUI_TIMEOUT
    )
    with qtbot.waitSignal(action.finished, timeout=120_000) as ended:
        action.button.click()
        qtbot.waitUntil(recorded.is_set, timeout=120_000)
        win.state.session = store.session(other.id)
    assert ended.args[0][0].processed == 4
    assert action.result.text().startswith("Session 'roof': 4 pairs processed"), (
        action.result.text()
    )
    assert all(store.runs(p.id) == [] for p in store.pairs(session_id=other.id, limit=None))

    # the line tells roof's processing: another session opened does not show it
    win.state.session = None
    assert action.result.isHidden()


def test_the_live_colorizer_is_loaded_again_when_the_same_path_brings_new_content(
    store, open_window, qtbot, tmp_path, monkeypatch
):
    # Before: the live preview (which also colorizes the QA tab's renders) kept the colorizer
    # loaded from that path: the model written over it was announced, and not used
    from PySide6.QtWidgets import QFileDialog

    model = tmp_path / "tiny.onnx"
    old_sha = _retrained(model, 1.0)
    win = open_window(resolution=(160, 120), fps=15.0)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(model), ""))
    win.model_panel.btn_load.click()
    qtbot.waitUntil(lambda: old_sha[:16] in win.model_panel.card.text(), timeout=GUI_TIMEOUT)
    assert win.preview.colorizer().card.sha256 == old_sha

    new_sha = _retrained(model, 0.5)
    win.model_panel.btn_load.click()
    qtbot.waitUntil(lambda: new_sha[:16] in win.model_panel.card.text(), timeout=GUI_TIMEOUT)
    assert win.preview.colorizer().card.sha256 == new_sha
