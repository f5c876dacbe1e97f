"""NightLab widgets. Each takes engine objects in its constructor and holds no image maths."""

from gui.widgets._controls import CameraControlsPanel
from gui.widgets._image_view import ImageView

__all__ = ["CameraControlsPanel", "ImageView"]
