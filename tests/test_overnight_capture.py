"""An unattended night of recording stays flat: what `benchmarks/soak.py --capture-every`
found growing with every pair, each bounded here on a real store (SQLite and PNG files).

- The QA grid and the Sessions table refill at every pair recorded; their content-sized
  columns measured the whole column again for every cell set (N x N per refill: 18 s of
  frozen GUI for a page of 200 pairs). Counted here through the style, which measures every
  cell Qt sizes: a refill measures each cell about once.
- The pair cache kept 96 full renders with the grid's thumbnails inside them (~7 MiB a pair
  at 640x480), and past 96 pairs each refill re-rendered the ones pushed out: a job backlog
  that grew with every pair. Now a few full renders, and thumbnails for more than a page.
- Each thread that read the store kept a SQLite connection (2 file descriptors) after it
  ended; every "Capture pair" runs on a thread of its own.
- Every run the Capture dock started followed its runner's and recorder's events and never
  let go (13 closures and connections a run); `gui.bridge.follow`'s disconnect also left
  its ``destroyed`` connection behind.
"""

from __future__ import annotations

import os
import sys
import threading

import numpy as np
import pytest

from tests.conftest import GUI_TIMEOUT, aligned_pairs, night_session

LINUX = sys.platform.startswith("linux")


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _counting_style():
    """A style that counts the item sizes Qt asks it for (every cell a view measures)."""
    from PySide6.QtWidgets import QProxyStyle, QStyle

    class Counting(QProxyStyle):
        calls = 0

        def sizeFromContents(self, kind, option, size, widget=None):  # noqa: N802 - Qt API
            if kind == QStyle.ContentsType.CT_ItemViewItem:
                Counting.calls += 1
            return super().sizeFromContents(kind, option, size, widget)

    return Counting()


def _measurements_of_a_refill(qtbot, panel, jobs, rows: int, size: tuple[int, int]) -> int:
    """Show ``panel`` (its ``table`` listing ``rows``), refill it as a recorded pair does,
    and count the cell measurements that took."""
    qtbot.addWidget(panel)
    panel.resize(*size)
    panel.show()
    qtbot.waitUntil(lambda: panel.table.rowCount() == rows, timeout=GUI_TIMEOUT)
    style = _counting_style()
    panel.table.setStyle(style)
    panel.refresh()
    qtbot.waitUntil(lambda: not jobs.active, timeout=GUI_TIMEOUT)
    qtbot.wait(50)  # the deferred column sizing
    return type(style).calls


def test_refilling_the_qa_grid_measures_each_cell_once_not_once_per_cell_set(qtbot, store):
    from engine.app_state import AppState
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache
    from gui.qa.panel import QAPanel

    s = store.create_session("grid")
    n = 30
    for i in range(n):  # unaligned pairs: the grid lists them without rendering anything
        store.capture_pair(s.id, day=np.full((48, 64, 3), i, np.uint8),
                           night=np.full((48, 64), 30, np.uint8))  # fmt: skip
    state = AppState()
    state.session = store.session(s.id)
    jobs = JobRunner()
    try:
        qa = QAPanel(state, store, jobs, PairCache(store, jobs, lambda: None))
        calls = _measurements_of_a_refill(qtbot, qa, jobs, n, (1400, 800))
        # before: each of the 330 cells set measured its whole column again (~50,000)
        assert 0 < calls <= 2 * n * qa.table.columnCount(), calls
    finally:
        jobs.shutdown()
        jobs.wait()


def test_refilling_the_sessions_table_measures_each_cell_once(qtbot, store):
    from engine.app_state import AppState
    from gui.jobs import JobRunner
    from gui.sessions.panel import SessionsPanel

    n = 30  # a lab's sessions over months
    for i in range(n):
        store.create_session(f"roof {i}", operator="ana")
    jobs = JobRunner()
    try:
        panel = SessionsPanel(AppState(), store, jobs)
        calls = _measurements_of_a_refill(qtbot, panel, jobs, n, (900, 900))
        # _fit_columns measures its columns once more on purpose: a few passes, not N
        assert 0 < calls <= 4 * n * panel.table.columnCount(), calls
    finally:
        jobs.shutdown()
        jobs.wait()


