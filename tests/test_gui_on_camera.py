"""Colorizing on the camera from the window (issue 9: "host or on-camera from the GUI").

No OAK is attached here, so the OAK class the window opens is replaced by a simulated camera
that reports itself as an OAK and whose "network" returns a known colour. What is proved is
the window's side of the switch: a non-OAK camera is refused with a message and the choice
goes back to the host; with an OAK the camera is reopened with the model on a job thread
(never on the GUI thread), the window switches to it, and the live result's colour is the
camera's, while the host still aligns and masks and sends it the reference. The device side
(blob in the pipeline) is covered by tests/test_camera_oak.py and tests/device/.
"""

from __future__ import annotations

import threading
from types import SimpleNamespace

import numpy as np
import pytest

pytest.importorskip("PySide6")

import engine.camera  # noqa: E402
from engine.camera import CameraError, CameraInfo, SimulatedCamera  # noqa: E402
from tests.model_files import copy_model  # noqa: E402

TIMEOUT = 30_000
pytestmark = pytest.mark.usefixtures("no_leaked_windows")  # no dialog left open
CAMERA_COLOUR = (40, 90, 200)  # RGB the fake network "predicts": no host path makes this


class _FakeNetwork:
    """The host side of an on-camera colorizer: takes references, hands back the colour."""

    def __init__(self, shape: tuple[int, int]) -> None:
        self.card = SimpleNamespace(name="RefColor-S (blob)")
        self.references: list[tuple[tuple[int, ...], bool]] = []
        self._rgb = np.empty((*shape, 3), np.uint8)
        self._rgb[...] = CAMERA_COLOUR

    def set_reference(self, night, reference, *, leak_mask=None) -> None:
        self.references.append((reference.shape, leak_mask is not None))

    def latest_result(self):
        return SimpleNamespace(result=SimpleNamespace(rgb=self._rgb))


class _FakeOak(SimulatedCamera):
    """A simulated camera that says it is an OAK, with the OakCamera calls the window uses.

    Like a real OAK, a device takes one connection at a time: opening it while another
    `_FakeOak` holds it fails (depthai: the device is already booted by that connection).
    """

    opened_on: list[threading.Thread] = []
    models: list = []
    """The model each reopen put on the camera, in order."""
    in_use: set[str] = set()
    refuse_colorization = False
    fail_open_with_network = False

    def __init__(self, device_id: str = "fake-mxid") -> None:
        super().__init__(resolution=(320, 240), fps=30.0, seed=3, mode="day")
        self.device_id = device_id
        self.colorizer = None

    def _open(self) -> None:
        if self.colorizer is not None and type(self).fail_open_with_network:
            raise CameraError(f"OAK {self.device_id}: the pipeline with the network failed to boot")
        if self.device_id in type(self).in_use:
            raise CameraError(f"OAK {self.device_id}: not found (devices found: none)")
        super()._open()
        type(self).in_use.add(self.device_id)

    def _close(self) -> None:
        type(self).in_use.discard(self.device_id)
        super()._close()

    @property
    def info(self) -> CameraInfo:
        base = super().info
        return CameraInfo("oak", self.device_id, "OAK (fake)", base.resolution, base.fps)

    def enable_colorization(self, model=None):
        type(self).opened_on.append(threading.current_thread())
        type(self).models.append(model)
        if type(self).refuse_colorization:
            raise CameraError("OAK: the blob does not match its card")
        self.colorizer = _FakeNetwork((240, 320))
        return self.colorizer


@pytest.fixture(autouse=True)
def _fresh_fake_devices():
    _FakeOak.opened_on, _FakeOak.in_use, _FakeOak.models = [], set(), []
    _FakeOak.refuse_colorization = _FakeOak.fail_open_with_network = False
    yield


def test_on_camera_choice_with_a_non_oak_camera_says_why_and_stays_on_the_host(open_window):
    win = open_window()  # the simulated camera
    assert not win.model_panel.camera.isEnabled()  # the radio is greyed out without an OAK
    win.state.colorize_on = "camera"  # e.g. a script, or a remembered setting
    assert win.state.colorize_on == "host"
    assert "needs an OAK" in win.statusBar().currentMessage()
    assert win.model_panel.host.isChecked()


def _shows_gray(camera) -> bool:
    """The camera's newest frame is gray (a camera just reopened may have none yet)."""
    frame = camera.latest_frame()
    return frame is not None and frame.is_gray


