"""The main window on the simulated camera, driven as an operator would (pytest-qt).

Live frames flow, controls round-trip, live processing runs on worker threads and its
errors become messages, camera events from other threads reach the window, and the main
flows — session, pair capture, QA verdict, inspector, leak tuning — land in a real store.
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

pytest.importorskip("PySide6")

from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QDoubleSpinBox, QSpinBox  # noqa: E402

from engine.app_state import AppState, LiveViewSpec  # noqa: E402
from engine.live import PairTracker  # noqa: E402
from engine.live_preview import LivePreview  # noqa: E402
from tests.conftest import night_session, night_with_reference  # noqa: E402

TIMEOUT = 30_000  # ms; the machine is shared: generous waits, but tests end as soon as done


pytestmark = pytest.mark.usefixtures("no_leaked_windows")  # fixtures: tests/conftest.py


def test_live_view_pulls_frames(open_window, qtbot):
    from gui.live.panel import DISPLAY_HZ

    window = open_window(resolution=(160, 120), fps=200.0)  # a camera faster than the display
    view, cam = window.live.camera_view, window.state.camera
    qtbot.waitUntil(view.has_image, timeout=TIMEOUT)
    seq, shown = window.live._last_seq, window.stats.frames_shown
    t0 = time.monotonic()
    qtbot.wait(500)
    elapsed = time.monotonic() - t0
    qtbot.waitUntil(lambda: window.live._last_seq > seq, timeout=TIMEOUT)
    shown = window.stats.frames_shown - shown
    # pulled at display rate, the newest frame each time: never more than the display's
    # rate, and frames the camera made in between are skipped, not queued
    assert 0 < shown <= DISPLAY_HZ * (time.monotonic() - t0) + 2, (shown, elapsed)
    assert window.live._last_seq - seq > shown
    assert window.live._last_seq <= cam.latest_frame().meta.sequence


def test_capture_reference_refuses_night_frames(window, qtbot):
    window.state.camera.set_control("mode", "night")
    qtbot.waitUntil(
        lambda: (f := window.state.camera.latest_frame()) is not None and f.is_gray,
        timeout=TIMEOUT,
    )
    assert window.capture_reference() is False
    assert "day mode" in window.statusBar().currentMessage()
    assert window.state.reference is None and not window.preview.has_reference()


def test_controls_write_to_camera_and_follow_changes_from_another_thread(window, qtbot):
    editor = window.controls.editor("exposure_us")
    assert isinstance(editor, QSpinBox)
    editor.setValue(20000)
    qtbot.waitUntil(lambda: window.state.camera.get_control("exposure_us") == 20000)
    t = threading.Thread(target=window.state.camera.set_control, args=("exposure_us", 5000))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: editor.value() == 5000, timeout=TIMEOUT)
    drift = window.controls.editor("drift_px")
    assert isinstance(drift, QDoubleSpinBox)
    assert drift.maximum() == window.state.camera.capabilities()["drift_px"].maximum


def test_a_control_edit_returns_at_once_and_the_camera_applies_it_off_the_gui_thread(
    qtbot, open_window
):
    # Before: set_control ran in the editor's slot; a webcam driver waits for the frame being
    # read (the capture lock), so each step of a spin box froze the window for a frame or,
    # on a stalling USB camera, for seconds
    from engine.camera import SimulatedCamera

    class SlowDriver(SimulatedCamera):
        applied: list[tuple[str, object, threading.Thread]] = []

        def _apply_control(self, name, value):
            time.sleep(0.5)  # the driver answers when the frame in flight is read
            type(self).applied.append((name, value, threading.current_thread()))
            super()._apply_control(name, value)

    win = open_window(SlowDriver(resolution=(320, 240), fps=30.0, seed=3))
    editor = win.controls.editor("exposure_us")
    t0 = time.perf_counter()
    for value in (10000, 20000, 30000):  # three steps of the spin box, faster than the driver
        editor.setValue(value)
    assert time.perf_counter() - t0 < 0.4
    shown = []  # what the editor showed while the driver worked through the edits

    def applied() -> bool:
        shown.append(editor.value())
        return win.state.camera.get_control("exposure_us") == 30000

    qtbot.waitUntil(applied, timeout=TIMEOUT)
    assert threading.main_thread() not in {t for _, _, t in SlowDriver.applied}
    exposures = [v for name, v, _ in SlowDriver.applied if name == "exposure_us"]
    assert exposures[-1] == 30000 and len(exposures) < 3  # the newest value wins, in order
    qtbot.wait(200)  # the camera's last change events reach the window
    shown.append(editor.value())
    # the echo of an older edit, applied late, never takes the editor back
    assert set(shown) == {30000}, sorted(set(shown))


def test_live_colorize_runs_off_thread(window, qtbot):
    night_with_reference(window, qtbot)
    threads: list[threading.Thread] = []
    window.preview.events.result.connect(lambda _res: threads.append(threading.current_thread()))
    with qtbot.waitSignal(window.live.result_shown, timeout=TIMEOUT) as shown:
        window.set_live(True)
    res = shown.args[0]
    assert res.pair.ok, res.pair.alignment.reason
    assert res.display.shape == (240, 320, 4) and res.display.dtype == np.uint8  # BGRA
    # the work happened on a live worker, and the window got it on the GUI thread
    qtbot.waitUntil(lambda: bool(threads), timeout=TIMEOUT)
    assert all(t is not threading.main_thread() for t in threads)
    assert all(t.name.startswith("nightlab-live") for t in threads)
    assert window.live.result_view.image() is res.display
    qtbot.waitUntil(lambda: window.status_strip.values["results"].text() != "—", timeout=5000)


def test_overlay_choice_reaches_the_worker(window, qtbot):
    night_with_reference(window, qtbot)
    window.set_live(True)
    window.live.base_choice.setCurrentIndex(window.live.base_choice.findData("reference_blend"))
    window.live.mask_choice.setCurrentIndex(window.live.mask_choice.findData("contour"))
    assert window.state.view == LiveViewSpec("reference_blend", "contour", 0.5)
    qtbot.waitUntil(
        lambda: (
            (r := window.live.last_result) is not None
            and r.spec.base == "reference_blend"
            and r.spec.mask_style == "contour"
        ),
        timeout=TIMEOUT,
    )
    # and a change made elsewhere (a script) shows in the widgets without echo
    window.state.view = LiveViewSpec("night", "off", 0.5)
    qtbot.waitUntil(lambda: window.live.base_choice.currentData() == "night", timeout=5000)
    assert window.live.mask_choice.currentData() == "off"
    assert not window.live.blend.isEnabled()


def test_live_requires_reference(window):
    window.set_live(True)
    assert not window.act_live.isChecked() and not window.state.live
    assert "reference" in window.statusBar().currentMessage()


def test_disconnect_from_the_camera_thread_is_reported(window, qtbot):
    cam = window.state.camera
    t = threading.Thread(target=cam.events.disconnected.emit, args=("USB cable pulled",))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: "disconnected" in window.live.camera_title.text(), timeout=5000)
    assert "USB cable pulled" in window.statusBar().currentMessage()
    t = threading.Thread(target=cam.events.reconnected.emit, args=("back",))
    t.start()
    t.join()
    qtbot.waitUntil(lambda: "disconnected" not in window.live.camera_title.text(), timeout=5000)


def test_load_reference_bad_file_is_one_line(window, qtbot, tmp_path):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"nope")
    window.capture_panel.load_file(bad)
    qtbot.waitUntil(lambda: "x.png" in window.statusBar().currentMessage(), timeout=TIMEOUT)
    assert "\n" not in window.statusBar().currentMessage()
    assert window.state.reference is None


def test_stream_button_follows_camera(window, qtbot):
    assert window.act_stream.text() == "Stop camera"
    window.toggle_stream()
    qtbot.waitUntil(lambda: window.act_stream.text() == "Start camera", timeout=TIMEOUT)
    assert not window.state.camera.is_streaming
    window.toggle_stream()
    qtbot.waitUntil(lambda: window.act_stream.text() == "Stop camera", timeout=TIMEOUT)


def test_set_camera_switches_without_restart(window, qtbot):
    old = window.state.camera
    window.open_camera("sim:night")
    qtbot.waitUntil(lambda: window.state.camera is not old, timeout=TIMEOUT)
    assert window.state.camera_spec == "sim:night"
    assert window.controls.editor("mode").currentText() == "night"
    qtbot.waitUntil(lambda: not old.is_open, timeout=TIMEOUT)  # closed in the background
    seq = window.live._last_seq
    qtbot.waitUntil(lambda: window.live._last_seq != seq, timeout=TIMEOUT)


# -- the live worker's error paths ----------------------------------------------------------
class _FlakyTracker(PairTracker):
    """Raises on its first frame, then works: a worker must report and carry on."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def process(self, night, **kw):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("simulated failure\nwith a second line")
        return super().process(night, **kw)


