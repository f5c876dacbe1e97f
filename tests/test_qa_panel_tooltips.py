"""Every control of the QA panel's filter and comparison bars says what it does, and its
empty state reads whole at a laptop's 1366 px. Found as a new operator: the verdict filter,
"any SSIM", the sort, "Side by side" and the A / B view choosers had no tooltip, and with no
session open the count read "open a session to review its pair" (cut)."""

from __future__ import annotations

from PySide6.QtWidgets import QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit


def _untipped(panel) -> list[str]:
    found = []
    for cls in (QAbstractButton, QAbstractSpinBox, QComboBox, QLineEdit):
        for w in panel.findChildren(cls):
            owner = w.parentWidget()
            if owner is not None and owner.toolTip():
                continue  # part of a control that says it (a spin box's edit, a slider's label)
            if panel.table.isAncestorOf(w):
                continue  # the grid's own scroll buttons (the grid has the keys' tooltip)
            if w.isVisibleTo(panel) and not w.toolTip():
                text = w.text() if hasattr(w, "text") else w.currentText()
                found.append(f"{type(w).__name__} {text!r}")
    return found


def test_every_control_of_the_qa_bars_has_a_tooltip(window, qtbot):
    window.resize(1366, 768)
    window.tabs.setCurrentWidget(window.qa)
    qa = window.qa
    for w in (qa.verdict, qa.min_ssim, qa.max_leak, qa.sort, qa.tag, qa.mode, qa.role_a,
              qa.role_b, qa.source_a, qa.source_b, qa.prev_page, qa.next_page):  # fmt: skip
        assert w.toolTip(), w
    assert _untipped(qa) == []


def test_the_empty_qa_count_reads_whole_at_1366(window, qtbot):
    window.resize(1366, 768)
    window.state.session = None
    window.tabs.setCurrentWidget(window.qa)
    qa = window.qa
    qtbot.waitUntil(lambda: qa.count.text() != "", timeout=10_000)
    qtbot.wait(50)
    text = qa.count.text()
    assert qa.count.fontMetrics().horizontalAdvance(text) <= qa.count.width(), (
        text,
        qa.count.width(),
    )
    assert "Sessions dock" in qa.count.toolTip()  # where to go, whole, on hover
