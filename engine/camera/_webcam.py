"""WebcamCamera: any camera or stream OpenCV's ``VideoCapture`` opens.

A device index (``0``), a stream URL (``rtsp://...``, ``http://...``) or a video file (handy
for tests: the file plays like a stream, at its own rate, and its end looks like an unplugged
camera, so the base class reconnects and it plays again).

Controls are whatever the driver exposes: each ``CAP_PROP_*`` below is probed by writing its
current value back; those the driver refuses are listed as unsupported. OpenCV gives no
ranges, so on Linux the V4L2 driver is asked directly (``VIDIOC_QUERYCTRL``); elsewhere the
ranges are unknown (``None``) and the driver clamps. Values are the driver's own units (V4L2:
exposure in 100 us steps, white balance in kelvin).
"""

from __future__ import annotations

import contextlib
import os
import struct
import sys
import threading
import time
from pathlib import Path
from typing import Any

import cv2

from engine.camera._base import (
    Camera,
    CameraDisconnected,
    CameraError,
    CameraInfo,
    ControlSpec,
    Frame,
    FrameMeta,
)
from engine.camera._pacing import FramePacer

__all__ = ["WebcamCamera", "list_webcams"]

#: our control name -> (OpenCV property, kind, V4L2 control id)
_PROPS: dict[str, tuple[str, str, int]] = {
    "auto_exposure": ("CAP_PROP_AUTO_EXPOSURE", "bool", 0x009A0901),
    "exposure": ("CAP_PROP_EXPOSURE", "float", 0x009A0902),
    "gain": ("CAP_PROP_GAIN", "float", 0x00980913),
    "auto_white_balance": ("CAP_PROP_AUTO_WB", "bool", 0x0098090C),
    "white_balance_k": ("CAP_PROP_WB_TEMPERATURE", "float", 0x0098091A),
    "auto_focus": ("CAP_PROP_AUTOFOCUS", "bool", 0x009A090C),
    "focus": ("CAP_PROP_FOCUS", "float", 0x009A090A),
    "brightness": ("CAP_PROP_BRIGHTNESS", "float", 0x00980900),
    "contrast": ("CAP_PROP_CONTRAST", "float", 0x00980901),
    "saturation": ("CAP_PROP_SATURATION", "float", 0x00980902),
    "sharpness": ("CAP_PROP_SHARPNESS", "float", 0x0098091B),
    "gamma": ("CAP_PROP_GAMMA", "float", 0x00980910),
    "backlight": ("CAP_PROP_BACKLIGHT", "float", 0x0098091C),
}
_UNITS = {"white_balance_k": "K"}

# struct v4l2_queryctrl: id, type, name[32], minimum, maximum, step, default_value, flags,
# reserved[2]; VIDIOC_QUERYCTRL = _IOWR('V', 36, struct v4l2_queryctrl)
_QUERYCTRL = struct.Struct("=II32siiiiI2I")
_VIDIOC_QUERYCTRL = (3 << 30) | (_QUERYCTRL.size << 16) | (ord("V") << 8) | 36
_V4L2_CTRL_FLAG_DISABLED = 0x0001
# V4L2 exposure_auto menu: 1 = manual, 3 = aperture priority (the auto mode UVC cameras have)
_V4L2_AUTO_EXPOSURE = {False: 1, True: 3}
# DirectShow / MSMF convention in OpenCV: 0.25 = manual, 0.75 = auto
_OTHER_AUTO_EXPOSURE = {False: 0.25, True: 0.75}


def parse_queryctrl(buf: bytes) -> dict[str, Any] | None:
    """Decode a ``struct v4l2_queryctrl``; None when the control is disabled.

    Examples
    --------
    >>> raw = _QUERYCTRL.pack(0x00980913, 1, b"Gain", 0, 255, 1, 32, 0, 0, 0)
    >>> parse_queryctrl(raw)["maximum"]
    255
    """
    cid, ctype, name, lo, hi, step, default, flags, _, _ = _QUERYCTRL.unpack(buf)
    if flags & _V4L2_CTRL_FLAG_DISABLED:
        return None
    label = name.split(b"\0", 1)[0].decode("ascii", "replace")
    return {"id": cid, "type": ctype, "name": label, "minimum": lo, "maximum": hi,
            "step": step, "default": default}  # fmt: skip