def test_live_processing_error_is_one_line_and_the_worker_survives(qtbot, open_window):
    win = open_window(preview=LivePreview(tracker=_FlakyTracker(), workers=1, colorize=False))
    night_with_reference(win, qtbot)
    win.set_live(True)
    qtbot.waitUntil(
        lambda: "simulated failure" in win.statusBar().currentMessage(), timeout=TIMEOUT
    )
    msg = win.statusBar().currentMessage()
    assert msg == "live processing failed: simulated failure"
    qtbot.waitUntil(lambda: win.stats.results > 0, timeout=TIMEOUT)  # still working


def test_missing_model_is_reported_and_live_goes_on_without_colour(qtbot, open_window, tmp_path):
    win = open_window(preview=LivePreview(workers=1, model_path=str(tmp_path / "nope.onnx")))
    win.state.model_path = str(tmp_path / "nope.onnx")
    night_with_reference(win, qtbot)
    win.set_live(True)
    qtbot.waitUntil(
        lambda: (
            "colorization unavailable" in win.statusBar().currentMessage()
            or (win.live.last_result is not None)
        ),
        timeout=TIMEOUT,
    )
    qtbot.waitUntil(lambda: win.live.last_result is not None, timeout=TIMEOUT)
    assert win.live.last_result.pair.colorized is None  # aligned and masked, no colour
    assert win.live.last_result.display is not None


