"""The one camera interface every backend implements.

A backend supplies a handful of small hooks (``_open``, ``_close``, ``_grab``,
``_capabilities``, ``_apply_control``); this base class owns everything they share: the
acquisition thread, "newest frame wins" buffering, control validation, events, and the
disconnect / reconnect logic. The GUI never waits on a camera: it pulls ``latest_frame()``
at display rate, or listens to ``events.frame_ready`` (emitted on the acquisition thread, so a
Qt consumer must hop to the GUI thread through a queued signal).
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from psygnal import Signal, SignalGroup

__all__ = [
    "Camera",
    "CameraDisconnected",
    "CameraError",
    "CameraEvents",
    "CameraInfo",
    "ControlError",
    "ControlSpec",
    "Frame",
    "FrameMeta",
    "MANUAL_OVERRIDES",
    "StreamEnded",
]


#: manual control -> the automatic mode that would override it (switched off when it is set)
MANUAL_OVERRIDES = {
    "exposure_us": "auto_exposure",
    "iso": "auto_exposure",
    "white_balance_k": "auto_white_balance",
    "lens_position": "auto_focus",
}


class CameraError(RuntimeError):
    """A camera operation failed; the message is one line, fit for the user."""


class CameraDisconnected(CameraError):
    """Raised by a backend's ``_grab`` when the device went away (unplugged, stream ended)."""


class StreamEnded(CameraError):
    """Raised by ``_grab`` of a finite source (a replay without loop) after its last frame.

    Streaming then stops cleanly: no ``disconnected`` event and no reconnect attempts;
    ``is_streaming`` becomes False and ``streaming_changed(False)`` is emitted once.
    """


class ControlError(ValueError):
    """A control name or value was rejected (unknown, unsupported, out of range)."""


@dataclass(frozen=True)
class FrameMeta:
    """What the camera knew when it took the frame. ``None`` = the backend cannot tell."""

    timestamp: float
    """Host time of capture, seconds (``time.time()`` epoch)."""
    sequence: int
    device_id: str
    exposure_us: int | None = None
    iso: int | None = None
    white_balance_k: int | None = None
    lens_position: int | None = None
    ir_intensity: float | None = None
    """IR flood intensity 0..1 when the device has one; ``None`` if it has no IR driver."""
    mode: str | None = None
    """``"day"`` or ``"night"`` when the backend knows (simulated camera, replay of a session)."""
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The named fields, and the backend's own keys apart under ``"extra"``.

        Kept apart so a backend's extra key (say ``"iso"``) can never overwrite a named field
        in a session record; `from_dict` reads both this and the older flat layout.
        """
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "extra"}
        d["extra"] = dict(self.extra)
        return d

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FrameMeta:
        """Inverse of `to_dict`; unknown top-level keys (old flat records) go to ``extra``."""
        names = set(cls.__dataclass_fields__) - {"extra"}
        fields = {k: v for k, v in data.items() if k in names}
        extra = {k: v for k, v in data.items() if k not in names and k != "extra"}
        extra.update(data.get("extra") or {})
        fields.setdefault("timestamp", 0.0)
        fields.setdefault("sequence", 0)
        fields.setdefault("device_id", "")
        return cls(**fields, extra=extra)


@dataclass(frozen=True)
class Frame:
    """One image with its metadata. ``image`` is RGB uint8 ``(H, W, 3)`` or gray ``(H, W)``."""

    image: np.ndarray
    meta: FrameMeta

    @property
    def is_gray(self) -> bool:
        return self.image.ndim == 2


@dataclass(frozen=True)
class ControlSpec:
    """A control a camera has, with its range. Unsupported controls are listed with a reason."""

    name: str
    kind: str
    """``"int"``, ``"float"``, ``"bool"`` or ``"choice"``."""
    default: Any = None
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    unit: str = ""
    supported: bool = True
    reason: str = ""
    """Why the control is unsupported on this device (e.g. "no IR driver on OAK-1 Max")."""
    description: str = ""
    """What the control does, in an operator's words, where its name does not say it (a
    simulated camera's ``drift_px``); the GUI shows it in the control's tooltip."""

    def validate(self, value: Any) -> Any:
        """Return ``value`` coerced to this control's type, or raise `ControlError`."""
        if not self.supported:
            raise ControlError(f"{self.name}: unsupported on this device ({self.reason})")
        if self.kind == "bool":
            if not isinstance(value, (bool, np.bool_, int)) or value not in (0, 1):
                raise ControlError(f"{self.name}: expected true/false, got {value!r}")
            return bool(value)
        if self.kind == "choice":
            if value not in self.choices:
                raise ControlError(
                    f"{self.name}: {value!r} is not one of {', '.join(map(str, self.choices))}"
                )
            return value
        try:
            num = float(value)
        except (TypeError, ValueError):
            raise ControlError(f"{self.name}: expected a number, got {value!r}") from None
        if not np.isfinite(num):
            raise ControlError(f"{self.name}: expected a finite number, got {value!r}")
        if self.kind == "int" and num != int(num):
            raise ControlError(f"{self.name}: expected an integer, got {value!r}")
        lo, hi = self.minimum, self.maximum
        if (lo is not None and num < lo) or (hi is not None and num > hi):
            unit = f" {self.unit}" if self.unit else ""
            lo_s = "-inf" if lo is None else f"{lo:g}"
            hi_s = "inf" if hi is None else f"{hi:g}"
            raise ControlError(f"{self.name}: {value!r} out of range [{lo_s}, {hi_s}]{unit}")
        return int(num) if self.kind == "int" else num


