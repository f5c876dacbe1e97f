"""Switch camera (or replay a recorded session) without restarting the app."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QWidget

from gui.bridge import follow

if TYPE_CHECKING:
    from engine.app_state import AppState

__all__ = ["CameraChooser"]

PRESETS = ("sim", "sim:night", "oak", "webcam:0")


class CameraChooser(QWidget):
    """An editable camera spec and an Open button; ``requested(spec)`` asks the window."""

    requested = Signal(str)

    def __init__(self, state: AppState, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = QComboBox()
        self.spec.setEditable(True)
        self.spec.addItems(PRESETS)
        self.spec.setToolTip(
            "sim (default), sim:night, oak[:ID], webcam[:INDEX|URL], replay:PATH "
            "(a recorded session or a folder of frames)"
        )
        self.spec.setCurrentText(state.camera_spec)
        self.open = QPushButton("Open")
        self.open.setToolTip("Switch to this camera; the current one is closed in the background")
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.spec, 1)
        lay.addWidget(self.open)
        self.open.clicked.connect(lambda: self.requested.emit(self.spec.currentText().strip()))
        follow(state.events.camera_spec, self.spec.setCurrentText, self)
