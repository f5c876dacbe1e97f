"""The two-pane layout the Live and QA panels share: columns of controls and a view, in a
splitter that fills the panel."""

from __future__ import annotations

from collections.abc import Sequence

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLayout, QSplitter, QVBoxLayout, QWidget

__all__ = ["fill_with_split", "pane"]


def pane(*parts: QWidget | QLayout, stretch: QWidget | None = None) -> QWidget:
    """A widget holding ``parts`` top to bottom, edge to edge; ``stretch`` takes the spare
    height.

    Examples
    --------
    >>> left = pane(filter_bar, table, stretch=table)  # doctest: +SKIP
    """
    widget = QWidget()
    lay = QVBoxLayout(widget)
    lay.setContentsMargins(0, 0, 0, 0)
    for part in parts:
        if isinstance(part, QLayout):
            lay.addLayout(part)
        else:
            lay.addWidget(part, 1 if part is stretch else 0)
    return widget


def fill_with_split(
    widget: QWidget, orientation: Qt.Orientation, panes: Sequence[QWidget], sizes: Sequence[int]
) -> QSplitter:
    """Lay ``widget`` out as ``panes`` in a splitter (initial ``sizes`` in pixels), 4 px in
    from its edges; returns the splitter.

    Examples
    --------
    >>> fill_with_split(self, Qt.Orientation.Vertical, (left, right), (330, 470))  # doctest: +SKIP
    """
    split = QSplitter(orientation)
    for p in panes:
        split.addWidget(p)
    split.setSizes(list(sizes))
    lay = QVBoxLayout(widget)
    lay.setContentsMargins(4, 4, 4, 4)
    lay.addWidget(split)
    return split
