"""Export a session for the partner app and import one: dialogs with progress and Cancel.

The work is `engine.exchange.export_session` / `import_session` on the job runner; their
progress callback runs on the worker, hops to the GUI thread for the bar, and raises
`Cancelled` when the operator pressed Cancel (the engine then leaves nothing behind).
"""

from __future__ import annotations

import html
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
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
    "reading": "Reading the session",
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
        # markup of its own (the outcome, a note); every path, name and message in it escaped
        self.phase.setTextFormat(Qt.TextFormat.RichText)
        self.phase.setStyleSheet("color: #8a909a;")
        self.phase.setWordWrap(True)  # a finished export may add a note about its pairs
        self.go = QPushButton(title.split()[0])
        self.go.setDefault(True)
        self.cancel = QPushButton("Close")
        self.cancel.clicked.connect(self._cancel_or_close)
        self.go.clicked.connect(self.start)
        # nowhere to write or read: the button waits for a path (it used to run and fail)
        self.path.textChanged.connect(lambda _: self._update_go())
        self.form = QFormLayout(self)
        row = QHBoxLayout()
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        self.form.addRow("Path", row)

    def _ready(self) -> bool:
        """Whether the rest of the dialog's choice allows a start (a subclass says)."""
        return True

    def _chosen_path(self) -> str:
        """The path typed, ``~`` expanded and a relative one taken in the home folder (where
        the suggested path is), shown back whole: ``~/night.zip`` failed ("~: no such
        folder") and ``night.zip`` went to the app's working folder, said as "Exported to
        night.zip", which no one could then find."""
        path = Path(self.path.text().strip()).expanduser()
        if not path.is_absolute():
            path = Path.home() / path
        if str(path) != self.path.text():
            self.path.setText(str(path))
        return str(path)

    def _update_go(self) -> None:
        self.go.setEnabled(not self.running and bool(self.path.text().strip()) and self._ready())

    def _finish_layout(self) -> None:
        self.form.addRow(self.bar)
        self.form.addRow(self.phase)
        buttons = self.buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.go)
        buttons.addWidget(self.cancel)
        self.form.addRow(buttons)

    def _progress(self, p) -> None:  # on the worker thread
        if self._cancel.is_set():
            raise Cancelled("cancelled by the operator")
        item = p.item
        if p.unit != "bytes":  # the store read before an export writes: seconds at 3,000 pairs
            item = f"{p.done:,} of {p.total:,} {p.unit}"
        on_gui_thread(self._show_progress, p.phase, p.fraction, item)

    def _show_progress(self, phase: str, fraction: float, item: str) -> None:
        self.bar.setValue(int(fraction * 1000))
        label = PHASES.get(phase, phase.capitalize())
        if phase == "reading":
            self.phase.setText(_esc(f"{label}: {item}" if item else f"{label}…"))
            return
        self.phase.setText(_esc(f"{label} {Path(item).name}" if item else label))

    def stop(self, *, close: bool = False) -> None:
        """Stop a running export or import at its next step (it leaves nothing behind);
        ``close`` also closes the dialog now (the app is quitting: a stopped dialog left on
        screen after the main window went would look like work still under way)."""
        if self.running:
            self._cancel.set()
            self.phase.setText("Cancelling…")
        if close:
            self.close()

    def _cancel_or_close(self) -> None:
        if self.running:
            self._cancel.set()
            self.phase.setText("Cancelling…")
        else:
            self.reject()

    def _run(self, work, describe) -> None:
        self.running = True
        self.bar.setValue(0)  # this run's progress, not the last one's 100 % (a refusal kept it)
        self.phase.setStyleSheet("color: #8a909a;")
        self._cancel.clear()
        self.go.setEnabled(False)
        self.cancel.setText("Cancel")

        def done(result) -> None:
            self.running = False
            self.bar.setValue(1000)
            self.phase.setStyleSheet("")  # the outcome, in full contrast: not a progress note
            self.phase.setText(describe(result))
            self.adjustSize()  # a note may wrap onto more lines: show all of it
            self.cancel.setText("Close")
            self._update_go()
            self.finished_ok.emit(result)

        def failed(msg: str) -> None:
            self.running = False
            if self._cancel.is_set():  # asked for, not a failure: said plainly, not in red
                self.bar.setValue(0)
                self.phase.setText("Cancelled: nothing was written")
                self.cancel.setText("Close")
                self._update_go()
                return
            self.phase.setText(f"<span style='color:#f85149'>{_esc(msg)}</span>")
            self.adjustSize()  # the whole message, however many lines it wraps to
            self.cancel.setText("Close")
            self._update_go()

        self._jobs.submit(work, done=done, failed=failed, label=self.windowTitle().lower())

    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError


