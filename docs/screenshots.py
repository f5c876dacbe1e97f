"""Make the README's screenshots: the real window on the simulated camera, driven through
every main view, each saved as a PNG (offscreen; no display needed).

    python docs/screenshots.py [OUTDIR] [--size WxH]   # default docs/screenshots, 1480x920

``--size 1366x768`` (a laptop) or ``1920x1080`` shows what fits on those screens.

Records into a scratch data folder, never into the operator's sessions.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


class Writes:
    """The script's own store writes (verdicts, tags, two models' runs) on a thread of its
    own, as the GUI forbids them on its thread. The window waits for its jobs when it closes
    but cannot know this thread: `main` stops it (between pairs) and waits for it before the
    window and the store close, so nothing is written after the store closed."""

    def __init__(self, fn, *args) -> None:
        self.cancel = threading.Event()
        self.error: BaseException | None = None

        def run() -> None:
            try:
                fn(*args, self.cancel)
            except BaseException as exc:  # noqa: BLE001 - re-raised on the main thread
                self.error = exc

        self.thread = threading.Thread(target=run, name="screenshot-writes")
        self.thread.start()

    def done(self) -> bool:
        if self.error is not None:
            raise RuntimeError(f"screenshots: the writes failed: {self.error}") from self.error
        return not self.thread.is_alive()

    def stop(self, timeout: float) -> None:
        self.cancel.set()
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise RuntimeError(f"screenshots: the writes did not stop within {timeout:.0f} s")


def load_scale() -> float:
    """How much longer than on an idle machine to wait: the 1-minute load per core, at least 1
    (a walkthrough at load 18 on 2 cores gave up after 60 s waiting for the runs)."""
    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except OSError:
        return 1.0


def main(out: Path, size: tuple[int, int] = (1480, 920), timeout_scale: float | None = None) -> int:
    from PySide6.QtCore import QEvent
    from PySide6.QtWidgets import QApplication

    from engine.camera import SimulatedCamera
    from engine.store import Store
    from gui.main_window import MainWindow

    out.mkdir(parents=True, exist_ok=True)
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("NightLab")
    scratch = tempfile.TemporaryDirectory(prefix="nightlab-shots-")
    store = Store(scratch.name)
    cam = SimulatedCamera(resolution=(640, 480), seed=7)
    cam.start()
    win = MainWindow(cam, store=store)
    win.resize(*size)
    win.show()

    def events() -> None:
        # processEvents alone never runs deleteLater (only an event loop does): without the
        # deferred deletes, a dock tab bar Qt had retired stayed on the 1366x768 shots
        app.processEvents()
        app.sendPostedEvents(None, QEvent.Type.DeferredDelete)

    def pump(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            events()
            time.sleep(0.01)

    scale = load_scale() if timeout_scale is None else timeout_scale

    def wait(cond, timeout: float = 60.0, what: str = "") -> None:
        limit = timeout * scale
        end = time.monotonic() + limit
        while not cond():
            if time.monotonic() > end:
                raise TimeoutError(
                    f"screenshots: gave up waiting for {what} after {limit:.0f} s "
                    f"(limits x{scale:.1f}; --timeout-scale N waits longer)"
                )
            events()
            time.sleep(0.01)

    def shot(widget, name: str) -> None:
        import io

        from PIL import Image
        from PySide6.QtCore import QBuffer, QIODevice

        from engine.atomic import write_bytes_atomic

        pump(0.3)
        path = out / f"{name}.png"
        buf = QBuffer()
        buf.open(QIODevice.OpenModeFlag.WriteOnly)
        if not widget.grab().save(buf, "PNG"):
            raise RuntimeError(f"screenshots: could not encode {name}")
        # full colour (a 256-colour palette bands the night gray), best zlib effort; written
        # whole or not at all (an interrupted run never leaves a truncated PNG in docs/)
        png = io.BytesIO()
        Image.open(io.BytesIO(bytes(buf.data()))).convert("RGB").save(png, "PNG", optimize=True)
        write_bytes_atomic(path, png.getvalue())
        print(f"wrote {path}")

    writes: list[Writes] = []
    try:
        _drive(win, store, cam, scratch, pump, wait, shot, writes)
    finally:
        for w in writes:  # before the store closes (an early exit leaves them running)
            w.stop(timeout=120 * scale)
        win.close()
        win.wait_closed(timeout=30)
        win.deleteLater()
        app.processEvents()
        store.close()
        scratch.cleanup()
    return 0


def _fused_day_reference(win, cam, pump, wait) -> None:
    """Add four day captures over the simulated day, as an operator does over an afternoon:
    the market tent pitched in two of them (the simulated camera's day visitors come and go
    every few seconds, `engine.camera._day_variation`), then **Use fused**. The stability map
    then has a place where the captures disagreed to show."""
    from engine.camera._day_variation import SLOT_S

    def moment():
        f = cam.latest_frame()
        t = f.meta.extra["t"]
        return int(t // SLOT_S), t % SLOT_S, 0 in f.meta.extra.get("visitors", ())

    want = {True: 2, False: 2}  # captures with the tent, without
    taken: set[int] = set()
    while any(want.values()):
        wait(lambda: (m := moment())[0] not in taken and m[1] > 0.5, timeout=30, what="a slot")
        slot, _, tent = moment()
        taken.add(slot)
        if want[tent]:
            win.capture_panel.add_capture()
            want[tent] -= 1
    panel = win.capture_panel
    panel.use_median()
    wait(lambda: "fused" in win.state.reference_source, what="fused reference")


def judge(store, session_id: int, pairs, scratch_dir: Path, cancel: threading.Event) -> None:
    """Verdicts, a tag, and runs of two models as `nightlab reprocess` leaves them (for the
    runs comparison); ``cancel`` stops it between pairs."""
    from engine.models import write_tiny_model
    from engine.reprocess import DEFAULT_OPTIONS, RunSpec, missing_run_jobs, process_missing_runs

    for p, v in zip(pairs[:3], ("pass", "fail", "review"), strict=False):
        store.set_verdict(p.id, v, note="screenshot")
    store.add_tags(pairs[1].id, "car-moved")
    gray = write_tiny_model(scratch_dir / "models" / "gray.onnx", gain=0.0)
    for model in (None, gray):
        if cancel.is_set():
            return
        spec = RunSpec.for_model(model, **DEFAULT_OPTIONS)
        jobs = missing_run_jobs(store, session_id, spec)
        if model is gray:  # one pair gets none: the grid's "no run" tile shows
            jobs = [j for j in jobs if j.pair_id != pairs[1].id]
        process_missing_runs(store, session_id, spec, jobs=jobs, cancel=cancel)


def _drive(win, store, cam, scratch, pump, wait, shot, writes: list[Writes]) -> None:
    s = win.state
    wait(lambda: cam.latest_frame() is not None, what="frames")
    pump(1.0)
    _fused_day_reference(win, cam, pump, wait)
    cam.set_control("mode", "night")
    wait(lambda: (f := cam.latest_frame()) is not None and f.is_gray, what="night")
    win.set_live(True)
    wait(lambda: win.stats.results > 20, what="live results")
    pump(4.0)
    shot(win, "live")
    s.view = replace(s.view, base="reference_blend", mask_style="contour")
    pump(2.0)
    shot(win.live, "live-blend-contour")
    s.view = replace(s.view, base="colorized", mask_style="heatmap")

    win.sessions.create("roof-east 2026-12-01", operator="ana", scene_notes="east wall, IR on")
    wait(lambda: s.session is not None, what="session")
    win.night_panel.burst.setValue(2)
    for _ in range(4):
        n = store.count_pairs(session_id=s.session.id)
        win.night_panel.capture_pair()
        wait(lambda n=n: store.count_pairs(session_id=s.session.id) > n, what="pair")
        wait(lambda: win.night_panel.runner is None, what="capture done")
        pump(1.5)
    pairs = store.pairs(session_id=s.session.id, sort="id")

    # store writes never run on the GUI thread (the window forbids it)
    writes.append(Writes(judge, store, s.session.id, pairs, Path(scratch.name)))
    wait(writes[-1].done, timeout=120, what="verdicts and runs")
    win.sessions.refresh()

    win.tabs.setCurrentWidget(win.qa)
    win.qa.refresh()
    wait(lambda: win.qa.table.rowCount() == len(pairs), what="QA rows")
    win.qa.table.selectRow(0)
    wait(lambda: all(not win.qa.table.item(r, 2).icon().isNull() for r in range(len(pairs))),
         what="thumbnails")  # fmt: skip
    wait(win.qa.view_b.has_image, what="QA views")
    shot(win, "qa-review")
    win.qa.mode.setCurrentIndex(1)
    wait(win.qa.view_wipe.has_image, what="wipe")
    win.set_focus_mode(True)  # Ctrl+Shift+F: the docks hide while judging
    shot(win, "qa-wipe")
    win.set_focus_mode(False)
    # two models' stored runs of one pair, side by side (no model loaded for them)
    qa = win.qa
    qa.mode.setCurrentIndex(0)
    qa.role_a.setCurrentIndex(qa.role_a.findData("colorized"))
    runs = store.runs(pairs[0].id)
    wait(lambda: qa.sources.runs is not None and len(qa.sources.runs) == len(runs), what="runs")
    qa.sources.choose("a", runs[0].model_sha256)
    qa.sources.choose("b", runs[-1].model_sha256)
    wait(lambda: qa.view_a.caption().startswith("Colorized · run")
         and qa.view_b.caption().startswith("Colorized · run"), what="runs' views")  # fmt: skip
    # the grid's thumbnails follow B's model: its runs, a tile where a pair has none
    wait(lambda: all(qa.table.item(r, 4).toolTip().startswith(("Colorized · run", "Pair #"))
                     for r in range(qa.table.rowCount())), what="runs' thumbnails")  # fmt: skip
    pump(1.0)
    shot(win, "qa-runs")
    qa.sources.choose("a", None)
    qa.sources.choose("b", None)
    qa.role_a.setCurrentIndex(qa.role_a.findData("night"))

    win.tabs.setCurrentWidget(win.inspector)
    win.inspector.show_pair(pairs[-1])
    wait(win.inspector.canvas.has_image, what="inspector")
    pump(1.0)
    shot(win, "inspector-checkerboard")
    win.inspector.view.setCurrentIndex(win.inspector.view.findData("difference"))
    win.inspector.nudge(3, 0)
    pump(1.5)
    shot(win.inspector, "inspector-difference-nudged")
    win.inspector.nudge(-3, 0)
    win.inspector.view.setCurrentIndex(win.inspector.view.findData("stability"))
    pump(1.5)
    shot(win.inspector, "inspector-stability")

    win.tabs.setCurrentWidget(win.live)
    win.night_panel.every.setValue(10)
    win.night_panel.count.setValue(36)
    win.night_panel.start_schedule()
    pump(3.0)
    win.dock_capture.raise_()
    win.dock_leak.raise_()
    pump(1.0)
    shot(win, "capture-and-leak")
    win.dock_sessions.raise_()
    win.dock_model.raise_()
    wait(lambda: "Model" in win.model_panel.card.text(), what="model card")
    pump(1.5)  # live frames painted again: the strip read "Display 0.0 fps" after the wait
    shot(win, "sessions-and-model")
    win.night_panel.cancel()

    dlg = win.export_dialog(show=False)
    dlg.path.setText(str(Path(scratch.name) / "roof-east.zip"))
    dlg.show()
    done = []
    dlg.finished_ok.connect(done.append)
    dlg.start()
    wait(lambda: bool(done) or not dlg.running, what="export")
    if not done:
        raise RuntimeError(f"screenshots: export failed: {dlg.phase.text()}")
    shot(dlg, "export-dialog")
    dlg.close()
    from gui.about import AboutDialog

    about = AboutDialog(win)
    about.show()
    shot(about, "about")
    about.close()


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", type=Path, default=Path(__file__).parent / "screenshots")
    ap.add_argument("--size", default="1480x920", help="window size WxH (default 1480x920)")
    ap.add_argument(
        "--timeout-scale",
        type=float,
        default=None,
        help="multiply every wait's limit (default: the load per core, at least 1)",
    )
    args = ap.parse_args()
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size: expected WxH like 1366x768, got {args.size!r}")
    raise SystemExit(main(args.out, (w, h), args.timeout_scale))
