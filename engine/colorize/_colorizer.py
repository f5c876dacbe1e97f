"""Colorizers: an ONNX model on the host, and the classical reference-transfer baseline.

Both run the same three stages (model-resolution planes -> ab at model resolution ->
:func:`recombine`), so every model is compared with the baseline on equal terms.
"""

from __future__ import annotations

import threading
import time
import weakref
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

from engine._image import is_frozen
from engine.colorize._guided import Workspace
from engine.colorize._recombine import (
    ColorizeResult,
    RecombineParams,
    ReferencePlanes,
    _recombine,
    check_inputs,
    check_night_color,
    decode_output,
    model_feeds,
    model_res_planes,
    reference_planes,
)
from engine.models import (
    ModelCard,
    ModelError,
    default_model_path,
    read_nn_archive,
    verify_model,
)

__all__ = ["Colorizer", "OnnxColorizer", "ReferenceTransferColorizer", "load_colorizer"]


class Colorizer:
    """Night gray + aligned day reference -> colour, keeping the night luminance.

    Subclasses implement :meth:`_predict_ab`; :meth:`colorize` validates, times every stage
    and recombines at full resolution.

    The reference's own preparation (its coverage, and its L and ab at the model's size:
    `engine.colorize.reference_planes`) is kept for the last **read-only** reference array
    seen on each thread: a live view reusing one registration hands the same warped
    reference frame after frame, and only the night frame and the leak mask change. A
    writeable reference may change between calls and is prepared anew every time.
    """

    name: str = "colorizer"
    input_size: tuple[int, int] | None = None
    """(width, height) the chroma is predicted at; ``None`` = the frame's own size."""

    def __init__(self, *, params: RecombineParams | None = None) -> None:
        params = RecombineParams() if params is None else params
        if not isinstance(params, RecombineParams):
            raise ValueError(f"params must be RecombineParams, got {type(params).__name__}")
        self.params = params
        self._local = threading.local()  # one scratch Workspace per calling thread

    def _workspace(self) -> Workspace:
        ws = getattr(self._local, "workspace", None)
        if ws is None:
            ws = self._local.workspace = Workspace()
        return ws

    def _predict_ab(
        self, night, reference, leak_mask, planes: ReferencePlanes
    ) -> tuple[np.ndarray, float, float]:
        """Return (ab at model resolution, prep ms, infer ms); ``planes`` are the reference's
        (see :meth:`_reference_planes`)."""
        raise NotImplementedError

    def _planes_size(self, night: np.ndarray) -> tuple[int, int]:
        return self.input_size or (night.shape[1], night.shape[0])

    def _reference_planes(self, reference: np.ndarray, size: tuple[int, int]) -> ReferencePlanes:
        """`reference_planes`, reused while the same read-only reference comes back (per
        thread: no lock, and two live workers never wait for each other)."""
        full_res = self.params.passthrough != "off"
        if not is_frozen(reference):
            return reference_planes(reference, size, full_res=full_res)
        last = getattr(self._local, "planes", None)
        if (
            last is not None
            and last[0]() is reference
            and last[1].size == size
            and (last[1].ab_full is not None) == full_res
        ):
            return last[1]
        planes = reference_planes(reference, size, full_res=full_res)
        self._local.planes = (weakref.ref(reference), planes)
        return planes

    def colorize(
        self,
        night: np.ndarray,
        reference: np.ndarray,
        *,
        leak_mask: np.ndarray | None = None,
        night_color: np.ndarray | None = None,
    ) -> ColorizeResult:
        """Colorize a night frame from an aligned day reference.

        Parameters
        ----------
        night : ndarray
            Gray uint8 ``(H, W)`` night frame.
        reference : ndarray
            RGB uint8 ``(H, W, 3)`` day reference, already aligned to ``night``.
        leak_mask : ndarray, optional
            float32 ``(H, W)`` in [0, 1]; 1 where the scene changed (no reference colour).
            Where the reference is black (outside a warped day image) counts as masked too.
        night_color : ndarray, optional
            RGB uint8 ``(H, W, 3)``: the night frame in colour, when the camera gives colour;
            masked areas then take its chroma instead of ``params.fallback``.

        Returns
        -------
        ColorizeResult
            Full-resolution RGB, ab planes and per-stage timings.

        Examples
        --------
        >>> col = ReferenceTransferColorizer()
        >>> night = np.full((48, 64), 100, np.uint8)
        >>> ref = np.zeros((48, 64, 3), np.uint8); ref[..., 0] = 200
        >>> res = col.colorize(night, ref)
        >>> res.rgb.shape, bool(res.ab[..., 0].mean() > 10)
        ((48, 64, 3), True)
        """
        t0 = time.perf_counter()
        mask = check_inputs(night, reference, leak_mask)
        check_night_color(night, night_color)
        t_prep = time.perf_counter()
        planes = self._reference_planes(reference, self._planes_size(night))
        if planes.outside is not None:  # no reference colour outside the reference's footprint
            mask = planes.outside if mask is None else cv2.max(mask, planes.outside)
        reference_ms = (time.perf_counter() - t_prep) * 1e3
        ab_lowres, prep_ms, infer_ms = self._predict_ab(night, reference, mask, planes)
        res = _recombine(
            night,
            ab_lowres,
            mask,
            self.params,
            self.name,
            self._workspace(),
            night_color,
            planes=planes,
        )
        timings = {"prep": reference_ms + prep_ms, "infer": infer_ms, **res.timings_ms}
        timings["total"] = (time.perf_counter() - t0) * 1e3
        return replace(res, timings_ms=timings)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, input_size={self.input_size})"


