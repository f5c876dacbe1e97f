"""Start the NightLab desktop app: ``python main.py`` or ``nightlab``."""

from __future__ import annotations

import os
import sys


def run_app(
    *, camera: str = "sim", smoke: float | None = None, screenshot: str | None = None
) -> int:
    """Create the camera, the window and the event loop; returns the exit status.

    ``smoke`` runs for that many seconds, then quits (with ``screenshot``, saving the window
    first). With the simulated camera the smoke run also walks the operator's flow: capture a
    day reference, switch to night, colorize live.
    """
    problem = _display_problem(smoke=smoke is not None)
    if problem:
        print(f"nightlab: error: {problem}", file=sys.stderr)
        return 2

    from engine.camera import CameraError, open_camera

    # the camera first: a wrong spec or a missing device is reported before any window opens
    cam = None
    try:
        cam = open_camera(camera)
        cam.start()
    except (CameraError, ValueError) as exc:
        if cam is not None:
            cam.close()
        print(f"nightlab: error: cannot open camera {camera!r}: {exc}", file=sys.stderr)
        return 2

    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("NightLab")
    app.setOrganizationName("NightLab")
    win = MainWindow(cam)
    win.show()
    from gui._soak_probe import install_if_requested  # benchmarks/soak.py; off by default

    install_if_requested(win)
    if smoke is not None:
        _script_smoke_run(win, smoke, screenshot)
        QTimer.singleShot(int(smoke * 1000), win.close)
    status = app.exec()
    # Tear the window down while the QApplication still exists: left to interpreter
    # shutdown, Qt objects die in arbitrary order and the process can abort.
    win.deleteLater()
    app.processEvents()
    del win
    return status


def _display_problem(*, smoke: bool) -> str:
    """Why Qt could not open a window here ("" if it can), instead of Qt's abort.

    A smoke run (CI, screenshots) needs no screen: without one it renders offscreen.
    """
    if os.environ.get("QT_QPA_PLATFORM") or not sys.platform.startswith("linux"):
        return ""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return ""
    if smoke:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return ""
    return (
        "no display (DISPLAY and WAYLAND_DISPLAY are unset): run NightLab on a desktop, "
        "under Xvfb (xvfb-run nightlab), or try it headless with --smoke 5 --screenshot shot.png"
    )


def _script_smoke_run(win, seconds: float, screenshot: str | None) -> None:
    from PySide6.QtCore import QTimer

    caps = win.camera.capabilities()
    has_mode = "mode" in caps and caps["mode"].supported

    def capture_then_night() -> None:
        if has_mode:
            win.camera.set_control("mode", "day")
        QTimer.singleShot(400, reference_then_live)

    def reference_then_live() -> None:
        if win.capture_reference():
            if has_mode:
                win.camera.set_control("mode", "night")
            win.set_live(True)

    QTimer.singleShot(300, capture_then_night)
    if screenshot:
        QTimer.singleShot(max(0, int(seconds * 1000) - 200), lambda: win.grab().save(screenshot))
