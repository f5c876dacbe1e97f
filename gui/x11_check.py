"""Can Qt open a window on this X11 display? Answered before Qt tries, in one line.

Qt's X11 platform plugin aborts the whole process (SIGABRT, a core dump and four lines about
"xcb" that do not name the missing package) when a system library it needs is absent -- a
minimal Linux or a fresh Xvfb install -- or when ``$DISPLAY`` names no running server. Both are
checked here first with ``ctypes`` so that ``nightlab`` can say which libraries to install, or
which display did not answer, and exit 2 instead.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Callable
from pathlib import Path

# The system libraries Qt's xcb plugin (libqxcb.so, libQt6XcbQpa.so.6 and libQt6Gui.so.6: their
# ELF NEEDED entries, PySide6 6.11) links against, with the Debian/Ubuntu package of each. The
# first nine are the README's list: the ones a minimal system or a bare Xvfb install lacks.
XCB_LIBRARIES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libEGL.so.1": "libegl1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libGL.so.1": "libgl1",
    "libfontconfig.so.1": "libfontconfig1",
    "libxcb.so.1": "libxcb1",
}


def _load(name: str) -> None:
    ctypes.CDLL(name)


def missing_xcb_libraries(*, load: Callable[[str], object] = _load) -> list[str]:
    """The sonames of `XCB_LIBRARIES` that cannot be loaded here (empty: all present).

    Examples
    --------
    >>> missing_xcb_libraries(load=lambda name: None)
    []
    """
    missing = []
    for soname in XCB_LIBRARIES:
        try:
            load(soname)
        except OSError:
            missing.append(soname)
    return missing


def display_answers(display: str) -> bool:
    """True if an X server answers on ``display`` (False also when libxcb itself is absent)."""
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return False
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        # xcb_connect never returns NULL: a failed connection is an error object to free too
        return conn is not None and xcb.xcb_connection_has_error(conn) == 0
    finally:
        if conn is not None:
            xcb.xcb_disconnect(conn)


def x11_problem(
    display: str, *, load: Callable[[str], object] = _load, platform_dir: Path | None = None
) -> str:
    """Why Qt's xcb plugin would abort on ``display`` ("" when it should start).

    ``platform_dir``: Qt's ``plugins/platforms`` folder; its ``libqxcb.so`` must exist for the
    check to apply (a Qt without the xcb plugin is left to report for itself).
    """
    if platform_dir is not None and not (platform_dir / "libqxcb.so").is_file():
        return ""
    missing = missing_xcb_libraries(load=load)
    if missing:
        packages = " ".join(XCB_LIBRARIES[m] for m in missing)
        return (
            f"Qt cannot open a window on X11 display {display}: missing system "
            f"librar{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} "
            f"(Debian/Ubuntu: sudo apt-get install {packages})"
        )
    if not display_answers(display):
        return f"no X server answers on DISPLAY={display} (start one, e.g. xvfb-run nightlab)"
    return ""


def qt_platform_dir() -> Path | None:
    """PySide6's ``plugins/platforms`` folder, or None if PySide6 is not where we expect."""
    try:
        import PySide6
    except ImportError:
        return None
    path = Path(os.path.dirname(PySide6.__file__)) / "Qt" / "plugins" / "platforms"
    return path if path.is_dir() else None
