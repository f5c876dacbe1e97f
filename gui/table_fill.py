"""Refilling a `QTableWidget` whose columns size to their contents, in time linear in its rows.

A header section in ``ResizeToContents`` mode measures its whole column again every time one
of its cells changes. Refilling a table of N rows that already has items replaces N cells
per column, so each refill measured N x N cells: 0.9 s for 60 rows and 18 s for 200 on the
2-core lab PC, on the GUI thread, at every pair a night's run recorded (the QA grid refills
on each). `bulk_fill` lets those sections hold their width while the cells change and
measures each column once afterwards.

`set_cell` refills a cell by changing the item already there instead of making a new one:
PySide6 (6.11) keeps one reference to ``None`` for good the first time Qt asks a
Python-made item for its data, so a grid that made new items at every refill added
about 12 references to ``None`` a row a refill (10,000 a minute in the capture soak) --
harmless, as ``None`` is never freed, but a drift in the one figure the soak watches
for the interpreter-abort bug, and a table's worth of allocations each time.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QIcon
from PySide6.QtWidgets import QHeaderView, QTableWidget, QTableWidgetItem

__all__ = ["bulk_fill", "set_cell", "set_icon"]

_AUTO = QHeaderView.ResizeMode.ResizeToContents


@contextmanager
def bulk_fill(table: QTableWidget) -> Iterator[QTableWidget]:
    """``with bulk_fill(table): ...`` set many cells; content-sized columns are measured once,
    at the end. Signals of the table are not blocked (selection keeps working).

    Examples
    --------
    >>> with bulk_fill(table):  # doctest: +SKIP
    ...     table.setRowCount(len(rows))
    ...     for r, row in enumerate(rows):
    ...         for c, text in enumerate(row):
    ...             table.setItem(r, c, QTableWidgetItem(text))
    """
    header = table.horizontalHeader()
    auto = [c for c in range(header.count()) if header.sectionResizeMode(c) == _AUTO]
    for c in auto:
        header.setSectionResizeMode(c, QHeaderView.ResizeMode.Interactive)
    try:
        yield table
    finally:
        for c in auto:  # back to content-sized: one measurement of each column
            header.setSectionResizeMode(c, _AUTO)


def set_cell(
    table: QTableWidget,
    row: int,
    column: int,
    text: str,
    *,
    foreground: QColor | Qt.GlobalColor | None = None,
    background: QColor | None = None,
    tooltip: str = "",
    alignment: Qt.AlignmentFlag | None = None,
    icon: QIcon | None = None,
) -> QTableWidgetItem:
    """Show ``text`` (and ``icon``, or none) in a cell, reusing the cell's item; returns it.

    Everything a refill sets is set again (colours, tooltip, alignment, icon), so a row that
    now shows another record keeps nothing of the one before; what is already as asked is
    left alone, so a refill of an unchanged page changes no cell.

    Examples
    --------
    >>> with bulk_fill(table):  # doctest: +SKIP
    ...     set_cell(table, 0, 1, "pass", foreground=Qt.GlobalColor.white, background=green)
    """
    item = table.item(row, column)
    fg = QBrush() if foreground is None else QBrush(foreground)
    bg = QBrush() if background is None else QBrush(background)
    if item is None:
        item = QTableWidgetItem(text)
        table.setItem(row, column, item)
    # each change tells the view, which lays the table out again: a refill of an unchanged
    # page changes nothing
    if item.text() != text:
        item.setText(text)
    set_icon(item, icon)
    if item.foreground() != fg:
        item.setForeground(fg)
    if item.background() != bg:
        item.setBackground(bg)
    if item.toolTip() != tooltip:
        item.setToolTip(tooltip)
    if alignment is not None and item.textAlignment() != alignment:
        item.setTextAlignment(alignment)
    return item


def set_icon(item: QTableWidgetItem, icon: QIcon | None) -> None:
    """Show ``icon`` in ``item`` (``None``: no icon), unless it shows that icon already.

    Icons are told apart by `QIcon.cacheKey`: copies of one icon share it (the item hands
    back a copy), so setting the same thumbnail again is seen as no change. Qt's item
    cannot tell (it compares the stored variants, and icons have no equality): without this
    check every refill told the view the cell changed.

    Examples
    --------
    >>> set_icon(table.item(0, 2), QIcon(pixmap))  # doctest: +SKIP
    """
    want = QIcon() if icon is None else icon
    if item.icon().cacheKey() != want.cacheKey():
        item.setIcon(want)