def test_the_qa_page_is_not_rendered_again_as_the_record_grows_and_renders_stay_bounded(
    qtbot, store, monkeypatch
):
    """More pairs than the cache keeps full renders of: the page's refills (one per pair
    recorded) reuse the thumbnails; the full renders stay at the cache's size."""
    import engine.pair_views as pv
    import gui.qa.grid_thumbs as thumbs_module
    from engine.app_state import AppState
    from engine.colorize import ReferenceTransferColorizer
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache
    from gui.qa.panel import PAGE, QAPanel

    n = 10
    session = aligned_pairs(store, n)
    renders, pixmaps = [], []
    real = pv.render_pair
    monkeypatch.setattr(pv, "render_pair", lambda *a, **k: renders.append(1) or real(*a, **k))
    real_icon = thumbs_module._icon  # a thumbnail's pixmap and icon
    monkeypatch.setattr(thumbs_module, "_icon", lambda b: pixmaps.append(1) or real_icon(b))
    state = AppState()
    state.session = session
    jobs = JobRunner()
    colorizer = ReferenceTransferColorizer()
    try:
        cache = PairCache(store, jobs, lambda: colorizer, size=3, thumbs_kept=PAGE + 56)
        qa = QAPanel(state, store, jobs, cache)
        qtbot.addWidget(qa)
        qa.show()
        qtbot.waitUntil(lambda: cache.thumbs_held == n and not jobs.active, timeout=60_000)
        assert len(renders) == n  # each pair rendered once for its thumbnails
        qa.refresh()
        qtbot.waitUntil(lambda: not jobs.active, timeout=GUI_TIMEOUT)
        # at most the selected pair's full views once more (its render was pushed out)
        assert len(renders) <= n + 1
        first, made = len(renders), len(pixmaps)
        assert made == 5 * n  # a thumbnail a role a pair
        for _ in range(3):  # three more pairs recorded: three refills of the page
            qa.refresh()
            qtbot.waitUntil(lambda: not jobs.active, timeout=GUI_TIMEOUT)
        assert len(renders) == first  # before: the 7 pushed out were rendered again each time
        assert len(pixmaps) == made  # before: 5 pixmaps a row at every refill
        assert len(cache) <= 3 and cache.thumbs_held == n
        assert all(not qa.table.item(r, 2).icon().isNull() for r in range(n))
    finally:
        jobs.shutdown()
        jobs.wait()


def test_a_hidden_qa_grid_is_listed_when_shown_not_at_every_pair_recorded(qtbot, store):
    from PySide6.QtWidgets import QLabel, QTabWidget

    from engine.app_state import AppState
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache
    from gui.qa.panel import QAPanel

    s = store.create_session("night")
    state = AppState()
    state.session = store.session(s.id)
    jobs = JobRunner()
    listings = []
    real = store.pair_page
    try:
        qa = QAPanel(state, store, jobs, PairCache(store, jobs, lambda: None))
        tabs = QTabWidget()
        qtbot.addWidget(tabs)
        tabs.addTab(QLabel("live view"), "Live")
        tabs.addTab(qa, "QA review")
        tabs.show()
        qtbot.waitUntil(lambda: not jobs.active, timeout=GUI_TIMEOUT)
        store.pair_page = lambda *a, **k: listings.append(1) or real(*a, **k)
        for i in range(5):  # the run records while the operator watches the live view
            store.capture_pair(s.id, day=np.full((48, 64, 3), i, np.uint8),
                               night=np.full((48, 64), 30, np.uint8))  # fmt: skip
        qtbot.wait(200)  # the queued store events have been delivered
        qtbot.waitUntil(lambda: not jobs.active, timeout=GUI_TIMEOUT)
        assert listings == [] and qa.table.rowCount() == 0  # before: 5 listings and refills
        tabs.setCurrentWidget(qa)
        qtbot.waitUntil(lambda: qa.table.rowCount() == 5, timeout=GUI_TIMEOUT)
        assert len(listings) == 1
        store.capture_pair(s.id, day=np.zeros((48, 64, 3), np.uint8),
                           night=np.zeros((48, 64), np.uint8))  # fmt: skip
        qtbot.waitUntil(lambda: qa.table.rowCount() == 6, timeout=GUI_TIMEOUT)  # shown: at once
    finally:
        del store.pair_page
        jobs.shutdown()
        jobs.wait()