def test_on_camera_choice_reopens_the_oak_off_the_gui_thread_and_shows_its_colour(
    qtbot, monkeypatch, open_window
):
    _FakeOak.opened_on = []
    monkeypatch.setattr(engine.camera, "OakCamera", _FakeOak)
    first = _FakeOak()
    win = open_window(first)
    assert win.model_panel.camera.isEnabled()
    qtbot.waitUntil(lambda: first.latest_frame() is not None, timeout=TIMEOUT)
    assert win.capture_reference()
    first.set_control("mode", "night")
    qtbot.waitUntil(lambda: _shows_gray(first), timeout=TIMEOUT)

    win.model_panel.camera.click()  # the operator picks "on the camera"

    qtbot.waitUntil(lambda: win.state.camera is not first, timeout=TIMEOUT)
    new = win.state.camera
    assert isinstance(new, _FakeOak)
    assert win.state.colorize_on == "camera"
    assert win.model_panel.camera.isChecked()
    # the device was reopened with the network on a job thread, never the GUI thread
    assert len(_FakeOak.opened_on) == 1
    assert _FakeOak.opened_on[0] is not threading.main_thread()
    assert "Colorizing on the camera" in win.statusBar().currentMessage()
    qtbot.waitUntil(lambda: not first.is_open, timeout=TIMEOUT)  # the old one closed

    new.set_control("mode", "night")
    qtbot.waitUntil(lambda: _shows_gray(new), timeout=TIMEOUT)
    results = []
    win.preview.events.result.connect(results.append)
    win.set_live(True)
    qtbot.waitUntil(lambda: any(r.pair.ok for r in results), timeout=TIMEOUT)
    res = next(r for r in results if r.pair.ok)
    rgb = res.pair.colorized.rgb
    assert tuple(int(v) for v in rgb[120, 160]) == CAMERA_COLOUR  # the camera's colour
    # the host aligned and masked, and sent the camera that reference with a mask
    assert new.colorizer.references and new.colorizer.references[-1] == ((240, 320, 3), True)


@pytest.mark.parametrize(
    ("flag", "why"),
    [("refuse_colorization", "does not match its card"), ("fail_open_with_network", "boot")],
    ids=["blob-refused", "reopen-failed"],
)
def test_on_camera_choice_that_fails_goes_back_to_the_host_with_the_camera_streaming(
    qtbot, monkeypatch, flag, why, open_window
):
    monkeypatch.setattr(engine.camera, "OakCamera", _FakeOak)
    setattr(_FakeOak, flag, True)
    first = _FakeOak()
    win = open_window(first)
    qtbot.waitUntil(lambda: first.latest_frame() is not None, timeout=TIMEOUT)
    win.model_panel.camera.click()
    qtbot.waitUntil(lambda: win.state.colorize_on == "host", timeout=TIMEOUT)
    assert why in win.statusBar().currentMessage()
    assert win.state.camera is first and first.is_open  # the operator's camera, still on
    seen = first.latest_frame().meta.sequence
    qtbot.waitUntil(lambda: first.latest_frame().meta.sequence > seen, timeout=TIMEOUT)


def test_reopening_the_oak_in_use_from_the_camera_dock_switches_to_it(
    qtbot, monkeypatch, open_window
):
    # the Camera dock's Open on the device already open: it must close first, then reopen
    def open_fake(spec):
        return _FakeOak(spec.partition(":")[2]).open()

    monkeypatch.setattr(engine.camera, "open_camera", open_fake)
    first = _FakeOak()
    win = open_window(first)
    win.open_camera("oak:fake-mxid")
    qtbot.waitUntil(lambda: win.state.camera is not first, timeout=TIMEOUT)
    new = win.state.camera
    assert new.info.device_id == "fake-mxid" and new.is_open and not first.is_open
    qtbot.waitUntil(lambda: new.latest_frame() is not None, timeout=TIMEOUT)


