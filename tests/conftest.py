"""Shared fixtures. Tests run offscreen and never need a device, the network or ../shared."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.data import shared_dir as _shared_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED = _shared_dir()  # $NIGHTLAB_SHARED, else ../shared


def pytest_configure(config) -> None:
    """Native stacks at a fatal signal when NIGHTLAB_NATIVE_STACKS=1 (tests/native_stacks.py)."""
    from tests.native_stacks import pytest_configure as watch_if_asked

    watch_if_asked(config)


def pytest_sessionstart(session) -> None:
    """Compile the live path's numba kernels into numba's disk cache once, before any test.

    On a fresh checkout (CI) the cache is empty: every window, live session and app subprocess
    of the suite would start its own background compile (`engine.leakmask._warm`), each about
    a minute of CPU, several at once, some outliving the test that started them. One compile
    up front in a child process (so this process's kernels stay unloaded, as the tests
    expect) leaves the cache as a developer's second run finds it; with the cache already
    there it only loads it (about a second)."""
    code = "from engine.leakmask._warm import _cached, warm_kernels\n_cached() or warm_kernels()"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=False, timeout=1800)


@pytest.fixture
def shared_dir() -> Path:
    """``../shared`` (read-only data); the test is skipped when it is absent (fresh clone)."""
    if not SHARED.is_dir():
        pytest.skip("../shared not present")
    return SHARED


def shared_path(*parts: str) -> Path:
    """A path under ``../shared``, skipping the calling test when it does not exist."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not present")
    return p


@pytest.fixture(scope="session")
def shipped_model() -> Path:
    """The shipped default model. Tests that merely *use* it skip, with the reason, when it is
    missing; ``test_models.py::test_shipped_model_card_validates_and_hash_matches`` is the one
    test whose subject is the artefact itself, and it fails instead."""
    from engine.models import default_model_path

    path = default_model_path()
    if not path.is_file():
        pytest.skip(f"the shipped model {path} is missing (see test_shipped_model_card_...)")
    return path


@pytest.fixture(scope="module")
def compiled_kernels() -> None:
    """The leak mask's compiled kernels loaded in this process (until then the maps are
    served with OpenCV: `engine.leakmask.warm_kernels`)."""
    from engine.leakmask import warm_kernels

    warm_kernels()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


# -- the main window (pytest-qt) --------------------------------------------------------------
# Qt and the app are imported inside the fixtures: modules without PySide6 skip on their own
# (pytest.importorskip) and the non-GUI tests never load Qt.


@pytest.fixture
def no_leaked_windows(qapp):
    """Fails the test if it left a top-level window open (a dialog nobody closed). GUI modules
    opt in with ``pytestmark = pytest.mark.usefixtures("no_leaked_windows")``."""
    from PySide6.QtWidgets import QApplication

    before = set(QApplication.topLevelWidgets())
    yield
    QApplication.processEvents()
    leaked = [w for w in QApplication.topLevelWidgets() if w not in before and w.isVisible()]
    assert not leaked, f"top-level widgets left open: {leaked}"


@pytest.fixture
def store(tmp_path):
    """A real store in a temporary folder, closed after the test (and after its windows)."""
    from engine.store import Store

    with Store(tmp_path / "data") as s:
        yield s


@pytest.fixture
def data(tmp_path, monkeypatch):
    """An empty data folder (``tmp_path/data``) set as ``$NIGHTLAB_DATA_DIR``: where a command
    run without ``--data-dir`` records (a test file may define its own ``data``)."""
    d = tmp_path / "data"
    monkeypatch.setenv("NIGHTLAB_DATA_DIR", str(d))
    return d


@pytest.fixture
def read_only_store(tmp_path):
    """A session of two pairs in a store opened read-only (as on a partner's copy of the data):
    every write is refused."""
    from engine.store import Store

    data = tmp_path / "ro"
    with Store(data) as writer:
        s = writer.create_session("read-only judging", operator="ana")
        for i in range(2):
            writer.capture_pair(s.id, day=np.full((48, 64, 3), 40 * i, np.uint8),
                                night=np.full((48, 64), 30, np.uint8))  # fmt: skip
    with Store(data, read_only=True) as store:
        yield store


