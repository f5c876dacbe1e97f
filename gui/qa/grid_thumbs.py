"""What the QA grid's thumbnail cells show: the live model's render, or the chosen model's
stored runs, the same source as the result a verdict given now is on.

The comparison's A and B each take their images from the live model or a stored run's
model (`gui.qa.run_source`); a verdict is on B's run when B shows a run's image, else on A's
(`RunSources.verdict_run`). The grid follows that rule, by model, so an engineer judging
model X's runs pages through X's results, not the live model's: a pair with no run of X
shows a "no run" tile there (never another result in its place). Both live sides: the live
render, as before. The thumbnails are made on the job runner (`gui.pair_cache.PairCache`,
which holds both sources under separate keys in one bound); here they only become icons.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtGui import QColor, QFont, QIcon, QImage, QPainter, QPen, QPixmap

from engine.run_views import RUN_ROLES
from gui.pair_cache import THUMB_ROLES
from gui.qa.grid_layout import COMPACT_THUMB

if TYPE_CHECKING:
    from engine.store import Pair
    from gui.pair_cache import PairCache

__all__ = ["Cell", "GridThumbs", "Source", "thumbs_source"]

Source = tuple[str, str] | None
"""(model sha256, model name) of the stored runs shown, None for the live model's render."""
Cell = tuple[QIcon | None, str]
"""A thumbnail cell: its icon (None: none) and tooltip."""

CAPTIONS = {"colorized": "Colorized", "masked": "Masked colorized", "mask": "Leak mask"}
TILE_BACKGROUND = "#2b2f36"
TILE_HATCH = "#3d434d"
TILE_TEXT = "#c9cdd4"


def thumbs_source(roles: dict[str, str], wanted: dict[str, Source]) -> Source:
    """The model whose results the grid shows, by `RunSources.verdict_run`'s rule: B's chosen
    model when B shows a role a run decides (aligned, mask, colorized, masked), else A's;
    None (the live model) when B shows the live model's colorization (A's run beside it is
    the baseline, the verdict is on the live render), or neither side shows a stored model's
    run. B's live aligned reference or leak mask is no model's: A's run is judged then.

    Examples
    --------
    >>> thumbs_source({"a": "night", "b": "colorized"}, {"a": None, "b": ("3f2a", "tiny")})
    ('3f2a', 'tiny')
    >>> thumbs_source({"a": "colorized", "b": "night"}, {"a": ("51c0", "s"), "b": ("3f2a", "t")})
    ('51c0', 's')
    >>> thumbs_source({"a": "night", "b": "colorized"}, {"a": ("51c0", "s"), "b": None}) is None
    True
    >>> live_b = {"a": ("51c0", "s"), "b": None}
    >>> thumbs_source({"a": "colorized", "b": "colorized"}, live_b) is None
    True
    >>> thumbs_source({"a": "colorized", "b": "mask"}, live_b)
    ('51c0', 's')
    """
    for side in ("b", "a"):
        if roles[side] not in RUN_ROLES:
            continue
        if wanted[side] is not None:
            return wanted[side]
        if roles[side] in ("colorized", "masked"):
            return None  # the live model's colorization is what a verdict is on
    return None


def source_text(source: Source) -> str:
    """What the thumbnails are of, for a tooltip."""
    if source is None:
        return "the live model's render (the Model dock's model)"
    return f"the newest stored run of {source[1]} ({source[0][:8]}) of each pair"


