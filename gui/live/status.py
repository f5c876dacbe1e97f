"""The status strip: display FPS, results/s, per-stage latency, SSIM mean, leak area, and a
small live plot of them over time (pyqtgraph). Refreshed a few times a second from
`LiveStats`, never per frame."""

from __future__ import annotations

from collections import deque

import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QGridLayout, QHBoxLayout, QLabel, QVBoxLayout, QWidget

from gui.live.stats import LiveStats

__all__ = ["LiveStatus"]

HISTORY = 120  # samples at 2 Hz: the last minute
PLOT_EVERY = 2  # refreshes (4 Hz) per plot sample
STRIP_HEIGHT = 64  # px: the plot beside two rows of figures
Y_MAX = 100.0  # every series is drawn in 0..100 (values above are clipped to the top)
RESULTS_TIP = "Live results (aligned, masked, colorized) per second"
STAGES = (("align", "align"), ("warp", "warp"), ("leak_mask", "mask"), ("colorize", "colour"))
STAGES_TIP = "Milliseconds per stage of the newest result"
# the stage line has a fixed width: sized to its text, its column grew and shrank with the
# figures, so the plot beside it jumped sideways with each refresh, a longer line showed cut
# before the layout caught up (1920x1080), and a slow machine's 4-digit stages pushed the
# window's minimum width past a 1366 px screen. A longer line is elided (whole in the tooltip).
STAGES_ROOM = "align 888 · warp 88 · mask 88 · colour 888 ms"


