"""NightLab's main window: live camera, day reference, live leak mask and colorization.

Thin by design: the window owns a camera (engine), a `LiveProcessor` (worker thread around
`engine.pipeline.process_pair`) and widgets; it pulls the newest frame at display rate and
never waits on the camera or the model.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QComboBox,
    QDockWidget,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from gui._worker import LiveProcessor, LiveResult
from gui.widgets import CameraControlsPanel, ImageView

DISPLAY_HZ = 30
PROCESS_HZ = 8


class _CameraEventRelay(QObject):
    """Camera events arrive on the acquisition thread; these signals deliver them to the GUI."""

    message = Signal(str)
    connection = Signal(bool, str)
    streaming = Signal(bool)


class MainWindow(QMainWindow):
    RESULT_VIEWS = ("Colorized", "Leak mask overlay", "Aligned day reference", "Day reference")

    def __init__(self, camera, *, processor: LiveProcessor | None = None) -> None:
        super().__init__()
        self.camera = camera
        self.processor = processor or LiveProcessor(parent=self)
        self._last_seq = -1
        self._last_offer = 0.0
        self._frames_shown = 0
        self._fps_t0 = time.monotonic()
        self._last: LiveResult | None = None
        self._reference = None
        self._live = False

        self.setWindowTitle(f"NightLab — {camera.info.name}")
        self.resize(1280, 760)
        self._build_views()
        self._build_actions()
        self._build_docks()
        self._wire_camera()

        self.processor.result.connect(self._on_result)
        self.processor.failed.connect(self._show_error)

        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / DISPLAY_HZ))
        self._timer.timeout.connect(self._pull_frame)
        self._timer.start()

    # -- construction ----------------------------------------------------------------------
    def _build_views(self) -> None:
        self.live_view = ImageView("Camera not streaming")
        self.result_view = ImageView("Capture a day reference, then enable live colorization")
        self.result_choice = QComboBox()
        self.result_choice.addItems(self.RESULT_VIEWS)
        self.result_choice.currentIndexChanged.connect(lambda _: self._refresh_result())

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        head = QHBoxLayout()
        head.addWidget(QLabel("<b>Result</b>"))
        head.addStretch(1)
        head.addWidget(self.result_choice)
        rl.addLayout(head)
        rl.addWidget(self.result_view, 1)

        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        self.live_title = QLabel(f"<b>Live</b> — {self.camera.info.name}")
        ll.addWidget(self.live_title)
        ll.addWidget(self.live_view, 1)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(left)
        split.addWidget(right)
        split.setSizes([600, 600])
        self.setCentralWidget(split)

    def _build_actions(self) -> None:
        tb = self.addToolBar("Main")
        tb.setObjectName("main_toolbar")
        tb.setMovable(False)
        self.act_stream = QAction(
            "Stop camera" if self.camera.is_streaming else "Start camera", self
        )
        self.act_stream.setShortcut(QKeySequence("Space"))
        self.act_stream.triggered.connect(self.toggle_stream)
        self.act_capture = QAction("Capture day reference", self)
        self.act_capture.setShortcut(QKeySequence("Ctrl+D"))
        self.act_capture.triggered.connect(self.capture_reference)
        self.act_load = QAction("Load day reference…", self)
        self.act_load.triggered.connect(self._load_reference_dialog)
        self.act_live = QAction("Live colorize", self)
        self.act_live.setCheckable(True)
        self.act_live.setShortcut(QKeySequence("Ctrl+L"))
        self.act_live.toggled.connect(self.set_live)
        for a in (self.act_stream, self.act_capture, self.act_load, self.act_live):
            tb.addAction(a)

    def _build_docks(self) -> None:
        self.controls = CameraControlsPanel(self.camera)
        self.controls.error.connect(self._show_error)
        dock = QDockWidget("Camera controls", self)
        dock.setObjectName("dock_controls")
        dock.setWidget(self.controls)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)

        box = QWidget()
        form = QFormLayout(box)
        self.info = {
            k: QLabel("—")
            for k in ("alignment", "score", "ssim", "leak", "align_ms", "color_ms", "camera_fps")
        }
        labels = {
            "alignment": "Alignment",
            "score": "Score",
            "ssim": "SSIM mean",
            "leak": "Leak area",
            "align_ms": "Align + mask",
            "color_ms": "Colorize",
            "camera_fps": "Display",
        }
        for k, w in self.info.items():
            w.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            form.addRow(labels[k], w)
        dock2 = QDockWidget("Last result", self)
        dock2.setObjectName("dock_status")
        dock2.setWidget(box)
        dock2.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock2)

    def _wire_camera(self) -> None:
        self._relay = _CameraEventRelay(self)
        self._relay.message.connect(self._show_error)
        self._relay.connection.connect(self._on_connection)
        self._relay.streaming.connect(self._on_streaming)
        self._camera_links = [
            (self.camera.events.streaming_changed, self._relay.streaming.emit),
            (self.camera.events.error, self._relay.message.emit),
            (self.camera.events.disconnected, self._on_disconnected_any_thread),
            (self.camera.events.reconnected, self._on_reconnected_any_thread),
        ]
        for signal, slot in self._camera_links:
            signal.connect(slot)

    def _on_disconnected_any_thread(self, msg: str) -> None:
        self._relay.connection.emit(False, msg)

    def _on_reconnected_any_thread(self, msg: str) -> None:
        self._relay.connection.emit(True, msg)

    # -- behaviour -------------------------------------------------------------------------
    def toggle_stream(self) -> None:
        if self.camera.is_streaming:
            self.camera.stop()
            self.statusBar().showMessage("Camera stopped", 3000)
        else:
            try:
                self.camera.start()
            except (RuntimeError, ValueError) as exc:
                self._show_error(str(exc))

    def _on_streaming(self, streaming: bool) -> None:
        # also fires when a finite source (replay) ends by itself
        self.act_stream.setText("Stop camera" if streaming else "Start camera")

    def capture_reference(self) -> bool:
        """Take the newest camera frame as the day reference (it must be a colour frame)."""
        frame = self.camera.latest_frame()
        if frame is None:
            self._show_error("no frame yet: start the camera first")
            return False
        if frame.is_gray:
            self._show_error("the newest frame is gray (night): switch the camera to day mode")
            return False
        self.set_reference(frame.image, fixed_camera=True)  # same device as the night frames
        self.statusBar().showMessage(f"Day reference captured (frame {frame.meta.sequence})", 4000)
        return True

    def set_reference(self, day, *, fixed_camera: bool = False) -> None:
        self._reference = day
        self.processor.set_reference(day, fixed_camera=fixed_camera)
        self._refresh_result()

    def _load_reference_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load day reference", "", "Images (*.png *.jpg *.jpeg *.tif *.tiff *.bmp)"
        )
        if path:
            self.load_reference(Path(path))

    def load_reference(self, path: Path) -> bool:
        from engine._image import read_image

        try:
            self.set_reference(read_image(path, mode="rgb"))
        except ValueError as exc:
            self._show_error(str(exc))
            return False
        self.statusBar().showMessage(f"Day reference loaded from {path}", 4000)
        return True

    def set_live(self, on: bool) -> None:
        if on and self._reference is None:
            self._show_error("capture or load a day reference first")
            self.act_live.setChecked(False)
            return
        self._live = on
        if self.act_live.isChecked() != on:
            self.act_live.setChecked(on)

    def _pull_frame(self) -> None:
        frame = self.camera.latest_frame()
        if frame is None or frame.meta.sequence == self._last_seq:
            return
        self._last_seq = frame.meta.sequence
        mode = frame.meta.mode or ("night" if frame.is_gray else "colour")
        self.live_view.set_image(frame.image, f"{mode} · #{frame.meta.sequence}")
        self._frames_shown += 1
        now = time.monotonic()
        if now - self._fps_t0 >= 1.0:
            fps = self._frames_shown / (now - self._fps_t0)
            self.info["camera_fps"].setText(f"{fps:.0f} fps")
            self._frames_shown, self._fps_t0 = 0, now
        if self._live and now - self._last_offer >= 1.0 / PROCESS_HZ:
            self._last_offer = now
            self.processor.offer(frame.image, frame.meta.sequence)

    def _on_result(self, res: LiveResult) -> None:
        self._last = res
        pair = res.pair
        a = pair.alignment
        self.info["alignment"].setText(a.method if a.ok else f"failed: {a.reason}")
        self.info["score"].setText(f"{a.score:.3f}")
        if pair.ok:
            self.info["ssim"].setText(f"{pair.ssim_mean:.3f}")
            self.info["leak"].setText(f"{pair.leak_area_pct:.1f} %")
            t = pair.timings_ms
            self.info["align_ms"].setText(
                f"{t.get('align', 0) + t.get('warp', 0) + t.get('leak_mask', 0):.1f} ms"
            )
            self.info["color_ms"].setText(f"{t['colorize']:.1f} ms" if "colorize" in t else "—")
        self._refresh_result()

    def _refresh_result(self) -> None:
        view = self.result_choice.currentText()
        if view == "Day reference":
            self.result_view.set_image(self._reference, "day reference")
            return
        res = self._last
        if res is None or not res.pair.ok:
            self.result_view.set_image(None)
            return
        pair = res.pair
        if view == "Colorized" and pair.colorized is not None:
            self.result_view.set_image(pair.colorized.rgb, f"colorized · #{res.sequence}")
        elif view == "Leak mask overlay" or (view == "Colorized" and pair.colorized is None):
            self.result_view.set_image(res.overlay, f"leak mask {pair.leak_area_pct:.1f}%")
        elif view == "Aligned day reference":
            self.result_view.set_image(pair.aligned_reference, "aligned day reference")

    def _on_connection(self, connected: bool, msg: str) -> None:
        if connected:
            self.statusBar().showMessage(msg, 5000)
            self.live_title.setText(f"<b>Live</b> — {self.camera.info.name}")
        else:
            self.statusBar().showMessage(f"Camera disconnected: {msg} — waiting for it…")
            self.live_title.setText(
                f"<b>Live</b> — {self.camera.info.name} "
                "<span style='color:#e55'>(disconnected, reconnecting…)</span>"
            )

    def _show_error(self, msg: str) -> None:
        self.statusBar().showMessage(msg, 8000)

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt API
        self._timer.stop()
        # the camera may outlive the window: its threads must not reach deleted Qt objects
        for signal, slot in self._camera_links:
            signal.disconnect(slot)
        self.controls.detach()
        self.processor.shutdown()
        try:
            self.camera.close()
        except RuntimeError as exc:
            print(f"nightlab: {exc}", file=sys.stderr)
        super().closeEvent(event)
