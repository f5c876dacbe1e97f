"""The QA panel's layout on a laptop screen: how tall the grid's rows are (compact or large
thumbnails), how the panel is split between the grid and the comparison (the operator drags
the split; the window remembers it), and the selected pair kept in view when the grid's
height changes.

At 1366x768 the grid of large thumbnails (78 px rows) showed 2.3 rows above the comparison:
compact rows (34 px, thumbnails 40x30) and a first split sized for `DEFAULT_ROWS` rows show
six.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QSize, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QAbstractItemView, QSplitter, QTableWidget, QWidget

__all__ = ["COMPACT_THUMB", "DEFAULT_ROWS", "GridLayout", "fit_restored"]

COMPACT_THUMB = QSize(40, 30)
"""Compact rows' thumbnails: the mask's leak blobs still show; a row is as tall as its text."""
ROW_PADDING = 4
DEFAULT_ROWS = 6
"""Full rows the grid shows at first (before the operator moves the split)..."""
GRID_SHARE = 0.5
"""...unless that takes more than this share of the panel's height from the comparison."""


class GridLayout(QObject):
    """The grid's row size, the grid / comparison split and the selected row kept in view.

    ``split``'s first widget is ``grid_pane`` (holding ``table``); ``thumb_columns`` are the
    table's thumbnail columns, as wide as the thumbnails. The split is sized when the panel is
    first shown (`size_split`), to `grid_height` if the window restored one."""

    def __init__(
        self,
        table: QTableWidget,
        split: QSplitter,
        grid_pane: QWidget,
        thumb_columns: range,
        large: QSize,
    ) -> None:
        super().__init__(table)
        self._table, self._split, self._grid_pane = table, split, grid_pane
        self._columns, self._large = thumb_columns, large
        self._wanted_height: int | None = None
        """The grid's height the window restored, applied at the first show..."""
        self._wanted_total: int | None = None
        """...chosen in a split this tall (None: not known)."""
        self._fitted: int | None = None
        """The grid's height `fit_restored` gave where it is not the one restored."""
        self._chosen_in: int | None = None
        """The split's height when the grid's height was last chosen (dragged, restored,
        first sized): a quit in focus mode, or in a window resized since, remembers the
        height it was chosen in, not the one it happens to be in."""
        self._sized = False
        self._settling = False
        # the grid keeps the rows the operator gave it; the comparison takes what the window
        # gains or loses, and can never be dragged away (nor can the grid)
        split.setChildrenCollapsible(False)
        split.setStretchFactor(0, 0)
        split.setStretchFactor(1, 1)
        split.splitterMoved.connect(self._dragged)
        split.handle(1).setToolTip(
            "Drag: more pairs or a larger comparison (kept for the next start)"
        )
        self.act_compact = QAction("Compact rows", self)
        self.act_compact.setCheckable(True)
        self.act_compact.setChecked(True)
        self.act_compact.setToolTip(
            f"Compact rows ({COMPACT_THUMB.width()}x{COMPACT_THUMB.height()} thumbnails) show "
            f"more pairs; unchecked, {large.width()}x{large.height()} thumbnails"
        )
        self.act_compact.toggled.connect(self._set_rows)
        self._set_rows(True)
        # the viewport's height changes when the split moves, the window is resized, a dock
        # comes or goes, the rows change: the selected pair stays in view through all of them
        table.viewport().installEventFilter(self)

    # -- rows ------------------------------------------------------------------------------
    @property
    def compact(self) -> bool:
        return self.act_compact.isChecked()

    def row_height(self) -> int:
        return self._table.iconSize().height() + ROW_PADDING

    def _set_rows(self, compact: bool) -> None:
        size = COMPACT_THUMB if compact else self._large
        table = self._table
        table.setIconSize(size)
        table.verticalHeader().setDefaultSectionSize(size.height() + ROW_PADDING)
        header = table.horizontalHeader()
        for c in self._columns:  # as wide as the thumbnail, or as the column's name
            table.setColumnWidth(c, max(size.width() + 8, header.sectionSizeHint(c)))
        self._settle_soon()

    # -- the split -------------------------------------------------------------------------
    def grid_height(self) -> int | None:
        """The grid pane's height to remember (None before the panel was ever shown and
        nothing was restored: nothing the operator chose). A restored split only fitted to
        this window (`size_split`) and not dragged since is remembered as it was restored: a
        laptop start does not lose the split dragged on the big screen."""
        return self._remembered()[0]

    def split_height(self) -> int | None:
        """The grid and comparison's height together that `grid_height` was chosen in."""
        return self._remembered()[1]

    def _remembered(self) -> tuple[int | None, int | None]:
        if not self._sized:
            return self._wanted_height, self._wanted_total
        sizes = self._split.sizes()
        if self._fitted is not None and sizes[0] == self._fitted:
            return self._wanted_height, self._wanted_total
        return sizes[0], self._chosen_in or sum(sizes)

    def _dragged(self, _pos: int, _index: int) -> None:
        self._fitted = None
        self._chosen_in = sum(self._split.sizes())

    def restore(
        self, grid_height: int | None, compact: bool | None, split_height: int | None = None
    ) -> None:
        """What the window remembered: the grid's height, in a split ``split_height`` tall
        (None: not known, as settings written before it was kept) applied when the panel is
        first shown, or now if it is; and the row size."""
        if compact is not None:
            self.act_compact.setChecked(compact)
        if grid_height is not None and grid_height > 0:
            self._wanted_height = grid_height
            self._wanted_total = split_height if split_height and split_height > 0 else None
            if self._sized:
                self._apply_restored()

    def size_split(self) -> None:
        """At the panel's first show: the remembered split (`fit_restored`), or room for
        `DEFAULT_ROWS` full rows, up to `GRID_SHARE` of the panel."""
        if self._sized:
            return
        self._sized = True
        if self._wanted_height is not None:
            self._apply_restored()
            return
        self._apply(self._default_grid())
        self._chosen_in = sum(self._split.sizes())

    def _default_grid(self) -> int:
        total = sum(self._split.sizes())
        # what the grid pane holds besides its rows: the filter bar, the header, the frame
        chrome = self._grid_pane.height() - self._table.viewport().height()
        rows = DEFAULT_ROWS * self.row_height()
        return min(chrome + rows, int(total * GRID_SHARE))

    def _apply_restored(self) -> None:
        grid = fit_restored(
            self._wanted_height, self._wanted_total, sum(self._split.sizes()), self._default_grid()
        )
        self._apply(grid)
        total = sum(self._split.sizes())
        exact = grid == self._wanted_height and self._wanted_total == total
        self._fitted = None if exact else self._split.sizes()[0]
        self._chosen_in = total

    def _apply(self, grid: int) -> None:
        total = sum(self._split.sizes())
        self._split.setSizes([grid, max(1, total - grid)])

    # -- the selected row ------------------------------------------------------------------
    def keep_current_in_view(self) -> None:
        index = self._table.currentIndex()
        if index.isValid():
            self._table.scrollTo(index, QAbstractItemView.ScrollHint.EnsureVisible)

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt API
        # after the view has handled the resize: until then its scroll bar has the old range,
        # and a row below the old end could not be scrolled to (once a burst of resizes)
        if event.type() == QEvent.Type.Resize:
            self._settle_soon()
        return False

    def _settle_soon(self) -> None:
        """`keep_current_in_view` once the view has laid out its rows again."""
        if not self._settling:
            self._settling = True
            QTimer.singleShot(0, self, self._settle)

    def _settle(self) -> None:
        self._settling = False
        self.keep_current_in_view()


