"""An unattended night in the window: disk space before and during a scheduled run, no other
session opened while a run records, and no export ended by a stray close (pytest-qt,
offscreen, real store; the disk's capacity simulated by an injected ``disk_usage``)."""

from __future__ import annotations

import re
import threading

import pytest

pytest.importorskip("PySide6")

from PySide6.QtGui import QCloseEvent  # noqa: E402

from tests.disk_fakes import FillingDisk, bytes_under  # noqa: E402

TIMEOUT = 30_000
MiB = 1 << 20


@pytest.fixture
def window(open_window):  # open_window and store: tests/conftest.py
    return open_window(resolution=(160, 120))


def _night_session(window, qtbot, name):
    """A new session with its day reference recorded, the camera in night mode."""
    window.sessions.create(name)
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.state.camera.latest_frame() is not None, timeout=TIMEOUT)
    assert window.capture_reference()  # recorded into the open session by a job
    sid = window.state.session.id
    qtbot.waitUntil(lambda: window.store.captures(sid, kind="day") != [], timeout=TIMEOUT)
    window.state.camera.set_control("mode", "night")
    qtbot.waitUntil(
        lambda: (f := window.state.camera.latest_frame()) is not None and f.is_gray,
        timeout=TIMEOUT,
    )


def _log(panel) -> list[str]:
    return [panel.log.item(i).text() for i in range(panel.log.count())]


def test_a_run_the_disk_cannot_start_is_refused_and_one_that_fills_it_stops_and_says_why(
    window, qtbot
):
    _night_session(window, qtbot, "filling")
    panel, data = window.night_panel, window.store.root
    per_capture = int(120 * 160 * 3 * 1.05)  # burst 1, raw colour pixels: a new session's guess
    floor = 2 * MiB
    panel.min_free_bytes = floor
    panel.burst.setValue(1)
    panel.every.setValue(0.05)  # 3 s apart
    panel.count.setValue(0)  # until stopped: only the floor can end it
    # under the floor already: refused before anything is written, with the reason
    panel.disk_usage = FillingDisk(data, bytes_under(data) + floor + per_capture // 2)
    n_before = len(window.store.captures(window.state.session.id, members=True))
    panel.start_schedule()
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)
    assert any("not started: not enough disk space" in line for line in _log(panel))
    assert panel.countdown.text().startswith("Not started: not enough disk space")
    assert panel.btn_run.isEnabled()
    assert len(window.store.captures(window.state.session.id, members=True)) == n_before
    # room for one capture above the floor: the run takes it, then stops before the next
    disk = FillingDisk(data, bytes_under(data) + floor + per_capture + per_capture // 2)
    panel.disk_usage = disk
    panel.every.setValue(0.01)  # 0.6 s apart
    panel.start_schedule()
    health = window.run_health
    qtbot.waitUntil(lambda: " free" in health.text(), timeout=TIMEOUT)  # while it runs
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)
    # measured on the runner's and the jobs' threads, never the GUI's
    assert threading.main_thread() not in disk.threads
    captured = re.search(r"(\d+) captured", health.text())
    assert "(disk low)" in health.text() and captured and int(captured[1]) >= 1, health.text()
    assert "#c62828" in health.styleSheet()  # red: the night ended early
    tip = health.toolTip()
    assert "disk low" in tip and "to keep free" in tip and "Disk: " in tip, tip
    assert "free on" in tip and "stopped before writing it" in tip, tip
    assert any("finished (error: disk low:" in line for line in _log(panel)), _log(panel)
    # the floor held for the images; only the log rows and the journal went on (the floor
    # is there to leave room for exactly such writes)
    assert disk.capacity - bytes_under(data) >= floor - 64 * 1024
    assert window.store.verify(window.state.session.id) == []


