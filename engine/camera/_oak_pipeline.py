"""The depthai side of the OAK backend: device discovery, frame conversion, one device session.

Everything that touches depthai lives here and imports it lazily, so ``import engine.camera``
works without it. ``OakSession`` is one connected device running one pipeline; ``OakCamera``
opens a new session on every (re)connect, and tests replace the session class with a fake.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.camera._base import CameraDisconnected, CameraError, Frame, FrameMeta
from engine.camera._oak_controls import build_camera_control, replay_calls

if TYPE_CHECKING:
    from engine.camera._oak_colorize import OakColorizer

__all__ = ["OakSession", "frame_from_imgframe", "list_oak_devices", "protocol_name"]

_PROTOCOLS = {
    "X_LINK_USB_VSC": "USB",
    "X_LINK_USB_CDC": "USB",
    "X_LINK_USB_EP": "USB",
    "X_LINK_TCP_IP": "PoE",
    "X_LINK_PCIE": "PCIe",
    "X_LINK_LOCAL_SHDMEM": "local",
    "X_LINK_TCP_IP_OR_LOCAL_SHDMEM": "local",
}
_PLATFORMS = {"X_LINK_MYRIAD_X": "RVC2", "X_LINK_RVC4": "RVC4", "X_LINK_RVC3": "RVC3"}


def protocol_name(protocol: Any) -> str:
    """``"USB"``, ``"PoE"``, ``"PCIe"`` or ``"local"`` for a ``dai.XLinkProtocol`` value.

    Examples
    --------
    >>> import depthai as dai  # doctest: +SKIP
    >>> protocol_name(dai.XLinkProtocol.X_LINK_TCP_IP)  # doctest: +SKIP
    'PoE'
    """
    name = getattr(protocol, "name", str(protocol))
    return _PROTOCOLS.get(name, name.removeprefix("X_LINK_").lower())


def _device_dict(info: Any) -> dict[str, Any]:
    state = getattr(info.state, "name", str(info.state))
    platform = getattr(info.platform, "name", str(info.platform))
    return {
        "device_id": info.getDeviceId(),
        "name": info.name,
        "state": state.removeprefix("X_LINK_").lower(),
        "protocol": protocol_name(info.protocol),
        "platform": _PLATFORMS.get(platform, platform.removeprefix("X_LINK_")),
    }


def list_oak_devices() -> list[dict[str, Any]]:
    """OAK devices reachable now (USB and PoE), one dict each; ``[]`` when there are none.

    Each dict has ``device_id`` (the MX id, what `OakCamera` connects by), ``name`` (USB port
    path or IP address), ``state`` (``"unbooted"``, ``"booted"``, ``"bootloader"``, ...),
    ``protocol`` (``"USB"``, ``"PoE"``) and ``platform`` (``"RVC2"`` for MyriadX devices).
    Never raises: without depthai, or when discovery fails, the list is empty. Takes about
    0.5 s (PoE discovery waits for answers).

    Examples
    --------
    >>> list_oak_devices()  # doctest: +SKIP
    [{'device_id': '14442C10D13EABCE00', 'name': '1.1', 'state': 'unbooted',
      'protocol': 'USB', 'platform': 'RVC2'}]
    """
    try:
        import depthai as dai

        infos = dai.Device.getAllAvailableDevices()
    except Exception:  # no depthai, no USB permission, XLink error: nothing reachable
        return []
    return [_device_dict(info) for info in infos]


def _seconds(td: timedelta) -> float:
    return td.total_seconds()


def frame_from_imgframe(
    msg: Any,
    *,
    device_id: str,
    sequence: int | None = None,
    ir_intensity: float | None = None,
    has_autofocus: bool = True,
    clock_now: timedelta | None = None,
    wall_now: float | None = None,
) -> Frame:
    """Convert a ``dai.ImgFrame`` to a `Frame`: RGB uint8 ``(H, W, 3)`` or gray ``(H, W)``.

    The image is always a copy that owns its memory (never a view into a depthai buffer, so a
    frame stays valid after the device is gone). Colour frames end up in RGB order whatever
    the ImgFrame type (``RGB888i``, ``BGR888i``, ``NV12``...); ``GRAY8`` stays gray.

    Parameters
    ----------
    msg : dai.ImgFrame
    device_id : str
    sequence : int, optional
        Sequence number to record (default: the frame's own ``getSequenceNum()``).
    ir_intensity : float, optional
        IR flood intensity in effect (``None`` if the device has no IR driver).
    has_autofocus : bool
        False for fixed-focus lenses: the lens position is then not recorded.
    clock_now, wall_now : optional
        ``dai.Clock.now()`` and ``time.time()`` at conversion (for tests); the capture time
        is mapped from depthai's host-synced steady clock to wall-clock seconds.

    Examples
    --------
    >>> frame = frame_from_imgframe(queue.get(), device_id="14442C10D13EABCE00")  # doctest: +SKIP
    >>> frame.image.shape, frame.meta.exposure_us  # doctest: +SKIP
    ((480, 640, 3), 16500)
    """
    import depthai as dai

    kind = msg.getType()
    T = dai.ImgFrame.Type
    if kind == T.GRAY8:
        image = msg.getFrame()
    elif kind == T.RGB888i:
        image = msg.getFrame()
    elif kind == T.BGR888i:
        image = msg.getFrame()[:, :, ::-1]
    else:  # NV12, planar, ...: depthai converts to BGR for OpenCV
        import cv2

        image = cv2.cvtColor(msg.getCvFrame(), cv2.COLOR_BGR2RGB)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.flags.owndata and image.flags.c_contiguous and image.dtype == np.uint8):
        image = np.array(image, dtype=np.uint8, order="C", copy=True)

    clock_now = dai.Clock.now() if clock_now is None else clock_now
    wall_now = time.time() if wall_now is None else wall_now
    age = _seconds(clock_now - msg.getTimestamp())
    exposure = msg.getExposureTime()
    wb = int(msg.getColorTemperature())
    lens = int(msg.getLensPosition())
    meta = FrameMeta(
        timestamp=wall_now - age,
        sequence=msg.getSequenceNum() if sequence is None else int(sequence),
        device_id=device_id,
        exposure_us=int(round(_seconds(exposure) * 1e6)),
        iso=int(msg.getSensitivity()),
        white_balance_k=wb if wb > 0 else None,  # 0 = no AWB (mono sensor)
        lens_position=lens if has_autofocus and lens >= 0 else None,
        ir_intensity=ir_intensity,
        extra={
            "device_sequence": int(msg.getSequenceNum()),
            "device_timestamp_s": _seconds(msg.getTimestampDevice()),
        },
    )
    return Frame(image=image, meta=meta)


class OakSession:
    """One connected OAK running one pipeline: camera -> host queue (+ optional colorizer).

    Created by `OakCamera` on every open and reconnect; ``open()`` raises `CameraError` with a
    one-line reason, ``grab()`` raises `CameraDisconnected` when the device is gone.
    """

    def __init__(
        self,
        device_id: str,
        *,
        resolution: tuple[int, int],
        fps: float,
        mono: bool,
        socket: str = "CAM_A",
        controls: dict[str, Any] | None = None,
        ir_intensity: float = 0.0,
        colorizer: OakColorizer | None = None,
    ) -> None:
        self.device_id = device_id
        self.resolution = resolution
        self.fps = fps
        self.mono = mono
        self.socket = socket
        self._controls = dict(controls or {})
        self._ir_intensity = ir_intensity
        self._colorizer = colorizer
        self._device = None
        self._pipeline = None
        self._frames = None
        self._control_queue = None
        self.name = ""
        self.has_ir = False
        self.has_autofocus = True
        self.is_color = True

    @property
    def flood_visible(self) -> bool:
        """The IR flood can light what this camera sees: an IR driver and a mono sensor."""
        return self.has_ir and not self.is_color

    available = staticmethod(list_oak_devices)
    """Devices reachable now (what open and reconnect look for)."""

    def open(self) -> None:
        import depthai as dai

        try:
            self._device = dai.Device(dai.DeviceInfo(self.device_id))
            # one reconnection mechanism only: ours (Camera._reconnect_loop), not depthai's
            self._device.setMaxReconnectionAttempts(0)
            self.name = self._device.getProductName() or self._device.getDeviceName() or "OAK"
            self.has_ir = bool(self._device.getIrDrivers())
            socket = getattr(dai.CameraBoardSocket, self.socket)
            for feat in self._device.getConnectedCameraFeatures():
                if feat.socket == socket:
                    self.has_autofocus = bool(feat.hasAutofocus)
                    self.is_color = dai.CameraSensorType.COLOR in feat.supportedTypes
            self._pipeline = dai.Pipeline(self._device)
            cam = self._pipeline.create(dai.node.Camera).build(socket)
            build_camera_control(replay_calls(self._controls), cam.initialControl)
            kind = dai.ImgFrame.Type.GRAY8 if self.mono else dai.ImgFrame.Type.RGB888i
            out = cam.requestOutput(tuple(self.resolution), type=kind, fps=float(self.fps))
            self._frames = out.createOutputQueue(maxSize=4, blocking=False)
            self._control_queue = cam.inputControl.createInputQueue()
            if self._colorizer is not None:
                self._colorizer.build(self._pipeline, out)
            self._pipeline.start()
            if self.flood_visible:
                self._device.setIrFloodLightIntensity(float(self._ir_intensity))
        except Exception as exc:  # XLink/RuntimeError, queue closed mid-start, bad model...
            self.close()
            raise CameraError(f"OAK {self.device_id}: cannot start ({_one_line(exc)})") from None

    def grab(self, timeout: float) -> list[Any]:
        """Every ``dai.ImgFrame`` queued since the last call, oldest first; ``[]`` on timeout.

        The queue holds at most 4 frames and drops the oldest, so a slow consumer never
        lags behind the camera.
        """
        import depthai as dai

        if self._frames is None:
            raise CameraDisconnected(f"OAK {self.device_id}: not connected")
        try:
            msgs = self._frames.tryGetAll()
            if not msgs:
                msg = self._frames.get(timedelta(seconds=timeout))
                msgs = [] if msg is None else [msg]
        except (dai.MessageQueue.QueueException, RuntimeError) as exc:
            raise CameraDisconnected(
                f"OAK {self.device_id}: stream lost ({_one_line(exc)})"
            ) from None
        if not msgs:
            self._check_alive()
        return msgs

    def _check_alive(self) -> None:
        import depthai as dai  # Device.getDeviceState / DeviceState: depthai >= 3.11

        dev, pipe = self._device, self._pipeline
        try:
            gone = dev is None or dev.isClosed() or dev.getDeviceState() != dai.DeviceState.RUNNING
            gone = gone or pipe is None or not pipe.isRunning()
        except RuntimeError:
            gone = True
        if gone:
            raise CameraDisconnected(f"OAK {self.device_id}: device disconnected")

    def send_control(self, ctrl: Any) -> None:
        if self._control_queue is not None:
            self._control_queue.send(ctrl)

    def set_ir(self, intensity: float) -> None:
        self._ir_intensity = intensity
        if self._device is not None and self.flood_visible:
            if not self._device.setIrFloodLightIntensity(float(intensity)):
                raise CameraError(
                    f"OAK {self.device_id}: IR flood light did not accept {intensity}"
                )

    def close(self) -> None:
        pipe, dev = self._pipeline, self._device
        self._pipeline = self._device = self._frames = self._control_queue = None
        for action in (
            lambda: pipe is not None and pipe.stop(),
            lambda: pipe is not None and pipe.wait(),
            lambda: dev is not None and dev.close(),
        ):
            try:
                action()
            except Exception:  # closing a device that is already gone raises; nothing to keep
                pass


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