class ExportDialog(_ExchangeDialog):
    """Export a session as a BagIt bag (a folder or one zip): any session of the store, the
    open one first; says how many pairs the choice covers before anything is written, and
    what was written (and what is missing from it) afterwards."""

    def __init__(
        self, store: Store, jobs: JobRunner, session=None, parent: QWidget | None = None
    ) -> None:
        super().__init__("Export session", jobs, parent)
        self._store, self.session = store, session
        self._path_edited = False  # a path the operator typed is kept when the session changes
        self._count_gen = 0
        self._choice_ok = False  # the session and filters cover at least one pair
        self.sessions = QComboBox()
        self.sessions.setToolTip("The session to hand over (every session of this data folder)")
        if session is not None:
            self.sessions.addItem(_session_text(session), session)
        self.as_zip = QCheckBox("one .zip file")
        self.as_zip.setChecked(True)
        self.verdict = QComboBox()
        self.verdict.addItem("every pair", None)
        for v in ("pass", "fail", "review"):
            self.verdict.addItem(f"pairs judged '{v}'", v)
        self.tag = QLineEdit()
        self.tag.setPlaceholderText("only pairs with this tag (optional)")
        self.selection = QLabel("")
        self.selection.setObjectName("export_selection")
        self.form.insertRow(0, "Session", self.sessions)
        self.form.addRow("Format", self.as_zip)
        self.form.addRow("Pairs", self.verdict)
        self.form.addRow("Tag", self.tag)
        self.form.addRow("", self.selection)
        self._finish_layout()
        self.reveal = QPushButton("Show in folder")
        self.reveal.setToolTip("Open the folder the bag was written to")
        self.reveal.setEnabled(False)
        self.reveal.clicked.connect(self._reveal)
        self.buttons.insertWidget(0, self.reveal)
        self.written: Path | None = None
        if session is not None:
            self.path.setText(str(Path.home() / f"{_safe(session.name)}.zip"))
        self.path.textEdited.connect(lambda _: setattr(self, "_path_edited", True))
        self.as_zip.toggled.connect(self._suffix)
        self.browse.clicked.connect(self._browse)
        self.sessions.currentIndexChanged.connect(self._session_changed)
        self.verdict.currentIndexChanged.connect(self._count)
        self.tag.textChanged.connect(self._count)
        self.finished_ok.connect(self._written)
        self._jobs.submit(store.sessions, done=self._fill_sessions, label="listing sessions")
        self._count()

    def _fill_sessions(self, sessions) -> None:
        keep = self.sessions.currentData()
        self.sessions.blockSignals(True)
        self.sessions.clear()
        for s in reversed(sessions):  # newest first, as in the Sessions dock
            self.sessions.addItem(_session_text(s), s)
        at = next((i for i, s in enumerate(reversed(sessions)) if keep and s.id == keep.id), 0)
        self.sessions.setCurrentIndex(at if sessions else -1)
        self.sessions.blockSignals(False)
        self._session_changed()

    def _session_changed(self, *_) -> None:
        s, before = self.sessions.currentData(), self.session
        self.session = s
        moved = s is not None and (before is None or before.id != s.id)
        if moved and not self._path_edited:
            home = Path(self.path.text()).parent if self.path.text() else Path.home()
            name = f"{_safe(s.name)}.zip" if self.as_zip.isChecked() else _safe(s.name)
            self.path.setText(str(home / name))
        self._count()

    def _count(self, *_) -> None:
        """How many pairs the choice covers, counted on the job runner; Export waits for a
        choice that covers at least one."""
        self._count_gen += 1
        gen, s = self._count_gen, self.session
        if s is None:
            self.selection.setText("No session to export yet")
            self._choice_ok = False
            self._update_go()
            return
        verdict, tag = self.verdict.currentData(), self.tag.text().strip() or None
        store = self._store

        def counts():
            return store.count_pairs(session_id=s.id, verdict=verdict, tag=tag), store.count_pairs(
                session_id=s.id
            )

        def shown(out) -> None:
            if gen != self._count_gen:
                return  # the choice changed since
            n, total = out
            whole = verdict is None and tag is None
            if whole:
                self.selection.setText(f"The whole session: {total} pair{'s' * (total != 1)}")
            elif n:
                self.selection.setText(f"{n} of {total} pairs match")
            else:
                self.selection.setText(
                    f"<span style='color:#d29922'>No pair of {total} matches: nothing to "
                    "export</span>"
                )
            self._choice_ok = whole or n > 0
            self._update_go()

        self._jobs.submit(counts, done=shown, label="counting pairs")

    def _suffix(self, zipped: bool) -> None:
        if not self.path.text().strip():
            return  # nothing typed: Path(".").with_suffix raised in the slot
        p = Path(self.path.text())
        self.path.setText(str(p.with_suffix(".zip") if zipped else p.with_suffix("")))

    def _browse(self) -> None:
        name = _safe(self.session.name) if self.session is not None else "session"
        if self.as_zip.isChecked():
            path, _ = QFileDialog.getSaveFileName(self, "Export to", self.path.text(), "*.zip")
        else:
            path = QFileDialog.getExistingDirectory(self, "Export into folder")
            path = str(Path(path) / name) if path else ""
        if path:
            self.path.setText(path)
            self._path_edited = True

    def start(self) -> None:
        if self.session is None:
            return
        out, zipped = self._chosen_path(), self.as_zip.isChecked()
        verdict, tag = self.verdict.currentData(), self.tag.text().strip() or None
        store, sid = self._store, self.session.id
        self.reveal.setEnabled(False)
        self._run(
            lambda: export_session(
                store, sid, out, as_zip=zipped, verdict=verdict, tag=tag, progress=self._progress
            ),
            lambda r: _written_text(r, out) + _without_runs(r),
        )

    def _ready(self) -> bool:
        return self._choice_ok

    def _written(self, result) -> None:
        self.written = Path(result.path)
        self.reveal.setEnabled(True)

    def _reveal(self) -> None:
        if self.written is not None:
            from PySide6.QtCore import QUrl
            from PySide6.QtGui import QDesktopServices

            folder = self.written.parent
            if QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder))):
                return
            # no file manager (no desktop, Xvfb): the click did nothing visible; say where
            said = f"no file manager opened it: the bag is in {_esc(folder)}"
            if said not in self.phase.text():
                self.phase.setText(f"{self.phase.text()}<br>Show in folder: {said}")
                self.adjustSize()


