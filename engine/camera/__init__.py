"""Cameras: one interface (`Camera`), four backends, specs and discovery.

- `SimulatedCamera`: the default everywhere; real photos by day or night, with ground truth;
- `OakCamera`: Luxonis OAK through depthai 3 (loaded only when used);
- `WebcamCamera`: OpenCV ``VideoCapture`` (device index, URL or video file);
- `ReplayCamera`: a video, an image folder or a saved session, at a set rate.

`open_camera` turns a spec string (``"sim:night"``, ``"oak:ID"``, ``"replay:PATH"``...) into
an open camera; `list_cameras` reports every backend's devices and controls.

Examples
--------
>>> from engine.camera import open_camera
>>> cam = open_camera("sim", resolution=(160, 120))
>>> cam.snap().image.shape
(120, 160, 3)
>>> cam.close()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.camera._base import (
    MANUAL_OVERRIDES,
    Camera,
    CameraDisconnected,
    CameraError,
    CameraEvents,
    CameraInfo,
    ControlError,
    ControlSpec,
    Frame,
    FrameMeta,
    StreamEnded,
)
from engine.camera._factory import (
    SPEC_HELP,
    CameraListing,
    list_cameras,
    make_camera,
    open_camera,
)
from engine.camera._replay import ReplayCamera
from engine.camera._simulated import SimulatedCamera
from engine.camera._webcam import WebcamCamera

if TYPE_CHECKING:
    from engine.camera._oak import OakCamera, list_oak_devices
    from engine.camera._oak_colorize import OakColorizer

__all__ = [
    "MANUAL_OVERRIDES",
    "SPEC_HELP",
    "Camera",
    "CameraDisconnected",
    "CameraError",
    "CameraEvents",
    "CameraInfo",
    "CameraListing",
    "ControlError",
    "ControlSpec",
    "Frame",
    "FrameMeta",
    "OakCamera",
    "OakColorizer",
    "ReplayCamera",
    "SimulatedCamera",
    "StreamEnded",
    "WebcamCamera",
    "list_cameras",
    "list_oak_devices",
    "make_camera",
    "open_camera",
]


def __getattr__(name: str) -> Any:
    # the OAK backend pulls in its helpers only when asked for (depthai itself loads later)
    if name in ("OakCamera", "list_oak_devices"):
        from engine.camera import _oak

        return getattr(_oak, name)
    if name == "OakColorizer":
        from engine.camera._oak_colorize import OakColorizer

        return OakColorizer
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