@pytest.fixture
def open_window(qtbot, store):
    """``open_window(camera=None, *, store=None, preview=None, resolution=(320, 240),
    fps=30.0)``: a shown ``MainWindow`` on ``camera`` (started here) or a simulated one, and on
    the ``store`` fixture or the ``store`` given (a fixture of the test requested *before*
    ``open_window``, so that it closes after the window). Every window opened is closed after
    the test and its camera and worker threads must end (one the test closed is closed again:
    a no-op)."""
    from engine.camera import SimulatedCamera
    from engine.live_preview import LivePreview
    from gui.main_window import MainWindow

    opened = []

    fixture_store = store

    def open_(camera=None, *, store=None, preview=None, resolution=(320, 240), fps=30.0):
        store = fixture_store if store is None else store
        if camera is None:
            camera = SimulatedCamera(resolution=resolution, fps=fps, seed=3)
        camera.start()
        win = MainWindow(camera, store=store, preview=preview or LivePreview(workers=1))
        qtbot.addWidget(win)
        win.show()
        opened.append(win)
        return win

    yield open_
    for win in opened:
        win.close()
        assert win.wait_closed(timeout=20)


@pytest.fixture
def window_at(qtbot, store):
    """``window_at(w, h, *, settings=None)``: a MainWindow on the ``store`` fixture first shown
    at w x h, as a screen that size opens it (the right column is laid out on the first show),
    reading and saving ``settings`` (a QSettings) if given; closed after the test (one the test
    closed, as at a restart, is closed again: a no-op)."""
    from PySide6.QtWidgets import QApplication

    from engine.camera import SimulatedCamera
    from engine.live_preview import LivePreview
    from gui.main_window import MainWindow

    opened = []

    def open_(width: int, height: int, *, settings=None) -> MainWindow:
        camera = SimulatedCamera(resolution=(160, 120), seed=3)
        camera.start()
        win = MainWindow(camera, store=store, preview=LivePreview(workers=1), settings=settings)
        qtbot.addWidget(win)
        opened.append(win)
        # (also after a saved geometry: the offscreen screen is smaller, it came back clamped)
        win.resize(width, height)
        win.show()
        qtbot.waitUntil(
            lambda: win.height() == height and win.width() == width, timeout=GUI_TIMEOUT
        )
        QApplication.processEvents()
        return win

    yield open_
    for win in opened:
        win.close()
        assert win.wait_closed(timeout=20)


GUI_TIMEOUT = 30_000  # ms; a shared machine: generous waits that end as soon as the thing happens


def night_with_reference(window, qtbot) -> None:
    """The window's day frame taken as the reference, then the camera in night mode."""
    cam = window.state.camera
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=GUI_TIMEOUT)
    assert window.capture_reference()
    cam.set_control("mode", "night")
    qtbot.waitUntil(
        lambda: (f := cam.latest_frame()) is not None and f.is_gray, timeout=GUI_TIMEOUT
    )


def night_session(window, qtbot, name: str, **details) -> None:
    """`night_with_reference`, and a new session ``name`` (``details``: operator, ...) open."""
    night_with_reference(window, qtbot)
    window.sessions.create(name, **details)
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=GUI_TIMEOUT)


@pytest.fixture
def window(open_window):
    """The main window on the simulated day camera at 320x240 and the ``store`` fixture."""
    return open_window()


def aligned_pairs(store, n: int, *, size=(160, 120)):
    """A session of ``n`` aligned pairs from the simulated camera (one day capture)."""
    import dataclasses

    from engine.camera import SimulatedCamera
    from engine.live import PairTracker

    cam = SimulatedCamera(resolution=size, seed=5)
    day = cam.render(0.0).image
    cam.set_control("mode", "night")
    tracker = PairTracker()
    tracker.set_reference(day, fixed_camera=True)
    s = store.create_session("night")
    day_id = store.add_capture(s.id, day, kind="day").id
    for i in range(n):
        night = cam.render(0.3 + i, sequence=9 + i).image
        result = tracker.process(night)
        assert result.ok, result.alignment.reason
        night_id = store.add_capture(s.id, night, kind="night").id
        store.add_pair(
            s.id,
            night_id=night_id,
            day_ids=[day_id],
            alignment=result.alignment,
            leak_params=dataclasses.asdict(tracker.leak_params),
        )
    return store.session(s.id)


@pytest.fixture
def qa_window(store, open_window, qtbot):
    """The window on a session of four recorded pairs (written before the window exists: it
    forbids store writes on the GUI thread)."""
    rng = np.random.default_rng(5)
    s = store.create_session("judge me", operator="ana")
    ok = {"ok": True, "method": "ecc", "motion": "homography", "score": 0.9, "reason": "",
          "matrix": np.eye(3).tolist()}  # fmt: skip
    for i in range(4):
        day = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
        night = rng.integers(0, 255, (48, 64), dtype=np.uint8)
        store.capture_pair(s.id, day=day, night=night, alignment=ok, ssim_mean=0.8 + i / 100,
                           leak_area_pct=1.0 + i)  # fmt: skip
    win = open_window(resolution=(160, 120), fps=15.0)
    win.state.session = store.session(s.id)
    win.tabs.setCurrentWidget(win.qa)
    qtbot.waitUntil(lambda: win.qa.table.rowCount() == 4, timeout=GUI_TIMEOUT)
    return win


