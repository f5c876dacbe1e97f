"""The app over a big night's record: start-up, the Sessions dock and the QA review grid.

Usage::

    QT_QPA_PLATFORM=offscreen python benchmarks/qa_big_session.py --data-dir DIR
        [--session NAME] [--repeats 3] [--json OUT]

Make the record first with the real capture path, e.g. a night of 3,000 pairs at a pair
every 6 s, back to back (about 15 minutes and 4 GiB on the simulated camera)::

    nightlab capture --camera sim --session night-3000 --day-reference --count 3000 \\
        --burst 4 --data-dir DIR

Opens the data folder as the app does (`Store`, `MainWindow` on the simulated camera, the
live view running), then for each repeat: opens the session, shows the QA tab and times
(wall, from the action on the GUI thread) the grid listed, the selected pair's views shown
and the page's thumbnails done; then a sort by leak area, the next page, and a jump to the
page holding pair #1,400 (the ▶ button, as a user would), then once its thumbnails are
done, the page after it and back (◀: the page seen before shows its thumbnails again, or
renders them again when the cache no longer holds them). A 5 ms timer on the GUI thread
records its longest gap in each step: the GUI thread's worst stall there. Prints one line
per step and repeat, then medians and ranges.

``--compare-sources`` instead pages the grid with each thumbnail source in turn, in each
repeat (the order alternating): the live model's render, and the stored runs of the model
with the most runs in the session (run ``nightlab reprocess --session NAME`` first), chosen
in B's chooser as a user does. From cold caches each time: the first page's thumbnails,
▶ to the next page and its thumbnails, ◀ back to the first.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


class _Stalls:
    """The longest gap between ticks of a 5 ms timer on the GUI thread since `reset`."""

    def __init__(self) -> None:
        from PySide6.QtCore import QTimer

        self.worst = 0.0
        self._last = time.perf_counter()
        self._timer = QTimer()
        self._timer.setInterval(5)
        self._timer.timeout.connect(self._tick)
        self._timer.start()

    def _tick(self) -> None:
        now = time.perf_counter()
        self.worst = max(self.worst, now - self._last)
        self._last = now

    def reset(self) -> None:
        self.worst, self._last = 0.0, time.perf_counter()


def _until(app, cond, timeout: float = 600.0) -> float:
    t0 = time.perf_counter()
    while not cond():
        if time.perf_counter() - t0 > timeout:
            raise TimeoutError("the step did not finish")
        app.processEvents()
        time.sleep(0.002)
    return time.perf_counter()


def _save_png(widget, path: str) -> None:
    """The widget as a PNG, written whole or not at all."""
    from PySide6.QtCore import QBuffer, QIODevice

    from engine.atomic import write_bytes_atomic

    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    if not widget.grab().save(buf, "PNG"):
        raise RuntimeError(f"could not encode {path}")
    write_bytes_atomic(path, bytes(buf.data()))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--session", default=None, help="name or id (default: the biggest)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--target", type=int, default=1400, help="the pair to reach by paging")
    p.add_argument("--json", default=None)
    p.add_argument("--screenshot", default=None, help="PNG of the window at pair #target")
    p.add_argument("--compare-sources", action="store_true",
                   help="page with live vs stored-run thumbnails instead")  # fmt: skip
    args = p.parse_args(argv)

    t_start = time.perf_counter()
    from PySide6.QtWidgets import QApplication

    from engine.camera import SimulatedCamera
    from engine.live_preview import LivePreview
    from engine.store import Store
    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    t_imports = time.perf_counter()
    store = Store(args.data_dir)
    t_store = time.perf_counter()
    cam = SimulatedCamera(resolution=(640, 480), fps=30, seed=1)
    cam.start()
    win = MainWindow(cam, store=store, preview=LivePreview(workers=1))
    win.resize(1366, 768)
    win.show()
    stalls = _Stalls()
    t_window = time.perf_counter()
    sessions = store.sessions()
    _until(app, lambda: win.sessions.table.rowCount() == len(sessions))
    t_dock = time.perf_counter()
    print(f"start-up: imports {t_imports - t_start:.2f} s, store open {t_store - t_imports:.2f} s, "
          f"window {t_window - t_store:.2f} s, sessions dock listed "
          f"{t_dock - t_window:.2f} s after ({len(sessions)} sessions)", flush=True)  # fmt: skip
    if args.session is None:
        session = max(sessions, key=lambda s: s.n_pairs)
    else:
        session = store.session(args.session)
    qa = win.qa
    # the grid's refill on the GUI thread, each time: from the listing job's end (the job
    # runner says it has one job fewer, then hands the page to the panel, in one go; the
    # jobs the refill submits only add) to the panel's `listed`
    fill_ms: list[float] = []
    jobs_seen = {"n": win.jobs.active, "ended": 0.0}

    def busy(n: int) -> None:
        if n < jobs_seen["n"]:
            jobs_seen["ended"] = time.perf_counter()
        jobs_seen["n"] = n

    win.jobs.busy_changed.connect(busy)
    qa.listed.connect(lambda _p: fill_ms.append((time.perf_counter() - jobs_seen["ended"]) * 1e3))
    steps: dict[str, list[tuple[float, float]]] = {}

    def step(name: str, action, *conds, drain: bool = False) -> None:
        """Time ``conds`` from ``action``; with ``drain`` also every job it started (a user
        does not wait for the thumbnails: the next steps go on at once)."""
        qa.view_a.set_image(None)  # shown again once the selected pair's views are ready
        stalls.reset()
        t0 = time.perf_counter()
        action()
        times = [_until(app, c) - t0 for c in conds]
        if drain:
            _until(app, lambda: not win.jobs.active)
            times.append(time.perf_counter() - t0)
        steps.setdefault(name, []).append((*times, stalls.worst))
        shown = ", ".join(f"{t:.2f}" for t in times)
        gap = f"worst GUI gap {stalls.worst * 1000:.0f} ms"
        print(f"{name}: {shown} s; {gap}; {qa.count.text()}", flush=True)

    def listed() -> bool:
        return not qa.listing and qa.table.rowCount() > 0

    def thumbs_done() -> bool:
        return all(not qa.table.item(r, 2).icon().isNull() for r in range(qa.table.rowCount()))

    for i in range(args.repeats if args.compare_sources else 0):
        model = _most_run_model(store, session)
        for source in (None, model) if i % 2 == 0 else (model, None):
            name = "live" if source is None else "stored runs"
            win.tabs.setCurrentIndex(0)
            qa.sort.setCurrentText("Newest")
            qa.first_page()
            qa.sources.choose("b", None)  # the grid lets go of the runs' icons
            win.state.session = None
            _until(app, lambda: not win.jobs.active)
            win.pair_cache.clear(runs=True)  # cold, both sources
            qa.renders_changed()
            win.state.session = session
            win.tabs.setCurrentWidget(qa)
            _until(app, lambda: listed() and qa.sources.runs is not None)
            if not qa.sources.choose("b", source):
                raise SystemExit(f"pair #{qa.current().id} has no run of {model}")
            _until(app, thumbs_done)  # the source's first page, as a start
            _until(app, lambda: not win.jobs.active)
            step(f"{name}: ▶ a page, thumbnails", qa.next_page.click, listed, thumbs_done,
                 drain=True)  # fmt: skip
            step(f"{name}: ◀ back, thumbnails", qa.prev_page.click, listed, thumbs_done,
                 drain=True)  # fmt: skip

    for _ in range(0 if args.compare_sources else args.repeats):
        win.tabs.setCurrentIndex(0)
        qa.sort.setCurrentText("Newest")
        qa.first_page()
        win.state.session = None
        _until(app, lambda: not win.jobs.active)
        # each repeat from a cold cache, as a new start: the panel's icons of the last page
        # go too (kept, they showed the first page's thumbnails with nothing rendered)
        win.pair_cache.clear()
        qa.renders_changed()
        win.state.session = session
        # columns: listed, selected pair's views shown[, thumbnails / all jobs], worst gap
        step("open QA tab", lambda: win.tabs.setCurrentWidget(qa), listed,
             qa.view_a.has_image, thumbs_done, drain=True)  # fmt: skip
        step("sort by leak ↓", lambda: qa.sort.setCurrentText("Leak area ↓"),
             listed, qa.view_a.has_image)  # fmt: skip
        step("click row 150", lambda: qa.table.selectRow(150), qa.view_a.has_image)
        step("sort newest", lambda: qa.sort.setCurrentText("Newest"), listed,
             qa.view_a.has_image)  # fmt: skip
        t_reach = time.perf_counter()
        pages = 0
        while not any(p.id == args.target for p in qa.pairs) and qa.next_page.isEnabled():
            qa.next_page.click()
            _until(app, listed)
            pages += 1
        row = next(i for i, p in enumerate(qa.pairs) if p.id == args.target)
        qa.table.selectRow(row)
        _until(app, qa.view_a.has_image)
        reach = time.perf_counter() - t_reach
        if args.screenshot:
            _save_png(win, args.screenshot)
        steps.setdefault(f"reach pair #{args.target}", []).append((reach,))
        print(f"reach pair #{args.target}: {pages} pages, {reach:.2f} s to its views", flush=True)
        _until(app, lambda: not win.jobs.active)
        if qa.next_page.isEnabled():  # a page seen whole, the next one, and back to it
            step("▶ a page, thumbnails", qa.next_page.click, listed, thumbs_done, drain=True)
            step("◀ back, thumbnails", qa.prev_page.click, listed, thumbs_done, drain=True)

    print("\nmedian (min-max) over", args.repeats, "repeats, seconds:")
    out = {}
    for name, rows in steps.items():
        cols = list(zip(*rows, strict=True))
        out[name] = [[statistics.median(c), min(c), max(c)] for c in cols]
        print(f"  {name}: " + "; ".join(f"{m:.2f} ({lo:.2f}-{hi:.2f})" for m, lo, hi in out[name]))
    if fill_ms:
        print(f"  grid refill on the GUI thread: median {statistics.median(fill_ms):.0f} ms, "
              f"max {max(fill_ms):.0f} ms over {len(fill_ms)} refills")  # fmt: skip
    if args.json:
        from engine.atomic import write_json_atomic

        write_json_atomic(args.json, out)
    win.close()
    win.wait_closed(timeout=30)
    store.close()
    return 0


def _most_run_model(store, session) -> str:
    """The sha256 of the model with the most runs in ``session``."""
    from collections import Counter

    counts = Counter(r.model_sha256 for p in store.pairs(session_id=session.id)
                     for r in store.runs(p.id))  # fmt: skip
    if not counts:
        raise SystemExit(f"session {session.name!r} has no runs: nightlab reprocess first")
    return counts.most_common(1)[0][0]


if __name__ == "__main__":
    raise SystemExit(main())
