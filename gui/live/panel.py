"""The live view: the camera (left) and the live result (right), zoomed and panned together.

Reads the camera at display rate (a timer pulls the newest frame: the camera never pushes
every frame into the GUI) and shows the newest live result as soon as it exists (coalesced:
if the GUI is busy, older results are skipped, never queued). The result image was composed
on the processing thread (`engine.overlay.compose_live_view`); here it is only painted.
"""

from __future__ import annotations

import html
from dataclasses import replace
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider
from superqt.utils import signals_blocked

from gui.bridge import follow, follow_latest
from gui.live.canvas import ImageCanvas
from gui.live.stats import LiveStats

if TYPE_CHECKING:
    from engine.app_state import AppState, LiveViewSpec
    from engine.live_preview import LivePreview, LiveResult

__all__ = ["LivePanel"]

DISPLAY_HZ = 30

BASE_LABELS = {
    "colorized": "Colorized",
    "masked_colorized": "Masked colorized",
    "night": "Night frame",
    "reference_blend": "Reference blend",
    "aligned_reference": "Aligned reference",
}
MASK_LABELS = {"heatmap": "Heatmap", "contour": "Contour", "off": "Off"}


WAITING_FOR_NIGHT = "Live colorize waits for a night frame: switch the camera to night (Ctrl+M)"