class LiveStatus(QWidget):
    """Numbers on the left, their history on the right."""

    def __init__(self, stats: LiveStats, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._stats = stats
        self.values: dict[str, QLabel] = {}
        grid = QGridLayout()
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(2)
        # two rows of three: the strip sits under every tab, so each pixel of its height is
        # taken from the images and the docks (three rows and a 130 px plot left the QA list
        # two rows and hid the scheduled capture's Start button at 1366x768)
        items = [
            ("display", "Display", "Camera frames painted per second"),
            ("results", "Results", RESULTS_TIP),
            ("latency", "Latency", "Frame capture to result painted (median of the last 50)"),
            ("ssim", "SSIM mean", "Structural similarity of night vs aligned reference"),
            ("leak", "Leak area", "Share of the frame where no reference colour goes"),
            ("stages", "Stages", STAGES_TIP),
        ]
        for i, (key, text, tip) in enumerate(items):
            name = QLabel(text)
            name.setStyleSheet("color: #8a909a;")
            value = QLabel("—")
            value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            value.setToolTip(tip)
            name.setToolTip(tip)
            value.setObjectName(f"status_{key}")
            row, col = divmod(i, 3)
            grid.addWidget(name, row, col * 2)
            grid.addWidget(value, row, col * 2 + 1)
            self.values[key] = value
        grid.setColumnMinimumWidth(1, 70)
        grid.setColumnMinimumWidth(3, 60)
        stages = self.values["stages"]
        stages.setFixedWidth(stages.fontMetrics().horizontalAdvance(STAGES_ROOM) + 4)

        self.plot = pg.PlotWidget(background=(24, 26, 30))
        self.plot.setToolTip(
            "The last minute on a 0–100 scale (values above 100 are drawn at the top)"
        )
        self.plot.setMinimumHeight(STRIP_HEIGHT - 16)
        self.plot.setMaximumHeight(STRIP_HEIGHT - 14)
        self.plot.setMouseEnabled(x=False, y=False)
        self.plot.hideButtons()
        for y in (25, 50, 75):
            self.plot.addItem(pg.InfiniteLine(y, angle=0, pen=pg.mkPen((255, 255, 255, 30))))
        # fixed ranges: an axis whose range never changes is drawn once and cached (an
        # autoranging axis cost ~24 ms of GUI thread per repaint on the loaded 2-core box)
        self.plot.hideAxis("bottom")
        self.plot.setXRange(0, HISTORY - 1, padding=0)
        # a little room above 100 and below 0: the top and bottom tick labels are not cut off
        self.plot.setYRange(-4, Y_MAX + 8, padding=0)
        self.plot.getPlotItem().getAxis("left").setTicks([[(v, str(v)) for v in (0, 50, 100)]])
        self.plot.enableAutoRange(False)
        colours = {
            "results/s": "#4cc9f0",
            "live ms": "#f9c74f",
            "leak %": "#f94144",
            "SSIM ×100": "#90be6d",
        }
        self._series = {
            name: (deque(maxlen=HISTORY), pg.mkPen(c, width=1.5)) for name, c in colours.items()
        }
        self._curves = {
            name: self.plot.plot([], [], pen=pen) for name, (_, pen) in self._series.items()
        }
        # the legend is a line above the plot, not an item inside it: drawn in the plot it
        # covered the curves near the top (SSIM ×100 sits at 80-95)
        self.legend = QLabel(
            "&nbsp;&nbsp;&nbsp;".join(
                f'<span style="color:{c}; font-weight:700;">━━</span>&nbsp;{name}'
                for name, c in colours.items()
            )
        )
        self.legend.setObjectName("status_legend")
        self.legend.setStyleSheet("color: #8a909a; font-size: 8pt;")
        self.legend.setToolTip(self.plot.toolTip())
        plot_box = QVBoxLayout()
        plot_box.setContentsMargins(0, 0, 0, 0)
        plot_box.setSpacing(1)
        plot_box.addWidget(self.legend)
        plot_box.addWidget(self.plot, 1)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        lay.addLayout(grid)
        grid.setAlignment(Qt.AlignmentFlag.AlignVCenter)
        lay.addSpacing(12)
        lay.addLayout(plot_box, 1)

        self._ticks = 0
        self._timer = QTimer(self)
        self._timer.setInterval(250)
        self._timer.timeout.connect(self.refresh)
        self._timer.start()

    def _tip_results(self, s: LiveStats) -> None:
        pct = s.skipped_pct
        tip = RESULTS_TIP
        if pct is not None:
            tip += (
                f"\nSince start: {s.frames_processed} night frames processed, "
                f"{s.frames_skipped} skipped ({pct:.0f} %): when processing is slower than "
                "the camera, the newest frame wins"
            )
        label = self.values["results"]
        if label.toolTip() != tip:
            label.setToolTip(tip)

    def _show_stages(self, line: str) -> None:
        label = self.values["stages"]
        fits = label.fontMetrics().elidedText(line, Qt.TextElideMode.ElideRight, label.width())
        label.setText(fits)
        tip = STAGES_TIP if fits == line else f"{STAGES_TIP}:\n{line}"
        if label.toolTip() != tip:
            label.setToolTip(tip)

    def refresh(self) -> None:
        s = self._stats
        self.values["display"].setText(f"{s.display_fps:.1f} fps")
        self.values["results"].setText(f"{s.results_per_s:.1f} /s")
        self._tip_results(s)
        self.values["ssim"].setText("—" if s.ssim_mean is None else f"{s.ssim_mean:.3f}")
        self.values["leak"].setText("—" if s.leak_area_pct is None else f"{s.leak_area_pct:.1f} %")
        t = s.stages_ms
        if t:
            parts = [f"{label} {t[k]:.0f}" for k, label in STAGES if k in t]
            self._show_stages(" · ".join(parts) + " ms")
        recent = list(s.recent_result_latency_ms)
        if recent:
            recent = sorted(recent)
            self.values["latency"].setText(f"{recent[len(recent) // 2]:.0f} ms")
        self._ticks += 1
        if s.results and self._ticks % PLOT_EVERY == 0:
            live_ms = t.get("live total", 0.0)
            for name, value in (
                ("results/s", s.results_per_s),
                ("live ms", live_ms),
                ("leak %", s.leak_area_pct or 0.0),
                ("SSIM ×100", (s.ssim_mean or 0.0) * 100),
            ):
                data, _ = self._series[name]
                data.append(min(float(value), Y_MAX))
                self._curves[name].setData(list(data))
