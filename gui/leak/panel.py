"""Leak-mask tuning: the mask's parameters on labeled sliders with live effect, and named
presets saved with the open session (``session.settings["leak_presets"]``)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)
from superqt import QLabeledDoubleSlider, QLabeledSlider
from superqt.utils import signals_blocked

from engine.leakmask import LeakMaskParams
from gui.bridge import follow

if TYPE_CHECKING:
    from engine.app_state import AppState
    from engine.store import Store
    from gui.jobs import JobRunner

__all__ = ["LeakPanel"]

#: field -> (label, minimum, maximum, decimals or None for ints, tooltip); sizes say their unit:
#: pixels of the mask's working copy (LeakMaskParams.work_width), not of the frame
_WORKING_PX = (
    "; in pixels of the working copy (the frame halved until at most "
    f"{LeakMaskParams().work_width} px wide)"
)
SLIDERS = {
    "lo": ("Changed at ≤", 0.0, 0.5, 3, "Similarity at or below which a pixel is fully changed"),
    "hi": ("Unchanged at ≥", 0.01, 0.8, 3, "Similarity at or above which a pixel is unchanged"),
    "window": ("Window (px)", 3, 31, None, "Side of the comparison window (odd)" + _WORKING_PX),
    "close_px": (
        "Closing (px)",
        0,
        41,
        None,
        "Closing diameter that fills gaps in changed regions" + _WORKING_PX,
    ),
    "blur_sigma": ("Blur σ (px)", 0.0, 8.0, 2, "Soft edges of the mask" + _WORKING_PX),
    "tail_max": ("Soft tail", 0.0, 0.49, 2, "Colour withheld where similarity is low-ish"),
    "refine_radius": (
        "Edge refinement (px)",
        0,
        32,
        None,
        "Radius that snaps the mask onto the reference's outlines (0 = off)" + _WORKING_PX,
    ),
}
PRESETS_KEY = "leak_presets"


class LeakPanel(QWidget):
    message = Signal(str)

    def __init__(
        self, state: AppState, store: Store, jobs: JobRunner, parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self._state, self._store, self._jobs = state, store, jobs
        form = QFormLayout()
        self.sliders: dict[str, QWidget] = {}
        for name, (label, lo, hi, decimals, tip) in SLIDERS.items():
            if decimals is None:
                s = QLabeledSlider(Qt.Orientation.Horizontal)
                s.setRange(int(lo), int(hi))
            else:
                s = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
                s.setRange(lo, hi)
                s.setDecimals(decimals)
            s.setToolTip(tip)
            s.valueChanged.connect(lambda v, n=name: self._write(n, v))
            row_label = QLabel(label)
            row_label.setToolTip(tip)
            form.addRow(row_label, s)
            self.sliders[name] = s
        self.presets = QComboBox()
        self.presets.setToolTip("Presets saved with the open session")
        self.presets.activated.connect(lambda _: self.apply_preset(self.presets.currentText()))
        self.btn_save = QPushButton("Save preset…")
        self.btn_save.setToolTip("Save these parameters under a name, in the open session")
        self.btn_save.clicked.connect(self._save_dialog)
        self.btn_default = QPushButton("Defaults")
        self.btn_default.setToolTip("Back to the default leak-mask parameters")
        self.btn_default.clicked.connect(self.reset)
        row = QHBoxLayout()
        row.addWidget(self.presets, 1)
        row.addWidget(self.btn_save)
        row.addWidget(self.btn_default)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(form)
        lay.addLayout(row)
        lay.addStretch(1)
        follow(state.events.leak_params, self._show, self)
        follow(state.events.session, lambda _: self._fill_presets(), self)
        self._show(state.leak_params)
        self._fill_presets()

    def _show(self, params) -> None:
        for name, s in self.sliders.items():
            with signals_blocked(s):
                s.setValue(getattr(params, name))

    def _write(self, name: str, value) -> None:
        if SLIDERS[name][3] is None:
            value = int(value)
            if name == "window" and value % 2 == 0:
                value += 1  # the window is odd
        try:
            self._state.leak_params = dataclasses.replace(self._state.leak_params, **{name: value})
        except ValueError as exc:  # e.g. lo above hi: say so and show what is in force
            self.message.emit(f"leak mask: {exc}")
            self._show(self._state.leak_params)

    def reset(self) -> None:
        self._state.leak_params = LeakMaskParams()

    # -- presets ---------------------------------------------------------------------------
    def _saved(self) -> dict:
        s = self._state.session
        return dict((s.settings or {}).get(PRESETS_KEY, {})) if s is not None else {}

    def _fill_presets(self) -> None:
        saved = self._saved()
        self.presets.clear()
        self.presets.addItem("Defaults")
        self.presets.addItems(sorted(saved))
        s = self._state.session
        self.btn_save.setEnabled(s is not None and s.is_open)

    def apply_preset(self, name: str) -> None:
        if name == "Defaults":
            self.reset()
            return
        values = self._saved().get(name)
        if values is None:
            return
        known = {f.name for f in dataclasses.fields(LeakMaskParams)}
        self._state.leak_params = LeakMaskParams(**{k: v for k, v in values.items() if k in known})
        self.message.emit(f"Leak-mask preset {name!r}")

    def _save_dialog(self) -> None:
        name, ok = QInputDialog.getText(self, "Save leak-mask preset", "Preset name")
        if ok and name.strip():
            self.save_preset(name.strip())

    def save_preset(self, name: str) -> None:
        s = self._state.session
        if s is None:
            self.message.emit("open a session to save presets with it")
            return
        values = dataclasses.asdict(self._state.leak_params)

        def add(settings: dict) -> None:  # on the settings as committed, not a stale copy
            settings[PRESETS_KEY] = {**settings.get(PRESETS_KEY, {}), name: values}

        def done(session) -> None:
            self._state.session = session
            self.message.emit(f"Preset {name!r} saved with session {session.name!r}")

        self._jobs.submit(
            lambda: self._store.change_session_settings(s.id, add),
            done=done,
            label="saving the preset",
        )
