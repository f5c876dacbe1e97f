"""A fake OAK for running ``OakSession``'s own code without hardware, shaped on depthai.

Only what needs a device is faked: ``dai.Device`` and the ``dai.Pipeline`` bound to it, the
camera node, and its queues. Every method a fake defines must exist on the depthai class it
stands for (checked when the fake class is made, :func:`shaped_on`), and a method depthai
lacks is absent from the fake too, so a call depthai does not have fails in a test with an
``AttributeError``. Everything that crosses the fake is real depthai: ``dai.DeviceInfo``,
``dai.CameraFeatures``, ``dai.CameraControl``, ``dai.ImgFrame``, ``dai.DeviceState``, and the
queue exception. Behaviour follows depthai's documentation: ``MessageQueue.get(timeout)``
returns ``None`` after the timeout, a queue of a lost device raises ``QueueException``,
``Device(info)`` raises ``RuntimeError`` when the device is not found.
"""

from __future__ import annotations

import time
from datetime import timedelta

import depthai as dai
import numpy as np


def shaped_on(real: type, *, records: tuple[str, ...] = ()):
    """Class decorator: every public name the fake defines, on the class or on an instance,
    must exist on ``real``; ``records`` names the attributes where a test reads what reached
    the fake (they are not depthai's)."""

    def wrap(cls):
        extra = sorted(n for n in vars(cls) if not n.startswith("_") and not hasattr(real, n))
        if extra:
            raise TypeError(f"{cls.__name__} defines {extra}, which {real.__name__} lacks")
        init = cls.__init__

        def __init__(self, *args, **kwargs):
            init(self, *args, **kwargs)
            extra = sorted(
                n for n in vars(self)
                if not n.startswith("_") and n not in records and not hasattr(real, n)
            )  # fmt: skip
            if extra:
                raise TypeError(f"{cls.__name__} sets {extra}, which {real.__name__} lacks")

        cls.__init__ = __init__
        cls.shaped_on = real
        return cls

    return wrap


class _PortMap(dict):
    """depthai's InputMap/OutputMap: a port is made on first access by name."""

    def __init__(self, make) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, name):
        self[name] = port = self._make()
        return port


class World:
    """The one fake OAK: plugged in or not, its hardware, and what reached it."""

    DEVICE_ID = "MXFAKE"

    def __init__(self) -> None:
        self.plugged = True
        self.streaming = True  # False: the device is there but sends no frames (stall)
        self.has_ir = False
        self.product = "OAK-1-MAX"
        self.devices: list[FakeDevice] = []
        self.pipelines: list[FakePipeline] = []
        self.controls_sent: list = []
        self.frame_interval = 0.005

    @property
    def device(self) -> FakeDevice:
        return self.devices[-1]

    @property
    def pipeline(self) -> FakePipeline:
        return self.pipelines[-1]

    def info(self) -> dai.DeviceInfo:
        return dai.DeviceInfo(
            "1.1",
            self.DEVICE_ID,
            dai.XLinkDeviceState.X_LINK_UNBOOTED,
            dai.XLinkProtocol.X_LINK_USB_VSC,
            dai.XLinkPlatform.X_LINK_MYRIAD_X,
            dai.XLinkError_t.X_LINK_SUCCESS,
        )


WORLD = World()


def _lost(what: str):
    return dai.MessageQueue.QueueException(f"Communication exception - {what} (X_LINK_ERROR)")