def test_the_same_blob_path_loaded_again_after_it_was_written_over_reopens_the_oak_with_it(
    qtbot, monkeypatch, open_window, tmp_path
):
    """As on the host (`ModelPanel.load`): the model loaded again from the same path after its
    files were written over is a model change, and the camera's network follows it: the OAK
    is reopened with the model, read again. Before, the camera kept what it was opened with
    (an OakColorizer's card is read when it is made: the old sha256)."""
    import json

    from engine.models import card_path_for, default_model_path, sha256_file

    blob = copy_model(default_model_path().with_name("refcolor_s.blob"), tmp_path)
    monkeypatch.setattr(engine.camera, "OakCamera", _FakeOak)
    first = _FakeOak()
    win = open_window(first)
    qtbot.waitUntil(lambda: first.latest_frame() is not None, timeout=TIMEOUT)
    win.model_panel.load(str(blob))
    assert win.state.model_path == str(blob)
    win.model_panel.camera.click()
    qtbot.waitUntil(lambda: win.state.camera is not first, timeout=TIMEOUT)
    second = win.state.camera
    assert _FakeOak.models == [str(blob)]
    old_sha = sha256_file(blob)
    qtbot.waitUntil(lambda: old_sha[:16] in win.model_panel.card.text(), timeout=TIMEOUT)

    win.model_panel.load(str(blob))  # the same files: nothing to do
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=TIMEOUT)
    assert win.state.camera is second and _FakeOak.models == [str(blob)]

    card = json.loads(card_path_for(blob).read_text())
    card["description"] += " Compiled again."
    card_path_for(blob).write_text(json.dumps(card, indent=2))  # written over, same path
    win.model_panel.load(str(blob))
    qtbot.waitUntil(lambda: win.state.camera is not second, timeout=TIMEOUT)
    assert _FakeOak.models == [str(blob), str(blob)]
    assert win.state.colorize_on == "camera" and isinstance(win.state.camera, _FakeOak)
    assert _FakeOak.opened_on[-1] is not threading.main_thread()
    qtbot.waitUntil(lambda: not second.is_open, timeout=TIMEOUT)  # the old one closed


def test_a_second_model_change_while_the_oak_reopens_waits_for_it_then_reopens_with_it(
    qtbot, monkeypatch, open_window, tmp_path
):
    """Two model changes in a row while colorizing on the camera: the second reopen waits for
    the first, then starts from the camera that one made. Before, both reopens ran from the
    first camera: the second found the device taken and went back to the host."""
    from engine.models import default_model_path

    shipped = default_model_path().with_name("refcolor_s.blob")
    blobs = [str(copy_model(shipped, tmp_path / name)) for name in ("a", "b")]
    monkeypatch.setattr(engine.camera, "OakCamera", _FakeOak)
    first = _FakeOak()
    win = open_window(first)
    qtbot.waitUntil(lambda: first.latest_frame() is not None, timeout=TIMEOUT)
    win.model_panel.camera.click()
    qtbot.waitUntil(lambda: win.state.camera is not first, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=TIMEOUT)

    win.state.model_path = blobs[0]
    win.state.model_path = blobs[1]  # before the reopen with the first one is done
    qtbot.waitUntil(lambda: _FakeOak.models[-1:] == [blobs[1]], timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=TIMEOUT)
    assert _FakeOak.models == [None, blobs[0], blobs[1]]
    assert win.state.colorize_on == "camera", win.statusBar().currentMessage()
    assert win.state.camera.is_open and "Colorizing on the camera" in (
        win.statusBar().currentMessage()
    )


def test_host_chosen_while_the_oak_reopens_keeps_the_colour_on_the_host(
    qtbot, monkeypatch, open_window
):
    """The operator picks "on the camera", then "on the host" before the OAK is reopened:
    the reopened camera streams, and the live colour stays the host's, as the Model dock
    says. Before, the finished reopen set the camera's network on the live view anyway."""
    monkeypatch.setattr(engine.camera, "OakCamera", _FakeOak)
    first = _FakeOak()
    win = open_window(first)
    qtbot.waitUntil(lambda: first.latest_frame() is not None, timeout=TIMEOUT)
    assert win.capture_reference()
    win.model_panel.camera.click()
    win.model_panel.host.click()  # before the reopen's result reaches the GUI thread
    assert win.state.colorize_on == "host"
    qtbot.waitUntil(lambda: win.state.camera is not first, timeout=TIMEOUT)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=TIMEOUT)
    assert win.state.colorize_on == "host" and win.model_panel.host.isChecked()
    new = win.state.camera
    new.set_control("mode", "night")
    qtbot.waitUntil(lambda: _shows_gray(new), timeout=TIMEOUT)
    results = []
    win.preview.events.result.connect(results.append)
    win.set_live(True)
    qtbot.waitUntil(lambda: any(r.pair.ok for r in results), timeout=TIMEOUT)
    rgb = next(r for r in results if r.pair.ok).pair.colorized.rgb
    assert tuple(int(v) for v in rgb[120, 160]) != CAMERA_COLOUR  # the host's colour
    assert not new.colorizer.references  # nothing sent to the camera's network
