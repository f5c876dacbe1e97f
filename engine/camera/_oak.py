"""Luxonis OAK cameras (depthai 3.x) behind the one camera interface.

depthai is imported only when a camera is opened (see ``_oak_pipeline``), so importing this
module costs nothing on machines without it.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.camera._base import (
    Camera,
    CameraDisconnected,
    CameraError,
    CameraInfo,
    ControlSpec,
    Frame,
)
from engine.camera._oak_controls import (
    build_camera_control,
    control_calls,
    implied_controls,
    oak_control_specs,
)
from engine.camera._oak_pipeline import OakSession, frame_from_imgframe, list_oak_devices

if TYPE_CHECKING:
    from engine.camera._oak_colorize import OakColorizer
    from engine.colorize import RecombineParams
    from engine.models import ModelCard

__all__ = ["OakCamera", "list_oak_devices"]

_SOCKETS = ("CAM_A", "CAM_B", "CAM_C", "CAM_D", "CAM_E", "CAM_F", "CAM_G", "CAM_H")


class OakCamera(Camera):
    """A Luxonis OAK camera (USB or PoE) streaming through depthai 3.x.

    Parameters
    ----------
    device_id : str, optional
        MX id (``list_oak_devices()[i]["device_id"]``) or name (USB path / IP address);
        ``None`` = the first device found.
    resolution : (int, int)
        (width, height) of delivered frames.
    fps : float
        Frame rate requested from the sensor.
    mono : bool
        Deliver gray ``(H, W)`` uint8 (GRAY8; night / IR use) instead of RGB ``(H, W, 3)``.
    socket : str
        Camera socket: ``"CAM_A"`` (the colour camera), ``"CAM_B"``/``"CAM_C"`` (the mono
        cameras of OAK-D models).

    Notes
    -----
    Controls: ``auto_exposure``, ``exposure_us`` (1..33000), ``iso`` (100..1600),
    ``auto_exposure_limit_us``, ``auto_white_balance``, ``white_balance_k`` (1000..12000),
    ``auto_focus``, ``lens_position`` (0..255), ``anti_banding`` (off/50hz/60hz/auto) and
    ``ir_intensity`` (0..1: the IR flood, offered only where it lights what this camera sees,
    i.e. on a device with an IR driver (OAK-D Pro models; the OAK-1 Max has none) streaming a
    mono socket, CAM_B/CAM_C; the colour camera's IR-cut filter blocks it). Every
    frame records exposure, ISO, colour temperature, lens position and IR intensity as the
    camera reports them. If the device is unplugged, ``events.disconnected`` fires, frames
    already delivered stay valid, and the camera reconnects (with the same controls) when the
    device returns.

    Examples
    --------
    >>> with OakCamera(resolution=(640, 480), fps=30) as cam:  # doctest: +SKIP
    ...     cam.set_control("exposure_us", 8000)
    ...     frame = cam.snap()
    >>> frame.meta.exposure_us  # doctest: +SKIP
    8000
    """

    sends_manual_values_as_manual_mode = True  # control_calls: a manual value is a manual mode

    session_factory = OakSession
    """Makes the per-connection device session; tests replace it with a fake."""

    def __init__(
        self,
        device_id: str | None = None,
        *,
        resolution: tuple[int, int] = (640, 480),
        fps: float = 30.0,
        mono: bool = False,
        socket: str = "CAM_A",
    ) -> None:
        if device_id is not None and (not isinstance(device_id, str) or not device_id):
            raise ValueError(f"device_id must be a non-empty string or None, got {device_id!r}")
        try:
            width, height = (int(v) for v in resolution)
            ok = (width, height) == tuple(resolution) and width >= 16 and height >= 16
        except (TypeError, ValueError):
            ok = False
        if not ok:
            raise ValueError(f"resolution must be (width, height) >= (16, 16), got {resolution!r}")
        if not (isinstance(fps, (int, float)) and 0 < fps <= 120):
            raise ValueError(f"fps must be in (0, 120], got {fps!r}")
        if socket not in _SOCKETS:
            raise ValueError(f"socket must be one of {', '.join(_SOCKETS)}, got {socket!r}")
        super().__init__()
        self._requested_id = device_id
        self._device_id: str | None = None
        self.resolution = (width, height)
        self.fps = float(fps)
        self.mono = bool(mono)
        self.socket = socket
        self._session: OakSession | None = None
        self._session_lock = threading.Lock()
        self._features: dict[str, Any] = {}
        self._colorizer: OakColorizer | None = None
        self._sequence_base = 0
        self._last_sequence = -1

    # -- on-camera colorization -------------------------------------------------------------
    def enable_colorization(
        self,
        model: str | Path | None = None,
        *,
        card: ModelCard | None = None,
        params: RecombineParams | None = None,
    ) -> OakColorizer:
        """Run a colorization model on the camera; returns its `OakColorizer`.

        The model (``.blob`` or NN archive; ``None`` = the default model's blob) is checked
        against its card before anything is deployed. Call before ``open()``/``start()``:
        the network is part of the device pipeline.
        """
        from engine.camera._oak_colorize import OakColorizer

        if self.is_open:
            raise CameraError("OAK: enable colorization before opening the camera")
        self._colorizer = OakColorizer.load(model, card=card, params=params)
        return self._colorizer

    @property
    def colorizer(self) -> OakColorizer | None:
        """The `OakColorizer` if on-camera colorization is enabled, else ``None``."""
        return self._colorizer

    # -- hooks ----------------------------------------------------------------------------
    def _resolve_device_id(self) -> str:
        available = self.session_factory.available()
        wanted = self._requested_id
        for dev in available:
            if wanted is None or wanted in (dev["device_id"], dev["name"]):
                return dev["device_id"]
        if wanted is None:
            raise CameraError(
                "OAK: no device found (USB or PoE); check the cable, power and udev rules"
            )
        found = ", ".join(d["device_id"] for d in available) or "none"
        raise CameraError(f"OAK {wanted}: not found (devices found: {found})")

    def _open(self) -> None:
        if self._device_id is None:
            self._device_id = self._resolve_device_id()
        session = self.session_factory(
            self._device_id,
            resolution=self.resolution,
            fps=self.fps,
            mono=self.mono,
            socket=self.socket,
            controls=dict(self._controls),
            ir_intensity=float(self._controls.get("ir_intensity", 0.0)),
            colorizer=self._colorizer,
        )
        session.open()
        with self._session_lock:
            self._session = session
        self._features = {
            "name": session.name,
            "has_ir": session.has_ir,
            "has_autofocus": session.has_autofocus,
            "is_color": session.is_color,
        }

    def _close(self) -> None:
        with self._session_lock:
            session, self._session = self._session, None
        if session is not None:
            session.close()

    def _grab(self, timeout: float) -> Frame | None:
        session = self._session
        if session is None:
            raise CameraDisconnected(f"OAK {self._device_id}: not connected")
        msgs = session.grab(timeout)
        if not msgs:
            return None
        colorizer = self._colorizer
        flood = self._features.get("has_ir", False) and not self._features.get("is_color", True)
        ir = float(self._controls.get("ir_intensity", 0.0)) if flood else None
        frame = None
        # the colorizer pairs ab outputs with night frames, so it sees every one; else only
        # the newest is converted (the others would be dropped anyway)
        for msg in msgs if colorizer is not None else msgs[-1:]:
            frame = frame_from_imgframe(
                msg,
                device_id=self._device_id,
                sequence=self._sequence_base + msg.getSequenceNum(),
                ir_intensity=ir,
                has_autofocus=self._features.get("has_autofocus", True),
            )
            if colorizer is not None:
                colorizer.add_night_frame(frame)
        if colorizer is not None:
            colorizer.poll()
        self._last_sequence = frame.meta.sequence
        return frame

    def _reconnect(self) -> None:
        self._close()
        ids = [d["device_id"] for d in self.session_factory.available()]
        if self._device_id not in ids:
            raise CameraDisconnected(f"OAK {self._device_id}: still disconnected")
        # device sequence numbers restart at 0; ours keep increasing
        self._sequence_base = self._last_sequence + 1
        if self._colorizer is not None:
            self._colorizer.reset()
        self._open()

    def _capabilities(self) -> dict[str, ControlSpec]:
        f = self._features
        return oak_control_specs(
            has_ir=f.get("has_ir"),
            has_autofocus=f.get("has_autofocus", True),
            is_color=f.get("is_color", True),
        )

    def _apply_control(self, name: str, value: Any) -> None:
        import depthai as dai

        with self._session_lock:
            session = self._session
            if session is not None:
                try:
                    if name == "ir_intensity":
                        session.set_ir(value)
                    else:
                        calls = control_calls(name, value, self._controls)
                        session.send_control(build_camera_control(calls))
                except CameraError:
                    raise
                except (RuntimeError, dai.MessageQueue.QueueException):
                    # the device just went away: the value is kept and replayed on reconnect
                    pass
        self._controls.update(implied_controls(name, value))

    @property
    def info(self) -> CameraInfo:
        f = self._features
        return CameraInfo(
            backend="oak",
            device_id=self._device_id or self._requested_id or "(first found)",
            name=f.get("name", "OAK"),
            resolution=self.resolution,
            fps=self.fps,
            details={
                "socket": self.socket,
                "mono": self.mono,
                "ir_driver": f.get("has_ir"),
                "autofocus": f.get("has_autofocus"),
                "colorization": self._colorizer.card.name if self._colorizer else None,
            },
        )