def test_a_run_that_does_not_fit_asks_first_and_cancel_is_the_default(window, qtbot):
    _night_session(window, qtbot, "short night")
    panel, data = window.night_panel, window.store.root
    per_capture = int(120 * 160 * 3 * 1.05)
    panel.min_free_bytes = MiB
    panel.burst.setValue(1)
    panel.every.setValue(60.0)
    panel.count.setValue(50)  # 50 captures; the disk holds about 3
    panel.disk_usage = FillingDisk(data, bytes_under(data) + MiB + 3 * per_capture + 10)
    panel.start_schedule()
    qtbot.waitUntil(lambda: panel.disk_box is not None, timeout=TIMEOUT)
    box = panel.disk_box
    fits = re.search(r"About (\d+) captures? fit: the run would stop there", box.text())
    assert "does not fit" in box.text() and fits and 1 <= int(fits[1]) <= 3, box.text()
    assert box.defaultButton().text() == "Cancel"
    box.defaultButton().click()
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)
    assert any("not started: not enough disk space (cancelled)" in x for x in _log(panel))
    # asked again, the operator knowingly takes the shorter run
    panel.start_schedule()
    qtbot.waitUntil(lambda: panel.disk_box is not None, timeout=TIMEOUT)
    next(b for b in panel.disk_box.buttons() if b.text() == "Start anyway").click()
    qtbot.waitUntil(lambda: "Next capture in" in panel.countdown.text(), timeout=TIMEOUT)
    assert any(f"knowing the disk holds about {fits[1]}" in line for line in _log(panel))
    panel.cancel()
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)


def test_another_session_is_not_opened_while_a_run_records_and_the_message_names_it(window, qtbot):
    _night_session(window, qtbot, "roof overnight")
    running = window.state.session
    panel = window.night_panel
    panel.every.setValue(60.0)
    panel.start_schedule()
    qtbot.waitUntil(lambda: "Next capture in" in panel.countdown.text(), timeout=TIMEOUT)
    assert window.state.recording.id == running.id
    bar = window.statusBar()
    window.act_new_session.trigger()  # Ctrl+N: refused before any dialog opens
    assert "a capture is recording into session 'roof overnight'" in bar.currentMessage()
    window.sessions.create("other")  # a scripted create is refused too
    qtbot.wait(300)
    assert [s.name for s in window.store.sessions()] == ["roof overnight"]
    window.sessions.close_current()  # closing the session being recorded into
    assert "cannot close the session" in bar.currentMessage()
    assert window.state.session.id == running.id and window.state.session.is_open
    panel.cancel()
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)
    assert window.state.recording is None
    window.sessions.create("other")  # with the run over, it goes ahead
    qtbot.waitUntil(lambda: window.state.session.name == "other", timeout=TIMEOUT)


def test_opening_an_older_session_during_a_run_is_refused(window, qtbot):
    _night_session(window, qtbot, "first")
    first = window.state.session
    window.sessions.create("second")
    qtbot.waitUntil(lambda: window.state.session.name == "second", timeout=TIMEOUT)
    sid = window.state.session.id
    panel = window.night_panel
    qtbot.waitUntil(lambda: panel.btn_run.isEnabled(), timeout=TIMEOUT)
    panel.every.setValue(60.0)
    panel.start_schedule()
    qtbot.waitUntil(lambda: "Next capture in" in panel.countdown.text(), timeout=TIMEOUT)
    qtbot.waitUntil(lambda: window.sessions.table.rowCount() == 2, timeout=TIMEOUT)
    row = next(r for r in range(2) if window.sessions.table.item(r, 0).text() == first.name)
    window.sessions.table.selectRow(row)
    window.sessions.open_selected()
    assert window.state.session.id == sid
    assert "cannot open 'first'" in window.statusBar().currentMessage()
    assert "recording into session 'second'" in window.statusBar().currentMessage()
    panel.cancel()
    qtbot.waitUntil(lambda: panel.runner is None, timeout=TIMEOUT)


class _TitleBarClose(QCloseEvent):
    """A close from the window manager (the title bar's button): Qt marks those spontaneous."""

    def spontaneous(self) -> bool:  # noqa: D102
        return True


