"""About NightLab: versions of the app, Qt, depthai, onnxruntime and the model in use."""

from __future__ import annotations

from importlib import metadata

import PySide6
from PySide6.QtCore import Qt, qVersion
from PySide6.QtWidgets import QDialog, QDialogButtonBox, QLabel, QVBoxLayout, QWidget

__all__ = ["AboutDialog", "versions"]


def _dist_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def versions(model_path: str = "") -> dict[str, str]:
    """Component -> version, read from package metadata (nothing heavy is imported)."""
    out = {
        "NightLab": _dist_version("nightlab"),
        "Qt": f"{qVersion()} (PySide6 {PySide6.__version__})",
        "depthai": _dist_version("depthai"),
        "onnxruntime": _dist_version("onnxruntime"),
    }
    try:
        from engine.models import card_path_for, default_model_path, load_card

        path = str(model_path or default_model_path())
        card = load_card(path if path.endswith(".json") else card_path_for(path))
        out["model"] = f"{card.name} {card.version} ({card.format}, {card.sha256[:12]}…)"
    except Exception as exc:  # a broken model must not break the About box
        why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        out["model"] = f"unavailable ({why})"
    return out


class AboutDialog(QDialog):
    def __init__(self, parent: QWidget | None = None, *, model_path: str = "") -> None:
        super().__init__(parent)
        self.setWindowTitle("About NightLab")
        self.info = versions(model_path)
        rows = "".join(
            f"<tr><td style='color:#8a909a;padding-right:14px'>{k}</td><td>{v}</td></tr>"
            for k, v in self.info.items()
        )
        text = QLabel(
            "<h3>NightLab</h3><p>Night-time reference colorization lab: capture day/night "
            "pairs, align them, colorize live, judge and hand over sessions.</p>"
            f"<table>{rows}</table>"
        )
        text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addWidget(text)
        lay.addWidget(buttons)
        self.setMinimumWidth(460)
        self.adjustSize()
