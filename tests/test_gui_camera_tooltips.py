"""Every camera control says what it takes, and the simulated camera's own controls what
they do (pytest-qt, offscreen).

Before: no control had a tooltip; "drift (px)", "scene changes" and "light changes" left a
new user guessing, and no control said its range until a value was refused."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def test_camera_controls_tell_their_range_and_the_simulated_ones_what_they_do(open_window):
    window = open_window(resolution=(160, 120))
    controls = window.controls

    def tip(name: str) -> str:
        return controls.editor(name).toolTip()

    assert tip("drift_px") == (
        "simulated: how far the camera wanders (mount sway), in px\n0 to 20 px, default 2"
    )
    assert tip("scene_changes") == (
        "simulated: objects come and go, and visitors by day\non or off; default on"
    )
    assert tip("light_changes").startswith("simulated: the day light's exposure")
    assert tip("mode") == "day, night; default day"
    assert tip("exposure_us").endswith(" µs, default 10000")
    # every control has one, the label beside it too
    caps = window.state.camera.capabilities()
    for name in caps:
        assert tip(name), name
        label = controls._form.labelForField(controls.editor(name))
        assert label.toolTip() == tip(name), name
