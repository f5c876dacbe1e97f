"""An aspect-preserving image view with a caption, fed numpy arrays on the GUI thread."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from gui._qimage import to_qimage


class ImageView(QWidget):
    """Shows the last image given to `set_image`; a placeholder text when there is none."""

    def __init__(self, placeholder: str = "No image", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._image: QImage | None = None
        self._placeholder = placeholder
        self._caption = ""
        self.setMinimumSize(240, 180)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def set_image(self, image: np.ndarray | None, caption: str = "") -> None:
        self._image = None if image is None else to_qimage(image)
        self._caption = caption
        self.update()

    def set_placeholder(self, text: str) -> None:
        self._placeholder = text
        if self._image is None:
            self.update()

    def has_image(self) -> bool:
        return self._image is not None

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(640, 480)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt API
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(24, 26, 30))
        if self._image is None:
            p.setPen(QColor(150, 155, 165))
            p.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, self._placeholder)
            return
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        target = QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)
        p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        p.drawImage(target, self._image)
        if self._caption:
            f = QFont(self.font())
            f.setPointSizeF(max(8.0, f.pointSizeF() * 0.95))
            p.setFont(f)
            box = p.fontMetrics().boundingRect(self._caption).adjusted(-6, -3, 6, 3)
            box.moveTopLeft(target.topLeft().toPoint() + self.rect().topLeft() * 0)
            box.translate(8, 8)
            p.fillRect(box, QColor(0, 0, 0, 160))
            p.setPen(QColor(235, 235, 235))
            p.drawText(box, Qt.AlignmentFlag.AlignCenter, self._caption)
