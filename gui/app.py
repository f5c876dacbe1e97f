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
    from gui._app_signals import quit_on_signals  # SIGINT/SIGTERM: close cleanly, one line

    quit_on_signals(app)
    app.setApplicationName("NightLab")
    app.setOrganizationName("NightLab")
    win = MainWindow(cam)
    win.show()
    from gui._soak_probe import install_if_requested  # benchmarks/soak.py; off by default

    install_if_requested(win)
    failed: list[str] = []
    if smoke is not None:
        _script_smoke_run(win, smoke, screenshot, failed)
        QTimer.singleShot(int(smoke * 1000), win.close)
    status = app.exec()
    # Tear the window down while the QApplication still exists: left to interpreter
    # shutdown, Qt objects die in arbitrary order and the process can abort.
    win.deleteLater()
    app.processEvents()
    del win
    for msg in failed:
        print(f"nightlab: error: {msg}", file=sys.stderr)
    return status or (2 if failed else 0)


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


def _save_screenshot(win, path: str, failed: list[str]) -> None:
    """Encode the window to bytes, then write them atomically (never a half PNG)."""
    from PySide6.QtCore import QBuffer, QByteArray, QIODevice

    from engine.atomic import write_bytes_atomic

    data = QByteArray()
    buf = QBuffer(data)
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    fmt = os.path.splitext(path)[1].lstrip(".").upper() or "PNG"
    if not win.grab().save(buf, "JPG" if fmt == "JPEG" else fmt):
        failed.append(f"{path}: cannot encode the screenshot as {fmt}")
        return
    buf.close()
    try:
        write_bytes_atomic(path, data.data())
    except OSError as exc:
        failed.append(f"{path}: cannot save the screenshot ({exc.strerror or exc})")


def _script_smoke_run(win, seconds: float, screenshot: str | None, failed: list[str]) -> None:
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
        QTimer.singleShot(
            max(0, int(seconds * 1000) - 200), lambda: _save_screenshot(win, screenshot, failed)
        )