@dataclass(frozen=True)
class CameraInfo:
    """Identity of a camera: shown in ``nightlab camera list`` and recorded with captures."""

    backend: str
    device_id: str
    name: str
    resolution: tuple[int, int]
    """(width, height) of delivered frames."""
    fps: float
    details: dict[str, Any] = field(default_factory=dict)


class CameraEvents(SignalGroup):
    """Events of a camera. Emitted on the acquisition thread unless noted."""

    frame_ready = Signal(object)
    """A new `Frame` is the latest frame."""
    error = Signal(str)
    """A recoverable problem, one line for the user."""
    disconnected = Signal(str)
    """The device went away; the message says what happened. Acquisition keeps retrying."""
    reconnected = Signal(str)
    """The device is back and streaming again."""
    streaming_changed = Signal(bool)
    """Streaming started (True) or stopped (False). Emitted on the caller's thread, or on the
    acquisition thread when a finite source ends by itself (`StreamEnded`)."""
    control_changed = Signal(str, object)
    """A control was set (name, coerced value). Emitted on the caller's thread."""


class Camera(ABC):
    """Base class of all camera backends.

    Subclasses implement ``_open``, ``_close``, ``_grab``, ``_capabilities``,
    ``_apply_control`` and ``info``. ``_grab`` blocks until the next frame (or returns
    ``None`` on a timeout) and raises `CameraDisconnected` when the device is gone; the base
    class then emits ``events.disconnected`` and calls ``_reconnect`` every
    ``reconnect_interval`` seconds until it succeeds or streaming is stopped.

    Examples
    --------
    >>> from engine.camera import SimulatedCamera  # doctest: +SKIP
    >>> with SimulatedCamera() as cam:  # doctest: +SKIP
    ...     cam.start()
    ...     frame = cam.wait_frame(timeout=1.0)
    """

    #: True when the backend's own control call for a manual value already switches the
    #: device's auto mode off (the OAK's setManualExposure), so the base sends no extra call
    sends_manual_values_as_manual_mode = False

    reconnect_interval: float = 1.0

    def __init__(self) -> None:
        self.events = CameraEvents()
        self._lock = threading.Lock()
        self._latest: Frame | None = None
        self._frame_cond = threading.Condition(self._lock)
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._is_open = False
        self._connected = False
        self._controls: dict[str, Any] = {}
        self.frames_delivered = 0

    # -- hooks for backends ---------------------------------------------------------------
    @abstractmethod
    def _open(self) -> None:
        """Acquire the device. Raise `CameraError` with a one-line reason on failure."""

    @abstractmethod
    def _close(self) -> None:
        """Release the device. Must be safe to call twice."""

    @abstractmethod
    def _grab(self, timeout: float) -> Frame | None:
        """Return the next frame, ``None`` on timeout; raise `CameraDisconnected` if gone."""

    @abstractmethod
    def _capabilities(self) -> dict[str, ControlSpec]:
        """The controls this device has (unsupported ones listed with a reason)."""

    @abstractmethod
    def _apply_control(self, name: str, value: Any) -> None:
        """Send an already validated control value to the device."""

    @property
    @abstractmethod
    def info(self) -> CameraInfo:
        """Identity and current stream format."""

    def _start_stream(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Hook: start the device stream (default: nothing; ``_grab`` pulls on demand)."""

    def _stop_stream(self) -> None:  # noqa: B027 - optional hook, default does nothing
        """Hook: stop the device stream."""

    def _reconnect(self) -> None:
        """Hook: try to get the device back; raise `CameraDisconnected` while it is still gone,
        `CameraError` when it is back but cannot start (said once on ``events.error``)."""
        self._close()
        self._open()
        self._start_stream()

    # -- public API -----------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self._is_open

    @property
    def is_streaming(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def is_connected(self) -> bool:
        """False while the device is unplugged and the camera is trying to reconnect."""
        return self._connected

    def open(self) -> Camera:
        if not self._is_open:
            self._open()
            self._is_open = True
            self._connected = True
        return self

    def close(self) -> None:
        self.stop()
        if self._thread is not None:  # still stuck in _grab: give it a last chance
            self._thread.join(timeout=10.0)
            if self._thread.is_alive():
                raise CameraError(f"{self.info.backend}: acquisition thread is stuck; not closed")
            self._thread = None
        if self._is_open:
            self._close()
            self._is_open = False
            self._connected = False

    def __enter__(self) -> Camera:
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        """Start streaming on a background thread (opens the camera if needed)."""
        self.open()
        if self.is_streaming:
            return
        self._start_stream()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"camera-{self.info.backend}", daemon=True
        )
        self._thread.start()
        self.events.streaming_changed.emit(True)

    def stop(self) -> None:
        """Stop streaming; the last frame stays available."""
        if self._thread is None:
            return
        with self._lock:
            announce = not self._stop.is_set()  # already announced if the stream ended itself
            self._stop.set()
        self._thread.join(timeout=5.0)
        if self._thread.is_alive():
            # a backend stuck inside _grab: never stop or release the device under its feet;
            # the thread exits at its next return (it sees the stop flag) and close() waits.
            self.events.error.emit(f"{self.info.backend}: acquisition did not stop within 5 s")
            return
        self._thread = None
        if self._connected:
            self._stop_stream()
        if announce:
            self.events.streaming_changed.emit(False)

    def latest_frame(self) -> Frame | None:
        """The newest frame delivered (older ones are dropped, never queued)."""
        with self._lock:
            return self._latest

    def wait_frame(self, timeout: float = 2.0, *, after: int | None = None) -> Frame:
        """Block until a frame newer than sequence ``after`` (default: the current one) arrives."""
        deadline = time.monotonic() + timeout
        with self._frame_cond:
            current = self._latest.meta.sequence if self._latest else -1
            seq = after if after is not None else current
            while self._latest is None or self._latest.meta.sequence <= seq:
                left = deadline - time.monotonic()
                if left <= 0 or not self.is_streaming:
                    raise CameraError(
                        f"{self.info.backend}: no frame within {round(timeout, 1):g} s"
                    )
                self._frame_cond.wait(left)
            return self._latest

    def snap(self, timeout: float = 2.0) -> Frame:
        """One frame: the next streamed one, or a single grab when not streaming."""
        if self.is_streaming:
            return self.wait_frame(timeout)
        self.open()
        self._start_stream()
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                frame = self._grab(max(0.01, deadline - time.monotonic()))
                if frame is not None:
                    self._publish(frame)
                    return frame
        finally:
            self._stop_stream()
        raise CameraError(f"{self.info.backend}: no frame within {round(timeout, 1):g} s")

    def capabilities(self) -> dict[str, ControlSpec]:
        """Every control this camera knows, with ranges; unsupported ones carry a reason."""
        return self._capabilities()

    def set_control(self, name: str, value: Any) -> Any:
        """Validate and apply a control. Raises `ControlError` on a bad name or value.

        A manual value switches its automatic mode off first, as camera apps do (setting
        ``iso`` turns ``auto_exposure`` off; see `MANUAL_OVERRIDES`), so the value set is the
        value the frames are taken with, on every backend.
        """
        caps = self._capabilities()
        coerced = self.validate_control(name, value)
        auto = MANUAL_OVERRIDES.get(name)
        leave_auto = auto in caps and caps[auto].supported and self.get_control(auto) is not False
        if leave_auto and not self.sends_manual_values_as_manual_mode:
            self._apply_control(auto, False)  # first: drivers ignore manual values in auto mode
        self._apply_control(name, coerced)
        self._controls[name] = coerced
        self.events.control_changed.emit(name, coerced)
        if leave_auto:
            self._controls[auto] = False
            self.events.control_changed.emit(auto, False)
        return coerced

    def validate_control(self, name: str, value: Any) -> Any:
        """``value`` coerced as `set_control` would apply it, without applying anything.

        Lets a caller refuse bad settings before it starts work that they would stop
        (``nightlab capture --set``). Raises `ControlError` on an unknown name, a control
        this device does not support, or a bad value.

        Examples
        --------
        >>> cam.validate_control("iso", "800")  # doctest: +SKIP
        800
        """
        caps = self._capabilities()
        if name not in caps:
            raise ControlError(
                f"unknown control {name!r}; this camera has: {', '.join(sorted(caps)) or 'none'}"
            )
        return caps[name].validate(value)

    def get_control(self, name: str) -> Any:
        caps = self._capabilities()
        if name not in caps:
            raise ControlError(f"unknown control {name!r}")
        return self._controls.get(name, caps[name].default)

    def controls_in_force(self) -> dict[str, Any]:
        """Every supported control's value now: what a capture records as its controls
        (read from what was set, no device I/O, so any thread may ask)."""
        out = {}
        for name, spec in self.capabilities().items():
            if spec.supported:
                try:
                    out[name] = self.get_control(name)
                except ControlError:
                    continue
        return out

    # -- acquisition thread ---------------------------------------------------------------
    def _publish(self, frame: Frame) -> None:
        with self._frame_cond:
            self._latest = frame
            self.frames_delivered += 1
            self._frame_cond.notify_all()
        self.events.frame_ready.emit(frame)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._grab(0.2)
            except StreamEnded:
                with self._lock:
                    announce = not self._stop.is_set()
                    self._stop.set()
                if announce:
                    self.events.streaming_changed.emit(False)
                return
            except CameraDisconnected as exc:
                self._connected = False
                self.events.disconnected.emit(str(exc))
                self._reconnect_loop()
                continue
            except Exception as exc:  # a backend bug must not kill the app silently
                self.events.error.emit(f"{self.info.backend}: {exc}")
                self._stop.wait(0.1)
                continue
            if frame is not None:
                self._publish(frame)

    def _reconnect_loop(self) -> None:
        said = None  # a reason the device is refused, said once (tried again every interval)
        while not self._stop.is_set():
            if self._stop.wait(self.reconnect_interval):
                return
            try:
                self._reconnect()
            except CameraDisconnected:
                continue  # not back yet: the disconnect already said so
            except CameraError as exc:
                # back, but refused (a model file written over with one that fails its checks,
                # a device that will not start): retried, and said, or the camera never came
                # back after a USB glitch with nothing to say why
                if str(exc) != said:
                    said = str(exc)
                    self.events.error.emit(f"{self.info.backend}: reconnecting, refused: {exc}")
                continue
            self._connected = True
            self.events.reconnected.emit(f"{self.info.backend}: {self.info.device_id} is back")
            return
