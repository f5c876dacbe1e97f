"""Keep Qt's notes that tell an operator nothing off stderr, on the offscreen platform only.

``nightlab --smoke`` on a machine without a display (and every offscreen test) printed
"This plugin does not support propagateSizeHints()" before its one summary line: the
offscreen platform has no window manager to pass size hints to, and says so once per window.
Every other message goes on as Qt would print it (its own pattern, ``QT_MESSAGE_PATTERN``).
"""

from __future__ import annotations

import sys

from PySide6.QtCore import qFormatLogMessage, qInstallMessageHandler
from PySide6.QtGui import QGuiApplication

__all__ = ["OFFSCREEN_NOTES", "quiet_offscreen_notes"]

OFFSCREEN_NOTES = frozenset({"This plugin does not support propagateSizeHints()"})


def quiet_offscreen_notes() -> bool:
    """On the offscreen platform, drop `OFFSCREEN_NOTES`; returns whether it was installed.

    Call after the application object exists (the platform is known then).
    """
    if QGuiApplication.platformName() != "offscreen":
        return False
    previous = []

    def handler(kind, context, message: str) -> None:
        if message in OFFSCREEN_NOTES:
            return
        if previous and previous[0] is not None:
            previous[0](kind, context, message)
        else:  # Qt's default handler: its format, on stderr (a fatal one still aborts after)
            sys.stderr.write(qFormatLogMessage(kind, context, message) + "\n")
            sys.stderr.flush()

    previous.append(qInstallMessageHandler(handler))
    return True