class LivePanel(QWidget):
    """Live camera + live result, view options, zoom; follows ``state`` and ``preview``."""

    result_shown = Signal(object)
    """The `LiveResult` now on screen (GUI thread)."""

    def __init__(
        self,
        state: AppState,
        preview: LivePreview,
        *,
        stats: LiveStats | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._state = state
        self._preview = preview
        self.stats = stats or LiveStats()
        self._last_seq = -1
        self._waiting_for_night = False
        self.last_result: LiveResult | None = None

        self.camera_view = ImageCanvas("Camera not streaming")
        self.result_view = ImageCanvas(
            "Capture a day reference (Ctrl+D), switch the camera to night (Ctrl+M or Camera "
            "dock: mode), then turn on Live colorize (Ctrl+L)"
        )
        self.result_view.link(self.camera_view)
        self.camera_view.set_paint_callback(lambda t: self.stats.painted(t, result=False))
        self.result_view.set_paint_callback(lambda t: self.stats.painted(t, result=True))
        self.camera_title = QLabel()
        # takes the pane's width, never sets it: "(disconnected, reconnecting…)" after the
        # camera's name made the window wider than a 1366 px screen; a cut end is in the
        # tooltip, and the camera's state comes first so it is the part that shows
        self.camera_title.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.camera_title.setMinimumWidth(40)
        self.result_title = QLabel("<b>Result</b>")

        self.base_choice = QComboBox()
        self.base_choice.setObjectName("live_base")
        for key, text in BASE_LABELS.items():
            self.base_choice.addItem(text, key)
        self.base_choice.setToolTip("What the result view shows under the leak mask")
        self.mask_choice = QComboBox()
        self.mask_choice.setObjectName("live_mask")
        for key, text in MASK_LABELS.items():
            self.mask_choice.addItem(text, key)
        self.mask_choice.setToolTip(
            "Leak mask on top of the result: where no reference colour goes"
        )
        self.blend = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.blend.setRange(0.0, 1.0)
        self.blend.setDecimals(2)
        self.blend.setMaximumWidth(160)
        self.blend.setMinimumWidth(110)  # a slider and its value, never a dot
        self.blend.setToolTip("Reference blend: weight of the aligned day reference")
        zoom_in, zoom_out, fit = (QToolButton() for _ in range(3))
        for b, text, tip in (
            (zoom_in, "+", "Zoom in (mouse wheel)"),
            (zoom_out, "−", "Zoom out (mouse wheel)"),
            (fit, "Fit", "Fit the whole frame (double-click)"),
        ):
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
        zoom_in.clicked.connect(lambda: self.camera_view.zoom(1.25))
        zoom_out.clicked.connect(lambda: self.camera_view.zoom(0.8))
        fit.clicked.connect(self.camera_view.reset_view)

        # one row over both panes: the camera's name on the left, the result's view options on
        # the right. Kept out of the result pane so that pane's width is not set by its
        # controls: the night frame and its result split the width evenly (a 1366 px screen
        # gave the night frame 360 px against the result's 615, and squeezed Blend to a dot).
        bar = QHBoxLayout()
        bar.addWidget(self.camera_title, 1)
        bar.addWidget(self.result_title)
        bar.addSpacing(4)
        bar.addWidget(QLabel("Show"))
        bar.addWidget(self.base_choice)
        bar.addSpacing(8)
        bar.addWidget(QLabel("Leak mask"))
        bar.addWidget(self.mask_choice)
        bar.addSpacing(8)
        self.blend_label = QLabel("Blend")
        self.blend_label.setBuddy(self.blend)
        bar.addWidget(self.blend_label)
        bar.addWidget(self.blend)
        bar.addSpacing(8)
        for b in (zoom_in, zoom_out, fit):
            bar.addWidget(b)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.camera_view)
        split.addWidget(self.result_view)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        split.setSizes([600, 600])
        self.split = split
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(bar)
        lay.addWidget(split, 1)

        # read the initial state, write edits back, follow changes made elsewhere
        self._show_view(state.view)
        self.base_choice.currentIndexChanged.connect(self._write_view)
        self.mask_choice.currentIndexChanged.connect(self._write_view)
        self.blend.valueChanged.connect(self._write_view)
        follow(state.events.view, self._show_view, self)
        follow(state.events.camera, self._on_camera, self)
        follow(state.events.reference, lambda _: self._on_reference(), self)
        follow(state.events.live, lambda _: self._on_reference(), self)
        follow_latest(preview.events.result, self._show_result, self)
        self._on_camera(state.camera)
        self._on_reference()

        self._timer = QTimer(self)
        self._timer.setInterval(int(1000 / DISPLAY_HZ))
        self._timer.timeout.connect(self.pull_frame)
        self._timer.start()

    # -- state <-> widgets -----------------------------------------------------------------
    def _write_view(self, *_) -> None:
        self._state.view = replace(
            self._state.view,
            base=self.base_choice.currentData(),
            mask_style=self.mask_choice.currentData(),
            blend_alpha=round(float(self.blend.value()), 2),
        )

    def _show_view(self, spec: LiveViewSpec) -> None:
        with signals_blocked(self.base_choice), signals_blocked(self.mask_choice):
            self.base_choice.setCurrentIndex(self.base_choice.findData(spec.base))
            self.mask_choice.setCurrentIndex(self.mask_choice.findData(spec.mask_style))
        with signals_blocked(self.blend):
            self.blend.setValue(spec.blend_alpha)
        blending = spec.base == "reference_blend"
        self.blend.setEnabled(blending)
        self.blend_label.setEnabled(blending)  # greyed with its slider

    def _on_camera(self, camera) -> None:
        self._last_seq = -1
        name = camera.info.name if camera is not None else "no camera"
        # the name is text as typed (a replayed session's name), inside the title's markup
        self.camera_title.setText(f"<b>Live</b> — {html.escape(name, quote=False)}")
        if camera is None:
            self.camera_view.set_image(None)

    def set_connection(self, connected: bool) -> None:
        cam = self._state.camera
        name = cam.info.name if cam is not None else "no camera"
        lost = "<b style='color:#e55'>camera disconnected, reconnecting…</b> — "
        lost = "" if connected else lost
        self.camera_title.setText(f"<b>Live</b> — {lost}{html.escape(name, quote=False)}")
        self.camera_title.setToolTip(name if connected else f"{name}: disconnected, reconnecting")

    def _on_reference(self) -> None:
        if self._state.live:
            return
        ref = self._state.reference
        if ref is None:
            self.result_view.set_image(None)
        else:
            self.result_view.set_image(ref, f"day reference · {self._state.reference_source}")

    # -- frames and results ----------------------------------------------------------------
    def pull_frame(self) -> None:
        cam = self._state.camera
        frame = cam.latest_frame() if cam is not None else None
        if frame is None or frame.meta.sequence == self._last_seq:
            return
        self._last_seq = frame.meta.sequence
        mode = frame.meta.mode or ("night" if frame.is_gray else "colour")
        self.camera_view.set_image(
            frame.image, f"{mode} · #{frame.meta.sequence}", frame_time=frame.meta.timestamp
        )
        self.stats.frame_shown()
        # live colorize takes night frames only: on in day mode, the result pane kept the
        # reference and nothing said why no result came (said once, on the change)
        waiting = self._state.live and not frame.is_gray and self._state.reference is not None
        if waiting != self._waiting_for_night:
            self._waiting_for_night = waiting
            if waiting:
                self.result_view.set_caption(WAITING_FOR_NIGHT)

    def _show_result(self, res: LiveResult) -> None:
        if not self._state.live:
            return
        self.last_result = res
        pair = res.pair
        if res.display is not None:
            label = BASE_LABELS[res.spec.base].lower()
            self.result_view.set_image(
                res.display,
                f"{label} · #{res.sequence} · leak {pair.leak_area_pct:.1f} %",
                frame_time=res.frame_time,
            )
        else:
            self.result_view.set_caption(f"not aligned: {pair.alignment.reason}")
        stages = dict(pair.timings_ms)
        stages["live total"] = res.process_ms
        # two ints the workers count: read, never waited for (no lock on the GUI thread)
        self.stats.live_counts(self._preview.processed, self._preview.dropped)
        self.stats.result_shown(stages, res.ssim_mean, pair.leak_area_pct)
        self.result_shown.emit(res)

    def stop(self) -> None:
        self._timer.stop()