def fit_restored(grid: int, chosen_in: int | None, total: int, default_grid: int) -> int:
    """The grid's height in a split ``total`` tall, for a grid the operator left ``grid``
    tall in a split ``chosen_in`` tall (None: not known), where a fresh start gives the grid
    ``default_grid``.

    The same split height: the operator's split, exactly. Another (a big screen's split on
    a laptop, or the other way): the grid keeps its height, as when the window is resized,
    but the comparison is kept at least as tall as a fresh start's there or as the
    operator's own comparison, whichever is less. Before, the pixels came back whatever
    they left: a grid dragged tall on a 1920x1080 screen left a 1366x768 laptop's
    comparison views 487x180 (a fresh start: 487x241).

    Examples
    --------
    >>> fit_restored(300, 570, 570, 253)  # the same screen: as dragged
    300
    >>> fit_restored(552, 882, 570, 253)  # a big screen's tall grid on a laptop
    253
    >>> fit_restored(300, 570, 882, 253)  # a laptop's split on a big screen: as dragged
    300
    """
    if chosen_in == total:
        return grid
    floor = total - default_grid  # the comparison's least height: a fresh start's...
    if chosen_in is not None:  # (None: settings from before the split's height was kept)
        floor = min(floor, chosen_in - grid)  # ...or the operator's own, if less
    return max(1, min(grid, total - floor))