@shaped_on(dai.MessageQueue, records=("node", "max_size", "blocking", "seq"))
class FakeOutputQueue:
    """The camera output's host queue: a new frame per ``get``, paced like a camera."""

    def __init__(self, node: FakeCameraNode, max_size: int, blocking: bool) -> None:
        self.node, self.max_size, self.blocking = node, max_size, blocking
        self.seq = 0

    def tryGetAll(self):  # noqa: N802 - depthai's name
        if not WORLD.plugged:
            raise _lost("tryGetAll")
        return []

    def get(self, timeout: timedelta | None = None):
        if not WORLD.plugged:
            raise _lost("get")
        if not WORLD.streaming:
            time.sleep(timeout.total_seconds() if timeout is not None else 0.5)
            return None  # depthai: nullptr (None) when no message came within the timeout
        time.sleep(WORLD.frame_interval)
        width, height = self.node.size
        msg = dai.ImgFrame()
        kind = self.node.frame_type
        channels = 1 if kind == dai.ImgFrame.Type.GRAY8 else 3
        msg.setData(np.full(width * height * channels, self.seq % 256, np.uint8))
        msg.setWidth(width)
        msg.setHeight(height)
        msg.setType(kind)
        cam = msg.cam
        ctrl = self.node.initialControl
        cam.exposureTimeUs = ctrl.expManual.exposureTimeUs or 1000 + self.seq
        cam.sensitivityIso = ctrl.expManual.sensitivityIso or 100
        msg.cam = cam
        msg.setSequenceNum(self.seq)
        msg.setTimestamp(dai.Clock.now())
        self.seq += 1
        return msg


@shaped_on(dai.InputQueue)
class FakeInputQueue:
    def send(self, msg) -> None:
        if not WORLD.plugged:
            raise _lost("send")
        WORLD.controls_sent.append(msg)


@shaped_on(dai.Node.Output, records=("node", "queues", "links"))
class FakeOutput:
    def __init__(self, node=None) -> None:
        self.node = node
        self.queues: list = []
        self.links: list = []

    def createOutputQueue(self, maxSize: int = 16, blocking: bool = False):  # noqa: N802, N803
        queue = FakeOutputQueue(self.node, maxSize, blocking)
        self.queues.append(queue)
        return queue

    def link(self, to) -> None:
        self.links.append(to)


@shaped_on(dai.Node.Input, records=("settings",))
class FakeInput:
    def __init__(self) -> None:
        self.settings: dict = {}

    def setBlocking(self, blocking: bool) -> None:  # noqa: N802
        self.settings["blocking"] = blocking

    def setMaxSize(self, maxSize: int) -> None:  # noqa: N802, N803
        self.settings["maxSize"] = maxSize

    def setReusePreviousMessage(self, reuse: bool) -> None:  # noqa: N802
        self.settings["reuse"] = reuse

    def createInputQueue(self, maxSize: int = 16, blocking: bool = False):  # noqa: N802, N803
        self.settings["queue"] = (maxSize, blocking)
        return FakeInputQueue()


@shaped_on(dai.node.ImageManip, records=("settings",))
class FakeImageManip:
    def __init__(self) -> None:
        self.initialConfig = dai.ImageManipConfig()  # real: the resize/type land here
        self.inputImage = FakeInput()
        self.out = FakeOutput()
        self.settings: dict = {}

    def setRunOnHost(self, runOnHost: bool) -> None:  # noqa: N802, N803
        self.settings["runOnHost"] = runOnHost

    def setMaxOutputFrameSize(self, maxFrameSize: int) -> None:  # noqa: N802, N803
        self.settings["maxOutputFrameSize"] = maxFrameSize


@shaped_on(dai.node.NeuralNetwork, records=("model",))
class FakeNeuralNetwork:
    def __init__(self) -> None:
        self.inputs = _PortMap(FakeInput)
        self.passthroughs = _PortMap(FakeOutput)
        self.out = FakeOutput()
        self.model = None

    def setBlobPath(self, path) -> None:  # noqa: N802
        self.model = ("blob", str(path))

    def setNNArchive(self, archive, numShaves=None) -> None:  # noqa: N802, N803
        self.model = ("nnarchive", archive)


