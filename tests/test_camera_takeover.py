"""Reopening the device the window's camera holds (`gui.main_window._take_over_device`): when
the new connection fails, the old camera is back as it was and the user hears the real cause
(real simulated cameras; no window needed)."""

from __future__ import annotations

import pytest

from engine.camera import CameraError, SimulatedCamera
from gui.main_window import _take_over_device


def _failing_open():
    raise CameraError("oak 1844: blob does not fit the device")


@pytest.mark.parametrize("streaming", [True, False])
def test_a_failed_takeover_gives_the_old_camera_back_as_it_was(streaming):
    old = SimulatedCamera(resolution=(64, 48)).open()
    old.set_control("mode", "night")  # what the operator had set on it
    old.set_control("exposure_us", 5000)
    if streaming:
        old.start()
    try:
        with pytest.raises(CameraError, match="blob does not fit"):
            _take_over_device(old, _failing_open)
        assert old.is_open and old.is_streaming == streaming
        assert (old.get_control("mode"), old.get_control("exposure_us")) == ("night", 5000)
        frame = old.snap()  # the next frame (a new one when streaming), taken with its settings
        assert frame.is_gray and frame.meta.exposure_us == 5000
    finally:
        old.close()


def test_when_the_old_camera_cannot_come_back_both_causes_are_said_in_one_line(monkeypatch):
    old = SimulatedCamera(resolution=(64, 48)).open()
    old.start()

    def gone():
        raise CameraError("device unplugged")

    monkeypatch.setattr(old, "open", gone)
    with pytest.raises(CameraError) as info:
        _take_over_device(old, _failing_open)
    message = str(info.value)
    assert "blob does not fit" in message and "device unplugged" in message
    assert "\n" not in message
    old.close()
