"""Export a session for the partner app and import one: dialogs with progress and Cancel.

The work is `engine.exchange.export_session` / `import_session` on the job runner; their
progress callback runs on the worker, hops to the GUI thread for the bar, and raises
`Cancelled` when the operator pressed Cancel (the engine then leaves nothing behind).
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QWidget,
)

from engine.exchange import Cancelled, export_session, import_session
from gui.bridge import on_gui_thread

if TYPE_CHECKING:
    from engine.app_state import AppState
    from engine.store import Store
    from gui.jobs import JobRunner

__all__ = ["ExportDialog", "ImportDialog"]

PHASES = {
    "checking": "Checking",
    "verifying": "Verifying checksums",
    "copying": "Copying",
    "importing": "Importing",
    "writing": "Writing",
}


class _ExchangeDialog(QDialog):
    finished_ok = Signal(object)

    def __init__(self, title: str, jobs: JobRunner, parent: QWidget | None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setMinimumWidth(520)
        self._jobs = jobs
        self._cancel = threading.Event()
        self.running = False
        self.path = QLineEdit()
        self.browse = QPushButton("Browse…")
        self.bar = QProgressBar()
        self.bar.setRange(0, 1000)
        self.bar.setValue(0)
        self.phase = QLabel("")
        self.phase.setStyleSheet("color: #8a909a;")
        self.phase.setWordWrap(True)  # a finished export may add a note about its pairs
        self.go = QPushButton(title.split()[0])
        self.go.setDefault(True)
        self.cancel = QPushButton("Close")
        self.cancel.clicked.connect(self._cancel_or_close)
        self.go.clicked.connect(self.start)
        self.form = QFormLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        self.form.addRow("Path", row)

    def _finish_layout(self) -> None:
        self.form.addRow(self.bar)
        self.form.addRow(self.phase)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.go)
        buttons.addWidget(self.cancel)
        self.form.addRow(buttons)

    def _progress(self, p) -> None:  # on the worker thread
        if self._cancel.is_set():
            raise Cancelled("cancelled by the operator")
        on_gui_thread(self._show_progress, p.phase, p.fraction, p.item)

    def _show_progress(self, phase: str, fraction: float, item: str) -> None:
        self.bar.setValue(int(fraction * 1000))
        label = PHASES.get(phase, phase.capitalize())
        self.phase.setText(f"{label} {Path(item).name}" if item else label)

    def _cancel_or_close(self) -> None:
        if self.running:
            self._cancel.set()
            self.phase.setText("Cancelling…")
        else:
            self.reject()

    def _run(self, work, describe) -> None:
        self.running = True
        self._cancel.clear()
        self.go.setEnabled(False)
        self.cancel.setText("Cancel")

        def done(result) -> None:
            self.running = False
            self.bar.setValue(1000)
            self.phase.setText(describe(result))
            self.adjustSize()  # a note may wrap onto more lines: show all of it
            self.cancel.setText("Close")
            self.go.setEnabled(True)
            self.finished_ok.emit(result)

        def failed(msg: str) -> None:
            self.running = False
            self.phase.setText(f"<span style='color:#f85149'>{msg}</span>")
            self.adjustSize()  # the whole message, however many lines it wraps to
            self.cancel.setText("Close")
            self.go.setEnabled(True)

        self._jobs.submit(work, done=done, failed=failed, label=self.windowTitle().lower())

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class ExportDialog(_ExchangeDialog):
    """Export the open (or a chosen) session as a BagIt bag: a folder or one zip."""

    def __init__(
        self, store: Store, jobs: JobRunner, session, parent: QWidget | None = None
    ) -> None:
        super().__init__("Export session", jobs, parent)
        self._store, self.session = store, session
        self.as_zip = QCheckBox("one .zip file")
        self.as_zip.setChecked(True)
        self.verdict = QComboBox()
        self.verdict.addItem("every pair", None)
        for v in ("pass", "fail", "review"):
            self.verdict.addItem(f"pairs judged '{v}'", v)
        self.tag = QLineEdit()
        self.tag.setPlaceholderText("only pairs with this tag (optional)")
        self.form.insertRow(
            0, "Session", QLabel(f"<b>{session.name}</b> · {session.n_pairs} pairs")
        )
        self.form.addRow("Format", self.as_zip)
        self.form.addRow("Pairs", self.verdict)
        self.form.addRow("Tag", self.tag)
        self._finish_layout()
        self.path.setText(str(Path.home() / f"{_safe(session.name)}.zip"))
        self.as_zip.toggled.connect(self._suffix)
        self.browse.clicked.connect(self._browse)

    def _suffix(self, zipped: bool) -> None:
        p = Path(self.path.text())
        self.path.setText(str(p.with_suffix(".zip") if zipped else p.with_suffix("")))

    def _browse(self) -> None:
        if self.as_zip.isChecked():
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), "*.zip")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder")
            path = str(Path(path) / _safe(self.session.name)) if path else ""
        if path:
            self.path.setText(path)

    def start(self) -> None:
        out, zipped = self.path.text().strip(), self.as_zip.isChecked()
        verdict, tag = self.verdict.currentData(), self.tag.text().strip() or None
        store, sid = self._store, self.session.id
        self._run(
            lambda: export_session(
                store, sid, out, as_zip=zipped, verdict=verdict, tag=tag, progress=self._progress
            ),
            lambda r: f"Exported to {out}" + _without_runs(r, sid),
        )


class ImportDialog(_ExchangeDialog):
    """Import a bag (folder or zip) as a new session; everything is checked first."""

    def __init__(self, state: AppState, store: Store, jobs: JobRunner, parent=None) -> None:
        super().__init__("Import session", jobs, parent)
        self._state, self._store = state, store
        self.as_copy = QCheckBox("import as a copy if the session is already here")
        self.form.addRow("", self.as_copy)
        self._finish_layout()
        self.browse.clicked.connect(self._browse)
        self.finished_ok.connect(lambda r: setattr(self._state, "session", r.session))

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import bag", "", "Bags (*.zip bagit.txt)")
        if path:
            self.path.setText(str(Path(path).parent) if path.endswith("bagit.txt") else path)

    def start(self) -> None:
        path, as_copy, store = self.path.text().strip(), self.as_copy.isChecked(), self._store
        self._run(
            lambda: import_session(store, path, as_copy=as_copy, progress=self._progress),
            lambda r: f"Imported {r.session.name!r}: {r.pairs} pairs, {r.captures} captures",
        )


def _without_runs(result, session_id: int) -> str:
    """A note when pairs left without their model outputs (no run: captured, not reprocessed)."""
    n = result.pairs_without_run
    if not n:
        return ""
    # the command on a line of its own: Qt would break it at "--"
    return (
        f"<br><span style='color:#d29922'>{n} of {result.pairs} pairs have no model run: only "
        f"night and day images.<br>Run <b>nightlab reprocess --session {session_id}</b> to "
        "add the colorized outputs.</span>"
    )


def _safe(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.strip())
    return keep.strip("-") or "session"