class GridThumbs:
    """The listed pairs' thumbnail cells for one source at a time, made into icons once
    (5 pixmaps a row a refill made 1,000 for a page of 200)."""

    def __init__(self, cache: PairCache, size: QSize) -> None:
        self._cache, self._size = cache, size
        self._cells: dict[tuple, list[Cell]] = {}
        """(source's sha256 or None, `PairCache.key`) -> the row's cells."""
        self._tiles: dict[str, QIcon] = {}
        """model name -> its "no run" tile (a few models a night)."""

    def cells(self, pair: Pair, source: Source) -> list[Cell] | None:
        """The pair's thumbnail cells from ``source``, one a role of `THUMB_ROLES`; None while
        the cache holds none for it."""
        key = (None if source is None else source[0], self._cache.key(pair))
        cells = self._cells.get(key)
        if cells is not None:
            return cells
        if source is None:
            thumbs = self._cache.thumbs(pair)
            if not thumbs:
                return None
            cells = [(_icon(thumbs[r]) if r in thumbs else None,
                      f"{CAPTIONS[r]} · live model" if r in CAPTIONS and r in thumbs else "")
                     for r in THUMB_ROLES]  # fmt: skip
        else:
            held = self._cache.run_thumbs(pair, source[0])
            if held is None:
                return None
            run, thumbs = held
            cells = []
            for r in THUMB_ROLES:
                if r not in RUN_ROLES:
                    cells.append((_icon(thumbs[r]) if r in thumbs else None, ""))
                elif run is None:
                    cells.append((self._no_run_tile(source[1]),
                                  f"Pair #{pair.id} has no run of {source[1]} "
                                  f"({source[0][:8]})"))  # fmt: skip
                else:
                    cells.append((_icon(thumbs[r]) if r in thumbs else None,
                                  f"{CAPTIONS[r]} · run #{run.id} ({run.model_name})"))  # fmt: skip
        self._cells[key] = cells
        return cells

    def held(self, pair: Pair, source: Source) -> bool:
        """The cache holds the pair's thumbnails from ``source`` (none to ask for)."""
        if source is None:
            return bool(self._cache.thumbs(pair))
        return self._cache.run_thumbs(pair, source[0]) is not None

    def keep_only(self, pairs, source: Source) -> None:
        """Let go of every icon but those of ``pairs`` from ``source`` (the page shown)."""
        sha = None if source is None else source[0]
        listed = {self._cache.key(p) for p in pairs}
        self._cells = {k: v for k, v in self._cells.items() if k[0] == sha and k[1] in listed}

    def forget_live(self) -> None:
        """The live renders were made with another model: their icons go."""
        self._cells = {k: v for k, v in self._cells.items() if k[0] is not None}

    def forget_run(self, pair: Pair, model_sha256: str) -> None:
        """A run of the model was recorded for the pair: its icons go."""
        self._cells.pop((model_sha256, self._cache.key(pair)), None)

    def _no_run_tile(self, model: str) -> QIcon:
        """A hatched tile saying "no run" and the model, drawn at both row sizes (the compact
        rows' 40x30 says "no run" alone, legible; the tooltip names the model)."""
        tile = self._tiles.get(model)
        if tile is not None:
            return tile
        tile = QIcon()
        for size in (self._size, COMPACT_THUMB):
            tile.addPixmap(_tile(size, model if size.width() >= 64 else ""))
        self._tiles[model] = tile
        return tile


def _tile(size: QSize, model: str) -> QPixmap:
    w, h = size.width(), size.height()
    pix = QPixmap(w, h)
    pix.fill(QColor(TILE_BACKGROUND))
    p = QPainter(pix)
    try:
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(QPen(QColor(TILE_HATCH), max(1, h // 24)))
        step = max(6, h // 6)
        for x in range(-h, w, step):
            p.drawLine(x, h, x + h, 0)
        p.setPen(QColor(TILE_TEXT))
        font = QFont(p.font())
        font.setBold(True)
        font.setPixelSize(max(10, h // 5))
        p.setFont(font)
        centre = Qt.AlignmentFlag.AlignHCenter
        if not model:
            p.drawText(QRect(0, 0, w, h), centre | Qt.AlignmentFlag.AlignVCenter, "no run")
            return pix
        p.drawText(QRect(0, 0, w, h // 2 + 2), centre | Qt.AlignmentFlag.AlignBottom, "no run")
        font.setBold(False)
        font.setPixelSize(max(9, h // 6))
        p.setFont(font)
        name = p.fontMetrics().elidedText(f"of {model}", Qt.TextElideMode.ElideRight, w - 6)
        p.drawText(QRect(3, h // 2 + 4, w - 6, h // 2 - 4), centre | Qt.AlignmentFlag.AlignTop,
                   name)  # fmt: skip
    finally:
        p.end()
    return pix


def _icon(bgra) -> QIcon:
    """A thumbnail (BGRA, made on the job runner) as an icon: one small copy."""
    h, w = bgra.shape[:2]
    image = QImage(bgra.data, w, h, bgra.strides[0], QImage.Format.Format_RGB32)
    return QIcon(QPixmap.fromImage(image))