def _v4l2_ranges(index: int) -> dict[str, dict[str, Any]]:
    """Ranges of our controls from the V4L2 driver of ``/dev/video<index>`` (Linux only)."""
    if not sys.platform.startswith("linux"):
        return {}
    import fcntl

    try:
        fd = os.open(f"/dev/video{index}", os.O_RDWR | os.O_NONBLOCK)
    except OSError:
        return {}
    out = {}
    try:
        for name, (_, _, cid) in _PROPS.items():
            buf = bytearray(_QUERYCTRL.pack(cid, 0, b"", 0, 0, 0, 0, 0, 0, 0))
            try:
                fcntl.ioctl(fd, _VIDIOC_QUERYCTRL, buf)
            except OSError:
                continue
            parsed = parse_queryctrl(bytes(buf))
            if parsed is not None:
                out[name] = parsed
    finally:
        os.close(fd)
    return out


@contextlib.contextmanager
def _quiet_opencv():
    """OpenCV logs a WARN line for every device it cannot open; we report our own error."""
    from cv2.utils import logging as cvlog

    level = cvlog.getLogLevel()
    cvlog.setLogLevel(cvlog.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        cvlog.setLogLevel(level)


class WebcamCamera(Camera):
    """A webcam, stream URL or video file through OpenCV ``VideoCapture``.

    Parameters
    ----------
    source : int or str
        Device index (``0``; a string of digits counts as an index), URL or video file path.
    resolution : (int, int), optional
        Requested (width, height); the driver may pick the nearest it supports.
    fps : float, optional
        Requested frame rate (for a video file: the playback rate, default its own rate).

    Examples
    --------
    >>> with WebcamCamera(0) as cam:  # doctest: +SKIP
    ...     frame = cam.snap()
    """

    def __init__(
        self,
        source: int | str = 0,
        *,
        resolution: tuple[int, int] | None = None,
        fps: float | None = None,
    ) -> None:
        super().__init__()
        if isinstance(source, str) and source.strip().isdigit():
            source = int(source)
        if not isinstance(source, (int, str)) or source == "":
            raise ValueError(f"source must be a device index, URL or file, got {source!r}")
        self.source = source
        self._resolution_req = resolution
        self._fps_req = fps
        self._cap: cv2.VideoCapture | None = None
        # VideoCapture is not thread-safe: the acquisition thread reads while the GUI sets
        # controls, and a reconnect releases it; every use goes through this lock.
        self._cap_lock = threading.RLock()
        self._pending: Frame | None = None
        self._pacer: FramePacer | None = None
        self._specs: dict[str, ControlSpec] = {}
        self._values: dict[str, Any] = {}
        self._resolution = (0, 0)
        self._fps = 0.0
        self._backend = ""
        self._seq = 0

    @property
    def _is_file(self) -> bool:
        return isinstance(self.source, str) and Path(self.source).is_file()

    # -- Camera hooks ----------------------------------------------------------------------
    def _open(self) -> None:
        from engine._native import captured_native_stderr

        src = self.source
        # FFmpeg prints its own lines (e.g. "[tcp @ 0x...] Connection ... failed") to fd 2
        with _quiet_opencv(), captured_native_stderr() as native:
            if isinstance(src, int):
                api = cv2.CAP_V4L2 if sys.platform.startswith("linux") else cv2.CAP_ANY
                cap = cv2.VideoCapture(src, api)
            elif self._is_file:
                cap = cv2.VideoCapture(src)
            else:
                timeouts = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, 5000]
                timeouts += [cv2.CAP_PROP_READ_TIMEOUT_MSEC, 5000]
                cap = cv2.VideoCapture(src, cv2.CAP_FFMPEG, timeouts)
        if not cap.isOpened():
            cap.release()
            what = "no such device or it is busy" if isinstance(src, int) else "cannot open"
            if native.reason:
                what += f" ({native.reason})"
            raise CameraError(f"webcam {src}: {what}")
        if self._resolution_req:
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, int(self._resolution_req[0]))
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, int(self._resolution_req[1]))
        if self._fps_req and not self._is_file:
            cap.set(cv2.CAP_PROP_FPS, float(self._fps_req))
        ok, bgr = cap.read()
        if not ok:
            cap.release()
            raise CameraError(f"webcam {src}: opened but delivers no frames")
        self._cap = cap
        self._backend = cap.getBackendName()
        self._resolution = (bgr.shape[1], bgr.shape[0])
        rate = cap.get(cv2.CAP_PROP_FPS)
        self._fps = float(self._fps_req or (rate if rate and rate > 0 else 30.0))
        # a file is not paced by hardware: play it at its rate like a live stream
        self._pacer = FramePacer(self._fps) if self._is_file else None
        self._probe_controls()
        self._pending = self._to_frame(bgr)

    def _close(self) -> None:
        with self._cap_lock:
            if self._cap is not None:
                self._cap.release()
                self._cap = None
            self._pending = None

    def _start_stream(self) -> None:
        if self._pacer is not None:
            self._pacer.reset()

    def _grab(self, timeout: float) -> Frame | None:
        if self._cap is None:
            raise CameraDisconnected(f"webcam {self.source}: not open")
        if self._pacer is not None and not self._pacer.wait(timeout):
            return None
        if self._pending is not None:
            frame, self._pending = self._pending, None
            return frame
        with self._cap_lock:
            if self._cap is None:
                raise CameraDisconnected(f"webcam {self.source}: not open")
            ok, bgr = self._cap.read()
        if not ok:
            raise CameraDisconnected(f"webcam {self.source}: stream lost")
        return self._to_frame(bgr)

    def _to_frame(self, bgr) -> Frame:
        # the only BGR -> RGB conversion; a new array, so frames handed out are never reused
        image = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        v = self._values
        v4l2 = self._backend == "V4L2"
        meta = FrameMeta(
            timestamp=time.time(),
            sequence=self._seq,
            device_id=str(self.source),
            exposure_us=int(v["exposure"] * 100) if v4l2 and "exposure" in v else None,
            white_balance_k=int(v["white_balance_k"]) if "white_balance_k" in v else None,
            extra={"backend": self._backend},
        )
        self._seq += 1
        return Frame(image, meta)

    def _probe_controls(self) -> None:
        ranges = _v4l2_ranges(self.source) if isinstance(self.source, int) else {}
        specs, values = {}, {}
        for name, (prop_name, kind, _) in _PROPS.items():
            prop = getattr(cv2, prop_name)
            value = self._cap.get(prop)
            # writing the current value back is the only portable "is it supported?" test
            if value == -1 or not self._cap.set(prop, value):
                why = f"not exposed by the {self._backend} driver"
                specs[name] = ControlSpec(name, kind, supported=False, reason=why)
                continue
            r = ranges.get(name)
            if kind == "bool":
                values[name] = self._bool_from_driver(name, value)
                specs[name] = ControlSpec(name, "bool", values[name])
            elif r is not None:
                values[name] = int(value)
                specs[name] = ControlSpec(
                    name, "int", r["default"], r["minimum"], r["maximum"], unit=_UNITS.get(name, "")
                )
            else:
                values[name] = value
                specs[name] = ControlSpec(name, "float", value, unit=_UNITS.get(name, ""))
        self._specs, self._values = specs, values

    def _bool_from_driver(self, name: str, value: float) -> bool:
        if name == "auto_exposure":
            return value == 3 if self._backend == "V4L2" else value >= 0.5
        return bool(value)

    def _capabilities(self) -> dict[str, ControlSpec]:
        if not self._specs:
            return {
                name: ControlSpec(name, kind, supported=False, reason="camera not open")
                for name, (_, kind, _) in _PROPS.items()
            }
        return dict(self._specs)

    def _apply_control(self, name: str, value: Any) -> None:
        if self._cap is None:
            raise CameraError(f"webcam {self.source}: not open")
        raw = value
        if name == "auto_exposure":
            table = _V4L2_AUTO_EXPOSURE if self._backend == "V4L2" else _OTHER_AUTO_EXPOSURE
            raw = table[value]
        with self._cap_lock:
            if self._cap is None:
                raise CameraError(f"webcam {self.source}: not open")
            accepted = self._cap.set(getattr(cv2, _PROPS[name][0]), float(raw))
        if not accepted:
            raise CameraError(f"webcam {self.source}: the driver refused {name} = {value!r}")
        self._values[name] = value

    @property
    def info(self) -> CameraInfo:
        kind = "device" if isinstance(self.source, int) else ("file" if self._is_file else "url")
        return CameraInfo(
            backend="webcam",
            device_id=str(self.source),
            name=f"Webcam {self.source}" + (f" ({self._backend})" if self._backend else ""),
            resolution=self._resolution,
            fps=self._fps,
            details={"kind": kind, "opencv_backend": self._backend},
        )


def list_webcams(*, max_index: int = 4) -> list[WebcamCamera | CameraError]:
    """Open each webcam that appears to exist; each item is an opened camera or its error.

    On Linux the candidates are the ``/dev/video*`` nodes; elsewhere indices ``0..max_index-1``
    are tried. The caller closes the cameras.
    """
    if sys.platform.startswith("linux"):
        nodes = sorted(Path("/dev").glob("video[0-9]*"), key=lambda p: int(p.name[5:]))
        indices = [int(p.name[5:]) for p in nodes]
    else:
        indices = list(range(max_index))
    found: list[WebcamCamera | CameraError] = []
    for i in indices:
        cam = WebcamCamera(i)
        try:
            found.append(cam.open())
        except CameraError as exc:
            found.append(exc)
    return found
