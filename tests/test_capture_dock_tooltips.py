"""Every control of the Capture dock says what it does in its tooltip. Found as a new
operator: the burst size, Every, Captures ("until stopped"), "only between" and its two times
had none, so what "until stopped" does with a time window, or whether 21:00 and 05:00 means
the next morning, could only be learnt from the README (the dock's buttons all had one)."""

from __future__ import annotations

from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QComboBox,
    QLineEdit,
)


def _untipped(dock) -> list[str]:
    found = []
    for cls in (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit):
        for w in dock.widget().findChildren(cls):
            if isinstance(w.parentWidget(), (QAbstractSpinBox, QComboBox)):
                continue  # the line edit inside a spin box or combo: its owner's tooltip
            if not w.toolTip():
                text = w.text() if hasattr(w, "text") else w.currentText()
                found.append(f"{type(w).__name__} {text!r}")
    return found


def test_every_control_of_the_capture_dock_has_a_tooltip(window):
    assert _untipped(window.dock_capture) == []
    panel = window.night_panel
    assert "until the end of the time window" in panel.count.toolTip()
    assert "the next morning" in panel.window.toolTip()