def qa_oldest_first(qa_window, qtbot, *, row: int) -> list[int]:
    """The QA grid sorted oldest first (after any filter already set), ``row`` selected and
    the grid focused for verdict keys; returns the listed pair ids in order."""
    qa = qa_window.qa
    qa.sort.setCurrentText("Oldest")
    qtbot.waitUntil(lambda: qa._pairs and qa._pairs[0].id < qa._pairs[-1].id, timeout=GUI_TIMEOUT)
    qa.table.selectRow(row)
    qa.table.setFocus()
    return [p.id for p in qa._pairs]


def still_camera_frames(n: int, *, seed: int) -> tuple[np.ndarray, list[np.ndarray]]:
    """A day frame and ``n`` night frames (frames 1..n) of a simulated camera that neither
    drifts nor sees the scene change, at 160x120."""
    from engine.camera import SimulatedCamera

    cam = SimulatedCamera(resolution=(160, 120), seed=seed, drift_px=0.0, scene_changes=False)
    day = cam.render_frame(0).image
    cam.set_control("mode", "night")
    return day, [cam.render_frame(i).image for i in range(1, n + 1)]


def record_connection(camera) -> tuple[list[tuple[str, str]], list]:
    """Record ``camera``'s ``("disconnected" | "reconnected", message)`` events, and each frame
    it hands out with a copy of its pixels as they were then (to prove frames handed out are
    never reused or touched)."""
    events: list[tuple[str, str]] = []
    frames: list = []
    camera.events.disconnected.connect(lambda m: events.append(("disconnected", m)))
    camera.events.reconnected.connect(lambda m: events.append(("reconnected", m)))
    camera.events.frame_ready.connect(lambda f: frames.append((f, f.image.copy())))
    return events, frames


def _file_of(name: str, data: bytes):
    def make(folder: Path) -> Path:
        path = folder / name
        path.write_bytes(data)
        return path

    return make


#: ``make(folder) -> path`` of a file no image reader can take, and what the one-line error
#: says about it: ``@BAD_IMAGE_FILES`` on a test taking ``make`` and ``expect``
BAD_IMAGE_FILES = pytest.mark.parametrize(
    "make, expect",
    [
        (lambda folder: folder / "missing.png", "file not found"),
        (_file_of("empty.png", b""), "file is empty"),
        (_file_of("text.png", b"this is not an image"), "not an image"),
        (lambda folder: folder, "is a directory"),
    ],
    ids=["missing", "empty", "not-an-image", "directory"],
)


def cli_help(argv, capsys) -> str:
    """``nightlab ARGV --help``'s text (exit 0 checked), whitespace joined: argparse wraps lines."""
    import cli

    with pytest.raises(SystemExit) as ended:
        cli.main([*argv, "--help"])
    assert ended.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def gray_model(folder: Path) -> Path:
    """A second real model beside the shipped one: the passthrough ONNX model with gain 0
    (``engine.models.write_tiny_model``), whose colorized frames are gray (its own name and
    sha256, so its runs are another model's)."""
    from engine.models import write_tiny_model

    folder.mkdir(parents=True, exist_ok=True)
    return write_tiny_model(folder / "gray.onnx", gain=0.0)


def record_runs(store, session_id: int, model_path=None, pair_ids=None) -> list:
    """Runs of ``model_path`` (default: the shipped model) for the session's pairs that have
    none of it (or only ``pair_ids`` of them), as the app's "Process pairs without a run"
    records them; returns the runs made."""
    from engine.reprocess import DEFAULT_OPTIONS, RunSpec, missing_run_jobs, process_missing_runs

    spec = RunSpec.for_model(model_path, **DEFAULT_OPTIONS)
    jobs = missing_run_jobs(store, session_id, spec)
    if pair_ids is not None:
        jobs = [j for j in jobs if j.pair_id in set(pair_ids)]
    made = []
    store.events.run_added.connect(made.append)
    try:
        report, recorder = process_missing_runs(store, session_id, spec, jobs=jobs)
    finally:
        store.events.run_added.disconnect(made.append)
    assert report.failed == 0, recorder.failures
    return made
