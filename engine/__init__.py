"""NightLab engine: Qt-free image maths, colorization, cameras and benchmarks.

Everything here takes and returns numpy arrays (uint8 gray ``(H, W)`` or RGB ``(H, W, 3)``)
and small dataclasses; nothing imports Qt, so the GUI, the CLI and tests share one core.
"""

from engine._image import ImageError, has_colour, read_image, to_gray, write_image

__all__ = ["ImageError", "has_colour", "read_image", "to_gray", "write_image"]
