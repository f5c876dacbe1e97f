"""Alignment inspector: a recorded pair's method, score and reason, and four ways to see it
(checkerboard, blend, difference, flicker); accept it, re-run it with another method or
motion, or nudge it by hand with the arrow keys (Shift: 5 px). A pair whose reference was
fused from several day captures also has a stability view (where the captures disagreed: the
leak mask's cue), and the header names the captures used and left out.

The views are computed on the job runner (`engine.inspect_views`); the newest request wins,
and at most one view is computed at a time: a request made while one runs (a held arrow key,
the flicker timer, a view change) only marks the panel dirty, and the newest state is
rendered when the running one lands. Queuing every request used to run up to four full-size
renders at once, starving the GUI thread of the CPU (stalls of 80-130 ms at 1280x720).
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

import numpy as np
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider

from engine.inspect_views import nudge
from gui.live.canvas import ImageCanvas

if TYPE_CHECKING:
    from engine.pair_views import PairViews
    from engine.store import Pair, Store
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache

__all__ = ["InspectorPanel"]

VIEW_LABELS = {
    "checkerboard": "Checkerboard",
    "blend": "Blend",
    "difference": "Difference",
    "flicker": "Flicker",
    "stability": "Stability",
}
STABILITY_LEGEND = (
    "Stability of the fused day reference: yellow = the day captures agree (1), "
    "purple = they disagreed (0: the leak mask withholds colour there); dimmed night "
    "outside the reference"
)
ARROWS = {
    Qt.Key.Key_Left: (-1, 0),
    Qt.Key.Key_Right: (1, 0),
    Qt.Key.Key_Up: (0, -1),
    Qt.Key.Key_Down: (0, 1),
}


class InspectorPanel(QWidget):
    message = Signal(str)

    def __init__(
        self, store: Store, jobs: JobRunner, cache: PairCache, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        from alignment import METHODS, MOTIONS

        self._store, self._jobs, self._cache = store, jobs, cache
        self.pair: Pair | None = None
        self._views: PairViews | None = None
        self._offset = np.zeros(2)
        self._phase = 0
        self._in_flight = False  # one view job at a time (see the module docstring)
        self._dirty = False

        self.header = QLabel("Select a pair in QA review, or capture one")
        self.header.setWordWrap(True)
        self.view = QComboBox()
        for key, text in VIEW_LABELS.items():
            self.view.addItem(text, key)
        self.view.setToolTip("How to look at the registration")
        self._stability_row = self.view.findData("stability")
        self.alpha = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.alpha.setRange(0.0, 1.0)
        self.alpha.setValue(0.5)
        self.alpha.setDecimals(2)
        self.alpha.setMaximumWidth(160)
        self.alpha.setToolTip("The blend's weight of the warped day reference")
        self.alpha_label = QLabel("Blend")  # what the bare number is, greyed with it
        self.alpha_label.setBuddy(self.alpha)
        self.method = QComboBox()
        self.method.addItems(list(METHODS))
        self.motion = QComboBox()
        self.motion.addItems(list(MOTIONS))
        self.method.setToolTip(
            "Registration method for a re-run (the header says what the pair used)"
        )
        self.motion.setToolTip("Motion model for a re-run")
        self.btn_rerun = QPushButton("Re-run")
        self.btn_rerun.setToolTip("Register the pair again with this method and motion")
        self.btn_accept = QPushButton("Accept")
        self.btn_accept.setToolTip("Keep this registration (with any nudge) as the pair's (Enter)")
        self.btn_reset = QPushButton("Reset nudge")
        self.btn_reset.setToolTip(
            "Undo the arrow-key nudge: the registration as shown before it (Ctrl+Z)"
        )
        self.nudge_label = QLabel("nudge +0, +0 px")
        self.nudge_label.setToolTip("Arrow keys move the reference by 1 px (Shift: 5 px)")
        bar = QHBoxLayout()
        for w in (QLabel("View"), self.view, self.alpha_label, self.alpha):
            bar.addWidget(w)
        bar.addSpacing(12)
        # "re-run with": the header says what the pair was registered with; these choose anew
        rerun = (QLabel("Re-run with"), self.method, self.motion)
        for w in (*rerun, self.btn_rerun):
            bar.addWidget(w)
        bar.addSpacing(12)
        for w in (self.nudge_label, self.btn_reset, self.btn_accept):
            bar.addWidget(w)
        bar.addStretch(1)
        self.canvas = ImageCanvas("No pair selected")
        self.canvas.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.header)
        lay.addLayout(bar)
        lay.addWidget(self.canvas, 1)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        self.view.currentIndexChanged.connect(lambda _: self._render())
        self.alpha.valueChanged.connect(lambda _: self._render())
        self.btn_rerun.clicked.connect(self.rerun)
        self.btn_accept.clicked.connect(self.accept)
        self.btn_reset.clicked.connect(lambda: self.nudge(*(-self._offset)))
        # nudge with the arrows, then accept or undo without reaching for the mouse (the
        # buttons take no focus: a click leaves the arrows with the view)
        for key, slot in (
            ("Return", self.accept),
            ("Enter", self.accept),
            ("Ctrl+Z", lambda: self.nudge(*(-self._offset))),
        ):
            sc = QShortcut(QKeySequence(key), self)
            sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            sc.activated.connect(slot)
        for b in (self.btn_rerun, self.btn_accept, self.btn_reset):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self._flicker = QTimer(self)
        self._flicker.setInterval(400)
        self._flicker.timeout.connect(self._flip)
        self._enable()

    def _enable(self) -> None:
        ok = self.pair is not None
        for w in (self.btn_rerun, self.btn_accept, self.btn_reset):
            w.setEnabled(ok)
        blending = self.view.currentData() == "blend"  # the blend's weight only
        self.alpha.setEnabled(blending)
        self.alpha_label.setEnabled(blending)

    def _show_nudge(self) -> None:
        self.nudge_label.setText(f"nudge {self._offset[0]:+.0f}, {self._offset[1]:+.0f} px")

    # -- showing a pair --------------------------------------------------------------------
    def show_pair(self, pair: Pair) -> None:
        self.pair = pair
        self._offset[:] = 0
        self._show_nudge()  # the last pair's nudge is not this one's
        self._views = None
        if pair.method in [self.method.itemText(i) for i in range(self.method.count())]:
            self.method.setCurrentText(pair.method)
        if pair.motion:
            self.motion.setCurrentText(pair.motion)
        self._header()
        self._enable()
        self._offer_stability(None)
        if not pair.aligned_ok:
            self.canvas.set_image(None)
            self.canvas.set_placeholder(f"Pair #{pair.id} is not aligned: {pair.reason}")
            return
        self._cache.request(pair, lambda v, pid=pair.id: self._got(pid, v))

    def _header(self) -> None:
        p = self.pair
        if p is None:
            return
        if p.aligned_ok:
            state = f"<span style='color:#3fb950'>aligned</span> · score {p.score:.3f}"
        else:
            state = f"<span style='color:#f85149'>not aligned</span> — {p.reason}"
        v = self._views
        self.header.setToolTip("")
        if v is not None and v.day_captures is not None:
            reference = escape(v.day_captures.describe(brief=True))
            if v.day_captures.refused:  # every registration attempt, in full
                self.header.setToolTip(v.day_captures.describe())
        else:  # until the render lands (it fuses the captures)
            ids = ", ".join(f"#{i}" for i in p.day_ids)
            fusing = len(p.day_ids) > 1 and p.aligned_ok
            reference = f"day {ids}" + (" (fusing…)" if fusing else "")
        self.header.setText(
            f"<b>Pair #{p.id}</b> · method <b>{p.method or '—'}</b> · motion "
            f"<b>{p.motion or '—'}</b> · {state}"
            + (f" · reason: {p.reason}" if p.aligned_ok and p.reason else "")
            + f"<br>reference: {reference}"
        )

    def _got(self, pair_id: int, views: PairViews) -> None:
        if self.pair is not None and self.pair.id == pair_id:
            self._views = views
            self._header()
            self._offer_stability(views)
            self._render()

    def _offer_stability(self, views: PairViews | None) -> None:
        """The stability view is offered only for a fused reference; otherwise say why."""
        p = self.pair
        if views is not None and views.day_stability is not None:
            ok, tip = True, STABILITY_LEGEND
        elif p is not None and not p.aligned_ok:
            ok, tip = False, "No stability map: the pair is not aligned"
        elif views is None and p is not None and len(p.day_ids) > 1:
            ok, tip = False, "Fusing the day captures…"
        elif p is not None and len(p.day_ids) > 1:
            ok, tip = (
                False,
                (
                    "No stability map: no other day capture registered onto the first, so the "
                    "reference is that one capture"
                ),
            )
        else:
            ok, tip = (
                False,
                (
                    "No stability map: the reference is a single day capture (a stability map "
                    "says where several day captures disagree)"
                ),
            )
        item = self.view.model().item(self._stability_row)
        item.setEnabled(ok)
        item.setToolTip(tip)
        if not ok and views is not None and self.view.currentData() == "stability":
            self.view.setCurrentIndex(self.view.findData("checkerboard"))

    def _matrix(self) -> np.ndarray:
        return nudge(self._views.matrix, *self._offset)

    def _render(self) -> None:
        v = self._views
        view = self.view.currentData()
        self.alpha.setEnabled(view == "blend")
        self.alpha_label.setEnabled(view == "blend")
        if v is None:
            return
        if self._in_flight:  # rendered with the newest state when the running job lands
            self._dirty = True
            return
        if view == "flicker":
            self._flicker.start()
        else:
            self._flicker.stop()
        matrix, alpha, phase = self._matrix(), self.alpha.value(), self._phase
        moved = bool(self._offset.any())

        def work():
            from engine.inspect_views import inspect_view
            from engine.pair_views import stability_view, warp_onto

            if view == "stability":
                if v.day_stability is None:  # picked while the pair was swapped: nothing
                    raise ValueError("this pair's reference has no stability map")
                return stability_view(v.night, v.day_stability, matrix)
            aligned = warp_onto(v.day, matrix, v.night.shape) if moved else v.aligned
            return inspect_view(view, v.night, aligned, alpha=alpha, phase=phase)

        def done(img) -> None:
            if self._views is v:  # still this pair: a view one step behind is still news
                caption = VIEW_LABELS[view] + (
                    f" · phase {'night' if phase % 2 == 0 else 'reference'}"
                    if view == "flicker"
                    else " · yellow = day captures agree (1) · purple = disagreed (0)"
                    if view == "stability"
                    else ""
                )
                self.canvas.set_image(img, caption)
            self._landed()

        job = self._jobs.submit(
            work, done=done, failed=lambda _: self._landed(), label="inspector view"
        )
        self._in_flight = job is not None

    def _landed(self) -> None:
        self._in_flight = False
        if self._dirty:
            self._dirty = False
            self._render()

    def _flip(self) -> None:
        self._phase += 1
        self._render()

    # -- editing ---------------------------------------------------------------------------
    def nudge(self, dx: float, dy: float) -> None:
        if self._views is None:
            return
        self._offset += (dx, dy)
        self._show_nudge()
        self._render()

    def keyPressEvent(self, event) -> None:  # noqa: N802 - Qt API
        step = ARROWS.get(Qt.Key(event.key()))
        if step is None:
            super().keyPressEvent(event)
            return
        k = 5 if event.modifiers() & Qt.KeyboardModifier.ShiftModifier else 1
        self.nudge(step[0] * k, step[1] * k)
        event.accept()

    def accept(self) -> None:
        p, v = self.pair, self._views
        if p is None or v is None:
            return
        matrix = self._matrix()
        nudged = bool(self._offset.any())
        alignment = {
            "ok": True,
            "method": f"{p.method}+manual" if nudged else p.method,
            "motion": p.motion,
            "score": p.score,
            "reason": "nudged by hand" if nudged else "",
            "matrix": matrix.tolist(),
        }

        def work():
            from engine.pair_views import record_registration

            # SSIM and leak area are measured again under the accepted matrix
            pair = record_registration(self._store, p, alignment)
            self._store.add_tags(p.id, "alignment-checked")
            return pair

        def done(pair) -> None:
            self.message.emit(f"Pair #{pair.id}: registration accepted")
            self.show_pair(pair)

        self._jobs.submit(work, done=done, label="accepting the registration")

    def rerun(self) -> None:
        p = self.pair
        if p is None:
            return
        method, motion = self.method.currentText(), self.motion.currentText()
        store = self._store

        def work():
            import alignment
            from engine.pair_views import load_pair_images, record_registration

            night, day = load_pair_images(store, p)
            result = alignment.align(day, night, method=method, motion=motion)
            return record_registration(store, p, result)  # with the metrics it gives

        def done(pair) -> None:
            verdict = "aligned" if pair.aligned_ok else f"not aligned: {pair.reason}"
            self.message.emit(f"Pair #{pair.id} re-run with {method}/{motion}: {verdict}")
            self.show_pair(pair)

        self.message.emit(f"Re-running pair #{p.id} with {method}/{motion}…")
        self._jobs.submit(work, done=done, label="re-running the alignment")
