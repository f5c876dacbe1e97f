"""NightLab engine: Qt-free image maths, colorization, cameras and benchmarks.

Everything here takes and returns numpy arrays (uint8 gray ``(H, W)`` or RGB ``(H, W, 3)``)
and small dataclasses; nothing imports Qt, so the GUI, the CLI and tests share one core.
"""

import os

# depthai installs a crash handler (stack printing) for fatal signals when it is imported. It
# symbolizes with malloc inside the handler, so an abort for a corrupted heap (seen once, in a
# native library freeing a session) deadlocked there instead of ending: a hung process, for an
# unattended night or a CI run, where a crash at least ends and says so. Set before depthai is
# imported anywhere below; a user who wants its stack printing sets the variable to 1.
os.environ.setdefault("DEPTHAI_INSTALL_SIGNAL_HANDLER", "0")

from engine._image import ImageError, has_colour, read_image, to_gray, write_image

__all__ = ["ImageError", "has_colour", "read_image", "to_gray", "write_image"]