def test_unalignable_frame_shows_the_reason_not_a_crash(qtbot):
    preview = LivePreview(workers=1, colorize=False)
    got = []
    preview.events.result.connect(got.append)
    rng = np.random.default_rng(0)
    preview.set_reference(rng.integers(0, 255, (120, 160, 3), dtype=np.uint8))
    preview.offer(rng.integers(0, 255, (120, 160), dtype=np.uint8), 1)
    qtbot.waitUntil(lambda: bool(got), timeout=TIMEOUT)
    preview.stop()
    assert not got[0].pair.ok and got[0].display is None and got[0].pair.alignment.reason


def test_closing_never_waits_for_a_busy_worker(qtbot, open_window):
    busy = threading.Event()

    class Slow(PairTracker):
        def process(self, night, **kw):
            busy.set()
            time.sleep(1.5)
            return super().process(night, **kw)

    win = open_window(preview=LivePreview(tracker=Slow(), workers=1, colorize=False))
    night_with_reference(win, qtbot)
    win.set_live(True)
    qtbot.waitUntil(busy.is_set, timeout=TIMEOUT)  # a frame is in the slow tracker now
    t0 = time.perf_counter()
    win.close()
    assert time.perf_counter() - t0 < 0.5
    assert win.wait_closed(timeout=20)


# -- the operator's flows on the record -----------------------------------------------------
def test_qa_pair_views_are_converted_for_display_off_the_gui_thread(
    window, qtbot, store, monkeypatch
):
    import threading

    import engine.pair_views as pv
    from engine.overlay import as_display

    threads = []

    def recording(image):
        threads.append(threading.current_thread() is threading.main_thread())
        return as_display(image)

    monkeypatch.setattr(pv, "as_display", recording)
    night_session(window, qtbot, "roof", operator="ana", scene_notes="")
    window.night_panel.capture_pair()
    qtbot.waitUntil(
        lambda: store.count_pairs(session_id=window.state.session.id) == 1, timeout=TIMEOUT
    )
    window.tabs.setCurrentWidget(window.qa)
    qtbot.waitUntil(lambda: window.qa.current() is not None, timeout=TIMEOUT)
    qa = window.qa
    qtbot.waitUntil(lambda: qa.view_a.has_image() and qa.view_b.has_image(), timeout=TIMEOUT)
    # both shown roles were converted, each once, and never on the GUI thread
    assert threads and not any(threads), threads
    views = qa._views
    for view, combo in ((qa.view_a, qa.role_a), (qa.view_b, qa.role_b)):
        expected = as_display(views.image(combo.currentData()))
        np.testing.assert_array_equal(view.image(), expected)
    # showing them again (another pass over the same pair) converts nothing more
    n = len(threads)
    qa._show_views()
    assert len(threads) == n