def test_the_pair_cache_keeps_at_most_its_sizes_over_a_night_of_pairs(qtbot, store):
    from engine.colorize import ReferenceTransferColorizer
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache

    # (the QA grid's pages keep their thumbnails: `test_qa_paging`, paging back)
    session = aligned_pairs(store, 9, size=(96, 72))
    pairs = store.pairs(session_id=session.id)
    jobs = JobRunner()
    colorizer = ReferenceTransferColorizer()
    try:
        cache = PairCache(store, jobs, lambda: colorizer, size=2, thumbs_kept=4)
        got = []
        for p in pairs:
            cache.request(p, got.append)
        qtbot.waitUntil(lambda: len(got) == len(pairs), timeout=60_000)
        assert len(cache) == 2 and cache.thumbs_held == 4
        assert cache.get(pairs[-1]) is not None and cache.get(pairs[0]) is None
        assert cache.thumbs(pairs[-1]) and not cache.thumbs(pairs[0])
        cache.clear()  # as a new start (the QA benchmark's cold cache at each repeat)
        assert len(cache) == 0 and cache.thumbs_held == 0 and not cache.thumbs(pairs[-1])
        cache.request(pairs[-1], got.append)  # rendered anew, not answered from memory
        assert len(got) == len(pairs) and cache.get(pairs[-1]) is None
        qtbot.waitUntil(lambda: len(got) == len(pairs) + 1, timeout=60_000)
        assert cache.get(pairs[-1]) is not None and cache.thumbs_held == 1
    finally:
        jobs.shutdown()
        jobs.wait()


def test_a_capture_soaks_default_warm_up_lasts_until_the_windows_qa_thumbnails_are_full(
    open_window,
):
    # The soak judged memory from minute 15 while the QA thumbnails were still filling (to
    # minute ~26 with 256 kept, ~45 with 450): "not flat" by a fill that levels off. Its
    # default warm-up now covers what the real window keeps, at the pace the soak captures.
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "soak.py"
    spec = importlib.util.spec_from_file_location("soak_warmup", path)
    soak = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = soak  # its dataclasses look their module up
    try:
        spec.loader.exec_module(soak)
        win = open_window(resolution=(160, 120))
        kept = win.pair_cache.thumbs_kept
        for every in (3.0, 6.0, 30.0):  # seconds between pairs
            minutes, why = soak.default_warmup_min(every)
            assert minutes * 60.0 / every >= kept, why
            assert minutes * 60.0 / every <= kept + 60.0 / every * 3  # not much longer
        assert soak.default_warmup_min(None)[0] == 2.0  # live view only: nothing fills
    finally:
        sys.modules.pop(spec.name, None)


@pytest.mark.skipif(not LINUX, reason="counts /proc/self/fd")
def test_threads_that_read_the_store_and_end_leave_no_connection_open(store):
    s = store.create_session("readers")
    store.capture_pair(
        s.id, day=np.zeros((48, 64, 3), np.uint8), night=np.zeros((48, 64), np.uint8)
    )

    def read_once():
        assert store.count_pairs(session_id=s.id) == 1

    def in_a_thread():
        t = threading.Thread(target=read_once)
        t.start()
        t.join()

    for _ in range(3):  # warm-up: this thread's own reader, modules, SQLite's shared memory
        in_a_thread()
    read_once()
    before = _fds()
    for _ in range(40):  # 40 "Capture pair" jobs, each on a thread of its own
        in_a_thread()
    # before: two descriptors (the database, its WAL) for every thread that had ended
    assert _fds() <= before + 2, (before, _fds())
    with store._readers_lock:
        assert len(store._readers) <= 3


def test_following_and_unfollowing_leaves_no_connection_on_the_owner(qtbot):
    from psygnal import Signal
    from PySide6.QtCore import SIGNAL, QObject

    from gui.bridge import follow, follow_latest

    class Source:
        changed = Signal(int)

    owner = QObject()
    follow(Source().changed, lambda v: None, owner)()  # PySide's own first connection
    base = owner.receivers(SIGNAL("destroyed(QObject*)"))
    for _ in range(50):  # a run's events, a camera's: followed, then let go
        src = Source()
        follow(src.changed, lambda v: None, owner)()
        follow_latest(src.changed, lambda v: None, owner)()
        assert len(src.changed) == 0
    assert owner.receivers(SIGNAL("destroyed(QObject*)")) == base


