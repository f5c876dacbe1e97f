"""The colorization model: the shipped default or a loaded ONNX / blob / NN archive, its card
shown, and where it runs (host with ONNX Runtime, or on an OAK camera's MyriadX)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from gui.bridge import follow

if TYPE_CHECKING:
    from engine.app_state import AppState
    from gui.jobs import JobRunner

__all__ = ["ModelPanel", "card_html", "card_text", "card_tooltip"]


# the card's free text fields, in the order shown
_TEXT_FIELDS = ("description", "license", "trained_on")
_CLIP = 600  # characters of one field shown (the shipped card fits); the tooltip has the rest


def _clipped(text: str, limit: int = _CLIP) -> str:
    """``text`` cut at the last word break before ``limit`` characters, with an ellipsis: a
    field cut mid-word ("…via the VIS-NIR-regis") reads as a broken card."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0] if " " in text[:limit] else text[:limit]
    return cut.rstrip(" ,;:") + " …"


def card_text(card) -> str:
    """The card's free text fields whole, as plain text (the panel's tooltip)."""
    raw = card.raw or {}
    return "\n\n".join(
        f"{key.replace('_', ' ').capitalize()}: {raw[key]}" for key in _TEXT_FIELDS if raw.get(key)
    )


def card_tooltip(card) -> str:
    """`card_text` as the tooltip's markup, escaped: Qt takes a tooltip whose first line has a
    tag as rich text, and a loaded model's card is someone else's file (its "<b>", "<img>" or
    "<a href>" were rendered, not shown)."""
    text = card_text(card)
    if not text:
        return ""
    return f"<p style='white-space:pre-wrap'>{html.escape(text, quote=False)}</p>"


def card_html(card) -> str:
    """A model card as a short table for the panel (and the About dialog); a loaded model's
    card is the user's file, so every field is escaped, never taken as markup."""
    raw = card.raw or {}
    rows = [
        ("Model", f"{card.name} {card.version}"),
        ("Format", card.format),
        ("Input", f"{card.input_size[0]}×{card.input_size[1]}"),
        ("File", card.file),
        ("sha256", card.sha256[:16] + "…"),
    ]
    for key in _TEXT_FIELDS:
        if raw.get(key):
            rows.append((key.replace("_", " ").capitalize(), _clipped(str(raw[key]))))
    metrics = raw.get("metrics")
    if isinstance(metrics, dict):
        for k, v in list(metrics.items())[:4]:
            rows.append((k, f"{v:.3g}" if isinstance(v, float) else str(v)))
    body = "".join(
        f"<tr><td style='color:#8a909a;padding-right:8px'>{html.escape(str(k))}</td>"
        f"<td>{html.escape(str(v))}</td></tr>"
        for k, v in rows
    )
    return f"<table>{body}</table>"


class ModelPanel(QWidget):
    message = Signal(str)

    def __init__(self, state: AppState, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._state, self._jobs = state, jobs
        self._shown: tuple | None = None
        """The stamp (`engine.models.model_files_stamp`) of the model files whose card is
        shown: loading the same path again is a model change only if the files changed."""
        self.name = QLabel()
        self.card = QLabel("Reading the model card…")
        self.card.setWordWrap(True)
        self.btn_load = QPushButton("Load model…")
        self.btn_load.setToolTip("An ONNX model, a MyriadX .blob or an NN archive, with its card")
        self.btn_default = QPushButton("Default")
        self.btn_default.setToolTip("The shipped model")
        self.btn_load.clicked.connect(self._load_dialog)
        self.btn_default.clicked.connect(lambda: setattr(self._state, "model_path", ""))
        self.host = QRadioButton("Host (ONNX Runtime)")
        self.host.setToolTip("Colorize on this computer with ONNX Runtime")
        self.camera = QRadioButton("On camera (OAK MyriadX)")
        group = QButtonGroup(self)
        group.addButton(self.host)
        group.addButton(self.camera)
        self.host.toggled.connect(lambda on: on and self._set_target("host"))
        self.camera.toggled.connect(lambda on: on and self._set_target("camera"))
        row = QHBoxLayout()
        row.addWidget(self.btn_load)
        row.addWidget(self.btn_default)
        row.addStretch(1)
        where = QHBoxLayout()
        where.addWidget(self.host)
        where.addWidget(self.camera)
        where.addStretch(1)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addLayout(row)
        lay.addWidget(self.card)
        lay.addLayout(where)
        lay.addStretch(1)
        follow(state.events.model_path, self._show_model, self)
        follow(state.events.camera, lambda _: self._show_target(), self)
        follow(state.events.colorize_on, lambda _: self._show_target(), self)
        self._show_model(state.model_path)
        self._show_target()

    def _show_target(self) -> None:
        cam = self._state.camera
        oak = cam is not None and cam.info.backend == "oak"
        self.camera.setEnabled(oak)
        self.camera.setToolTip(
            "Runs the model's .blob on the camera" if oak else "Needs an OAK camera (Camera dock)"
        )
        on_cam = self._state.colorize_on == "camera" and oak
        self.host.blockSignals(True)
        self.camera.blockSignals(True)
        self.host.setChecked(not on_cam)
        self.camera.setChecked(on_cam)
        self.host.blockSignals(False)
        self.camera.blockSignals(False)

    def _set_target(self, where: str) -> None:
        self._state.colorize_on = where

    def _show_model(self, path: str) -> None:
        self.card.setText("Reading the model card…")
        self.card.setToolTip("")

        def work():
            from engine.models import default_model_path, model_files_stamp, verify_model

            where = path or default_model_path()
            stamp = model_files_stamp(where)  # before reading: a change meanwhile is seen later
            try:
                return verify_model(where).card
            finally:
                self._shown = stamp

        def done(card) -> None:
            self.card.setText(card_html(card))
            self.card.setToolTip(card_tooltip(card))

        def failed(msg: str) -> None:
            self.card.setText(f"<span style='color:#f85149'>{html.escape(msg)}</span>")
            self.card.setToolTip("")

        self._jobs.submit(work, done=done, failed=failed, label="model card")

    def _load_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Load a model", "", "Models (*.onnx *.blob *.tar.xz *.tar *.card.json)"
        )
        if path:
            self.load(path)

    def load(self, path: str) -> None:
        """Use the model at ``path``. The same path again is a model change when its files
        changed since they were read (retrained and written over): the card, the runs' key
        and the live colorizer follow the new content. Before, the same path set no event."""
        self.message.emit(f"Model: {path}")
        if path != self._state.model_path:
            self._state.model_path = path
            return

        def work() -> bool:
            from engine.models import model_files_stamp

            return model_files_stamp(path) != self._shown

        def done(changed: bool) -> None:
            if changed and path == self._state.model_path:
                self._state.events.model_path.emit(path)

        self._jobs.submit(work, done=done, label="model files")
