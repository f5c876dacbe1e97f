"""numpy <-> QImage at the GUI edge (no image maths here: just a view of the bytes)."""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QImage


def to_qimage(image: np.ndarray) -> QImage:
    """Wrap a uint8 RGB ``(H, W, 3)`` or gray ``(H, W)`` array as a QImage (deep copy)."""
    img = np.ascontiguousarray(image)
    h, w = img.shape[:2]
    if img.ndim == 2:
        q = QImage(img.data, w, h, img.strides[0], QImage.Format.Format_Grayscale8)
    elif img.ndim == 3 and img.shape[2] == 3:
        q = QImage(img.data, w, h, img.strides[0], QImage.Format.Format_RGB888)
    else:
        raise ValueError(f"cannot display an image of shape {img.shape}")
    return q.copy()  # own the pixels: the numpy buffer may be reused by the producer
