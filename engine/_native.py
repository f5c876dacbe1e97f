"""Keep native libraries' chatter (libpng, OpenCV, FFmpeg) out of NightLab's one-line errors.

C libraries print straight to file descriptor 2, bypassing Python's ``sys.stderr``: a truncated
PNG makes libpng print ``libpng error: ...`` before our message, an unreachable RTSP stream makes
FFmpeg print ``[tcp @ 0x...] Connection ... failed``. :func:`captured_native_stderr` points fd 2 at
a temporary file for the duration of one native call and hands back what was written, so the
caller can fold the useful part into its own single line (or drop it).
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
from collections.abc import Iterator

__all__ = ["NativeOutput", "captured_native_stderr"]

_lock = threading.Lock()  # fd 2 is process-wide: one redirection at a time
_ADDRESS = re.compile(r"^\[[\w:. -]+ @ 0x[0-9a-f]+\]\s*")  # FFmpeg's "[tcp @ 0x5555...] "
# OpenCV's logger: "[ERROR:0@0.488] global grfmt_png.cpp:297 readHeader " (level:thread@time,
# then tag, source location and function when it has them): where, not what went wrong
_OPENCV_LOG = re.compile(
    r"^\[\s*(?:FATAL|ERROR|WARN|INFO|DEBUG|VERBOSE)[^\]]*\]\s*"
    r"(?:(?:[\w./-]+\s+)?[\w./\\-]+\.(?:cpp|cc|c|hpp|h):\d+\s+[\w:~<>]+\s+)?"
)


class NativeOutput:
    """What native code wrote to fd 2 inside :func:`captured_native_stderr`."""

    def __init__(self) -> None:
        self.text = ""

    @property
    def reason(self) -> str:
        """The last meaningful line, without library prefixes (``""`` if nothing was said)."""
        lines = [ln.strip() for ln in self.text.splitlines() if ln.strip()]
        if not lines:
            return ""
        line = _OPENCV_LOG.sub("", _ADDRESS.sub("", lines[-1]))
        for prefix in ("libpng error:", "libpng warning:"):
            if line.lower().startswith(prefix):
                line = line[len(prefix) :].strip()
        return line


@contextlib.contextmanager
def captured_native_stderr() -> Iterator[NativeOutput]:
    """Redirect fd 2 to a temporary file around a native call; yields a :class:`NativeOutput`.

    Python's own ``sys.stderr`` is flushed first, so nothing of ours is swallowed. Where fd 2
    cannot be redirected (no fd 2, Windows oddities), the block just runs.

    Examples
    --------
    >>> with captured_native_stderr() as native:  # doctest: +SKIP
    ...     img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    >>> native.reason  # doctest: +SKIP
    'PNG input buffer is incomplete'
    """
    out = NativeOutput()
    with _lock:
        try:
            sys.stderr.flush()
        except (AttributeError, OSError, ValueError):
            pass
        try:
            saved = os.dup(2)
        except OSError:
            yield out
            return
        with tempfile.TemporaryFile(mode="w+b") as tmp:
            os.dup2(tmp.fileno(), 2)
            try:
                yield out
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                tmp.seek(0)
                out.text = tmp.read(64 * 1024).decode("utf-8", "replace")
