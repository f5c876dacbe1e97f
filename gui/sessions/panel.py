"""Sessions: create, open and close experiment sessions in the store.

Every store call runs on the job runner (SQLite and PNG files are I/O); the table is
refreshed from the store's own events, so a capture recorded by a scheduled run shows up in
the counts without anyone asking.
"""

from __future__ import annotations

import datetime as dt
import getpass
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, Qt, Signal
from PySide6.QtGui import QPainter, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

from gui.bridge import follow
from gui.sessions.runs import MissingRunsAction
from gui.table_fill import bulk_fill, set_cell

if TYPE_CHECKING:
    from engine.app_state import AppState
    from engine.store import Session, Store
    from gui.jobs import JobRunner

__all__ = ["NewSessionDialog", "SessionsPanel"]

RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
COLUMNS = ("Name", "Operator", "Created", "Captures", "Pairs", "State")


class _SessionsTable(QTableWidget):
    """The sessions; with none, says where they were looked for and how to start one (an
    empty white table told a new operator nothing, not even which data folder it showed)."""

    empty_text = ""
    """Drawn while the table has no row ("" until the first listing is in)."""

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().paintEvent(event)
        if self.rowCount() or not self.empty_text:
            return
        painter = QPainter(self.viewport())
        painter.setPen(self.palette().color(QPalette.ColorRole.PlaceholderText))
        flags = Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap
        painter.drawText(self.viewport().rect().adjusted(8, 4, -8, -4), flags, self.empty_text)
        painter.end()


