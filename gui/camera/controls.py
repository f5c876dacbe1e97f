"""Camera controls built from the camera's own capabilities (one widget per ControlSpec).

Like pymmcore-widgets' property browser: the panel reads the initial state from the camera,
writes user edits back with ``set_control``, and follows ``control_changed`` so a change made
elsewhere (CLI, script, auto mode) shows up here without echoing back. When the app switches
camera (``state.camera``), the form is rebuilt for the new one.

Edits are applied on the job runner, never in the editor's slot: a driver may answer only
when the frame it is reading is in (a webcam's capture lock), which froze the window for a
frame per spin-box step, or for seconds on a stalling USB camera. One batch is in flight at a
time; edits made meanwhile go next, in the order made, the newest value of each control only.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QSignalBlocker, Signal
from PySide6.QtGui import QAction, QKeySequence

from gui.bridge import follow

if TYPE_CHECKING:
    from engine.app_state import AppState
    from engine.camera import Camera
    from gui.jobs import JobRunner

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QWidget,
)


class CameraControlsPanel(QWidget):
    """A form with one editor per camera control; errors go to ``error`` as one line."""

    error = Signal(str)

    def __init__(self, state: AppState, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state = state
        self._jobs = jobs
        self._camera: Camera | None = None
        self._pending: dict[str, Any] = {}  # edits not yet sent, in the order made
        self._in_flight: dict[str, Any] = {}  # the batch being applied
        self._applying = False
        self._editors: dict[str, QWidget] = {}
        self._unfollow = None
        self._form = QFormLayout(self)
        self._form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        # the switch an operator makes every evening and morning, from the keyboard and the
        # Camera menu (the window adds it there); offered when the camera has a day/night mode
        self.act_night = QAction("Night mode", self)
        self.act_night.setCheckable(True)
        self.act_night.setShortcut(QKeySequence("Ctrl+M"))
        self.act_night.setToolTip("Switch the camera between day and night mode (Ctrl+M)")
        self.act_night.toggled.connect(lambda on: self._set("mode", "night" if on else "day"))
        follow(state.events.camera, self._build, self)
        self._build(state.camera)

    def _build(self, camera) -> None:
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None
        while self._form.rowCount():
            self._form.removeRow(0)
        self._editors.clear()
        self._pending.clear()  # edits for the camera that went
        self._camera = camera
        caps = camera.capabilities() if camera is not None else {}
        mode = caps.get("mode")
        day_night = mode is not None and mode.supported and {"day", "night"} <= set(mode.choices)
        self.act_night.setEnabled(day_night)
        with QSignalBlocker(self.act_night):
            self.act_night.setChecked(day_night and camera.get_control("mode") == "night")
        if camera is None:
            return
        # day/night first: the control an operator switches every evening, in view on a
        # 768 px screen (alphabetically it came ninth, below the dock's fold)
        for name, spec in sorted(caps.items(), key=lambda kv: _order(kv[0])):
            editor = self._make_editor(name, spec)
            label = QLabel(_label(name, spec.unit))
            if not spec.supported:
                editor.setEnabled(False)
                editor.setToolTip(f"unsupported: {spec.reason}")
                label.setToolTip(f"unsupported: {spec.reason}")
            else:  # what it does (where the name does not say) and what it takes
                editor.setToolTip(_tooltip(spec))
                label.setToolTip(_tooltip(spec))
            self._form.addRow(label, editor)
            self._editors[name] = editor
        # set_control emits on the caller's thread; a script or the CLI may be that caller
        self._unfollow = follow(camera.events.control_changed, self._on_changed, self)

    def detach(self) -> None:
        """Stop following the camera (the camera may outlive the panel)."""
        if self._unfollow is not None:
            self._unfollow()
            self._unfollow = None

    def _make_editor(self, name: str, spec) -> QWidget:
        value = self._camera.get_control(name) if spec.supported else spec.default
        if spec.kind == "bool":
            w = QCheckBox()
            w.setChecked(bool(value))
            w.toggled.connect(lambda v, n=name: self._set(n, bool(v)))
        elif spec.kind == "choice":
            w = QComboBox()
            w.addItems([str(c) for c in spec.choices])
            if value in spec.choices:
                w.setCurrentIndex(list(spec.choices).index(value))
            w.currentIndexChanged.connect(lambda i, n=name, s=spec: self._set(n, s.choices[i]))
        elif spec.kind == "int":
            w = QSpinBox()
            w.setRange(
                int(spec.minimum if spec.minimum is not None else -(2**31)),
                int(spec.maximum if spec.maximum is not None else 2**31 - 1),
            )
            w.setValue(int(value or 0))
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda v, n=name: self._set(n, int(v)))
        else:
            w = QDoubleSpinBox()
            w.setDecimals(3)
            w.setRange(
                float(spec.minimum if spec.minimum is not None else -1e9),
                float(spec.maximum if spec.maximum is not None else 1e9),
            )
            w.setSingleStep(max(0.001, ((w.maximum() - w.minimum()) / 100.0)))
            w.setValue(float(value or 0.0))
            w.setKeyboardTracking(False)
            w.valueChanged.connect(lambda v, n=name: self._set(n, float(v)))
        w.setObjectName(f"control_{name}")
        return w

    def _set(self, name: str, value: Any) -> None:
        if self._camera is None:
            return
        self._pending.pop(name, None)  # to the end: the order edits were made is kept
        self._pending[name] = value
        if not self._applying:
            self._apply_pending()

    def _apply_pending(self) -> None:
        camera, batch = self._camera, self._pending
        self._pending = {}
        if camera is None or not batch:
            return

        def work() -> list[tuple[str, str]]:
            refused = []
            for name, value in batch.items():
                try:
                    camera.set_control(name, value)
                except (ValueError, RuntimeError) as exc:
                    refused.append((name, str(exc)))
            return refused

        def done(refused: list[tuple[str, str]]) -> None:
            self._applying, self._in_flight = False, {}
            if camera is self._camera:
                for _name, why in refused:
                    self.error.emit(why)
                for name in batch:  # what the camera took (coerced, or refused: unchanged)
                    if name not in self._pending:
                        with contextlib.suppress(ValueError, RuntimeError):
                            self._show_value(name, camera.get_control(name))
            self._apply_pending()  # what was edited meanwhile

        def failed(_msg: str) -> None:  # the runner shows it in the status bar
            self._applying, self._in_flight = False, {}
            self._apply_pending()

        self._applying, self._in_flight = True, batch
        if self._jobs.submit(work, done=done, failed=failed, label="camera controls") is None:
            self._applying = False  # the runner is shut down: the window is closing

    def _on_changed(self, name: str, value: Any) -> None:
        """A control changed (this panel's edit applied, or a script, the CLI, auto mode)."""
        if name in self._pending or name in self._in_flight:
            return  # the echo of an older edit: the editor already shows a newer value
        self._show_value(name, value)

    def _show_value(self, name: str, value: Any) -> None:
        if name == "mode":
            with QSignalBlocker(self.act_night):
                self.act_night.setChecked(value == "night")
        w = self._editors.get(name)
        if w is None:
            return
        with QSignalBlocker(w):
            if isinstance(w, QCheckBox):
                w.setChecked(bool(value))
            elif isinstance(w, QComboBox):
                idx = w.findText(str(value))
                if idx >= 0:
                    w.setCurrentIndex(idx)
            elif isinstance(w, QSpinBox):
                w.setValue(int(value))
            elif isinstance(w, QDoubleSpinBox):
                w.setValue(float(value))

    def editor(self, name: str) -> QWidget:
        """The editor widget of control ``name`` (for tests and keyboard focus)."""
        return self._editors[name]


#: units as an operator reads them (the specs spell them in ASCII)
_UNIT_TEXT = {"us": "µs"}


def _label(name: str, unit: str) -> str:
    """``exposure_us`` + ``us`` -> ``exposure (µs)``: the unit once, not twice."""
    if unit and name.lower() == unit.lower():
        return name
    if unit and name.endswith(f"_{unit.lower()}"):
        name = name[: -len(unit) - 1]
    text = name.replace("_", " ")
    return f"{text} ({_UNIT_TEXT.get(unit, unit)})" if unit else text


def _tooltip(spec) -> str:
    """``"simulated: how far the camera wanders, in px\n0 to 8 px, default 2"``."""
    unit = _UNIT_TEXT.get(spec.unit, spec.unit)
    unit = f" {unit}" if unit else ""

    def num(v) -> str:
        return f"{v:g}" if isinstance(v, (int, float)) else str(v)

    if spec.kind == "choice":
        takes = f"{', '.join(map(str, spec.choices))}; default {spec.default}"
    elif spec.kind == "bool":
        takes = f"on or off; default {'on' if spec.default else 'off'}"
    elif spec.minimum is not None and spec.maximum is not None:
        takes = f"{num(spec.minimum)} to {num(spec.maximum)}{unit}, default {num(spec.default)}"
    else:
        takes = f"default {num(spec.default)}{unit}"
    return f"{spec.description}\n{takes}" if spec.description else takes


def _order(name: str) -> tuple[bool, str]:
    return (name != "mode", name)
