"""Start the NightLab desktop app: ``python main.py`` or ``nightlab``."""

from __future__ import annotations

import gc
import os
import sys


def run_app(
    *,
    camera: str = "sim",
    smoke: float | None = None,
    screenshot: str | None = None,
    stats: str | None = None,
    resolution: str | None = None,
) -> int:
    """Create the camera, the window and the event loop; returns the exit status.

    ``smoke`` runs for that many seconds, walks the operator's main flows (`gui.smoke`) and
    quits, saving the window to ``screenshot`` and the live figures to ``stats`` (JSON);
    the status is non-zero if a step failed.
    """
    problem = _display_problem(smoke=smoke is not None)
    if problem:
        print(f"nightlab: error: {problem}", file=sys.stderr)
        return 2

    from engine.camera import CameraError, open_camera

    # the camera first: a wrong spec or a missing device is reported before any window opens
    cam = None
    options = {}
    if resolution:
        try:
            w, h = (int(v) for v in resolution.lower().split("x"))
        except ValueError:
            print(f"nightlab: error: --resolution must look like 1280x720, got {resolution!r}",
                  file=sys.stderr)  # fmt: skip
            return 2
        if not camera.startswith("sim"):
            print("nightlab: error: --resolution applies to the simulated camera only",
                  file=sys.stderr)  # fmt: skip
            return 2
        options["resolution"] = (w, h)
    if smoke is not None and camera.strip().lower().startswith("replay:"):
        # a smoke run measures a live view for its whole length: a recording shorter than the
        # run ended after its last frame, and every step after it failed on a stopped camera
        options["loop"] = True
    try:
        cam = open_camera(camera, **options)
        cam.start()
    except (CameraError, ValueError) as exc:
        if cam is not None:
            cam.close()
        print(f"nightlab: error: cannot open camera {camera!r}: {exc}", file=sys.stderr)
        return 2

    import tempfile

    from engine.knobs import env_number, usable_cores
    from engine.store import Store, StoreError

    # a smoke run records into a scratch folder, never into the operator's sessions
    scratch = None
    data_dir = None
    if smoke is not None and not os.environ.get("NIGHTLAB_DATA_DIR"):
        scratch = tempfile.TemporaryDirectory(prefix="nightlab-smoke-")
        data_dir = scratch.name
    try:
        store = Store(data_dir)
    except (StoreError, OSError, ValueError) as exc:
        cam.close()
        print(f"nightlab: error: cannot open the data folder: {exc}", file=sys.stderr)
        return 2

    from PySide6.QtCore import QSettings, QTimer
    from PySide6.QtWidgets import QApplication

    from gui.main_window import MainWindow

    # The GUI thread shares the GIL with the camera and live workers; a thread that wants it
    # waits up to the switch interval each time (5 ms by default). Painting re-enters Python
    # many times per frame, so a shorter interval keeps the window responsive.
    switch_ms = env_number("NIGHTLAB_SWITCH_MS", 1.0, kind=float, minimum=0.01, maximum=100.0)
    sys.setswitchinterval(switch_ms / 1000.0)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    from gui._qt_messages import quiet_offscreen_notes

    quiet_offscreen_notes()  # a headless --smoke ends with its summary line, not Qt's notes
    from gui._app_signals import quit_on_signals  # SIGINT/SIGTERM: close cleanly, one line

    quit_on_signals(app)
    app.setApplicationName("NightLab")
    app.setOrganizationName("NightLab")
    # a smoke run neither reads nor writes the operator's remembered layout
    settings = None if smoke is not None else QSettings()
    from engine.live_preview import LivePreview

    # NIGHTLAB_LIVE_WORKERS: live processing threads. One by default: on the shared 2-core
    # machine a second worker cost the GUI thread more than it gained (README, The app);
    # 2 lets frames overlap on a quiet machine. At most one a core (and 2 anywhere): the view
    # keeps only the newest frame and each worker is CPU-bound, so more only contend; without
    # a cap a typo (64, 1000000) started that many threads, or failed once the OS had none.
    workers = env_number("NIGHTLAB_LIVE_WORKERS", 1, minimum=1, maximum=max(2, usable_cores()))
    # NIGHTLAB_COLORIZE_THREADS: ONNX Runtime threads of the live model (default: 2 cores
    # shared among the live workers); NIGHTLAB_CV_THREADS: OpenCV's worker threads (default:
    # OpenCV's own, one per core). Knobs for measuring on other machines (README, The app).
    # (a bad value warns once on stderr and the default is used: see engine.knobs). At most
    # one a core: compute threads beyond the cores only contend (64 ONNX Runtime threads on
    # 2 cores spun against each other and the GUI).
    cores = usable_cores()
    colorize_threads = env_number(
        "NIGHTLAB_COLORIZE_THREADS", None, minimum=1, maximum=cores, clamp=False
    )
    cv_threads = env_number("NIGHTLAB_CV_THREADS", None, minimum=1, maximum=cores, clamp=False)
    # NIGHTLAB_LIVE_REALIGN_S: how long the live view reuses a fixed camera's registration
    # (default 0.25 s; 0 = register every frame). A knob for measuring, like the two above.
    realign_s = env_number("NIGHTLAB_LIVE_REALIGN_S", 0.25, kind=float, minimum=0.0)
    if cv_threads is not None:
        import cv2

        cv2.setNumThreads(cv_threads)
    _load_before_window()
    win = MainWindow(
        cam,
        store=store,
        preview=LivePreview(
            workers=workers, colorize_threads=colorize_threads, realign_s=realign_s
        ),
        camera_spec=camera,
        settings=settings,
    )
    # Quit when the window closes, synchronously (exit(0), not a posted quit): a signal
    # handler that closes the window and then asks for exit(128 + signum) keeps its status.
    app.setQuitOnLastWindowClosed(False)
    win.closed.connect(lambda: app.exit(0))
    win.show()
    from gui._soak_probe import install_if_requested  # benchmarks/soak.py; off by default

    install_if_requested(win)
    run = None
    if smoke is not None:
        from gui.smoke import SmokeRun

        run = SmokeRun(win, smoke, screenshot=screenshot, stats=stats)
        run.start()
    else:
        QTimer.singleShot(0, win.raise_)
    # Everything built so far (Qt wrappers, pyqtgraph, numpy and ONNX Runtime modules: ~120k
    # objects) lives as long as the app. Frozen out of the cyclic collector's reach, a full
    # collection on the GUI thread costs ~3 ms instead of 60+ ms (measured in --smoke at
    # 1280x720), which was a GUI stall over the 50 ms target on its own.
    gc.collect()
    gc.freeze()
    status = app.exec()
    # The window has gone from the screen: now waiting for the camera and workers freezes
    # nothing. Then tear the window down while the QApplication still exists.
    win.wait_closed(timeout=30.0)
    if run is not None:
        status = status or run.finish()
    win.deleteLater()
    app.processEvents()
    del win
    store.close()
    if settings is not None:
        settings.sync()  # written now: the program ends without finalization (cli.main)
    if scratch is not None:
        scratch.cleanup()
    return status


