"""On-camera colorization: the model runs in the OAK's ``NeuralNetwork`` node.

Device pipeline::

    Camera --full-res night--> host queue  (the frame shown and recombined)
       \\--> ImageManip (resize to the model size, GRAY8) --> NeuralNetwork[night input]
    host: prepare_inputs -> NNData(ref tensors) --> NeuralNetwork[ref inputs] (reused per frame)
    NeuralNetwork.out (ab tensor) --> host: decode_output -> recombine
    NeuralNetwork.passthroughs[night input] --> host: which night frame that ab belongs to

Pairing: the network's ab output and the passthrough of the night frame it ran on come out
once per inference, in order, on two blocking queues (depthai's documented passthrough
mechanism), so the i-th ab belongs to the i-th passthrough; the passthrough keeps the camera's
sequence number through the resize stage. The ab message's own sequence number is never used:
depthai does not promise to copy it from a multi-input network's inputs.

Which night frames the host keeps: every one the network may still be running on, however
slow it is (a MyriadX model at a few fps has many frames in flight), and none it can no longer
report (passthroughs come in order: a frame older than the last one reported will never be),
under a memory bound. A result whose frame is gone (dropped on its way to the host, or
evicted by that bound) is dropped and counted, never recombined with another frame.

The host halves are ``engine.colorize.prepare_inputs`` / ``decode_output`` / ``recombine``,
the same code as the host (onnxruntime) path. Before anything is deployed the model is
inspected without a device and checked against its card (``engine.models``), then against
what the camera path needs (:func:`on_camera_problems`).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine._image import to_gray
from engine.camera._base import Frame

if TYPE_CHECKING:
    from engine.colorize import ColorizeResult, RecombineParams
    from engine.models import ModelCard, ModelIO

__all__ = [
    "FRAMES_MEMORY_LIMIT",
    "OakColorizer",
    "OnCameraResult",
    "default_on_camera_model",
    "load_on_camera_model",
    "on_camera_problems",
    "output_tensor",
    "reference_message",
]

#: dtypes a MyriadX blob input / output can have on this path
ON_CAMERA_REF_DTYPES = ("float16", "uint8")
ON_CAMERA_OUTPUT_DTYPES = ("float16", "float32")
_DAI_DTYPES = {"float16": "FP16", "uint8": "U8F", "float32": "FP32"}
_RAW_DTYPES = {
    "FP16": np.float16,
    "U8F": np.uint8,
    "FP32": np.float32,
    "I8": np.int8,
    "INT": np.int32,
}


FRAMES_MEMORY_LIMIT = 256 * 2**20
"""Bytes of full-resolution night frames `OakColorizer` holds at most while their results are
on the way: 256 mono 1280x800 frames (8.5 s at 30 fps), or 42 RGB 1920x1080 ones."""

#: ab outputs that may wait for their night frame to reach the host (then the oldest goes)
_PENDING_MAX = 8


def on_camera_problems(card: ModelCard, io: ModelIO) -> list[str]:
    """What keeps a (card-conformant) model from running on the OAK; empty when it can.

    Checks the format (a MyriadX blob, or an NN archive holding one), that the night input is
    ``uint8`` with ``encoding: "gray8"``, scale 1, offset 0 (the camera feeds it raw GRAY8
    frames from its resize stage: gray levels, which no linear scale turns into CIE L; make such
    a model with ``nightlab model camera-variant``), that the reference
    inputs are ``float16`` or ``uint8`` (what a host ``NNData`` can carry into a blob) and that
    the output is ``float16``/``float32``.

    Parameters
    ----------
    card : engine.models.ModelCard
    io : engine.models.ModelIO
        What the file really declares (``engine.models.inspect_model``).

    Examples
    --------
    >>> on_camera_problems(card, inspect_model("refcolor_s.onnx"))  # doctest: +SKIP
    ['format: onnx runs on the host only; the camera needs a MyriadX .blob or NN archive
      (make one with: nightlab model to-blob)']
    """
    problems = []
    if io.format == "onnx":
        problems.append(
            "format: onnx runs on the host only; the camera needs a MyriadX .blob or NN archive "
            "(make one with: nightlab model to-blob)"
        )
    elif io.format == "nnarchive":
        exe = str(io.info.get("executable", ""))
        if not exe.endswith((".blob", ".superblob")):
            problems.append(f"NN archive executable {exe!r} is not a MyriadX blob")
    night = card.input("night_l")
    if night is not None and night.dtype != "uint8":
        problems.append(
            f"input {night.name!r} (night_l): dtype {night.dtype}, but the camera feeds the night "
            "frame as GRAY8 (uint8); compile the blob with a U8 night input"
        )
    elif night is not None and night.encoding != "gray8":
        problems.append(
            f"input {night.name!r} (night_l): uint8 with encoding {night.encoding!r} expects "
            "CIE L, but the night input carries gray levels on the camera: use `nightlab model "
            "camera-variant` (card encoding: gray8)"
        )
    elif night is not None and (night.scale, night.offset) != (1.0, 0.0):
        problems.append(
            f"input {night.name!r} (night_l): gray8 with scale {night.scale:g} / offset "
            f"{night.offset:g}, but the camera feeds raw gray levels (scale 1, offset 0)"
        )
    problems += _feed_problems(card, io)
    for spec in card.inputs:
        if spec.role != "night_l" and spec.dtype not in ON_CAMERA_REF_DTYPES:
            problems.append(
                f"input {spec.name!r} ({spec.role}): dtype {spec.dtype} cannot be sent to a "
                f"MyriadX blob (expected {' or '.join(ON_CAMERA_REF_DTYPES)})"
            )
    out = card.output
    if out.dtype not in ON_CAMERA_OUTPUT_DTYPES:
        problems.append(
            f"output {out.name!r}: dtype {out.dtype}; a MyriadX blob returns "
            f"{' or '.join(ON_CAMERA_OUTPUT_DTYPES)}"
        )
    return problems


def _feed_problems(card: ModelCard, io: ModelIO) -> list[str]:
    """What the pipeline feeds vs the blob's own inputs: one GRAY8 plane at the model size for
    the night input, ``prepare_inputs``' tensors (the card's shapes) for the references."""
    real = {t.name: t for t in getattr(io, "inputs", ())}
    if not real:
        return []
    problems = []
    width, height = card.input_size
    for spec in card.inputs:
        t = real.get(spec.name)
        if t is None:
            continue  # check_against_card reports a missing input
        dims = tuple(d for d in t.shape if d is not None)
        if spec.role == "night_l":
            plane = tuple(d for d in dims if d != 1) == (height, width)
            if not plane:
                shape = "x".join(map(str, dims))
                problems.append(
                    f"input {spec.name!r} (night_l): the blob takes {shape}, but the camera "
                    f"feeds one GRAY8 plane of {height}x{width}"
                )
        elif dims != tuple(spec.shape):
            problems.append(
                f"input {spec.name!r} ({spec.role}): the blob takes {list(dims)}, but the host "
                f"sends {list(spec.shape)}"
            )
    return problems


def default_on_camera_model() -> Path:
    """The on-camera build of the shipped default model: ``refcolor_s.blob`` (or its RVC2 NN
    archive ``refcolor_s.rvc2.tar.xz``) beside ``resources/models/refcolor_s.onnx``."""
    from engine.models import default_model_path

    onnx = default_model_path()
    stem = onnx.name.removesuffix(".onnx")
    for name in (f"{stem}.blob", f"{stem}.rvc2.tar.xz"):
        if (onnx.parent / name).is_file():
            return onnx.parent / name
    return onnx.parent / f"{stem}.blob"


def load_on_camera_model(
    path: str | Path | None = None, *, card: ModelCard | None = None
) -> tuple[ModelCard, ModelIO]:
    """Inspect a model without a device and check it against its card and the camera path.

    Parameters
    ----------
    path : str or Path, optional
        ``.blob`` or NN archive; ``None`` = :func:`default_on_camera_model`.
    card : engine.models.ModelCard, optional
        Use this card instead of ``<model>.card.json`` (then the sha256 is not checked).

    Returns
    -------
    (ModelCard, ModelIO)

    Raises
    ------
    engine.models.ModelError
        One line naming the first mismatch (and how many more there are).

    Examples
    --------
    >>> card, io = load_on_camera_model("resources/models/refcolor_s.blob")  # doctest: +SKIP
    """
    from engine.models import (
        DEFAULT_BLOB_COMMAND,
        ModelError,
        check_against_card,
        inspect_model,
        verify_model,
    )

    p = default_on_camera_model() if path is None else Path(path)
    if path is None and not p.is_file():
        raise ModelError(
            f"{p.name}: no on-camera build of the default model "
            f"(make one with: {DEFAULT_BLOB_COMMAND})"
        )
    if card is None:
        verified = verify_model(p)  # card schema, sha256, file I/O vs card
        card, io = verified.card, verified.io
        problems = []
    else:
        io = inspect_model(p)
        problems = check_against_card(io, card)
    problems += on_camera_problems(card, io)
    if problems:
        more = f" (+{len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelError(f"{p.name} cannot run on the camera: {problems[0]}{more}")
    return card, io


def reference_message(name: str, tensor: np.ndarray) -> Any:
    """A ``dai.NNData`` carrying one input tensor (float16 or uint8) under its input name.

    Examples
    --------
    >>> msg = reference_message("ref_ab", np.zeros((1, 2, 192, 256), np.float16))  # doctest: +SKIP
    >>> msg.getAllLayerNames()  # doctest: +SKIP
    ['ref_ab']
    """
    import depthai as dai

    t = np.ascontiguousarray(tensor)
    if t.dtype.name not in ON_CAMERA_REF_DTYPES:
        raise ValueError(
            f"tensor {name!r}: dtype {t.dtype} cannot go to a MyriadX blob "
            f"(expected {' or '.join(ON_CAMERA_REF_DTYPES)})"
        )
    msg = dai.NNData()
    msg.addTensor(name, t, getattr(dai.TensorInfo.DataType, _DAI_DTYPES[t.dtype.name]))
    return msg


def output_tensor(msg: Any, name: str) -> np.ndarray:
    """The raw values of tensor ``name`` of a ``dai.NNData``, flat, in memory order.

    Read from the message's bytes at the tensor's offset with its data type, so the result
    does not depend on how depthai orders the dims it reports; the card's layout then says
    what the memory order means (``engine.colorize.decode_output``). Falls back to the only
    tensor when the name differs (some converters rename outputs).
    """
    infos = {t.name: t for t in msg.getAllLayers()}
    if name in infos:
        info = infos[name]
    elif len(infos) == 1:
        info = next(iter(infos.values()))
    else:
        raise ValueError(f"NN output has no tensor {name!r} (has: {', '.join(sorted(infos))})")
    dtype = np.dtype(_RAW_DTYPES[info.dataType.name])
    count = int(np.prod([int(d) for d in info.dims])) if len(info.dims) else 0
    raw = np.asarray(msg.getData())
    data = raw[info.offset : info.offset + count * dtype.itemsize]
    if data.size != count * dtype.itemsize:
        raise ValueError(
            f"NN output {info.name!r}: {data.size} bytes, expected {count * dtype.itemsize}"
        )
    return data.view(dtype).astype(np.float32)


@dataclass(frozen=True)
class OnCameraResult:
    """A frame colorized on the camera: the night frame it came from and the result."""

    frame: Frame
    result: ColorizeResult
    """`engine.colorize.ColorizeResult` (full-resolution RGB, ab, ab_lowres)."""


class OakColorizer:
    """Host side of on-camera colorization (see the module docstring for the pipeline).

    Create it with :meth:`load` (which checks the model), hand it to
    ``OakCamera.enable_colorization`` (or call :meth:`build` on your own pipeline), send the
    aligned reference with :meth:`set_reference`, and pull :meth:`latest_result`.
    """

    def __init__(
        self,
        card: ModelCard,
        model_path: str | Path,
        *,
        params: RecombineParams | None = None,
        memory_limit: int = FRAMES_MEMORY_LIMIT,
        io: ModelIO | None = None,
        stamp: tuple | None = None,
        given_card: bool = False,
    ):
        from engine.colorize import RecombineParams

        self.model_path = Path(model_path)
        self.params = params if params is not None else RecombineParams()
        self._use_model(card, io)
        self._stamp = stamp
        """`engine.models.model_files_stamp` of the model files ``card``/``io`` were read from
        (None: not loaded from a file, never read again); see `build`."""
        self._given_card = card if given_card else None
        if int(memory_limit) < 1:
            raise ValueError(f"memory_limit must be >= 1 byte, got {memory_limit}")
        self.memory_limit = int(memory_limit)
        """Bytes of night frames held at most (the newest frame is always held)."""
        self._lock = threading.Lock()
        self._frames: OrderedDict[int, Frame] = OrderedDict()
        self._frames_bytes = 0
        self._ref_queues: dict[str, Any] = {}
        self._ref_messages: dict[str, Any] = {}
        self._ref_sent = False
        self._leak_mask: np.ndarray | None = None
        self._reference: tuple[np.ndarray, Any] | None = None  # (RGB, its ReferencePlanes)
        self._out_queue = None
        self._passthrough_queue = None
        self._ab_fifo: list[np.ndarray] = []
        self._seq_fifo: list[int] = []
        self._pending: OrderedDict[int, np.ndarray] = OrderedDict()
        self._latest: tuple[Frame, np.ndarray] | None = None
        self._cached: OnCameraResult | None = None
        self.results_received = 0
        """Results paired with their own night frame (the ones shown)."""
        self.unmatched = 0
        """Results dropped because their night frame was gone (dropped on its way to the
        host, evicted by `memory_limit`, or waited for too long)."""
        self.evicted = 0
        """Night frames let go by `memory_limit` before the network reported on them."""
        self.max_in_flight = 0
        """Most night frames the host had received after a result's own frame when that
        result arrived: how far behind the camera the network runs, in frames."""

    def _use_model(self, card: ModelCard, io: ModelIO | None) -> None:
        night = card.input("night_l")
        if night is None:
            raise ValueError(f"{card.name}: the card has no night_l input")
        self.card = card
        self.io = io
        """The model's real inputs/outputs (``engine.models.ModelIO``) when loaded from a file."""
        self.night_input = night.name
        self.ref_inputs = tuple(s.name for s in card.inputs if s.role != "night_l")

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        card: ModelCard | None = None,
        params: RecombineParams | None = None,
    ) -> OakColorizer:
        """Check the model (:func:`load_on_camera_model`) and make its colorizer."""
        from engine.models import model_files_stamp

        where = default_on_camera_model() if path is None else Path(path)
        stamp = model_files_stamp(where)  # before reading: a change meanwhile is seen later
        checked, io = load_on_camera_model(path, card=card)
        return cls(checked, io.path, params=params, io=io, stamp=stamp, given_card=card is not None)

    def model_changed(self) -> bool:
        """Whether the files at `model_path` (model, card) were written over since they were
        read: a blob compiled again over the same path (``nightlab model to-blob``)."""
        from engine.models import model_files_stamp

        return self._stamp is not None and model_files_stamp(self.model_path) != self._stamp

    def _follow_model_files(self) -> None:
        """Read the model again if its files changed since they were read (see `build`).

        Raises ``engine.models.ModelError`` (nothing deployed) when the new files do not pass
        the camera checks."""
        from engine.models import model_files_stamp

        if not self.model_changed():
            return
        stamp = model_files_stamp(self.model_path)
        card, io = load_on_camera_model(self.model_path, card=self._given_card)
        with self._lock:
            self._use_model(card, io)
            self._stamp = stamp
            # tensors made for the previous model's inputs: the next `set_reference` (the
            # live view sends one every frame) makes them for this one
            self._ref_messages = {}
            self._reference = None
            self._leak_mask = None
            self._latest = self._cached = None

    # -- pipeline -------------------------------------------------------------------------
    def build(
        self, pipeline: Any, night_output: Any, *, network: Any = None, manip_on_host: bool = False
    ) -> OakColorizer:
        """Add the resize/gray stage and the network to ``pipeline``, fed by ``night_output``.

        ``network`` replaces the ``NeuralNetwork`` node (any node with ``inputs[name]`` and
        ``out``; tests use a host node); ``manip_on_host`` runs the resize stage on the host
        (host-only pipelines). Called again on every reconnect, which loads the file at
        `model_path` again: when it was written over since (a blob compiled again over the
        same path), its card is read and checked again first, so the card (its sha256, its
        inputs) is the one of the blob deployed. Before, the old card stayed with the new
        blob. A new blob that fails the checks raises ``engine.models.ModelError``.
        """
        import depthai as dai

        self._follow_model_files()
        width, height = self.night_size
        manip = pipeline.create(dai.node.ImageManip)
        if manip_on_host:
            manip.setRunOnHost(True)
        manip.initialConfig.setOutputSize(width, height, dai.ImageManipConfig.ResizeMode.STRETCH)
        manip.initialConfig.setFrameType(dai.ImgFrame.Type.GRAY8)
        # rows are padded (host ImageManip: stride to 128 bytes, height to 32 rows)
        manip.setMaxOutputFrameSize(-(-width // 128) * 128 * -(-height // 32) * 32)
        manip.inputImage.setBlocking(False)  # drop, never stall the camera
        manip.inputImage.setMaxSize(1)
        night_output.link(manip.inputImage)
        if network is None:
            network = pipeline.create(dai.node.NeuralNetwork)
            if self.card.format == "nnarchive":
                network.setNNArchive(dai.NNArchive(str(self.model_path)))
            else:
                network.setBlobPath(self.model_path)
        night_in = network.inputs[self.night_input]
        night_in.setBlocking(False)
        night_in.setMaxSize(1)
        manip.out.link(night_in)
        queues = {}
        for name in self.ref_inputs:
            ref_in = network.inputs[name]
            ref_in.setReusePreviousMessage(True)  # one reference serves every night frame
            queues[name] = ref_in.createInputQueue(maxSize=1, blocking=False)
        # blocking, so neither drops: the i-th ab and the i-th passthrough stay a pair (the
        # network may wait for the host; the camera does not: the night input drops instead)
        out_queue = network.out.createOutputQueue(maxSize=4, blocking=True)
        passthrough = network.passthroughs[self.night_input]
        passthrough_queue = passthrough.createOutputQueue(maxSize=4, blocking=True)
        with self._lock:
            self._ref_queues = queues
            self._ref_sent = False  # a new pipeline has no reference yet
            self._out_queue = out_queue
            self._passthrough_queue = passthrough_queue
            self._clear()
        return self

    @property
    def night_size(self) -> tuple[int, int]:
        """(width, height) of the night plane the network takes: from the blob when known."""
        if self.io is not None:
            for t in self.io.inputs:
                if t.name == self.night_input:
                    dims = [d for d in t.shape if d not in (None, 1)]
                    if len(dims) == 2:
                        return dims[1], dims[0]
        return self.card.input_size

    def _clear(self) -> None:
        self._frames.clear()
        self._frames_bytes = 0
        self._pending.clear()
        self._ab_fifo.clear()
        self._seq_fifo.clear()

    # -- host side ------------------------------------------------------------------------
    def set_reference(
        self, night: np.ndarray, reference: np.ndarray, *, leak_mask: np.ndarray | None = None
    ) -> None:
        """Send the aligned day reference (RGB uint8, aligned to ``night``) to the camera.

        ``prepare_inputs`` builds the tensors exactly as on the host (the leak mask zeroes
        the reference ab where the scene changed); only the reference tensors travel, the
        night input comes from the camera. Kept and re-sent after a reconnect.
        """
        from engine._image import is_frozen
        from engine.colorize import check_inputs, prepare_inputs, reference_planes

        check_inputs(night, reference, leak_mask)
        # the host keeps the reference for recombination (its footprint, and its own
        # full-resolution chroma when params.passthrough is on), prepared once per reference
        # (a live view sends the same read-only registration frame after frame)
        with self._lock:
            last = self._reference
        full_res = self.params.passthrough != "off"
        if last is not None and last[0] is reference and is_frozen(reference):
            planes = last[1]
        else:
            if not is_frozen(reference):
                reference = np.array(reference, copy=True)
                reference.setflags(write=False)
            planes = reference_planes(reference, self.card.input_size, full_res=full_res)
        tensors = prepare_inputs(
            night, reference, leak_mask=leak_mask, card=self.card, planes=planes
        )
        messages = {}
        for name in self.ref_inputs:
            tensor = tensors[name]
            real = self._real_input(name)
            if real is not None and (
                tuple(tensor.shape) != tuple(real.shape) or tensor.dtype.name != real.dtype
            ):
                raise ValueError(
                    f"{self.model_path.name}: input {name!r} takes {real.describe()}, "
                    f"the reference gives {'x'.join(map(str, tensor.shape))} {tensor.dtype}"
                )
            messages[name] = reference_message(name, tensor)
        with self._lock:
            self._ref_messages = messages
            self._leak_mask = None if leak_mask is None else np.asarray(leak_mask, np.float32)
            self._reference = (reference, planes)
            self._ref_sent = False
        self._flush_reference()

    def _real_input(self, name: str) -> Any:
        if self.io is None:
            return None
        return next((t for t in self.io.inputs if t.name == name), None)

    def _flush_reference(self) -> None:
        with self._lock:
            if self._ref_sent or not self._ref_messages or not self._ref_queues:
                return
            for name, queue in self._ref_queues.items():
                queue.send(self._ref_messages[name])
            self._ref_sent = True

    def add_night_frame(self, frame: Frame) -> None:
        """Remember a full-resolution night frame until its ab output arrives.

        Held while the network may still report on it, within `memory_limit` (the oldest
        go first, counted in `evicted`)."""
        seq = int(frame.meta.extra.get("device_sequence", frame.meta.sequence))
        with self._lock:
            old = self._frames.pop(seq, None)
            if old is not None:
                self._frames_bytes -= old.image.nbytes
            self._frames[seq] = frame
            self._frames_bytes += frame.image.nbytes
            while self._frames_bytes > self.memory_limit and len(self._frames) > 1:
                _, gone = self._frames.popitem(last=False)
                self._frames_bytes -= gone.image.nbytes
                self.evicted += 1

    @property
    def frames_held(self) -> int:
        """Night frames held for results on their way."""
        return len(self._frames)

    def _forget_through(self, seq: int) -> None:
        """Let go of the frames up to ``seq``: the network has reported on ``seq`` and it
        reports in order, so it will never report an older one (call with the lock held)."""
        while self._frames and next(iter(self._frames)) <= seq:
            _, gone = self._frames.popitem(last=False)
            self._frames_bytes -= gone.image.nbytes

    def poll(self) -> int:
        """Collect ab outputs that arrived; returns how many. Call from the grabbing thread.

        Each ab output is paired with the passthrough of the night input it ran on (same
        position in the two queues), whose sequence number names the full-resolution night
        frame, held however many frames the network is behind (see `add_night_frame`). An
        ab waits (a few at most) if that frame has not reached the host yet. If the frame is
        gone, the ab is dropped and counted in `unmatched`: the previous result stays, as its
        chroma on another frame's luminance would put colour ghosts on whatever moved.
        """
        from engine.colorize import decode_output

        self._flush_reference()
        queue, passthrough = self._out_queue, self._passthrough_queue
        msgs = queue.tryGetAll() if queue is not None else []
        seen = passthrough.tryGetAll() if passthrough is not None else []
        with self._lock:
            for msg in msgs:
                ab = decode_output(output_tensor(msg, self.card.output.name), self.card.output)
                self._ab_fifo.append(ab)
            self._seq_fifo.extend(int(m.getSequenceNum()) for m in seen)
            while self._ab_fifo and self._seq_fifo:
                self._pending[self._seq_fifo.pop(0)] = self._ab_fifo.pop(0)
            while len(self._pending) > _PENDING_MAX:  # waited too long for their frames
                self._pending.popitem(last=False)
                self.unmatched += 1
            newest = next(reversed(self._frames)) if self._frames else None
            for seq in list(self._pending):
                frame = self._frames.get(seq)
                if frame is None and (newest is None or newest < seq):
                    continue  # its night frame is still on its way
                ab = self._pending.pop(seq)
                if frame is None:  # gone: never recombined with another frame
                    self.unmatched += 1
                else:
                    later = sum(1 for s in self._frames if s > seq)
                    self.max_in_flight = max(self.max_in_flight, later)
                    self._latest = (frame, ab)
                    self.results_received += 1
                self._forget_through(seq)
        return len(msgs)

    def latest_result(self) -> OnCameraResult | None:
        """The newest colorized frame, recombined on the host on demand (``None`` yet)."""
        from engine.colorize import recombine

        with self._lock:
            latest, mask, cached = self._latest, self._leak_mask, self._cached
            reference = self._reference
        if latest is None:
            return None
        frame, ab = latest
        if cached is not None and cached.frame is frame:
            return cached
        night = to_gray(frame.image)
        if mask is not None and mask.shape != night.shape:
            mask = None  # reference set for another resolution: no leak blending
        ref = planes = None
        if (
            reference is not None
            and reference[0].shape[:2] == night.shape
            and reference[1].size == (ab.shape[1], ab.shape[0])
        ):
            ref, planes = reference  # as on the host: footprint, pass-through
        result = recombine(
            night,
            ab,
            leak_mask=mask,
            params=self.params,
            model_name=self.card.name,
            reference=ref,
            planes=planes,
        )
        out = OnCameraResult(frame=frame, result=result)
        with self._lock:
            self._cached = out
        return out

    def reset(self) -> None:
        """Forget pending night frames (device sequence numbers restart after a reconnect)."""
        with self._lock:
            self._clear()
