"""A zoomable, pannable image canvas (a pyqtgraph ViewBox) that paints numpy frames
without copies.

Frames are painted as ``QImage.Format_RGB32`` views of a BGRA buffer (`engine.overlay.
as_display`): the live workers compose results in that layout, and a scaled draw of it costs
a tenth of an RGB888 one. The item wraps the numpy buffer (no copy) and keeps it alive
while it is shown. Mouse wheel zooms, drag pans, double-click (or ``reset_view``) fits the
image again. Canvases can be linked so they zoom and pan together.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QGraphicsObject, QLabel, QSizePolicy

from engine.overlay import as_display

pg.setConfigOptions(imageAxisOrder="row-major", antialias=False)

__all__ = ["ImageCanvas"]


class _FrameItem(QGraphicsObject):
    """Paints one BGRA frame in image pixel coordinates; reports its first paint."""

    def __init__(self) -> None:
        super().__init__()
        self._buf: np.ndarray | None = None
        self._qimage: QImage | None = None
        self._rect = QRectF()
        self.stamp: float | None = None
        self.on_painted: Callable[[float], None] | None = None

    def set_frame(self, bgra: np.ndarray | None) -> None:
        if bgra is None:
            self._buf = self._qimage = None
            self.update()
            return
        h, w = bgra.shape[:2]
        if self._rect.width() != w or self._rect.height() != h:
            self.prepareGeometryChange()
            self._rect = QRectF(0, 0, w, h)
        self._buf = bgra  # the QImage below only points at these bytes
        self._qimage = QImage(bgra.data, w, h, bgra.strides[0], QImage.Format.Format_RGB32)
        self.update()

    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return self._rect

    def paint(self, p, *args) -> None:
        if self._qimage is None:
            return
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, True)
        p.drawImage(self._rect, self._qimage)
        if self.stamp is not None:
            stamp, self.stamp = self.stamp, None
            if self.on_painted is not None:
                self.on_painted(stamp)


class ImageCanvas(pg.GraphicsView):
    """Shows the last image given to `set_image`, a placeholder when there is none.

    Parameters
    ----------
    placeholder : str
        Text shown until the first image.
    """

    def __init__(self, placeholder: str = "No image", parent=None) -> None:
        super().__init__(parent, background=(24, 26, 30))
        self.view = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.view.setDefaultPadding(0.0)
        self.setCentralItem(self.view)
        self.item = _FrameItem()
        self.view.addItem(self.item)
        self._shape: tuple[int, ...] | None = None
        self._part_of: ImageCanvas | None = None
        """`show_part_of` asked before this canvas had the image: applied when it comes."""
        self._image: np.ndarray | None = None
        self._caption = QLabel(self)
        self._caption.setStyleSheet(
            "QLabel { background: rgba(0,0,0,160); color: #ebebeb; padding: 3px 6px;"
            " border-radius: 3px; }"
        )
        self._caption.move(8, 8)
        self._caption.hide()
        # both say names as they were typed (a model's, from its card; a pair's reason), never
        # as markup
        self._caption.setTextFormat(Qt.TextFormat.PlainText)
        self._placeholder = QLabel(placeholder, self)
        self._placeholder.setTextFormat(Qt.TextFormat.PlainText)
        self._placeholder.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._placeholder.setWordWrap(True)
        self._placeholder.setStyleSheet("QLabel { color: #9a9fa8; background: transparent; }")
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)

    # -- images ----------------------------------------------------------------------------
    def set_image(
        self, image: np.ndarray | None, caption: str = "", *, frame_time: float | None = None
    ) -> None:
        """Show ``image`` (uint8 gray or RGB; kept by reference, not copied).

        ``frame_time`` (``time.time()`` of capture) is handed to ``on_painted`` when the
        image is first painted.
        """
        self._image = image
        if image is None:
            self._part_of = None
            self.item.set_frame(None)
            self._shape = None
            self._placeholder.show()
            self._caption.hide()
            return
        first = self._shape != image.shape
        self.item.set_frame(as_display(image))  # no copy when the worker composed BGRA
        self.item.stamp = frame_time
        self._shape = image.shape
        if first:
            self.reset_view()
            carried, self._part_of = self._part_of, None
            if carried is not None:  # the zoom carried over before the image came
                self.show_part_of(carried)
        self._placeholder.hide()
        self.set_caption(caption)

    def set_caption(self, caption: str) -> None:
        if caption:
            self._caption.setText(caption)
            self._caption.adjustSize()
            self._caption.show()
        else:
            self._caption.hide()

    def set_placeholder(self, text: str) -> None:
        self._placeholder.setText(text)

    def placeholder(self) -> str:
        """The text shown while there is no image."""
        return self._placeholder.text()

    def caption(self) -> str:
        """The caption over the image ("" when none shows)."""
        return "" if self._caption.isHidden() else self._caption.text()

    def has_image(self) -> bool:
        return self._image is not None

    def image(self) -> np.ndarray | None:
        return self._image

    def set_paint_callback(self, fn: Callable[[float], None] | None) -> None:
        """``fn(frame_time)`` is called on the GUI thread when a stamped image is painted."""
        self.item.on_painted = fn

    # -- zoom / pan ------------------------------------------------------------------------
    def reset_view(self) -> None:
        """Fit the whole image (also: double-click)."""
        if self._shape is not None:
            h, w = self._shape[:2]
            self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)

    def show_part_of(self, other: ImageCanvas) -> None:
        """Show the image as ``other`` does, at this canvas's own size: fitted if ``other``
        shows it fitted, else zoomed as much beyond a fit, about the same point. (A pyqtgraph
        link keeps views pixel for pixel: a larger view linked to a smaller one kept the
        smaller one's scale, the image not filling it.)"""
        if other._shape is None:
            return
        if self._shape is None or self._shape[:2] != other._shape[:2]:
            # its image is on its way (composed on a worker): shown so when it comes
            self._part_of = other
            return
        self._part_of = None
        h, w = other._shape[:2]
        shown, mine = other.view.viewRect(), self.view.viewRect()

        def fitted_height(rect: QRectF) -> float:  # the range's height with the image fitted
            return max(h, w * rect.height() / rect.width())

        zoom = fitted_height(shown) / shown.height()
        if zoom <= 1.0 + 1e-6 or mine.isEmpty():
            self.view.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)
            return
        height = fitted_height(mine) / zoom
        width = height * mine.width() / mine.height()
        centre = shown.center()
        self.view.setRange(
            QRectF(centre.x() - width / 2, centre.y() - height / 2, width, height), padding=0.0
        )

    def zoom(self, factor: float) -> None:
        """Zoom about the centre (> 1 zooms in)."""
        self.view.scaleBy((1.0 / factor, 1.0 / factor))

    def link(self, other: ImageCanvas) -> None:
        """Zoom and pan together with ``other``."""
        self.view.setXLink(other.view)
        self.view.setYLink(other.view)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 - Qt API
        self.reset_view()
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().resizeEvent(event)
        if hasattr(self, "_placeholder"):  # pyqtgraph resizes during its own __init__
            self._placeholder.setGeometry(self.rect().adjusted(20, 20, -20, -20))