def test_session_pair_verdict_and_inspector(window, qtbot, store, monkeypatch):
    night_session(window, qtbot, "roof", operator="ana", scene_notes="east wall")
    assert window.state.session.name == "roof"
    window.night_panel.burst.setValue(2)
    window.night_panel.capture_pair()
    qtbot.waitUntil(
        lambda: store.count_pairs(session_id=window.state.session.id) == 1, timeout=TIMEOUT
    )
    pair = store.pairs(session_id=window.state.session.id)[0]
    assert pair.aligned_ok, pair.reason
    assert len(store.burst_members(pair.night_id)) == 2
    day = store.captures(window.state.session.id, kind="day")
    assert len(day) == 1 and pair.day_ids == (day[0].id,)  # the live reference was recorded

    # QA: the grid lists it with thumbnails; P gives the verdict from the keyboard
    window.tabs.setCurrentWidget(window.qa)
    qtbot.waitUntil(lambda: window.qa.current() is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not window.qa.table.item(0, 2).icon().isNull(), timeout=TIMEOUT)
    window.qa.table.setFocus()
    qtbot.keyClick(window.qa.table, Qt.Key.Key_P)
    qtbot.waitUntil(lambda: store.pair(pair.id).verdict == "pass", timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.qa.table.item(0, 1).text() == "pass", timeout=TIMEOUT)
    window.qa.mode.setCurrentIndex(1)  # wipe
    qtbot.waitUntil(window.qa.view_wipe.has_image, timeout=TIMEOUT)

    # inspector: views render, arrow keys nudge, accept stores the nudged matrix
    window.tabs.setCurrentWidget(window.inspector)
    window.inspector.show_pair(store.pair(pair.id))
    qtbot.waitUntil(window.inspector.canvas.has_image, timeout=TIMEOUT)
    window.inspector.view.setCurrentIndex(window.inspector.view.findData("difference"))
    window.inspector.setFocus()
    qtbot.keyClick(window.inspector, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    assert window.inspector.nudge_label.text() == "nudge +5, +0 px"
    before = np.asarray(store.pair(pair.id).matrix)
    window.inspector.accept()
    qtbot.waitUntil(lambda: "alignment-checked" in store.pair(pair.id).tags, timeout=TIMEOUT)
    after = np.asarray(store.pair(pair.id).matrix)
    np.testing.assert_allclose(after[:2, 2], before[:2, 2] + [5, 0], atol=1e-6)
    # its SSIM and leak area are those of the accepted matrix, not of the recorded one
    accepted = store.pair(pair.id)
    assert accepted.ssim_mean is not None and accepted.ssim_mean != pair.ssim_mean

    # a held arrow key: one view job at a time, and the newest nudge is what ends up shown
    qtbot.waitUntil(lambda: window.inspector.pair.matrix == store.pair(pair.id).matrix)
    window.inspector.show_pair(store.pair(pair.id))
    qtbot.waitUntil(
        lambda: window.inspector._views is not None and not window.inspector._in_flight,
        timeout=TIMEOUT,
    )
    _inspect_views_coalesce(window.inspector, qtbot, monkeypatch)


def _inspect_views_coalesce(inspector, qtbot, monkeypatch) -> None:
    import engine.inspect_views as iv

    real, lock = iv.inspect_view, threading.Lock()
    seen = {"running": 0, "max": 0, "calls": 0, "last": None, "gui": False}

    def slow_view(*args, **kwargs):
        with lock:
            seen["running"] += 1
            seen["max"] = max(seen["max"], seen["running"])
            seen["calls"] += 1
            seen["gui"] |= threading.current_thread() is threading.main_thread()
        time.sleep(0.05)  # a full-size render's worth of time: requests pile up behind it
        out = real(*args, **kwargs)
        with lock:
            seen["running"] -= 1
            seen["last"] = out
        return out

    monkeypatch.setattr(iv, "inspect_view", slow_view)
    inspector.setFocus()
    for _ in range(8):
        qtbot.keyClick(inspector, Qt.Key.Key_Right)
    assert inspector.nudge_label.text() == "nudge +8, +0 px"
    qtbot.waitUntil(
        lambda: seen["last"] is not None and seen["running"] == 0 and not inspector._in_flight,
        timeout=TIMEOUT,
    )
    qtbot.waitUntil(lambda: inspector.canvas.image() is seen["last"], timeout=TIMEOUT)
    assert seen["max"] == 1, f"{seen['max']} inspector views computed at once"
    assert 1 <= seen["calls"] <= 3, f"{seen['calls']} renders for 8 key presses"
    # what is shown is the view at the final nudge (+8 px), not an intermediate one
    from engine.inspect_views import nudge
    from engine.pair_views import warp_onto

    v = inspector._views
    aligned = warp_onto(v.day, nudge(v.matrix, 8, 0), v.night.shape)
    view = inspector.view.currentData()
    np.testing.assert_array_equal(inspector.canvas.image(), real(view, v.night, aligned))
    assert not seen["gui"]


def test_scheduled_capture_logs_and_counts_down(window, qtbot, store):
    night_session(window, qtbot, "night run")
    panel = window.night_panel
    panel.every.setValue(0.05)  # 3 s
    panel.count.setValue(2)
    panel.burst.setValue(1)
    panel.start_schedule()
    qtbot.waitUntil(lambda: "Next capture in" in panel.countdown.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)  # finished
    log = [panel.log.item(i).text() for i in range(panel.log.count())]
    assert any("finished (done): 2 captured, 0 missed" in line for line in log), log
    assert store.count_pairs(session_id=window.state.session.id) == 2
    sid = window.state.session.id
    kinds = lambda: [e.kind for e in store.log_entries(sid)]  # noqa: E731
    qtbot.waitUntil(lambda: "started" in kinds() and "finished" in kinds(), timeout=TIMEOUT)


def test_switching_camera_during_a_scheduled_capture_is_refused_with_a_message(
    window, qtbot, store
):
    # the run holds the camera it started with: closing that one under it would leave an
    # overnight run logging "camera lost" until morning
    night_session(window, qtbot, "overnight")
    panel = window.night_panel
    panel.every.setValue(60.0)  # an hour: nothing but the countdown while the test runs
    panel.start_schedule()
    qtbot.waitUntil(lambda: "Next capture in" in panel.countdown.text(), timeout=TIMEOUT)
    cam = window.state.camera
    window.open_camera("sim:night")
    assert "while a capture runs" in window.statusBar().currentMessage()
    qtbot.wait(300)  # no job was queued to open and switch
    assert window.state.camera is cam and cam.is_open and panel.runner is not None
    panel.cancel()
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)
    window.open_camera("sim:night")  # with the run over, the switch goes ahead
    qtbot.waitUntil(lambda: window.state.camera is not cam, timeout=TIMEOUT)


