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
# depthai (3.x) also starts a telemetry uploader at import: two native threads that queue every
# node created and every pipeline started or stopped (with its schema) as JSON files in
# ~/.cache/depthai/telemetry and send them with curl every 30 s, concurrently with whatever the
# process is doing. A lab tool running unattended nights sends nothing anywhere and wants no
# native work it did not ask for (the heap corruption seen twice came right after a host
# pipeline, within such a window; not shown to be the cause). DEPTHAI_TELEMETRY=1 turns it back on.
os.environ.setdefault("DEPTHAI_TELEMETRY", "0")

from engine._image import ImageError, has_colour, read_image, to_gray, write_image

__all__ = ["ImageError", "has_colour", "read_image", "to_gray", "write_image"]
