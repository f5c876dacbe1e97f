"""NightLab's main window: composes the live view and the docks; owns no state of its own.

The state is an `engine.app_state.AppState`; live processing is an
`engine.live_preview.LivePreview`; background work goes through one `gui.jobs.JobRunner`.
Widgets take the state in their constructor and follow it. Nothing here waits: closing
stops the workers and closes the camera on background threads (`closing_threads` lets the
app wait for them after the window has gone).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from PySide6.QtCore import QSettings, Qt, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QLabel,
    QMainWindow,
    QMessageBox,
    QScrollArea,
    QSizePolicy,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from engine.app_state import AppState
from engine.live_preview import LivePreview
from engine.reference import DayCaptureList
from gui.about import AboutDialog
from gui.bridge import follow
from gui.camera.chooser import CameraChooser
from gui.camera.controls import CameraControlsPanel
from gui.capture.night import NightCapturePanel, record_reference
from gui.capture.reference import ReferencePanel
from gui.inspector.panel import InspectorPanel
from gui.jobs import JobRunner
from gui.leak.panel import LeakPanel
from gui.live.panel import LivePanel
from gui.live.stats import LiveStats
from gui.live.status import LiveStatus
from gui.model.panel import ModelPanel
from gui.pair_cache import PairCache
from gui.qa.panel import QAPanel
from gui.sessions.exchange import ExportDialog, ImportDialog
from gui.sessions.panel import SessionsPanel

if TYPE_CHECKING:
    from engine.camera import Camera
    from engine.store import Store

__all__ = ["MainWindow"]


class _DockScroll(QScrollArea):
    """A dock's scroll area that asks for its content's full size (docks get the room they had
    before they scrolled: QScrollArea's own hint is smaller) but can shrink below it."""

    def sizeHint(self):  # noqa: N802 - Qt API
        hint = super().sizeHint()
        content = self.widget()
        if content is not None:
            hint = content.sizeHint()
            hint.setWidth(hint.width() + self.verticalScrollBar().sizeHint().width())
        return hint


class _ShrinkingBox(QWidget):
    """A dock's content whose scroll area lets it shrink to its least height: its word-wrapped
    labels made the scroll area hold it at its preferred height for its width (the Capture
    dock's log at five lines), so it scrolled where a shorter log left every button in view."""

    def heightForWidth(self, width: int) -> int:  # noqa: N802 - Qt API
        layout = self.layout()
        if layout is None or not layout.hasHeightForWidth():
            return super().heightForWidth(width)
        return layout.minimumHeightForWidth(width)


class MainWindow(QMainWindow):
    closed = Signal()
    """The window closed (after its own shutdown started); the app quits on it."""

    def __init__(
        self,
        camera: Camera | None = None,
        *,
        state: AppState | None = None,
        preview: LivePreview | None = None,
        store: Store | None = None,
        camera_spec: str = "sim",
        settings: QSettings | None = None,
    ) -> None:
        super().__init__()
        self._own_store = store is None
        if store is None:
            from engine.store import Store

            store = Store()  # the user's data folder ($NIGHTLAB_DATA_DIR or platform default)
        self.store = store
        # every store write runs on the job runner; one that slips onto this thread would
        # block painting for a PNG encode + fsync + commit, so make it fail loudly instead
        self.store.disallow_writes_on(threading.current_thread())
        self.state = state or AppState(camera=camera, camera_spec=camera_spec)
        if camera is not None and self.state.camera is not camera:
            self.state.camera = camera
        self.preview = preview or LivePreview()
        # the model loads on a live worker from now on (importing onnx and onnxruntime holds
        # the GIL for a second or more: better at start-up than mid-stream), ahead of the
        # panels' own background jobs
        self.preview.preload()
        self.jobs = JobRunner(parent=self)
        self.stats = LiveStats()
        self.closing_threads: list[threading.Thread] = []
        self._settings = settings
        self._camera_unfollow: list = []
        self._oak_reopen = "idle"
        """``running`` while the OAK is being reopened with a model; ``again`` when the model
        changed meanwhile: then it is reopened once more, from the camera that reopen made
        (two at once fought over the device, and the second went back to the host)."""
        self._quit_confirmed = False
        self._title = {"camera": "", "run": ""}
        self.confirm_box: QMessageBox | None = None

        self.setWindowTitle("NightLab")
        self._fit_to_screen(1440, 900)
        self.pair_cache = PairCache(self.store, self.jobs, self.preview.colorizer)
        self.live = LivePanel(self.state, self.preview, stats=self.stats)
        self.inspector = InspectorPanel(self.store, self.jobs, self.pair_cache)
        self.qa = QAPanel(self.state, self.store, self.jobs, self.pair_cache)
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self.live, "Live")
        self.tabs.addTab(self.inspector, "Alignment inspector")
        self.tabs.addTab(self.qa, "QA review")
        # a tab's keys work as soon as it is shown (Ctrl+3 then P, Ctrl+2 then the arrows):
        # the focus otherwise stayed on a widget of the tab just hidden
        self.tabs.currentChanged.connect(self._focus_tab)
        # the result view's choice, by the name scripts and the soak probe use
        self.result_choice = self.live.base_choice
        self.setCentralWidget(self.tabs)
        self._build_actions()
        self._build_docks()
        self._build_focus_mode()
        self._wire_state()
        self.jobs.message.connect(self.show_error)  # a job's message is its failure
        for panel in (self.inspector, self.qa):
            panel.message.connect(self.show_message)
        self.qa.selected.connect(self.inspector.show_pair)
        follow(self.preview.events.failed, self.show_error, self)
        self._restore_settings()
        # the export's manifest validator compiles in one GIL-holding call (25-100 ms): now,
        # not during the first export beside the live view
        self.jobs.submit(_prepare_export_checks, label="preparing the export checks")

    # -- construction ----------------------------------------------------------------------
    def _fit_to_screen(self, width: int, height: int) -> None:
        """Start at ``width`` x ``height``, or smaller where the screen is (title bar kept)."""
        screen = self.screen()
        if screen is not None:
            free = screen.availableGeometry()
            width, height = min(width, free.width()), min(height, free.height() - 32)
        self.resize(width, height)

    def _action(self, text: str, slot, shortcut: str = "", tip: str = "", checkable=False):
        act = QAction(text, self)
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
        act.setToolTip(f"{tip or text} ({shortcut})" if shortcut else (tip or text))
        act.setCheckable(checkable)
        (act.toggled if checkable else act.triggered).connect(slot)
        return act

    def _build_actions(self) -> None:
        self.act_stream = self._action(
            "Stop camera", self.toggle_stream, "Space", "Start or stop the camera stream"
        )
        self.act_capture = self._action(
            "Capture day reference",
            lambda: self.capture_panel.capture_frame(),
            "Ctrl+D",
            "Use the newest (colour) frame as the day reference",
        )
        self.act_load = self._action(
            "Load day reference…", lambda: self.capture_panel._load_dialog(), "Ctrl+O"
        )
        self.act_live = self._action(
            "Live colorize",
            self.set_live,
            "Ctrl+L",
            "Align, mask and colorize every night frame",
            checkable=True,
        )
        self.act_quit = self._action("Quit", self.request_quit, "Ctrl+Q")
        self.act_new_session = self._action(
            "New session…", lambda: self.sessions.new_dialog(), "Ctrl+N"
        )
        self.act_pair = self._action(
            "Capture pair",
            lambda: self.night_panel.capture_pair(),
            "Ctrl+P",
            "Record a night capture and its pair into the open session",
        )
        self.act_about = self._action("About NightLab", self.about)
        self.act_export = self._action(
            "Export session…", self.export_dialog, "Ctrl+E", "Hand the open session over as a bag"
        )
        self.act_import = self._action("Import session…", self.import_dialog, "Ctrl+I")
        self.tab_actions = [
            self._action(name, lambda _=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")
            for i, name in enumerate(("Live view", "Alignment inspector", "QA review"))
        ]
        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        for a in (self.act_stream, self.act_capture, self.act_live, self.act_pair):
            tb.addAction(a)
        menu = self.menuBar()
        m_file = menu.addMenu("&File")
        m_file.addAction(self.act_new_session)
        m_file.addAction(self.act_export)
        m_file.addAction(self.act_import)
        m_file.addSeparator()
        m_file.addAction(self.act_load)
        m_file.addSeparator()
        m_file.addAction(self.act_quit)
        m_cam = self.menu_camera = menu.addMenu("&Camera")
        m_cam.addAction(self.act_stream)
        m_cam.addAction(self.act_capture)
        m_cam.addAction(self.act_live)
        m_cam.addAction(self.act_pair)
        self.menu_view = menu.addMenu("&View")
        for a in self.tab_actions:
            self.menu_view.addAction(a)
        self.menu_view.addSeparator()
        self.menu_help = menu.addMenu("&Help")
        self.menu_help.addAction(self.act_about)

    def _dock(self, title: str, name: str, widget: QWidget, area) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        # Scrollable, so that the docks' contents never set the window's minimum height:
        # stacked unscrolled they made it 1200 px, taller than a 1080p (or 768 px laptop)
        # screen, with the Sessions tab and the status bar below its bottom edge.
        # Only vertically: a dock is never narrower than its contents.
        scroll = _DockScroll()
        scroll.setObjectName(f"{name}_scroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(widget)
        bar = scroll.verticalScrollBar().sizeHint().width()
        scroll.setMinimumWidth(widget.minimumSizeHint().width() + bar)
        dock.setWidget(scroll)
        self.addDockWidget(area, dock)
        self.menu_view.addAction(dock.toggleViewAction())
        return dock

    def _build_docks(self) -> None:
        right = Qt.DockWidgetArea.RightDockWidgetArea
        cam_box = QWidget()
        cl = QVBoxLayout(cam_box)
        cl.setContentsMargins(4, 4, 4, 4)
        self.chooser = CameraChooser(self.state)
        self.chooser.requested.connect(self.open_camera)
        self.controls = CameraControlsPanel(self.state, self.jobs)
        self.controls.error.connect(self.show_error)
        self.menu_camera.insertAction(self.act_capture, self.controls.act_night)  # Ctrl+M
        cl.addWidget(self.chooser)
        cl.addWidget(self.controls)
        cl.addStretch(1)
        self.dock_camera = self._dock("Camera", "dock_camera", cam_box, right)

        cap_box = _ShrinkingBox()
        cpl = QVBoxLayout(cap_box)
        cpl.setContentsMargins(4, 4, 4, 4)
        self.day_captures = DayCaptureList()  # what Add capture keeps, for Use fused
        self.capture_panel = ReferencePanel(
            self.state, self.jobs, tracker=self.preview.tracker, captures=self.day_captures
        )
        self.capture_panel.message.connect(self.show_message)
        self.capture_panel.kept_shown.connect(lambda _shown: self._fit_capture_dock())
        self.capture_panel.day_capture_possible.connect(self.act_capture.setEnabled)
        self.act_capture.setEnabled(self.capture_panel.day_capture_ready)
        self.night_panel = NightCapturePanel(
            self.state, self.store, self.preview.tracker, self.jobs
        )
        self.night_panel.message.connect(self.show_message)
        # Ctrl+P and the toolbar's Capture pair are greyed with the panel's button, and say why
        self.night_panel.pair_possible.connect(self._pair_possible)
        self._pair_possible(
            self.night_panel.btn_pair.isEnabled(), self.night_panel.btn_pair.toolTip()
        )
        self.night_panel.pair_processed.connect(self.pair_cache.seed)
        self.night_panel.pair_recorded.connect(self.inspector.show_pair)
        cpl.addWidget(self.capture_panel)
        cpl.addWidget(self.night_panel, 1)
        self.dock_capture = self._dock("Capture", "dock_capture", cap_box, right)

        self.sessions = SessionsPanel(self.state, self.store, self.jobs)
        self.sessions.message.connect(self.show_message)
        self.sessions.export_requested.connect(lambda s: self.export_dialog(session=s))
        self.dock_sessions = self._dock("Sessions", "dock_sessions", self.sessions, right)
        self.leak_panel = LeakPanel(self.state, self.store, self.jobs)
        self.leak_panel.message.connect(self.show_message)
        self.dock_leak = self._dock("Leak mask", "dock_leak", self.leak_panel, right)
        self.model_panel = ModelPanel(self.state, self.jobs)
        self.model_panel.message.connect(self.show_message)
        self.dock_model = self._dock("Model", "dock_model", self.model_panel, right)
        self.tabifyDockWidget(self.dock_camera, self.dock_leak)
        self.tabifyDockWidget(self.dock_leak, self.dock_model)
        self.tabifyDockWidget(self.dock_capture, self.dock_sessions)
        self.dock_camera.raise_()
        self.dock_capture.raise_()
        self._docks_sized = False  # on first show, unless a saved layout was restored
        self._camera_fitted = False  # the first sizing gave the Camera dock all its controls
        self._column_checked = False  # a restored column's width, on the first show
        self._auto_width = -1  # the column's width as the window last set it

        # the right column runs the window's full height: the live strip sits under the images
        # only, and the capture dock keeps those pixels
        self.setCorner(Qt.Corner.BottomRightCorner, right)
        self.status_strip = LiveStatus(self.stats)
        self.dock_status = self._dock(
            "Live status", "dock_status", self.status_strip, Qt.DockWidgetArea.BottomDockWidgetArea
        )
        # the night run's state on every tab, and its summary the morning after
        self.run_health = QLabel()
        self.run_health.setObjectName("run_health")
        # never the status bar's widest part: a long line is cut, not the window widened
        self.run_health.setMinimumWidth(120)
        self.run_health.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Preferred)
        self.statusBar().addPermanentWidget(self.run_health)
        self.night_panel.health_changed.connect(self._show_run_health)
        self.busy = QLabel()
        self.statusBar().addPermanentWidget(self.busy)
        self.jobs.busy_changed.connect(
            lambda n: self.busy.setText(f"{n} job{'s' if n != 1 else ''} running" if n else "")
        )

    def _build_focus_mode(self) -> None:
        """View > Focus mode: the docks hide, the tab shown gets the window (at 1366x768 the
        QA comparison gains the Live status strip's height and the right column's width);
        again, they come back as they were. The QA grid's row size sits beside it."""
        self._before_focus: object | None = None
        """The docks' layout when focus mode began (None: not in focus mode)."""
        self.act_focus = self._action(
            "Focus mode",
            self.set_focus_mode,
            "Ctrl+Shift+F",
            "Hide the docks: the view gets the window (again: the docks come back)",
            checkable=True,
        )
        self.menu_view.addSeparator()
        self.menu_view.addAction(self.act_focus)
        self.menu_view.addAction(self.qa.grid_layout.act_compact)

    def docks(self) -> list[QDockWidget]:
        return self.findChildren(QDockWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)

    def set_focus_mode(self, on: bool) -> None:
        """Hide the docks (``on``) or bring them back as they were before."""
        if on == (self._before_focus is not None):
            return
        if on:
            self._before_focus = self.saveState()
            for dock in self.docks():
                dock.hide()
        else:
            before, self._before_focus = self._before_focus, None
            self.restoreState(before)
        if self.act_focus.isChecked() != on:
            self.act_focus.blockSignals(True)
            self.act_focus.setChecked(on)
            self.act_focus.blockSignals(False)

    def _model_to_preview(self, path: str) -> None:  # on the thread that set the model
        # an event for the path already set is its files written over (`ModelPanel.load`)
        self.preview.set_model(path, reload=True)

    def _wire_state(self) -> None:
        s, p = self.state, self.preview
        p.set_reference(
            s.reference,
            fixed_camera=s.reference_fixed_camera,
            meta=s.reference_meta,
            controls=s.reference_controls,
        )
        p.set_view(s.view)
        p.set_leak_params(s.leak_params)
        p.set_model(s.model_path)
        p.set_enabled(s.live)
        # the preview is thread-safe: these run on whichever thread changed the state
        s.events.reference.connect(
            lambda image: p.set_reference(
                image,
                fixed_camera=s.reference_fixed_camera,
                meta=s.reference_meta,
                controls=s.reference_controls,
            )
        )
        s.events.view.connect(p.set_view)
        s.events.leak_params.connect(p.set_leak_params)
        s.events.model_path.connect(self._model_to_preview)
        # the QA tab's pairs are colorized by the model of now: none made by another stays
        follow(s.events.model_path, lambda *_: self._renders_stale(), self)
        s.events.live.connect(p.set_enabled)
        follow(s.events.live, self._show_live, self)
        follow(s.events.reference, self._on_reference, self)
        follow(s.events.camera, self._bind_camera, self)
        follow(p.tracker.events.reference_changed, self._on_tracker_reference, self)
        follow(s.events.colorize_on, self._on_colorize_target, self)
        follow(s.events.model_path, self._model_to_camera, self)
        self._bind_camera(s.camera)

    def _bind_camera(self, camera) -> None:
        for unfollow in self._camera_unfollow:
            unfollow()
        self._camera_unfollow = []
        self.preview.attach(camera)
        if camera is None or getattr(camera, "colorizer", None) is None:
            self.preview.set_camera_colorizer(None)
            if self.state.colorize_on == "camera":
                self.state.colorize_on = "host"
        if camera is None:
            self._set_title(camera="no camera")
            return
        self._set_title(camera=camera.info.name)
        ev = camera.events
        self._camera_unfollow = [
            follow(ev.streaming_changed, self._on_streaming, self),
            follow(ev.error, self.show_error, self),
            follow(ev.disconnected, lambda m: self._on_connection(False, m), self),
            follow(ev.reconnected, lambda m: self._on_connection(True, m), self),
        ]
        self._on_streaming(camera.is_streaming)

    @property
    def camera(self) -> Camera | None:
        """The camera in use (``state.camera``)."""
        return self.state.camera

    # -- behaviour -------------------------------------------------------------------------
    #: how long a message that reports progress stays in the status bar
    MESSAGE_MS = 8000

    def show_message(self, msg: str) -> None:
        self.statusBar().showMessage(msg, self.MESSAGE_MS)

    def show_error(self, msg: str) -> None:
        """A failure (a job's, the camera's, live processing's) stays until the next message:
        gone after 8 s, an operator back from the lab bench never saw it."""
        self.statusBar().showMessage(msg)

    def _focus_tab(self, index: int) -> None:
        page = self.tabs.widget(index)
        if page is self.qa:
            self.qa.table.setFocus()
        elif page is self.inspector:
            self.inspector.setFocus()

    def _set_title(self, **parts: str) -> None:
        """``NightLab — camera — run state``: the taskbar says a night's capture is running
        (or has lost its camera) while the window is minimised."""
        self._title.update(parts)
        self.setWindowTitle(" — ".join(["NightLab", *(v for v in self._title.values() if v)]))

    def _show_run_health(self, text: str, level: str) -> None:
        colour = {"ok": "#2e7d32", "warn": "#b26a00", "error": "#c62828"}.get(level, "")
        self.run_health.setStyleSheet(f"color: {colour}; font-weight: 600;" if colour else "")
        self.run_health.setText(f"● {text}" if text else "")
        running = self.scheduled_run_active()
        lost = level == "error" and running
        self._set_title(run="CAMERA LOST" if lost else "capturing" if running else "")
        details = self.night_panel.health_details()
        self.run_health.setToolTip(f"{details}\n(the Capture dock has the log)" if details else "")

    def capture_reference(self) -> bool:
        return self.capture_panel.capture_frame()

    def set_live(self, on: bool) -> None:
        if on and self.state.reference is None:
            self.show_message("capture or load a day reference first")
            on = False
        self.state.live = on
        self._show_live(on)

    def _show_live(self, on: bool) -> None:
        if self.act_live.isChecked() != on:
            self.act_live.blockSignals(True)
            self.act_live.setChecked(on)
            self.act_live.blockSignals(False)

    def _on_tracker_reference(self, ref) -> None:
        """The recorder may set the tracker's reference (a day capture of a run): mirror it."""
        if ref is None:
            return
        if self.state.reference is not ref.image:
            source = self.state.reference_source
            if ref.capture_ids:
                source = f"session {ref.describe()}"
            elif len(ref.days) > 1:  # fused in the Day reference panel
                source = ref.describe()
            # the tracker keeps its own read-only copy: keep the flag that came with it
            self.state.set_reference(ref.image, source, fixed_camera=ref.fixed_camera)

    def _model_to_camera(self, _path: str) -> None:
        """The camera's network follows the Model dock as the host's does: another model, or
        the same file written over (an event for the path already set, `ModelPanel.load`),
        reopens the OAK with it, its card read again (a blob compiled again over the same
        path: the card's sha256 is the new blob's). Before, the camera kept the network and
        the card it was opened with. A model that cannot run on the camera goes back to the
        host, saying why."""
        if self.state.colorize_on == "camera":
            self._on_colorize_target("camera")

    def _on_colorize_target(self, where: str) -> None:
        """Host: ONNX Runtime on this machine. Camera: the OAK reopens with the model's blob
        in its pipeline (the network is part of the device pipeline, so it cannot be added to
        a running camera), then the live view takes its colour from the camera."""
        cam = self.state.camera
        if where != "camera":
            self.preview.set_camera_colorizer(None)
            return
        if cam is None or cam.info.backend != "oak":
            self.show_message("on-camera colorization needs an OAK camera")
            self.state.colorize_on = "host"
            return
        if self._oak_reopen != "idle":
            self._oak_reopen = "again"
            return
        if self._capture_holds_camera("reopen the OAK with the model"):
            self.state.colorize_on = "host"
            return
        device, model = cam.info.device_id, self.state.model_path or None

        def work():
            from engine.camera import OakCamera

            new = OakCamera(device)
            colorizer = new.enable_colorization(model)  # checks the blob: the old one stays on

            def reopen():
                try:
                    new.open()
                    new.start()
                except Exception:
                    _close_quietly(new)
                    raise
                return new

            return _take_over_device(cam, reopen), colorizer

        def done(out) -> None:
            new, colorizer = out
            self.set_camera(new, self.state.camera_spec)  # the old one was closed for it
            if self.state.colorize_on == "camera":
                self.preview.set_camera_colorizer(colorizer)
                self.show_message(f"Colorizing on the camera with {colorizer.card.name}")
            else:  # the host chosen meanwhile: the colour stays the host's, as the dock says
                self.show_message("OAK reopened; colorizing on the host, as chosen meanwhile")
            reopened()

        def failed(_msg: str) -> None:
            self._oak_reopen = "idle"  # back to the host: nothing to redo
            self.state.colorize_on = "host"

        def reopened() -> None:
            again, self._oak_reopen = self._oak_reopen == "again", "idle"
            if again and self.state.colorize_on == "camera":
                self._on_colorize_target("camera")  # the model changed meanwhile

        self._oak_reopen = "running"
        self.show_message("Reopening the OAK with the model on the camera…")
        if self.jobs.submit(work, done=done, failed=failed, label="on-camera colorization") is None:
            self._oak_reopen = "idle"  # shut down: nothing runs

    def export_dialog(self, *, show: bool = True, session=None):
        """The export dialog, on ``session``, else the open one, else the newest (a choice of
        every session inside); ``show=False`` builds it, for scripts."""
        dlg = ExportDialog(self.store, self.jobs, session or self.state.session, self)
        dlg.finished_ok.connect(lambda r: self.show_message(f"Session exported: {dlg.path.text()}"))
        if show:
            dlg.open()
        return dlg

    def import_dialog(self, *, show: bool = True):
        dlg = ImportDialog(self.state, self.store, self.jobs, self)
        dlg.finished_ok.connect(lambda r: self.show_message(f"Imported {r.session.name!r}"))
        if show:
            dlg.open()
        return dlg

    def about(self) -> None:
        AboutDialog(self, model_path=self.state.model_path).exec()

    def _on_reference(self, ref) -> None:
        session = self.state.session
        if ref is not None and session is not None and session.is_open:
            # a day reference taken while a session is open is one of its captures
            self.jobs.submit(
                record_reference,
                self.store,
                session.id,
                self.preview.tracker,
                label="recording the day reference",
            )
        if ref is None and self.state.live:
            self.set_live(False)

    def scheduled_run_active(self) -> bool:
        """A scheduled capture is running (a single pair capture is not one)."""
        r = self.night_panel.runner
        return r is not None and r.plan.count != 1

    def _confirm(
        self, title: str, text: str, ok_text: str, then, keep_text: str = "Keep capturing"
    ) -> QMessageBox:
        """Ask before ending a night's capture or an export (window-modal, non-blocking:
        ``then`` runs when the operator chose ``ok_text``; ``keep_text`` is the default, so
        Enter keeps it going)."""
        box = QMessageBox(QMessageBox.Icon.Warning, title, text, parent=self)
        ok = box.addButton(ok_text, QMessageBox.ButtonRole.DestructiveRole)
        keep = box.addButton(keep_text, QMessageBox.ButtonRole.RejectRole)
        box.setDefaultButton(keep)
        box.setEscapeButton(keep)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.buttonClicked.connect(lambda b: then() if b is ok else None)
        self.confirm_box = box
        box.open()
        return box

    def _run_summary(self) -> str:
        r = self.night_panel.runner
        return f"{r.captured} captured, {r.missed_count} missed so far" if r else ""

    def running_exchanges(self) -> list[ExportDialog | ImportDialog]:
        """Export and import dialogs with a job under way."""
        dialogs = [*self.findChildren(ExportDialog), *self.findChildren(ImportDialog)]
        return [d for d in dialogs if d.running]

    def request_quit(self) -> None:
        """Quit (Ctrl+Q); during a scheduled capture or an export (or import), only once the
        operator confirms: each would be stopped half-way."""
        run, exchanges = self.scheduled_run_active(), self.running_exchanges()
        if not run and not exchanges:
            self.close()
            return

        def stop_and_quit() -> None:
            self._quit_confirmed = True
            self.close()

        lines, stops = [], []
        if run:
            lines.append(f"A scheduled capture is running ({self._run_summary()}).")
            stops.append("the capture after the capture in progress")
        for dlg in exchanges:
            what = "export" if isinstance(dlg, ExportDialog) else "import"
            done = dlg.bar.value() // 10
            lines.append(f"An {what} is running ({done} % done: {dlg.phase.text()}).")
            stops.append(f"the {what}, leaving nothing half-written")
        if len(stops) == 1:
            ok_text = "Stop capture and quit" if run else f"Stop {what} and quit"
        else:
            ok_text = "Stop everything and quit"
        self._confirm(
            "Quit NightLab?",
            "\n".join(lines) + "\nQuitting stops " + " and ".join(stops) + ".",
            ok_text,
            stop_and_quit,
            keep_text="Keep going"
            if len(stops) > 1
            else "Keep capturing"
            if run
            else f"Keep {what}ing",
        )

    def toggle_stream(self) -> None:
        cam = self.state.camera
        if cam is None:
            return
        if cam.is_streaming and self.scheduled_run_active():
            # Space is a one-key stop: one stray press must not end the night's run
            self._confirm(
                "Stop the camera?",
                f"A scheduled capture is running ({self._run_summary()}).\n"
                "Without the camera it ends at its next capture.",
                "Stop camera",
                lambda: self.jobs.submit(cam.stop, label="stopping the camera"),
            )
            return
        if cam.is_streaming:
            self.jobs.submit(cam.stop, label="stopping the camera")
        else:
            self.jobs.submit(cam.start, label="starting the camera")

    def _on_streaming(self, streaming: bool) -> None:
        # also fires when a finite source (replay) ends by itself
        self.act_stream.setText("Stop camera" if streaming else "Start camera")

    def _on_connection(self, connected: bool, msg: str) -> None:
        self.live.set_connection(connected)
        if connected:
            self.statusBar().showMessage(msg, 5000)
        else:
            self.statusBar().showMessage(f"Camera disconnected: {msg} — waiting for it…")

    def open_camera(self, spec: str) -> None:
        """Open camera ``spec`` on the job runner, then switch to it (`set_camera`)."""
        if self._capture_holds_camera("switch camera"):
            return

        current = self.state.camera

        def work():
            from engine.camera import open_camera

            def open_new():
                cam = open_camera(spec)
                try:
                    cam.start()
                except Exception:
                    cam.close()
                    raise
                return cam

            if _same_device(current, spec):  # e.g. reopening the OAK in use
                return _take_over_device(current, open_new)
            return open_new()

        self.show_message(f"Opening camera {spec}…")
        self.jobs.submit(work, done=lambda cam: self.set_camera(cam, spec), label=f"camera {spec}")

    def _capture_holds_camera(self, what: str) -> bool:
        """True (and says so) while a capture run uses the camera: replacing the camera under
        it would close the one it captures from."""
        if self.night_panel.runner is None:
            return False
        self.show_message(f"cannot {what} while a capture runs (scheduled: stop it first)")
        return True

    def set_camera(self, camera: Camera | None, spec: str | None = None) -> None:
        """Switch camera (or replay) without restarting; the old one closes in the background."""
        old = self.state.camera
        if old is camera:
            return
        self.state.camera = camera
        if spec is not None:
            self.state.camera_spec = spec
        if old is not None:
            self._close_in_background(old)
        if camera is not None:
            self.show_message(f"Camera: {camera.info.name}")

    def _close_in_background(self, camera) -> None:
        t = threading.Thread(
            target=_close_quietly, args=(camera,), name="nightlab-close", daemon=True
        )
        t.start()
        self.closing_threads.append(t)

    def _renders_stale(self) -> None:
        self.pair_cache.clear()
        self.qa.renders_changed()

    # -- settings and shutdown -------------------------------------------------------------
    def _restore_settings(self) -> None:
        s = self._settings
        if s is None:
            return
        geo, layout = s.value("window/geometry"), s.value("window/state")
        if geo is not None:
            self.restoreGeometry(geo)
        if layout is not None:
            self._docks_sized = self.restoreState(layout)
        # the QA grid / comparison split and the grid's row size, as the operator left them
        keys = ("grid_height", "compact_rows", "split_height")
        saved = {key: s.contains(f"qa/{key}") for key in keys}
        self.qa.grid_layout.restore(
            s.value("qa/grid_height", None, type=int) if saved["grid_height"] else None,
            s.value("qa/compact_rows", None, type=bool) if saved["compact_rows"] else None,
            s.value("qa/split_height", None, type=int) if saved["split_height"] else None,
        )
        # processing new pairs as they are recorded: the operator's choice stays
        auto = self.sessions.runs.auto
        auto.setChecked(_setting_flag(s, self.AUTO_RUNS_KEY))
        auto.toggled.connect(lambda on: s.setValue(self.AUTO_RUNS_KEY, bool(on)))
        # the session that was open when NightLab last ended (a restart mid-night, after a
        # crash or a power cut, goes on recording into it rather than into no session)
        key = self.session_key()
        if not s.contains(key):
            # a build before the per-folder keys kept one key for every folder: a night open
            # across the upgrade is still reopened (the record says whether it is this folder's)
            key = self.SESSION_KEY
        uid = _setting_text(s, key)
        if uid:
            self._reopen_session(uid)
        follow(self.state.events.session, self._remember_session, self)

    #: the QSettings key of the Sessions dock's "Process new pairs as they are recorded"
    AUTO_RUNS_KEY = "sessions/process_new_pairs"

    #: the QSettings key of the open session's uid ("" with none open), followed by
    #: ``/`` and the data folder's `folder_tag`: one per folder
    SESSION_KEY = "session/open_uid"

    def session_key(self) -> str:
        """The QSettings key of this data folder's open session: a start on another folder
        (a copy looked at, a partner's) opening or closing a session there overwrote the one
        key, and the night's session was not reopened at the next start on the lab's folder."""
        return f"{self.SESSION_KEY}/{folder_tag(self.store.root)}"

    def _remember_session(self, session) -> None:
        # at every change, not at close: a crash or a power cut never reaches closeEvent
        if self._settings is not None:
            self._settings.setValue(self.session_key(), session.uid if session else "")

    def _reopen_session(self, uid: str) -> None:
        def work():
            try:
                found = self.store.session(uid)
            except KeyError:  # deleted meanwhile, or another data folder
                return None, None
            if found.uid != uid or not found.is_open:
                return None, None
            newest = self.store.pairs(session_id=found.id, sort="-id", limit=1)
            return found, (newest[0] if newest and newest[0].day_ids else None)

        def done(result) -> None:
            session, pair = result
            if session is None or self.state.session is not None:  # nothing chosen meanwhile
                return
            self.state.session = session
            if pair is None or self.preview.tracker.reference is not None:
                self._say_reopened(session, None)
            else:
                self._reopen_reference(session, pair)

        self.jobs.submit(work, done=done, label="reopening the last session")

    def _reopen_reference(self, session, pair) -> None:
        """Mid-night there is no daylight to capture a reference in: the reopened night goes
        on with its newest pair's day reference, fused again as that pair's record was. Only
        once the night is reopened, and never over a reference set meanwhile: read and fused
        before the window knew, it went to whatever session the operator had chosen since."""
        tracker = self.preview.tracker
        cam = self.state.camera
        device = cam.info.device_id if cam is not None else ""

        def still_open() -> bool:
            now = self.state.session
            return now is not None and now.id == session.id

        def work():
            if not still_open():  # another chosen since (a quick check)
                return None
            try:
                caps = [self.store.capture(i) for i in pair.day_ids]
                same = bool(device) and all(c.meta.get("device_id") == device for c in caps)
                ref = tracker.set_reference(
                    [self.store.read_image(c) for c in caps],
                    capture_ids=[c.id for c in caps],
                    fixed_camera=same,
                    if_none=True,
                    # and again once read and fused (seconds for several captures): a session
                    # chosen meanwhile got this night's reference, recorded among its captures
                    if_still=still_open,
                )
            except (KeyError, OSError, ValueError):  # a gray or unreadable capture: the
                return None  # session is reopened all the same, without a reference
            return None if ref is None else pair

        self.jobs.submit(
            work,
            done=lambda used: self._say_reopened(session, used),
            failed=lambda _msg: self._say_reopened(session, None),
            label="reading the reopened session's day reference",
        )

    def _say_reopened(self, session, pair) -> None:
        with_ref = ""
        if pair is not None:
            n = len(pair.day_ids)
            with_ref = f" with pair #{pair.id}'s day reference ({n} capture{'s' * (n > 1)})"
        self.show_message(
            f"Session {session.name!r} reopened{with_ref}: it was open when NightLab last ended"
        )

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        if not self._docks_sized:
            self._docks_sized = True
            self._size_right_column()
            self._auto_width = self.dock_capture.width()  # (after the heights: Qt moves it)
        elif not self._column_checked:
            self._fit_restored_column()
        self._column_checked = True

    #: the QSettings key saying the right column's width was still the one the window gave
    #: it (a quarter of its width) when it closed: not dragged by the operator
    COLUMN_AUTO_KEY = "window/column_width_auto"

    def _fit_restored_column(self) -> None:
        """A layout saved in another window width (a 1920 px screen's column is 480 px),
        opened on a laptop: a column the operator never dragged gets the width a fresh
        start gives it there (Qt kept 381 px of 480 at 1366 px, and the QA comparison beside
        it lost 3 px). Its heights and tabs stay as saved; a dragged width stays too."""
        s = self._settings
        if s is None or not _setting_flag(s, self.COLUMN_AUTO_KEY):
            return
        if self.dock_capture.isFloating():
            return
        self._widen_right_column(narrow=True)

    #: the Camera dock's least useful height: its camera chooser and five rows of controls
    CAMERA_DOCK_MIN = 240

    #: the right column's width: a quarter of the window's, never narrower than its docks
    #: ask (about 375 px), never wider than this (a 2560 px screen keeps the images' width)
    COLUMN_WIDTH_MAX = 520

    @staticmethod
    def _dock_need(dock) -> int:
        """The least height ``dock`` shows its content in without scrolling, at its width
        (the Capture dock's: its log two lines, `_ShrinkingBox`)."""
        scroll = dock.widget()
        content, viewport = scroll.widget(), scroll.viewport()
        height = max(content.minimumSizeHint().height(), content.heightForWidth(viewport.width()))
        # + its title bar (the dock's height may be newer than its scroll area's, laid out later)
        return height + scroll.y() + scroll.height() - viewport.height()

    def _right_column_split(self, column: int) -> int:
        """The Capture dock's height in a ``column`` the two docks share.

        Where the Camera dock's every control and the Capture dock's (reference, pair,
        schedule, Start) both fit, with the log at two lines or more, the Camera dock gets
        its controls' height and the log the rest (a 1080 px screen). Otherwise the Capture
        dock gets the height it asks for, up to 3/4 of the column (Start and the countdown
        in view), the camera's controls scrolling in the rest (a 920 px screen)."""
        camera = self._dock_need(self.dock_camera)
        if column - camera >= self._dock_need(self.dock_capture):
            return column - camera
        return min(self._capture_wanted(), column * 3 // 4)

    def _capture_wanted(self) -> int:
        """The Capture dock's height it asks for, with a title bar's allowance."""
        return self.dock_capture.widget().sizeHint().height() + 24

    def _size_right_column(self) -> None:
        """The capture dock is what an operator works in (reference, pair, schedule and its
        log), the Camera dock above it: their heights as `_right_column_split` says; the
        column's width a quarter of the window's (`COLUMN_WIDTH_MAX`).

        Where the rest would be a sliver (a 768 px laptop screen left the Camera dock two
        rows of controls under its chooser, a scroll bar beside them), the column's five
        docks share one set of tabs instead, each the column's full height: Capture first,
        the Camera's every control one click away."""
        column = self.dock_camera.height() + self.dock_capture.height()
        if self.right_column_tabbed():
            column = self.dock_capture.height()  # the group's height, its tab bar aside
        wanted = self._capture_wanted()
        short = column - wanted < self.CAMERA_DOCK_MIN
        if short != self.right_column_tabbed():
            self._tab_right_column(short)
        self._widen_right_column()
        if short:
            return
        self.layout().activate()  # the docks' heights at the new width
        column = self.dock_camera.height() + self.dock_capture.height()
        capture = self._right_column_split(column)
        self._camera_fitted = capture == column - self._dock_need(self.dock_camera)
        asked = column - capture
        for _ in range(3):
            self.resizeDocks([self.dock_camera, self.dock_capture], [asked, column - asked],
                             Qt.Orientation.Vertical)  # fmt: skip
            self.layout().activate()
            # (Qt shares the column out in proportion, tab bars counted: asked again where
            # the Camera dock's controls were to fit and came out a few pixels short)
            miss = self._dock_need(self.dock_camera) - self.dock_camera.height()
            if capture != column - self._dock_need(self.dock_camera) or miss <= 0:
                break
            asked += miss
        self._widen_right_column(narrow=True)  # (the heights' sharing out moved it, 547 px)

    def _widen_right_column(self, *, narrow: bool = False) -> None:
        """A quarter of the window's width, at most `COLUMN_WIDTH_MAX`, never narrower than
        its docks' least width (``narrow``: also where it is wider than that)."""
        least = self.dock_capture.widget().minimumSizeHint().width()
        width = max(min(self.width() // 4, self.COLUMN_WIDTH_MAX), least)
        if width > self.dock_capture.width() or (narrow and width < self.dock_capture.width()):
            self.resizeDocks([self.dock_capture], [width], Qt.Orientation.Horizontal)
            self.layout().activate()
        self._auto_width = self.dock_capture.width()

    def right_column_tabbed(self) -> bool:
        """The Camera and Capture docks share one set of tabs (a short screen)."""
        return self.dock_camera in self.tabifiedDockWidgets(self.dock_capture)

    def _tab_right_column(self, tabbed: bool) -> None:
        if tabbed:  # Capture, Sessions, then Camera, Leak mask, Model: one group
            for dock in (self.dock_camera, self.dock_leak, self.dock_model):
                self.tabifyDockWidget(self.dock_sessions, dock)
        else:  # Camera, Leak mask, Model above; Capture, Sessions below
            # (splitDockWidget only adds a tab to a dock that is in a tab group: rebuild)
            right = Qt.DockWidgetArea.RightDockWidgetArea
            groups = ((self.dock_camera, self.dock_leak, self.dock_model),
                      (self.dock_capture, self.dock_sessions))  # fmt: skip
            for group in groups:
                for dock in group:
                    self.removeDockWidget(dock)
            for first, *rest in groups:
                self.addDockWidget(right, first, Qt.Orientation.Vertical)
                first.show()
                for dock in rest:
                    self.tabifyDockWidget(first, dock)
                    dock.show()
            self.dock_camera.raise_()
        self.dock_capture.raise_()

    def _pair_possible(self, on: bool, tip: str) -> None:
        self.act_pair.setEnabled(on)
        self.act_pair.setToolTip(f"{tip} (Ctrl+P)" if "Ctrl+P" not in tip else tip)

    def _fit_capture_dock(self) -> None:
        """The capture dock's content grew (the kept captures' strip): let the dock grow to
        it, so Start stays in view, leaving the camera dock its tabs and a row (on a 768 px
        screen that is more than the 3/4 of the first sizing); where the Camera dock's
        controls and the Capture dock's both fit (`_right_column_split`), the strip's height
        comes out of the log's. Never shrink what the operator made bigger."""
        if not self._docks_sized or self.dock_capture.isFloating() or self.right_column_tabbed():
            return  # (tabbed: the dock has the column's height already)
        column = self.dock_camera.height() + self.dock_capture.height()
        need = self._dock_need(self.dock_capture)  # (its log two lines)
        if column - self._dock_need(self.dock_camera) >= need:
            wanted = need  # the Camera dock keeps its controls: the strip comes out of the log
        elif self._camera_fitted:  # (a 1080 px screen: the log two lines, the camera scrolls)
            wanted = min(need, column - self.CAMERA_DOCK_MIN)
        else:
            room = max(column * 3 // 4, column - 120)
            wanted = min(self._capture_wanted(), room)
        if wanted > self.dock_capture.height():
            self.resizeDocks(
                [self.dock_camera, self.dock_capture],
                [column - wanted, wanted],
                Qt.Orientation.Vertical,
            )

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        busy = self.scheduled_run_active() or self.running_exchanges()
        if event.spontaneous() and busy and not self._quit_confirmed:
            # the title bar's close button, mid-night or mid-export: ask as Ctrl+Q does (a
            # scripted or signalled close, SIGTERM included, is not spontaneous and goes ahead)
            event.ignore()
            self.request_quit()
            return
        # processing pairs stops after the pair in progress (recorded whole; wait_closed waits)
        self.sessions.runs.stop(closing=True)
        for dlg in self.running_exchanges():
            # at its next step, leaving no half-written bag (wait_closed waits); the dialog
            # goes with the window rather than stay on screen until the process ends
            dlg.stop(close=True)
        if self._settings is not None:
            self._settings.setValue("window/geometry", self.saveGeometry())
            # in focus mode: the docks as they were before it (the next start shows them)
            self._settings.setValue("window/state", self._before_focus or self.saveState())
            auto = self.dock_capture.width() == self._auto_width
            self._settings.setValue(self.COLUMN_AUTO_KEY, auto)
            grid = self.qa.grid_layout
            if grid.grid_height() is not None:
                self._settings.setValue("qa/grid_height", grid.grid_height())
                if grid.split_height() is not None:  # the height it was chosen in
                    self._settings.setValue("qa/split_height", grid.split_height())
            self._settings.setValue("qa/compact_rows", grid.compact)
        self.live.stop()
        self.controls.detach()
        for unfollow in self._camera_unfollow:
            unfollow()
        self.preview.stop()  # returns at once; a frame in flight is discarded
        runner = self.night_panel.runner
        if runner is not None:
            runner.cancel()  # the capture in progress completes on its thread
        self.jobs.shutdown()
        cam, self.state.camera = self.state.camera, None
        if cam is not None:
            self._close_in_background(cam)
        super().closeEvent(event)
        self.closed.emit()

    def wait_closed(self, timeout: float = 30.0) -> bool:
        """After the window closed: wait for the camera and the workers (not on a live GUI)."""
        import time

        end = time.monotonic() + timeout
        for t in self.closing_threads:
            t.join(max(0.0, end - time.monotonic()))
        ok = self.preview.join(max(0.0, end - time.monotonic()))
        self.jobs.wait()  # jobs in flight (a capture being recorded) complete
        if self._own_store:
            self.store.close()
        return ok and not any(t.is_alive() for t in self.closing_threads)


def _prepare_export_checks() -> None:
    from engine.exchange import prepare_validator

    prepare_validator()


def _same_device(camera, spec: str) -> bool:
    """True when ``spec`` names the device ``camera`` has open (an OAK or a webcam)."""
    backend, _, ident = spec.strip().partition(":")
    if camera is None or backend not in ("oak", "webcam") or camera.info.backend != backend:
        return False
    held = camera.info.device_id
    return (ident or ("0" if backend == "webcam" else held)) == held


def _take_over_device(old, open_new):
    """``open_new()`` a camera on the device ``old`` holds (job thread).

    A device takes one connection at a time, so ``old`` closes first; if the new one fails,
    ``old`` opens and streams again as it was, and the error goes on to the user.
    """
    was_streaming = old.is_streaming
    old.close()
    try:
        return open_new()
    except Exception as exc:
        try:
            old.open()
            if was_streaming:  # a camera the operator had stopped stays stopped
                old.start()
        except Exception as again:  # noqa: BLE001 - said with the cause, in one line
            from engine.camera import CameraError

            # the new connection's failure is the cause the operator needs; the old camera
            # not coming back is news too (the window's camera is closed now)
            raise CameraError(f"{exc}; and {old.info.name} could not be reopened: {again}") from exc
        raise


def _close_quietly(camera) -> None:
    import sys

    try:
        camera.close()
    except Exception as exc:  # the camera is going anyway; say why it complained
        print(f"nightlab: closing the camera: {exc}", file=sys.stderr)


def _setting_text(settings: QSettings, key: str) -> str:
    """A text setting, or "" when it is anything else (a settings file damaged or edited by
    hand: bytes that are not UTF-8 raised while the window was made, and the app did not
    start)."""
    value = settings.value(key, "")
    return value.strip() if isinstance(value, str) else ""


def _setting_flag(settings: QSettings, key: str) -> bool:
    """A yes/no setting as QSettings writes one; anything else is no (type=bool read any
    non-empty bytes as yes: a damaged file turned the processing on)."""
    value = settings.value(key, False)
    if isinstance(value, bool):
        return value
    return isinstance(value, str) and value.strip().lower() == "true"


def folder_tag(root) -> str:
    """A data folder as a QSettings key part: a short hash of its real path (a path's slashes
    would make groups of it). Resolved, not only absolute: the same folder reached through a
    symlink got another key, and its night was not reopened."""
    import hashlib
    from pathlib import Path

    return hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