def test_scheduled_capture_at_listed_times_hands_the_runner_exactly_those_times(
    window, qtbot, store
):
    import datetime as dt

    night_session(window, qtbot, "listed times")
    panel = window.night_panel
    panel.mode.setCurrentIndex(panel.mode.findData("times"))
    assert panel.times.isVisible() and not panel.every.isVisible()
    # a bad entry: Start is disabled and the panel says which entry is wrong
    panel.times.setText("22:00, 25:00")
    assert not panel.btn_run.isEnabled()
    assert "25:00" in panel.times_note.text()
    panel.start_schedule()
    assert panel.runner is None
    panel.times.setText("22:00, 22:00")
    assert not panel.btn_run.isEnabled()
    assert "listed twice" in panel.times_note.text()
    # two good times, hours away so nothing is captured while the test runs
    now = dt.datetime.now()
    first = (now + dt.timedelta(hours=2)).time().replace(second=0, microsecond=0)
    second = (now + dt.timedelta(hours=3)).time().replace(second=0, microsecond=0)
    panel.times.setText(f"{first:%H:%M}, {second:%H:%M}")
    assert panel.btn_run.isEnabled()
    assert panel.times_note.text().startswith("2 captures")
    panel.start_schedule()
    runner = panel.runner
    assert runner is not None
    assert runner.plan.times == (first, second)
    assert runner.plan.every_s == 0 and runner.plan.start is None and runner.plan.end is None
    qtbot.waitUntil(
        lambda: f"Next capture at {first:%H:%M} in " in panel.countdown.text(), timeout=TIMEOUT
    )
    assert "0 of 2 captured" in panel.countdown.text()
    panel.cancel()
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)
    log = [panel.log.item(i).text() for i in range(panel.log.count())]
    assert any(f"started: at {first:%H:%M}, {second:%H:%M}" in line for line in log), log
    assert store.count_pairs(session_id=window.state.session.id) == 0


