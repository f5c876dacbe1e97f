"""The day reference: one frame, a burst (averaged), several captures over time (fused by
`engine.reference.fuse_day_captures`: registered, exposure matched, robust median, a stability
map for the leak mask), or a file. Bursts, fusions and files run on the job runner, never on
the GUI thread."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFileDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from engine.reference import DayCaptureList
from gui.bridge import follow

if TYPE_CHECKING:
    from engine.app_state import AppState
    from engine.live import PairTracker
    from engine.reference import KeptCapture
    from gui.jobs import JobRunner

__all__ = ["ReferencePanel"]

KEPT_THUMB = QSize(48, 36)
"""The kept captures' thumbnails: enough to tell a tent or a parked van apart."""


class ReferencePanel(QWidget):
    """Buttons that set ``state.reference``; ``message`` carries one line for the status bar.

    With the live ``tracker``, several captures are fused into the tracker's reference on the
    job runner (stability map and source captures included, so a capture run records them
    all); the main window mirrors the tracker's reference into ``state``. Without one, the
    fused image alone becomes ``state.reference``.

    The captures kept for the fusion live in ``captures`` (an `engine.reference.DayCaptureList`,
    one of its own when none is given): the panel lists them with their thumbnails (made on the
    job runner), time, frame number and exposure, and removes or clears them there.
    """

    message = Signal(str)
    day_capture_possible = Signal(bool)
    """False while the camera is in night mode: taking a day reference from it cannot work
    (the window greys its Capture day reference action with the panel's buttons)."""
    kept_shown = Signal(bool)
    """The kept captures' strip appeared (True) or went (False): the panel's height changed
    (the window lets the Capture dock grow so Start stays in view)."""

    def __init__(
        self,
        state: AppState,
        jobs: JobRunner,
        parent: QWidget | None = None,
        *,
        tracker: PairTracker | None = None,
        captures: DayCaptureList | None = None,
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._jobs = jobs
        self._tracker = tracker
        self.captures = DayCaptureList() if captures is None else captures
        self._thumbs: dict[int, QIcon] = {}
        """Kept captures' thumbnails by capture id (made once each, on the job runner)."""
        self._thumbs_asked: set[int] = set()
        """Capture ids whose thumbnail is being made (asked once, however often listed)."""

        self.box = box = QGroupBox("Day reference")
        grid = QGridLayout(box)
        self.btn_frame = QPushButton("Capture frame")
        self.btn_frame.setToolTip("Use the newest camera frame (the camera must be in day mode)")
        self.btn_burst = QPushButton("Capture burst")
        self.btn_burst.setToolTip("Average N consecutive frames: less sensor noise")
        self.burst_n = QSpinBox()
        self.burst_n.setRange(2, 64)
        self.burst_n.setValue(8)
        self.burst_n.setSuffix(" frames")
        self.burst_n.setToolTip(
            "How many consecutive frames Capture burst averages (2 to 64): more, less noise"
        )
        self.btn_add = QPushButton("Add capture")
        self.btn_add.setToolTip(
            "Collect captures over time (minutes apart); fused, they make a clean reference "
            "without passers-by, and where they disagree the leak mask holds colour back"
        )
        self.btn_median = QPushButton("Use fused")
        self.btn_median.setEnabled(False)
        self.btn_median.setToolTip("Fuse the kept captures into the day reference (2 or more)")
        # what Add capture kept: shown, and removable, until fused or cleared
        self.kept = QListWidget()
        self.kept.setObjectName("kept_captures")
        self.kept.setViewMode(QListView.ViewMode.IconMode)
        self.kept.setFlow(QListView.Flow.LeftToRight)
        self.kept.setWrapping(False)
        self.kept.setMovement(QListView.Movement.Static)
        self.kept.setIconSize(KEPT_THUMB)
        self.kept.setGridSize(QSize(KEPT_THUMB.width() + 6, KEPT_THUMB.height() + 4))
        self.kept.setSpacing(0)
        # one row of thumbnails; each one's time, frame and exposure are in its tooltip
        self.kept.setFixedHeight(KEPT_THUMB.height() + 8)
        # it never widens the dock nor takes a scroll bar's height: more captures than fit
        # scroll sideways with the wheel or the arrow keys (the newest is scrolled to)
        self.kept.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.kept.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.kept.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.kept.setToolTip("The captures kept for the fusion (Delete removes the selected)")
        self.btn_remove = QToolButton()
        self.btn_remove.setText("Remove")
        self.btn_remove.setToolTip("Remove the selected captures from the fusion (Delete)")
        self.btn_clear = QToolButton()
        self.btn_clear.setText("Clear")
        self.btn_clear.setToolTip("Forget every kept capture (the reference in use stays)")
        self.kept_box = QWidget()
        kl = QHBoxLayout(self.kept_box)
        kl.setContentsMargins(0, 0, 0, 0)
        kl.setSpacing(4)
        kl.addWidget(self.kept, 1)
        side = QVBoxLayout()  # beside the thumbnails: the dock's height stays for Start
        side.setSpacing(2)
        side.addWidget(self.btn_remove)
        side.addWidget(self.btn_clear)
        for b in (self.btn_remove, self.btn_clear):
            b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        side.addStretch(1)
        kl.addLayout(side)
        self.kept_box.setVisible(False)  # nothing kept: the dock keeps its height
        self.btn_load = QPushButton("Load file…")
        self.btn_load.setToolTip("A day photo of the same scene (PNG, JPEG, TIFF)")
        self.source = QLabel("No reference yet")
        self.source.setWordWrap(True)
        self.source.setStyleSheet("color: #8a909a;")
        self._day_buttons = {
            b: b.toolTip() for b in (self.btn_frame, self.btn_burst, self.btn_add)
        }  # their own tooltips, given back in day mode
        grid.addWidget(self.btn_frame, 0, 0)
        grid.addWidget(self.btn_load, 0, 1)
        grid.addWidget(self.btn_burst, 1, 0)
        grid.addWidget(self.burst_n, 1, 1)
        grid.addWidget(self.btn_add, 2, 0)
        grid.addWidget(self.btn_median, 2, 1)
        grid.addWidget(self.kept_box, 3, 0, 1, 2)
        grid.addWidget(self.source, 4, 0, 1, 2)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(box)
        lay.setAlignment(Qt.AlignmentFlag.AlignTop)

        self.btn_frame.clicked.connect(self.capture_frame)
        self.btn_burst.clicked.connect(lambda: self.capture_burst(self.burst_n.value()))
        self.btn_add.clicked.connect(self.add_capture)
        self.btn_median.clicked.connect(self.use_median)
        self.btn_load.clicked.connect(self._load_dialog)
        self.btn_remove.clicked.connect(self.remove_selected)
        self.btn_clear.clicked.connect(self.clear_captures)
        self.kept.itemSelectionChanged.connect(self._update_kept_buttons)
        delete = QShortcut(QKeySequence.StandardKey.Delete, self.kept)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self.remove_selected)
        follow(self.captures.events.changed, self._show_kept, self)
        self._camera_spec = state.camera_spec
        follow(state.events.camera_spec, self._on_camera_spec, self)
        self._show_kept(self.captures.captures)
        follow(state.events.reference_source, self._show_source, self)
        self._show_source(state.reference_source)
        self._night = False
        self._burst_busy = False
        self._unfollow_camera = None
        follow(state.events.camera, self._bind_camera, self)
        self._bind_camera(state.camera)

    # -- what can work now -------------------------------------------------------------------
    def _bind_camera(self, camera) -> None:
        if self._unfollow_camera is not None:
            self._unfollow_camera()
            self._unfollow_camera = None
        mode = None
        if camera is not None and "mode" in camera.capabilities():
            self._unfollow_camera = follow(camera.events.control_changed, self._on_control, self)
            mode = camera.get_control("mode")
        self._show_mode(mode)

    def _on_control(self, name: str, value) -> None:
        if name == "mode":
            self._show_mode(value)

    def _show_mode(self, mode) -> None:
        """Grey the camera's day captures while it is in night mode (they said why only
        after a click before); a camera without a day/night mode keeps them: its frames
        tell (a gray-only replay says to load a file)."""
        self._night = mode == "night"
        why = "The camera is in night mode: switch it to day (Ctrl+M) to take a day reference"
        for b, tip in self._day_buttons.items():
            b.setToolTip(why if self._night else tip)
        self._update_buttons()
        self.day_capture_possible.emit(not self._night)

    @property
    def day_capture_ready(self) -> bool:
        """The camera's newest frame may be taken as a day reference (not in night mode)."""
        return not self._night

    def _update_buttons(self) -> None:
        self.btn_frame.setEnabled(not self._night)
        self.btn_add.setEnabled(not self._night)
        self.btn_burst.setEnabled(not self._night and not self._burst_busy)

    def _show_source(self, source: str) -> None:
        self.source.setText(f"Reference: {source}" if source else "No reference yet")

    def _newest_colour_frame(self):
        cam = self._state.camera
        frame = cam.latest_frame() if cam is not None else None
        if frame is None:
            self.message.emit("no frame yet: start the camera first")
            return None
        if frame.is_gray:
            if "mode" in cam.capabilities():
                self.message.emit("the newest frame is gray (night): switch the camera to day mode")
            else:  # a replay or a gray-only camera: no day mode to switch to
                self.message.emit(
                    "the newest frame is gray and this camera has no day mode: "
                    "load a day reference from a file (Load file…, Ctrl+O)"
                )
            return None
        return frame

    def capture_frame(self) -> bool:
        """The newest camera frame becomes the reference (it must be a colour frame)."""
        frame = self._newest_colour_frame()
        if frame is None:
            return False
        self._state.set_reference(
            frame.image,
            f"frame #{frame.meta.sequence}",
            fixed_camera=True,
            meta=frame.meta,
            controls=self._state.camera.controls_in_force(),
        )  # the live camera itself: registration starts from the identity
        self.message.emit(f"Day reference captured (frame #{frame.meta.sequence})")
        return True

    def capture_burst(self, count: int) -> None:
        """Average the next ``count`` colour frames (collected on the job runner)."""
        cam = self._state.camera
        if cam is None or not cam.is_streaming:
            self.message.emit("the camera is not streaming: start it first")
            return

        def work():
            from engine.burst import average_frames, grab_burst

            frames = grab_burst(cam, count, colour=True)
            controls = cam.controls_in_force()  # as it took them (the GUI may change them next)
            return average_frames([f.image for f in frames]), frames[0].meta, controls

        def done(out) -> None:
            image, first, controls = out  # the mean is recorded with its first frame's metadata
            self._state.set_reference(
                image,
                f"burst of {count} from frame #{first.sequence}",
                fixed_camera=True,
                meta=first,
                controls=controls,
            )
            self.message.emit(f"Day reference: mean of {count} frames")

        def settled() -> None:
            self._burst_busy = False
            self._update_buttons()

        self._burst_busy = True
        self._update_buttons()
        self._jobs.submit(
            work,
            done=lambda out: (settled(), done(out)),
            failed=lambda _: settled(),
            label="reference burst",
        )

    def add_capture(self) -> bool:
        """Keep the newest colour frame (with its metadata) for the fusion."""
        frame = self._newest_colour_frame()
        if frame is None:
            return False
        before = len(self.captures)
        try:
            cap = self.captures.add(frame.image, frame.meta, self._state.camera.controls_in_force())
        except ValueError as exc:  # full
            self.message.emit(str(exc))
            return False
        restarted = (
            " (another size than those kept: started over)"
            if before and len(self.captures) == 1
            else ""
        )
        self.message.emit(f"Capture {cap.id} kept for the clean reference{restarted}")
        return True

    def remove_selected(self) -> int:
        """Remove the captures selected in the list from the engine's list."""
        ids = [item.data(Qt.ItemDataRole.UserRole) for item in self.kept.selectedItems()]
        n = self.captures.remove(ids)
        if n:
            self.message.emit(f"{n} capture{'s' if n != 1 else ''} removed from the fusion")
        return n

    def clear_captures(self) -> int:
        """Forget every kept capture (the reference in use stays as it is)."""
        n = self.captures.clear()
        if n:
            self.message.emit(f"{n} kept capture{'s' if n != 1 else ''} cleared")
        return n

    def _on_camera_spec(self, spec: str) -> None:
        """Another camera (or replay) is open: captures of the one before are of another
        scene and are not fused with its frames; the same camera opened again keeps them."""
        before, self._camera_spec = self._camera_spec, spec
        if spec != before and (n := self.captures.clear()):
            self.message.emit(
                f"{n} kept capture{'s' if n != 1 else ''} of {before} cleared: "
                f"the camera is now {spec}"
            )

    def _show_kept(self, captures: tuple) -> None:
        """The engine's list changed: list it again (thumbnails come from the job runner)."""
        ids = {c.id for c in captures}
        self._thumbs = {i: icon for i, icon in self._thumbs.items() if i in ids}
        selected = {item.data(Qt.ItemDataRole.UserRole) for item in self.kept.selectedItems()}
        self.kept.blockSignals(True)
        self.kept.clear()
        for c in captures:
            item = QListWidgetItem()
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            item.setToolTip(c.describe())
            item.setSizeHint(self.kept.gridSize())
            if c.id in self._thumbs:
                item.setIcon(self._thumbs[c.id])
            elif c.id not in self._thumbs_asked:
                self._request_thumb(c)
            self.kept.addItem(item)
            item.setSelected(c.id in selected)
        self.kept.blockSignals(False)
        if captures:
            self.kept.scrollToItem(self.kept.item(self.kept.count() - 1))
        n = len(captures)
        if self.kept_box.isVisibleTo(self) != (n > 0):
            self.kept_box.setVisible(n > 0)
            self.kept_shown.emit(n > 0)
        # the count in the box's title: no height taken from the schedule below
        self.box.setTitle(f"Day reference · {n} kept for fusing" if n else "Day reference")
        self.kept.setToolTip(
            f"{self.captures.summary()}: what Use fused fuses (Delete removes the selected)"
        )
        self.btn_median.setEnabled(n >= 2)
        self.btn_median.setText(f"Use fused of {n}" if n >= 2 else "Use fused")
        self._update_kept_buttons()

    def _update_kept_buttons(self) -> None:
        self.btn_remove.setEnabled(bool(self.kept.selectedItems()))
        self.btn_clear.setEnabled(self.kept.count() > 0)

    def _request_thumb(self, capture: KeptCapture) -> None:
        def work():
            from engine.overlay import as_display
            from engine.pair_views import thumbnail

            return as_display(thumbnail(capture.image, KEPT_THUMB.width()))

        def done(bgra) -> None:
            self._thumbs_asked.discard(capture.id)
            h, w = bgra.shape[:2]
            image = QImage(bgra.data, w, h, bgra.strides[0], QImage.Format.Format_RGB32)
            icon = QIcon(QPixmap.fromImage(image))  # a copy: the array may go
            if not any(c.id == capture.id for c in self.captures.captures):
                return  # removed meanwhile
            self._thumbs[capture.id] = icon
            for i in range(self.kept.count()):
                item = self.kept.item(i)
                if item.data(Qt.ItemDataRole.UserRole) == capture.id:
                    item.setIcon(icon)

        self._thumbs_asked.add(capture.id)
        self._jobs.submit(
            work,
            done=done,
            failed=lambda _why: self._thumbs_asked.discard(capture.id),
            label="kept capture thumbnail",
        )

    def use_median(self) -> None:
        """Fuse the kept captures (`engine.reference.fuse_day_captures`) on the job runner;
        they stay kept, so one can be removed and the rest fused again."""
        kept = self.captures.captures
        frames, metas = [c.image for c in kept], [c.meta for c in kept]
        controls = [c.controls for c in kept]
        if len(frames) < 2:
            self.message.emit("keep 2 or more captures (Add capture) to fuse them")
            return
        tracker = self._tracker

        def work():
            if tracker is not None:  # fused once, there; the main window mirrors it
                return tracker.set_reference(
                    frames, fixed_camera=True, metas=metas, controls=controls
                )
            from engine.reference import fuse_day_captures

            return fuse_day_captures(frames)

        def done(ref) -> None:
            if tracker is None:
                self._state.set_reference(
                    ref.image, f"{len(frames)} captures fused", fixed_camera=True
                )
                self.message.emit(f"Day reference: {len(ref.used)} of {len(frames)} fused")
            else:
                self.message.emit(f"Day reference: {ref.describe()}")

        self._jobs.submit(work, done=done, label="clean reference")

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load day reference", "", "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp)"
        )
        if path:
            self.load_file(Path(path))

    def load_file(self, path: Path) -> None:
        """Read ``path`` on the job runner; a bad file becomes one line on ``message``."""

        def work():
            from alignment import size_problem
            from engine import has_colour, read_image

            img = read_image(path, mode="rgb")
            problem = size_problem(img.shape)  # refused here, not on every live frame
            if problem:
                raise ValueError(f"{path.name}: {problem}")
            return img, has_colour(img)  # checked here, on the worker: no maths in the GUI

        def done(result) -> None:
            img, coloured = result
            self._state.set_reference(img, str(path))
            if coloured:
                self.message.emit(f"Day reference loaded from {path}")
            else:
                self.message.emit(
                    f"Day reference loaded from {path}, but it has no colour (a gray image): "
                    "the colorization will be gray"
                )

        self._jobs.submit(work, done=done, label=f"loading {path.name}")
