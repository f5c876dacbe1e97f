"""Handing a session over, as an operator and the partner meet it.

Exporting pairs no model ran on says so: the partner would otherwise get raw frames only.

Captured pairs (GUI or ``nightlab capture``) have no run until ``nightlab reprocess`` (or, with the
app open, the Sessions dock's "Process pairs without a run"); the
pair folders then hold night.png and day.png but none of aligned_reference / leak_mask /
colorized that docs/export-format.md lists. Before, the export said nothing about it.
The export and import dialogs show their closing note or error whole.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path

import pytest

import cli
from engine.store import Store

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def captured(tmp_path, monkeypatch):
    data = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(data))
    argv = ["capture", "--session", "roof", "--day-reference", "--count", "2"]
    assert cli.main(argv) == 0
    return data


def test_cli_export_notes_pairs_without_a_run_and_how_to_add_them(captured, tmp_path, capsys):
    capsys.readouterr()
    assert cli.main(["sessions", "export", "roof", "--out", str(tmp_path / "raw")]) == 0
    err = capsys.readouterr().err
    notes = [line for line in err.splitlines() if line.startswith("note:")]
    assert len(notes) == 1
    assert "2 of 2 pairs have no model run" in notes[0]
    assert "nightlab reprocess --session 1" in notes[0]
    assert not list((tmp_path / "raw" / "data" / "pairs").rglob("colorized.png"))

    # after a reprocess every pair carries its outputs, and the export has nothing to note
    assert cli.main(["reprocess", "--session", "roof", "--serial"]) == 0
    capsys.readouterr()
    assert cli.main(["sessions", "export", "roof", "--out", str(tmp_path / "full")]) == 0
    assert "note:" not in capsys.readouterr().err
    assert len(list((tmp_path / "full" / "data" / "pairs").rglob("colorized.png"))) == 2


def test_cli_export_note_agrees_with_one_pair(captured, tmp_path, capsys):
    # "1 of 1 pair have no model run" read wrong; the note names one pair in the singular
    assert cli.main(["qa", "1", "pass"]) == 0
    capsys.readouterr()
    argv = ["sessions", "export", "roof", "--out", str(tmp_path / "p"), "--only", "pass"]
    assert cli.main(argv) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and notes[0].startswith("note: 1 of 1 pair has no model run, "), notes
    assert "so its folder holds only night.png and day.png" in notes[0], notes  # not "their"


def test_export_result_counts_pairs_without_a_run(captured, tmp_path):
    from engine.exchange import export_session

    with Store(captured, read_only=True) as store:
        r = export_session(store, "roof", tmp_path / "bag")
    assert (r.pairs, r.pairs_without_run) == (2, 2)


@contextlib.contextmanager
def exported_in_dialog(store, out, qtbot):
    """The GUI's Export dialog on its own job runner, the session 'roof' exported as a folder
    bag at ``out``: yields the dialog once the export has ended."""
    pytest.importorskip("PySide6")
    from gui.jobs import JobRunner
    from gui.sessions.exchange import ExportDialog

    jobs = JobRunner(workers=1)
    try:
        dlg = ExportDialog(store, jobs, store.session("roof"))
        qtbot.addWidget(dlg)
        dlg.show()
        dlg.as_zip.setChecked(False)
        dlg.path.setText(str(out))
        dlg.start()
        qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)
        yield dlg
    finally:
        jobs.shutdown()
        jobs.wait()


def test_gui_export_dialog_shows_the_note(captured, tmp_path, qtbot):
    with (
        Store(captured, read_only=True) as store,
        exported_in_dialog(store, tmp_path / "bag", qtbot) as dlg,
    ):
        assert "Exported to" in dlg.phase.text()
        assert "2 of 2 pairs have no model run" in dlg.phase.text()
        # the whole note is visible: the dialog grew to the wrapped label's height
        qtbot.waitUntil(
            lambda: dlg.phase.height() >= dlg.phase.heightForWidth(dlg.phase.width()),
            timeout=5_000,
        )


def test_gui_import_dialog_shows_a_long_error_whole(tmp_path, qtbot):
    # Before: the error for a truncated zip wrapped to three lines in a two-line label
    pytest.importorskip("PySide6")
    from engine.app_state import AppState
    from gui.jobs import JobRunner
    from gui.sessions.exchange import ImportDialog

    cut = tmp_path / "roof-night.zip"
    cut.write_bytes(b"PK\x03\x04" + b"\x00" * 5000)  # a zip's start, its end cut off
    with Store(tmp_path / "data") as store:
        jobs = JobRunner(workers=1)
        dlg = ImportDialog(AppState(), store, jobs)
        qtbot.addWidget(dlg)
        dlg.show()
        dlg.path.setText(str(cut))
        dlg.start()
        qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)
        assert "damaged zip file, truncated" in dlg.phase.text()
        qtbot.waitUntil(
            lambda: dlg.phase.height() >= dlg.phase.heightForWidth(dlg.phase.width()),
            timeout=5_000,
        )
        jobs.shutdown()
        jobs.wait()


def test_gui_export_note_points_to_the_apps_action_not_the_refused_command(
    captured, tmp_path, qtbot
):
    # the dialog's note sent the operator to `nightlab reprocess`, which the open app's hold on
    # the data folder refuses ("being written by another NightLab process"), then to close
    # NightLab first; the app now records the runs itself (the Sessions dock's action)
    import subprocess

    with Store(captured) as store:  # the app's own writer
        refused = subprocess.run(
            [sys.executable, str(ROOT / "main.py"), "reprocess", "--session", "roof", "--serial"],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert refused.returncode == 2
        assert "being written by another NightLab process" in refused.stderr
        with exported_in_dialog(store, tmp_path / "bag", qtbot) as dlg:
            note = dlg.phase.text()
            assert "Sessions dock" in note and "Process pairs without a run" in note
            assert "nightlab reprocess" not in note and "NightLab closed" not in note


def test_show_in_folder_says_where_the_bag_is_when_no_file_manager_opens(captured, tmp_path, qtbot):
    # without a file manager (a lab PC without a desktop, Xvfb, offscreen) Qt opens nothing and
    # the button did nothing visible; the dialog now says which folder holds the bag
    pytest.importorskip("PySide6")
    from PySide6.QtCore import Qt

    with (
        Store(captured, read_only=True) as store,
        exported_in_dialog(store, tmp_path / "bag", qtbot) as dlg,
    ):
        assert dlg.reveal.isEnabled()
        qtbot.mouseClick(dlg.reveal, Qt.MouseButton.LeftButton)  # offscreen: nothing opens
        assert f"no file manager opened it: the bag is in {tmp_path}" in dlg.phase.text()
        assert "2 of 2 pairs have no model run" in dlg.phase.text(), "the note stays"


def test_a_refused_export_does_not_show_the_last_exports_full_bar(captured, tmp_path, qtbot):
    # Export pressed again onto the bag just written is refused ("already exists"); the bar
    # still showed the first export's 100 % beside the red line, as if the second had run
    with (
        Store(captured, read_only=True) as store,
        exported_in_dialog(store, tmp_path / "bag", qtbot) as dlg,
    ):
        assert dlg.bar.value() == dlg.bar.maximum()
        dlg.start()  # the same path again
        qtbot.waitUntil(lambda: not dlg.running, timeout=30_000)
        assert "already exists" in dlg.phase.text()
        assert dlg.bar.value() == 0


def _as_read(label) -> str:
    """What a rich-text label shows, as plain text."""
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setHtml(label.text())
    return doc.toPlainText()


def test_a_path_with_markup_characters_is_shown_as_typed_in_the_error_and_the_outcome(
    captured, tmp_path, qtbot
):
    # Before: the error and the bag's path went into the label's markup unescaped: a folder
    # "R&D <b>night" read "R&D night", its "<b>" taken as markup (bold)
    folder = tmp_path / "R&D <b>night"
    with Store(captured, read_only=True) as store:
        with exported_in_dialog(store, folder / "bag", qtbot) as dlg:  # the folder is not there
            shown = _as_read(dlg.phase)
            assert f"{folder}: no such folder" in shown, shown
        folder.mkdir()
        with exported_in_dialog(store, folder / "bag", qtbot) as dlg:
            shown = _as_read(dlg.phase)
            assert f"Exported to {folder / 'bag'}" in shown, shown
            assert "2 of 2 pairs have no model run" in shown


def test_an_export_and_import_timed_at_zero_seconds_print_no_infinite_rate(
    captured, tmp_path, capsys, monkeypatch
):
    # Before: "(0.0 s, inf MB/s)" for a transfer the clock timed at 0 s (a coarse clock, a
    # tiny session)
    import time
    from types import SimpleNamespace

    frozen = SimpleNamespace(perf_counter=lambda: 1000.0, time=time.time, localtime=time.localtime)
    monkeypatch.setattr("engine.exchange._write.time", frozen)
    monkeypatch.setattr("engine.exchange._session.time", frozen)
    capsys.readouterr()
    assert cli.main(["sessions", "export", "roof", "--out", str(tmp_path / "bag.zip")]) == 0
    said = capsys.readouterr().out
    assert said.startswith("exported session 1 (roof): 2 pairs, ") and "(under 0.1 s)" in said
    assert "inf" not in said and "MB/s" not in said
    other = ["--data-dir", str(tmp_path / "other")]
    assert cli.main(["sessions", "import", str(tmp_path / "bag.zip"), *other]) == 0
    said = capsys.readouterr().out
    assert said.startswith("imported session ") and "(under 0.1 s)" in said, said
    assert "inf" not in said and "MB/s" not in said


def test_cli_export_note_while_the_app_writes_the_folder_points_to_the_apps_action(
    captured, tmp_path, capsys
):
    # Before: the note said "run 'nightlab reprocess --session 1'" while the app was open on
    # the folder, which refuses that command ("being written by another NightLab process")
    import os

    with Store(captured):  # the app's own writer (its lock)
        capsys.readouterr()
        assert cli.main(["sessions", "export", "roof", "--out", str(tmp_path / "bag")]) == 0
        notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and "2 of 2 pairs have no model run" in notes[0]
    assert f"NightLab (pid {os.getpid()}) is writing this data folder" in notes[0]
    assert "Sessions dock" in notes[0] and "'Process pairs without a run'" in notes[0]
    assert "run 'nightlab reprocess" not in notes[0]

    # the app closed: the command is the way again
    assert cli.main(["sessions", "export", "roof", "--out", str(tmp_path / "bag2")]) == 0
    notes = [ln for ln in capsys.readouterr().err.splitlines() if ln.startswith("note:")]
    assert "run 'nightlab reprocess --session 1' before exporting" in notes[0]
    assert "Sessions dock" not in notes[0]