@pytest.mark.skipif(not LINUX, reason="counts /proc/self/fd and native threads")
def test_capture_pair_again_and_again_leaves_fds_threads_and_connections_unchanged(
    window, qtbot, store
):
    """The operator's "Capture pair", N times: each a run on a thread of its own, recorded
    into the real store. The process's descriptors and threads and the panel's connections
    are where they were after the first ones."""
    from PySide6.QtCore import SIGNAL

    night_session(window, qtbot, "single pairs")
    panel = window.night_panel
    sid = window.state.session.id

    def capture(k: int) -> None:
        panel.capture_pair()
        qtbot.waitUntil(
            lambda: store.count_pairs(session_id=sid) == k and panel.runner is None,
            timeout=GUI_TIMEOUT,
        )
        qtbot.waitUntil(lambda: not window.jobs.active, timeout=GUI_TIMEOUT)

    def threads() -> int:
        with open("/proc/self/status", encoding="ascii") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("Threads:"))

    panel.burst.setValue(1)
    for k in (1, 2):  # warm-up: the PNG pool, the render of the first pairs, imports
        capture(k)
    fds, n_threads = _fds(), threads()
    receivers = panel.receivers(SIGNAL("destroyed(QObject*)"))
    for k in range(3, 9):
        capture(k)
    qtbot.waitUntil(lambda: threads() <= n_threads, timeout=GUI_TIMEOUT)  # long jobs ended
    # before: +2 descriptors a capture (its thread's SQLite reader) and +12 connections
    assert _fds() <= fds + 2, (fds, _fds())
    assert panel.receivers(SIGNAL("destroyed(QObject*)")) == receivers
    assert threads() <= n_threads
    assert panel._run_unfollow == []


def _kernel_signatures() -> dict[str, int]:
    from engine.leakmask._colour_kernels import chroma_ramp, shrink_image, shrink_pair
    from engine.leakmask._refine_kernels import fast_guided_filter
    from engine.leakmask._similarity_kernels import orientation_similarity
    from engine.leakmask._ssim_u8_kernel import ssim_u8_box_strip

    kernels = (ssim_u8_box_strip, shrink_pair, shrink_image, chroma_ramp, fast_guided_filter,
               orientation_similarity)  # fmt: skip
    return {k.__name__: len(k.signatures) for k in kernels}


def test_after_the_warm_up_a_live_frame_with_read_only_images_compiles_nothing():
    """The live path passes read-only images (the tracker's reference, a registration reused
    frame after frame): the warm-up must have compiled those kinds too. One left out was
    compiled on the first frame that brought it, in the middle of the soak's capture run:
    95 s without a live result or a capture, the live worker waiting for the compile on the
    recorder's thread (a fresh install's first night)."""
    from engine.camera import SimulatedCamera
    from engine.leakmask import LeakMaskParams, leak_mask, ssim_map, warm_kernels

    warm_kernels()
    before = _kernel_signatures()
    cam = SimulatedCamera(resolution=(160, 120), seed=5)
    day = cam.render(0.0).image
    night_rgb = cam.render(0.5, sequence=3).image
    gray = lambda rgb: np.ascontiguousarray(rgb.mean(axis=2).astype(np.uint8))  # noqa: E731
    images = {"day": day, "night_rgb": night_rgb, "day_gray": gray(day),
              "night_gray": gray(night_rgb)}  # fmt: skip
    for read_only in (False, True):
        arrays = {k: v.copy() for k, v in images.items()}
        if read_only:
            for v in arrays.values():
                v.setflags(write=False)
        ssim_map(arrays["night_gray"], arrays["day_gray"], data_range=255)
        for night_color in (None, arrays["night_rgb"]):  # a gray night camera, a colour one
            leak_mask(
                arrays["night_gray"],
                arrays["day_gray"],
                params=LeakMaskParams(),
                night_color=night_color,
                reference_color=arrays["day"],
            )
    assert _kernel_signatures() == before