@shaped_on(dai.node.Camera, records=("socket", "size", "frame_type", "fps", "outputs"))
class FakeCameraNode:
    def __init__(self) -> None:
        self.socket = None
        self.size = (0, 0)
        self.frame_type = None
        self.fps = None
        self.initialControl = dai.CameraControl()  # real: controls applied on open land here
        self.inputControl = FakeInput()
        self.outputs: list[FakeOutput] = []

    def build(self, boardSocket=None):  # noqa: N803 - depthai's keyword
        self.socket = boardSocket
        return self

    def requestOutput(self, size, type=None, resizeMode=None, fps=None, enableUndistortion=None):  # noqa: N802, N803, A002
        self.size, self.frame_type, self.fps = tuple(size), type, fps
        out = FakeOutput(self)
        self.outputs.append(out)
        return out


@shaped_on(dai.Pipeline, records=("device", "nodes", "calls"))
class FakePipeline:
    def __init__(self, device: FakeDevice) -> None:
        if not isinstance(device, FakeDevice):
            raise TypeError("the fake pipeline binds a fake device only")
        self.device = device
        self.nodes: list = []
        self.calls: list[str] = []
        WORLD.pipelines.append(self)

    def create(self, node_class):
        fakes = {
            dai.node.Camera: FakeCameraNode,
            dai.node.ImageManip: FakeImageManip,
            dai.node.NeuralNetwork: FakeNeuralNetwork,
        }
        if node_class not in fakes:
            raise TypeError(f"the fake pipeline has no device node {node_class.__name__}")
        node = fakes[node_class]()
        self.nodes.append(node)
        return node

    def start(self) -> None:
        self.calls.append("start")

    def isRunning(self) -> bool:  # noqa: N802
        return "start" in self.calls and "stop" not in self.calls and WORLD.plugged

    def stop(self) -> None:
        self.calls.append("stop")

    def wait(self) -> None:
        self.calls.append("wait")


@shaped_on(dai.Device, records=("calls", "closed", "ir_intensity"))
class FakeDevice:
    def __init__(self, info: dai.DeviceInfo) -> None:
        if not WORLD.plugged or info.getDeviceId() != WORLD.DEVICE_ID:
            raise RuntimeError(
                f"No available devices (X_LINK_DEVICE_NOT_FOUND: {info.getDeviceId()})"
            )
        self.calls: list[tuple] = []
        self.closed = False
        self.ir_intensity = 0.0
        WORLD.devices.append(self)

    @staticmethod
    def getAllAvailableDevices():  # noqa: N802
        return [WORLD.info()] if WORLD.plugged else []

    def setMaxReconnectionAttempts(self, maxAttempts, callback=None):  # noqa: N802, N803
        self.calls.append(("setMaxReconnectionAttempts", maxAttempts))

    def getProductName(self) -> str:  # noqa: N802
        return WORLD.product

    def getDeviceName(self) -> str:  # noqa: N802
        return WORLD.product

    def getIrDrivers(self):  # noqa: N802
        return [("LM3644", 2, 0x63)] if WORLD.has_ir else []

    def getConnectedCameraFeatures(self):  # noqa: N802
        feats = []
        for socket, kind, af in (("CAM_A", "COLOR", True), ("CAM_B", "MONO", False),
                                 ("CAM_C", "MONO", False)):  # fmt: skip
            f = dai.CameraFeatures()
            f.socket = getattr(dai.CameraBoardSocket, socket)
            f.supportedTypes = [getattr(dai.CameraSensorType, kind)]
            f.hasAutofocus = af
            feats.append(f)
        return feats

    def setIrFloodLightIntensity(self, intensity, mask=-1) -> bool:  # noqa: N802
        if not WORLD.plugged:
            raise RuntimeError("Couldn't write data to stream: '__rpc_main' (X_LINK_ERROR)")
        self.calls.append(("setIrFloodLightIntensity", intensity))
        self.ir_intensity = intensity
        return WORLD.has_ir

    def isClosed(self) -> bool:  # noqa: N802
        return self.closed

    def getDeviceState(self):  # noqa: N802
        return dai.DeviceState.RUNNING if WORLD.plugged else dai.DeviceState.DISCONNECTED

    def close(self) -> None:
        self.calls.append(("close",))
        self.closed = True
