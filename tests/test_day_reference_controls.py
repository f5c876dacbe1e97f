"""Day references taken in the app are recorded with the camera controls in force when they
were taken, as ``nightlab capture`` records its own: the app stored ``{}`` (captures'
``controls_json``), so a night's record could not say at what exposure, gain or white balance
its reference was taken. Every way the Capture dock takes one: a frame, a burst, captures
kept and fused."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from tests.conftest import GUI_TIMEOUT  # noqa: E402

pytestmark = pytest.mark.usefixtures("no_leaked_windows")

#: set before the reference is taken (manual exposure and white balance, as in a lab)
SET = {"exposure_us": 12_000, "iso": 400, "white_balance_k": 4300}


@pytest.fixture
def window(open_window):
    return open_window(resolution=(160, 120))


def _set(cam, controls) -> dict:
    """Set ``controls``; every supported control's value now (what ``nightlab capture``
    records for its captures)."""
    for name, value in controls.items():
        cam.set_control(name, value)
    caps = cam.capabilities()
    return {name: cam.get_control(name) for name, spec in caps.items() if spec.supported}


def _open_session(window, qtbot) -> int:
    """A session open: a day reference taken now is recorded into it at once."""
    window.sessions.create("controls night")
    qtbot.waitUntil(lambda: window.state.session is not None, timeout=GUI_TIMEOUT)
    return window.state.session.id


def _recorded_days(window, qtbot, sid: int, n: int):
    store = window.store
    qtbot.waitUntil(lambda: len(store.captures(sid, kind="day")) == n, timeout=GUI_TIMEOUT)
    return store.captures(sid, kind="day")


def test_a_day_frame_taken_in_the_app_is_recorded_with_the_controls_it_was_taken_with(
    window, qtbot
):
    cam, sid = window.state.camera, _open_session(window, qtbot)
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=GUI_TIMEOUT)
    in_force = _set(cam, SET)
    qtbot.waitUntil(  # a frame taken with them
        lambda: (f := cam.latest_frame()) is not None and f.meta.exposure_us == 12_000,
        timeout=GUI_TIMEOUT,
    )
    assert window.capture_reference()
    # changed right after (before the job records it): not what it was taken with
    cam.set_control("mode", "night")
    cam.set_control("iso", 1600)
    (day,) = _recorded_days(window, qtbot, sid, 1)
    assert day.controls == in_force  # was {}
    assert day.controls["mode"] == "day" and day.controls["iso"] == 400
    assert {k: day.controls[k] for k in SET} == SET


def test_a_day_burst_taken_in_the_app_is_recorded_with_its_controls(window, qtbot):
    cam, panel, sid = window.state.camera, window.capture_panel, _open_session(window, qtbot)
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=GUI_TIMEOUT)
    in_force = _set(cam, SET)
    panel.capture_burst(3)
    qtbot.waitUntil(lambda: window.state.reference is not None, timeout=GUI_TIMEOUT)
    (day,) = _recorded_days(window, qtbot, sid, 1)
    assert day.controls == in_force and day.controls["white_balance_k"] == 4300


def test_day_captures_kept_and_fused_in_the_app_keep_each_ones_controls(window, qtbot):
    cam, panel, sid = window.state.camera, window.capture_panel, _open_session(window, qtbot)
    qtbot.waitUntil(lambda: cam.latest_frame() is not None, timeout=GUI_TIMEOUT)
    taken = []
    for iso in (200, 800):
        in_force = _set(cam, {**SET, "iso": iso})
        qtbot.waitUntil(
            lambda i=iso: (f := cam.latest_frame()) is not None and f.meta.iso == i,
            timeout=GUI_TIMEOUT,
        )
        assert panel.add_capture()
        taken.append(in_force)
    panel.use_median()
    qtbot.waitUntil(
        lambda: (r := window.preview.tracker.reference) is not None and len(r.days) == 2,
        timeout=GUI_TIMEOUT,
    )
    days = _recorded_days(window, qtbot, sid, 2)
    assert [d.controls for d in days] == taken
    assert [d.controls["iso"] for d in days] == [200, 800]
