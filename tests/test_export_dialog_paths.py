"""The Export and Import dialogs take the paths an operator types. Found as a new user:
``~/bags/night.zip`` failed ("~: no such folder"); ``night.zip`` was written to the app's
working folder (wherever the desktop started it) and the dialog said only "Exported to
night.zip"; and clearing the path, then ticking "one .zip file", raised in the slot."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import GUI_TIMEOUT


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "bags").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    assert Path.home() == home
    return home


@pytest.fixture
def export_dialog(read_only_store, qtbot):
    from gui.jobs import JobRunner
    from gui.sessions.exchange import ExportDialog

    jobs = JobRunner(workers=1)
    dlg = ExportDialog(read_only_store, jobs, read_only_store.session("read-only judging"))
    qtbot.addWidget(dlg)
    dlg.show()
    qtbot.waitUntil(lambda: dlg.go.isEnabled(), timeout=GUI_TIMEOUT)
    yield dlg
    jobs.shutdown()
    jobs.wait()


def _export(dlg, typed: str, qtbot) -> str:
    dlg.path.setText(typed)
    dlg.start()
    qtbot.waitUntil(lambda: not dlg.running, timeout=GUI_TIMEOUT)
    return dlg.phase.text()


@pytest.mark.parametrize(
    ("typed", "where"), [("~/bags/night.zip", "bags/night.zip"), ("night.zip", "night.zip")]
)
def test_a_tilde_or_relative_path_is_written_in_the_home_folder_and_shown_whole(
    home, export_dialog, qtbot, typed, where
):
    said = _export(export_dialog, typed, qtbot)
    assert (home / where).is_file(), said
    assert said.startswith(f"Exported to {home / where}<br>"), said
    assert export_dialog.path.text() == str(home / where)


def test_ticking_zip_with_no_path_typed_raises_nothing(export_dialog):
    export_dialog.as_zip.setChecked(False)
    export_dialog.path.setText("")
    export_dialog.as_zip.setChecked(True)  # before: ValueError, '.' has an empty name
    assert export_dialog.path.text() == "" and not export_dialog.go.isEnabled()


def test_import_takes_a_tilde_path(home, export_dialog, qtbot, tmp_path):
    from engine.app_state import AppState
    from engine.store import Store
    from gui.jobs import JobRunner
    from gui.sessions.exchange import ImportDialog

    _export(export_dialog, str(home / "bags" / "night.zip"), qtbot)
    with Store(tmp_path / "other") as store:
        jobs = JobRunner(workers=1)
        dlg = ImportDialog(AppState(), store, jobs)
        qtbot.addWidget(dlg)
        dlg.show()
        dlg.path.setText("~/bags/night.zip")
        dlg.start()
        qtbot.waitUntil(lambda: not dlg.running, timeout=GUI_TIMEOUT)
        assert dlg.phase.text().startswith("Imported 'read-only judging': 2 pairs"), (
            dlg.phase.text()
        )
        jobs.shutdown()
        jobs.wait()