def _load_before_window() -> None:
    """Do now, before the window shows, the start-up work that holds the GIL in one long
    native call: on a worker beside a live window each of these froze the GUI thread for
    all of it.

    - ``onnx`` (the model's card is checked against its graph when the model loads)
      imports ``ml_dtypes``, whose extension's initialisation held the GIL for 0.25-1.1 s
      (1.1 s at load 11 on the 2-core machine): the 247 ms stall of a short smoke run;
    - ONNX Runtime's extension initialises in one ~40 ms call;
    - the export's manifest validator compiles in one call (25-100 ms).

    With them the modules that the model's first load and a pair's first render import
    (the card's JSON-schema check, the model tools, the pipeline): imported on a background
    thread at nice +5, they held the import lock that the live worker then waited for.
    ``--stats`` lists what still loads after the window opened (``modules_loaded_late``).
    """
    import jsonschema  # noqa: F401
    import onnx  # noqa: F401
    import onnxruntime  # noqa: F401

    import engine.burst  # noqa: F401
    import engine.models  # noqa: F401
    import engine.pipeline  # noqa: F401
    from engine.exchange import prepare_validator

    prepare_validator()


def _display_problem(*, smoke: bool) -> str:
    """Why Qt could not open a window here ("" if it can), instead of Qt's abort.

    A smoke run (CI, screenshots) needs no screen: without one it renders offscreen.
    """
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if (platform and platform != "xcb") or not sys.platform.startswith("linux"):
        return ""
    display = os.environ.get("DISPLAY", "")
    if os.environ.get("WAYLAND_DISPLAY") and platform != "xcb":
        return ""
    if display:
        # Qt's xcb plugin aborts the process when a library is missing or nobody answers
        from gui.x11_check import qt_platform_dir, x11_problem

        problem = x11_problem(display, platform_dir=qt_platform_dir())
        if problem and smoke and not platform:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"  # a smoke run needs no screen
            print(f"nightlab: {problem}; running offscreen", file=sys.stderr)
            return ""
        if problem:
            return f"{problem}; or try it headless with --smoke 5 --screenshot shot.png"
        return ""
    if smoke:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        return ""
    return (
        "no display (DISPLAY and WAYLAND_DISPLAY are unset): run NightLab on a desktop, "
        "under Xvfb (xvfb-run nightlab), or try it headless with --smoke 5 --screenshot shot.png"
    )