class ReferenceTransferColorizer(Colorizer):
    """Classical baseline: the aligned reference's chroma carried onto the night luminance.

    The reference ab (zeroed under the leak mask) is taken at ``working_size`` and upsampled
    guided by the night L exactly like a model's output, so edges follow the night frame.

    Parameters
    ----------
    working_size : (int, int) or None
        (width, height) to take the reference chroma at; default (256, 192) like the default
        model. ``None`` = the frame's own size (guided filter at full resolution).
    params : RecombineParams
    """

    name = "reference-transfer"

    def __init__(
        self,
        *,
        working_size: tuple[int, int] | None = (256, 192),
        params: RecombineParams | None = None,
    ) -> None:
        super().__init__(params=params)
        if working_size is not None:
            w, h = working_size
            if w < 4 or h < 4:
                raise ValueError(f"working_size must be at least (4, 4), got {working_size}")
            working_size = (int(w), int(h))
        self.input_size = working_size

    def _predict_ab(self, night, reference, leak_mask, planes):
        t0 = time.perf_counter()
        size = self._planes_size(night)
        _, _, ref_ab = model_res_planes(night, reference, leak_mask, size, planes=planes)
        return ref_ab, (time.perf_counter() - t0) * 1e3, 0.0


class OnnxColorizer(Colorizer):
    """A contract model run with onnxruntime on the CPU (see :func:`load_colorizer`)."""

    def __init__(self, card: ModelCard, session, *, params: RecombineParams | None = None):
        super().__init__(params=params)
        self.card = card
        self.session = session
        self.name = card.name
        self.input_size = card.input_size
        self._output_name = card.output.name

    def _predict_ab(self, night, reference, leak_mask, planes):
        t0 = time.perf_counter()
        # the same tensors the camera path sends (prepare_inputs); colorize() already checked
        feeds = model_feeds(night, reference, leak_mask, self.card, planes=planes)
        t1 = time.perf_counter()
        (out,) = self.session.run([self._output_name], feeds)
        t2 = time.perf_counter()
        ab = decode_output(out, self.card)
        return ab, (t1 - t0) * 1e3, (t2 - t1) * 1e3


def _session_options(threads: int):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3  # errors only: warnings would reach the user's terminal
    # No busy-waiting after a run: the guided upsampling and Lab->RGB that follow need both
    # cores, and spinning ORT workers stole them (measured: post-inference stages ~2x slower
    # than the same stages of the baseline in the same run on the shared 2-core machine).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return opts


def load_colorizer(
    path: str | Path | None = None,
    *,
    threads: int = 2,
    params: RecombineParams | None = None,
) -> Colorizer:
    """Load a contract model (verified against its card) as a host colorizer.

    Parameters
    ----------
    path : str or Path, optional
        ``.onnx`` model, its ``.card.json``, or an NN archive holding an ONNX executable;
        ``None`` = the shipped default model ``resources/models/refcolor_s.onnx``.
    threads : int
        onnxruntime intra-op threads (the machine has 2 cores; default 2).
    params : RecombineParams, optional
        Upsampling and leak-mask blending (default ``RecombineParams()``).

    Returns
    -------
    Colorizer

    Raises
    ------
    ModelError
        Not a model, missing/invalid card, sha256 mismatch, I/O not matching the card, a
        MyriadX blob (camera only), or onnxruntime refusing the model: one line each.

    Examples
    --------
    >>> col = load_colorizer()  # doctest: +SKIP
    >>> col.colorize(night, reference).rgb.shape  # doctest: +SKIP
    (480, 640, 3)
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if path is None:
        path = default_model_path()
        if not path.is_file():
            raise ModelError(f"the default model {path.name} is not installed ({path.parent})")
    if str(path).lower().endswith(".blob"):  # say what is wrong, not that its card is missing
        raise ModelError(
            f"{path}: a MyriadX blob runs on the OAK camera only; host colorization "
            "needs an ONNX model (or an NN archive holding one)"
        )
    verified = verify_model(path)
    card = verified.card
    if card.format == "blob":
        raise ModelError(
            f"{card.file}: a MyriadX blob runs on the OAK camera only; host colorization "
            "needs an ONNX model (or an NN archive holding one)"
        )
    if card.format == "nnarchive":
        arc = read_nn_archive(card.model_path)
        if arc.executable_format != "onnx":
            raise ModelError(
                f"{card.file}: NN archive holds a .{arc.executable_format}, which runs on the "
                "camera only; host colorization needs an ONNX executable"
            )
        source: str | bytes = arc.executable
    else:
        source = str(card.model_path)
    import onnxruntime as ort

    try:
        session = ort.InferenceSession(
            source, sess_options=_session_options(threads), providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own RuntimeError subclasses
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(f"{card.file}: onnxruntime cannot load the model ({msg})") from None
    return OnnxColorizer(card, session, params=params)