class NewSessionDialog(QDialog):
    """Name (required), operator, scene notes; ``values`` and ``refused`` bring back an attempt
    the store refused, as it was typed, with the reason."""

    def __init__(
        self,
        parent: QWidget | None = None,
        *,
        operator: str = "",
        values: dict[str, str] | None = None,
        refused: str = "",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("New session")
        values = values or {}
        self.name = QLineEdit()
        self.name.setPlaceholderText("e.g. roof-east 2026-12-01")
        self.operator = QLineEdit(values.get("operator", operator))
        self.notes = QPlainTextEdit(values.get("scene_notes", ""))
        self.notes.setPlaceholderText(
            "What the scene is, weather, anything the QA team should know"
        )
        self.notes.setFixedHeight(80)
        self.refused = QLabel(refused)
        self.refused.setWordWrap(True)
        self.refused.setStyleSheet("color: #c62828;")
        self.refused.setVisible(bool(refused))
        form = QFormLayout(self)
        form.addRow(self.refused)
        form.addRow("Name", self.name)
        form.addRow("Operator", self.operator)
        form.addRow("Scene notes", self.notes)
        buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self._ok = buttons.button(QDialogButtonBox.StandardButton.Ok)
        self._ok.setText("Create")
        self._ok.setEnabled(False)
        self.name.textChanged.connect(lambda t: self._ok.setEnabled(bool(t.strip())))
        self.name.setText(values.get("name", ""))
        form.addRow(buttons)

    def values(self) -> dict[str, str]:
        return {
            "name": self.name.text().strip(),
            "operator": self.operator.text().strip(),
            "scene_notes": self.notes.toPlainText().strip(),
        }


class SessionsPanel(QWidget):
    """The store's sessions; the selected one can be opened (``state.session``) or closed."""

    message = Signal(str)
    export_requested = Signal(object)
    """Export this `Session` (the selected one, else the open one): the window's dialog."""

    def __init__(
        self, state: AppState, store: Store, jobs: JobRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._store = store
        self._jobs = jobs
        self._sessions: list[Session] = []
        self.current = QLabel()
        self.current.setWordWrap(True)
        self.table = _SessionsTable(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        # The figures (created, captures, pairs, state) as wide as their text; the name takes
        # the rest and elides in the middle (the end of a name, often its date, tells sessions
        # apart), whole in its tooltip; in a narrow dock the operator column gives way to the
        # name (_fit_columns). Before, every column sized to its text and the dock at 1366x768
        # had to scroll sideways to show Pairs and State. One line a row: wrapped, a squeezed
        # name read "r… e…".
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)  # see _fit_columns
        header.setStretchLastSection(False)
        self.table.viewport().installEventFilter(self)  # refit when the dock is resized
        self.table.doubleClicked.connect(lambda _: self.open_selected())
        self.btn_new = QPushButton("New…")
        self.btn_new.setToolTip("Start a session: every capture goes into it (Ctrl+N)")
        self.btn_open = QPushButton("Open")
        self.btn_open.setToolTip("Continue the selected session (double-click)")
        self.btn_close = QPushButton("Close session")
        self.btn_close.setToolTip("Mark the open session closed: no more captures go into it")
        self.btn_export = QPushButton("Export…")
        self.btn_export.setToolTip(
            "Hand the selected session to the partner app as a bag (Ctrl+E: the open one)"
        )
        self.btn_export.clicked.connect(
            lambda: self.export_requested.emit(self.selected() or self._state.session)
        )
        self.btn_new.clicked.connect(self.new_dialog)
        self.btn_open.clicked.connect(self.open_selected)
        # Open continues the selected session: with none selected it did nothing at all
        self.btn_open.setEnabled(False)
        self.table.itemSelectionChanged.connect(
            lambda: self.btn_open.setEnabled(self.selected() is not None)
        )
        self.btn_close.clicked.connect(self.close_current)
        row = QHBoxLayout()
        for b in (self.btn_new, self.btn_open, self.btn_close, self.btn_export):
            row.addWidget(b)
        row.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.current)
        lay.addLayout(row)
        # the open session's pairs without a run: processed here (the app is the writer)
        self.runs = MissingRunsAction(state, store, jobs)
        self.runs.message.connect(self.message)
        lay.addWidget(self.runs)
        lay.addWidget(self.table, 1)

        ev = store.events
        for sig in (ev.session_added, ev.session_changed, ev.session_deleted, ev.pair_added):
            follow(sig, lambda *_: self.refresh(), self)
        follow(state.events.session, self._show_current, self)
        self._show_current(state.session)
        self.refresh()

    def refresh(self) -> None:
        self._jobs.submit(self._store.sessions, done=self._fill, label="listing sessions")

    def _fill(self, sessions: list[Session]) -> None:
        self._sessions = list(reversed(sessions))  # newest first
        # refilled at every pair a run records: a lab's months of sessions, linear not N x N
        with bulk_fill(self.table):
            self._fill_rows()
        self.table.empty_text = (
            f"No sessions yet in {self._store.root}.\n\nNew… (Ctrl+N) starts one; "
            "File → Import session… (Ctrl+I) adds one exported elsewhere."
        )
        self.table.viewport().update()
        self._fit_columns()
        cur = self._state.session
        if cur is not None:
            fresh = next((s for s in sessions if s.id == cur.id), None)
            if fresh is not None and fresh != cur:
                self._state.session = fresh

    def _fill_rows(self) -> None:
        self.table.setRowCount(len(self._sessions))
        for r, s in enumerate(self._sessions):
            when = dt.datetime.fromtimestamp(s.created_at)
            # this year's dates without the year: room for the name in a narrow dock
            short = when.year == dt.date.today().year
            created = when.strftime("%m-%d %H:%M" if short else "%Y-%m-%d %H:%M")
            cells = (s.name, s.operator, created, str(s.n_captures), str(s.n_pairs),
                     "open" if s.is_open else "closed")  # fmt: skip
            # the whole name, and the operator (its column may give way in a narrow dock)
            who = f"operator: {s.operator}" if s.operator else ""
            tip = "\n".join(t for t in (s.name, who, s.scene_notes) if t)
            for c, text in enumerate(cells):
                set_cell(
                    self.table, r, c, text, tooltip=tip, alignment=RIGHT if c in (3, 4) else None
                )

    OPERATOR_MAX_PX = 110
    """The operator column's widest (a longer name elides): the session name gets the room."""
    NAME_MIN_PX = 150
    """Below this (and the names' own width) the operator column is hidden for the name."""

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 - Qt API
        if obj is self.table.viewport() and event.type() == QEvent.Type.Resize:
            self._fit_columns()
        return False

    def _fit_columns(self) -> None:
        table, header = self.table, self.table.horizontalHeader()

        def wanted(c: int) -> int:
            return max(table.sizeHintForColumn(c), header.sectionSizeHint(c))

        operator = min(wanted(1), self.OPERATOR_MAX_PX)
        table.setColumnWidth(1, operator)
        figures = sum(wanted(c) for c in range(2, table.columnCount()))
        room = table.viewport().width() - figures
        table.setColumnHidden(1, room - operator < min(wanted(0), self.NAME_MIN_PX))

    def _show_current(self, session) -> None:
        if session is None:
            self.current.setText("<b>No session open</b> — captures are not recorded")
        else:
            state = "" if session.is_open else " (closed: read-only)"
            self.current.setText(
                f"<b>Session:</b> {session.name}{state} · {session.n_captures} captures · "
                f"{session.n_pairs} pairs"
            )
        self.btn_close.setEnabled(session is not None and session.is_open)

    # -- actions ---------------------------------------------------------------------------
    def refuse_while_recording(self, what: str, target: Session | None = None) -> bool:
        """True (and says so, naming the session) while a capture run records into a session
        other than ``target``: its captures would keep going there while the window showed
        another one."""
        rec = self._state.recording
        if rec is None or (target is not None and target.id == rec.id):
            return False
        self.message.emit(
            f"cannot {what}: a capture is recording into session {rec.name!r}; "
            "stop it first (Capture dock)"
        )
        return True

    def new_dialog(self, values: dict[str, str] | None = None, refused: str = "") -> None:
        """Ask for a new session (window-modal, opened: the app's loop goes on). A session the
        store refuses brings the dialog back with what was typed and why."""
        if self.refuse_while_recording("start a new session"):
            return
        dlg = NewSessionDialog(self, operator=self._last_operator(), values=values, refused=refused)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.accepted.connect(lambda: self.create(**dlg.values(), ask_again=True))
        dlg.open()

    def _last_operator(self) -> str:
        """The newest session's operator, else the login name (as the command line does)."""
        if self._sessions and self._sessions[0].operator:
            return self._sessions[0].operator
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return ""

    def create(
        self, name: str, operator: str = "", scene_notes: str = "", *, ask_again: bool = False
    ) -> None:
        """Create and open a session (on the job runner). ``ask_again``: if the store refuses,
        the New session dialog comes back with these values and the reason."""
        if self.refuse_while_recording("start a new session"):
            return
        cam = self._state.camera
        info = cam.info if cam is not None else None

        def work():
            return self._store.create_session(
                name,
                operator=operator,
                scene_notes=scene_notes,
                camera_backend=info.backend if info else "",
                device_id=info.device_id if info else "",
            )

        def done(session) -> None:
            if self.refuse_while_recording(f"open the new session {session.name!r}"):
                return  # a run started while it was being created
            self._state.session = session
            self.message.emit(f"Session {session.name!r} created and open")

        def failed(reason: str) -> None:  # the runner also shows it in the status bar
            if ask_again:
                values = {"name": name, "operator": operator, "scene_notes": scene_notes}
                self.new_dialog(values, refused=reason)

        self._jobs.submit(work, done=done, failed=failed, label="creating the session")

    def selected(self) -> Session | None:
        rows = self.table.selectionModel().selectedRows()
        return self._sessions[rows[0].row()] if rows else None

    def open_selected(self) -> None:
        s = self.selected()
        if s is not None and not self.refuse_while_recording(f"open {s.name!r}", s):
            self._state.session = s
            self.message.emit(f"Session {s.name!r} open")

    def close_current(self) -> None:
        s = self._state.session
        if s is None or self.refuse_while_recording("close the session"):
            return

        def done(session) -> None:
            self._state.session = None
            self.message.emit(f"Session {session.name!r} closed")

        self._jobs.submit(self._store.close_session, s.id, done=done, label="closing the session")