@pytest.fixture
def held_export(monkeypatch):
    """The real export, held at its first progress step until released (or cancelled)."""
    import gui.sessions.exchange as exchange

    real = exchange.export_session
    started, release = threading.Event(), threading.Event()

    def export_session(*args, progress, **kwargs):
        def held(p):
            progress(p)  # raises Cancelled once the dialog was stopped
            started.set()
            while not release.wait(0.02):
                progress(p)

        return real(*args, progress=held, **kwargs)

    monkeypatch.setattr(exchange, "export_session", export_session)
    return started, release


def _export_running(window, qtbot, tmp_path, held_export):
    started, _ = held_export
    window.sessions.create("to hand over")
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=TIMEOUT)
    dlg = window.export_dialog(show=False)
    out = tmp_path / "handover.zip"
    dlg.path.setText(str(out))
    dlg.show()
    qtbot.waitUntil(dlg.go.isEnabled, timeout=TIMEOUT)
    dlg.start()
    assert started.wait(20) and dlg.running
    return dlg, out


def test_closing_the_window_during_an_export_asks_and_keep_exporting_is_the_default(
    window, qtbot, tmp_path, held_export
):
    dlg, out = _export_running(window, qtbot, tmp_path, held_export)
    event = _TitleBarClose()
    window.closeEvent(event)
    assert not event.isAccepted() and window.isVisible()
    box = window.confirm_box
    assert box is not None and box.isVisible() and "An export is running" in box.text()
    assert box.defaultButton().text() == "Keep exporting"
    box.defaultButton().click()
    qtbot.waitUntil(lambda: not box.isVisible(), timeout=TIMEOUT)
    assert dlg.running and window.isVisible()
    held_export[1].set()  # the export goes on to the end
    qtbot.waitUntil(lambda: not dlg.running, timeout=TIMEOUT)
    assert out.is_file() and "Exported to" in dlg.phase.text()
    dlg.close()


def test_confirming_the_close_stops_the_export_and_leaves_no_half_written_bag(
    window, qtbot, tmp_path, held_export
):
    dlg, out = _export_running(window, qtbot, tmp_path, held_export)
    window.act_quit.trigger()  # Ctrl+Q asks the same question
    box = window.confirm_box
    assert "An export is running" in box.text()
    next(b for b in box.buttons() if b.text() == "Stop export and quit").click()
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT)
    # the stopped dialog goes with the window (it stayed on screen until the process ended)
    assert dlg.isHidden()
    assert window.wait_closed(timeout=20)
    assert not out.exists() and list(tmp_path.glob("handover*")) == []


def test_a_scripted_close_during_an_export_goes_ahead_and_stops_it(
    window, qtbot, tmp_path, held_export
):
    dlg, out = _export_running(window, qtbot, tmp_path, held_export)
    window.close()  # what SIGTERM does: not spontaneous, nobody to ask
    qtbot.waitUntil(lambda: not window.isVisible(), timeout=TIMEOUT)
    assert window.confirm_box is None and dlg.isHidden()
    assert window.wait_closed(timeout=20)
    assert not out.exists() and list(tmp_path.glob("handover*")) == []


def test_the_floor_the_window_keeps_free_comes_from_nightlab_min_free(
    qtbot, store, monkeypatch, capfd
):
    from engine.app_state import AppState
    from engine.live import PairTracker
    from gui.capture.night import NightCapturePanel
    from gui.jobs import JobRunner

    jobs = JobRunner()
    panels = []
    for value in ("5G", "", "plenty"):
        monkeypatch.setenv("NIGHTLAB_MIN_FREE", value)
        panel = NightCapturePanel(AppState(), store, PairTracker(), jobs)
        qtbot.addWidget(panel)
        panels.append(panel.min_free_bytes)
    jobs.shutdown()
    assert panels == [5 * 2**30, 2**30, 2**30]
    err = capfd.readouterr().err
    assert "NIGHTLAB_MIN_FREE: size must look like 2G or 500M, got 'plenty'" in err