def test_leak_sliders_drive_live_params_and_presets_live_in_the_session(window, qtbot, store):
    window.sessions.create("tuning")
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=TIMEOUT)
    window.leak_panel.sliders["close_px"].setValue(21)
    assert window.state.leak_params.close_px == 21
    window.leak_panel.save_preset("wide closing")
    qtbot.waitUntil(
        lambda: (
            "wide closing"
            in store.session(window.state.session.id).settings.get("leak_presets", {})
        ),
        timeout=TIMEOUT,
    )
    window.leak_panel.reset()
    assert window.state.leak_params.close_px != 21
    qtbot.waitUntil(
        lambda: window.leak_panel.presets.findText("wide closing") >= 0, timeout=TIMEOUT
    )
    window.leak_panel.apply_preset("wide closing")
    assert window.state.leak_params.close_px == 21
    assert window.leak_panel.sliders["close_px"].value() == 21
    # an invalid combination is refused with a message; the params stay valid
    window.leak_panel.sliders["lo"].setValue(0.5)
    assert window.state.leak_params.lo < window.state.leak_params.hi
    # the edge refinement can be turned off to see the raw structural mask
    window.leak_panel.sliders["refine_radius"].setValue(0)
    assert window.state.leak_params.refine_radius == 0


def test_presets_saved_in_quick_succession_are_all_kept(window, qtbot, store):
    # the second save must not be built from the session as it was before the first landed
    window.sessions.create("tuning")
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=TIMEOUT)
    sid = window.state.session.id
    elsewhere = threading.Thread(  # another setting, saved by someone else (a worker)
        target=store.update_session, args=(sid,), kwargs={"settings": {"operator_note": "kept"}}
    )
    elsewhere.start()
    elsewhere.join()
    for name, close in (("a", 11), ("b", 15), ("c", 21)):
        window.leak_panel.sliders["close_px"].setValue(close)
        window.leak_panel.save_preset(name)
    qtbot.waitUntil(
        lambda: len(store.session(sid).settings.get("leak_presets", {})) == 3, timeout=TIMEOUT
    )
    settings = store.session(sid).settings
    assert {k: v["close_px"] for k, v in settings["leak_presets"].items()} == {
        "a": 11, "b": 15, "c": 21
    }  # fmt: skip
    assert settings["operator_note"] == "kept"
    qtbot.waitUntil(lambda: window.leak_panel.presets.count() == 4, timeout=TIMEOUT)


def test_about_lists_versions(window):
    from gui.about import versions

    v = versions()
    assert set(v) == {"NightLab", "Qt", "depthai", "onnxruntime", "model"}
    assert "unavailable" not in v["model"]


def test_state_changed_by_a_script_reaches_engine_and_widgets(window, qtbot):
    assert isinstance(window.state, AppState)
    window.state.set_reference(np.zeros((240, 320, 3), np.uint8), "script")
    assert window.preview.has_reference()  # the engine follows at once, on any thread
    qtbot.waitUntil(lambda: "script" in window.capture_panel.source.text(), timeout=5000)
    assert window.live.result_view.has_image()  # the reference shows while live is off


def test_reference_taken_in_an_open_session_is_recorded(window, qtbot, store):
    window.sessions.create("refs")
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.state.camera.latest_frame() is not None, timeout=TIMEOUT)
    assert window.capture_reference()
    sid = window.state.session.id
    qtbot.waitUntil(lambda: len(store.captures(sid, kind="day")) == 1, timeout=TIMEOUT)
    day = store.captures(sid, kind="day")[0]
    # the job hands the tracker the capture's id just after the commit the line above saw
    qtbot.waitUntil(
        lambda: window.preview.tracker.reference.capture_ids == (day.id,), timeout=TIMEOUT
    )
    np.testing.assert_array_equal(store.read_image(day), window.state.reference)


def test_a_reference_captured_from_the_camera_stays_marked_as_this_cameras(window, qtbot):
    """The tracker keeps its own copy of the reference and the window mirrors it back into
    the state: the copy must keep the fixed-camera flag (identity prior, live reuse)."""
    qtbot.waitUntil(lambda: window.state.camera.latest_frame() is not None, timeout=TIMEOUT)
    assert window.capture_reference()
    tracker = window.preview.tracker
    qtbot.waitUntil(
        lambda: tracker.reference is not None and window.state.reference is tracker.reference.image,
        timeout=TIMEOUT,
    )
    assert tracker.reference.fixed_camera
    assert window.state.reference_fixed_camera