class ImportDialog(_ExchangeDialog):
    """Import a bag (folder or zip) as a new session; everything is checked first."""

    def __init__(self, state: AppState, store: Store, jobs: JobRunner, parent=None) -> None:
        super().__init__("Import session", jobs, parent)
        self._state, self._store = state, store
        self.as_copy = QCheckBox("import as a copy if the session is already here")
        self.form.addRow("", self.as_copy)
        self._finish_layout()
        self.browse.clicked.connect(self._browse)
        self.finished_ok.connect(self._open_imported)
        self._update_go()  # no bag chosen yet

    def _open_imported(self, result) -> None:
        rec = self._state.recording
        if rec is not None and rec.id != result.session.id:  # the run's captures go to rec
            self.phase.setText(
                f"{self.phase.text()} · not opened: a capture is recording into "
                f"{_esc(repr(rec.name))}"
            )
            return
        self._state.session = result.session
        # opening it is a switch of where the next capture goes: said, not done silently
        self.phase.setText(
            f"{self.phase.text()} · now open: captures go into {_esc(repr(result.session.name))}"
        )

    def _browse(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Import bag", "", "Bags (*.zip bagit.txt)")
        if path:
            self.path.setText(str(Path(path).parent) if path.endswith("bagit.txt") else path)

    def start(self) -> None:
        path, as_copy, store = self._chosen_path(), self.as_copy.isChecked(), self._store
        self._run(
            lambda: import_session(store, path, as_copy=as_copy, progress=self._progress),
            lambda r: (
                f"Imported {_esc(repr(r.session.name))}: {r.pairs} pairs, {r.captures} captures"
            ),
        )


def _session_text(s) -> str:
    import datetime as dt

    when = dt.datetime.fromtimestamp(s.created_at)
    return f"{s.name} · {s.n_pairs} pair{'s' * (s.n_pairs != 1)} · {when:%Y-%m-%d %H:%M}"


def _written_text(result, out: str) -> str:
    """What the export wrote: where, how much, how fast."""
    return (
        f"Exported to {_esc(out)}<br><b>{result.pairs} pair{'s' * (result.pairs != 1)}</b>, "
        f"{result.payload_files} files, {result.size_text} in {result.seconds:.1f} s"
    )


def _without_runs(result) -> str:
    """A note when pairs left without their model outputs (no run: captured, not processed)."""
    n = result.pairs_without_run
    if not n:
        return ""
    # the app is the data folder's writer: it adds the runs itself (`nightlab reprocess` is
    # refused while it is open), from the Sessions dock
    return (
        f"<br><span style='color:#d29922'>{n} of {result.pairs} "
        f"{'pair' if result.pairs == 1 else 'pairs'} {'has' if n == 1 else 'have'} "
        "no model run: only night and day images.<br>To add the colorized outputs, open the "
        "session in the Sessions dock, press <b>Process pairs without a run</b>, then export "
        "again.</span>"
    )


def _esc(text: object) -> str:
    """``text`` as it reads inside the phase line's markup: a path or a message with ``<`` or
    ``&`` (a folder "R&D <night>") shown as typed, not taken as markup."""
    return html.escape(str(text), quote=False)


def _safe(name: str) -> str:
    keep = "".join(c if c.isalnum() or c in "-_." else "-" for c in name.strip())
    return keep.strip("-") or "session"
