"""The task a worker runs: a batch of pairs through align -> leak mask -> colorize.

A pair is reprocessed against its *recorded* reference: all its day captures, fused in the first
one's grid by `engine.reference.fuse_day_captures` as capture, ingest and the inspector fuse them
(with the stability map for the leak mask), warped by the registration stored with the pair
(what the operator accepted or nudged). Pairs recorded when several captures were combined by a
plain per-pixel median keep their stored registration: the fused reference is in the same grid
(the first capture's), so the matrix still fits, and their run key changes once (see
`RunSpec.key_for`), so the next reprocess redoes them with the fused reference. Alignment runs
only for a pair without a stored registration, or when the run asks for it (``realign``).

Everything here is plain data in and out (picklable frozen dataclasses, PNG bytes), so the same
function serves a local loop and remote Dask workers. The model is loaded once per worker
process and kept in a module-level cache keyed by its path and sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Mapping

    from engine.reference import FusedReference
    from engine.store import Pair, Store

__all__ = ["PairJob", "RunOutcome", "RunSpec", "process_batch"]

_cache_lock = threading.Lock()
# one colorizer per (model path, threads), with the sha256 it was loaded for: a model retrained
# over the same path replaces its old session (keyed by the sha too, every retrain kept one
# more ONNX Runtime session for the worker's life)
_colorizers: dict[tuple[str, int], tuple[str, Any]] = {}
# how many times this process loaded a model: the "once per worker" claim is tested with it
load_count = 0


@dataclass(frozen=True)
class PairJob:
    """One stored pair to process. Paths are relative to the data directory."""

    pair_id: int | str
    day: tuple[str, ...]
    """The day reference's capture(s); several are fused in the first one's grid
    (`engine.reference.fuse_day_captures`), as `engine.live.PairTracker` and
    `engine.pair_views.load_pair_reference` fuse them."""
    night: str
    # a mapping is unhashable: leave it out of the hash so jobs still go into sets and dicts
    registration: Mapping[str, Any] | None = field(default=None, hash=False)
    """The registration stored with the pair (``ok``, ``method``, ``motion``, ``score``,
    ``reason``, ``matrix``: day-reference pixels -> night pixels), or None when the pair was
    never aligned (then the run aligns it)."""
    leak_params: Mapping[str, Any] | None = field(default=None, hash=False)
    """The leak-mask parameters stored with the pair (`LeakMaskParams` fields: the Leak
    panel's settings, as the operator tuned them, when it was captured), or None: the
    defaults are used."""

    def __post_init__(self) -> None:
        if not self.day:
            raise ValueError(f"pair {self.pair_id}: needs at least one day image")
        for p in (*self.day, self.night):
            if Path(p).is_absolute() or ".." in Path(p).parts:
                raise ValueError(f"pair {self.pair_id}: {p!r} must be relative to the data dir")
        if self.registration is not None:
            m = np.asarray(self.registration.get("matrix"), dtype=float)
            if m.shape != (3, 3) or not np.isfinite(m).all():
                raise ValueError(
                    f"pair {self.pair_id}: stored registration needs a finite 3x3 matrix"
                )

    @classmethod
    def from_pair(cls, store: Store, pair: Pair) -> PairJob:
        """The job for a stored pair: every day capture, the night capture and the pair's
        registration (None when it was never aligned: ``aligned_ok`` None or no matrix)."""
        registration = None
        if pair.aligned_ok is not None and pair.matrix is not None:
            registration = {
                "ok": bool(pair.aligned_ok),
                "method": pair.method or "",
                "motion": pair.motion or "homography",
                "score": pair.score,
                "reason": pair.reason,
                "matrix": [list(row) for row in pair.matrix],
            }
        return cls(
            pair.id,
            tuple(store.capture(i).path for i in pair.day_ids),
            store.capture(pair.night_id).path,
            registration,
            dict(pair.leak_params) if pair.leak_params else None,
        )


def _default_leak() -> dict[str, Any]:
    """`LeakMaskParams` defaults as they read back from JSON (tuples as lists)."""
    from engine.leakmask import LeakMaskParams

    return json.loads(json.dumps(dataclasses.asdict(LeakMaskParams())))


@dataclass(frozen=True)
class RunSpec:
    """What a run is: the model (path and sha256) and the processing parameters."""

    model_path: str
    model_sha256: str
    params: dict[str, Any] = field(default_factory=dict)
    """JSON-ready: ``method``, ``motion`` (alignment, when a pair is aligned), ``leak``
    (LeakMaskParams fields: one setting for every pair, over the pairs' own), ``realign``
    (True: align every pair anew, ignoring stored registrations)."""
    threads: int = 1
    """onnxruntime threads per worker: one per worker process avoids oversubscribing cores."""

    @property
    def key(self) -> str:
        """Identity of the run for skip/resume: sha256 of the model hash + canonical params."""
        blob = json.dumps({"model": self.model_sha256, "params": self.params}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def uses_stored(self, job: PairJob) -> bool:
        """Whether ``job`` is processed with its stored registration (else it is aligned)."""
        return job.registration is not None and not self.params.get("realign")

    def leak_for(self, job: PairJob) -> tuple[dict[str, Any], str]:
        """The leak-mask parameters ``job`` is processed with, and where they come from.

        The run's ``leak`` when it sets one (``"run"``), else the pair's stored
        ``leak_params`` (``"stored"``: what its mask and leak figures were made with), else
        the defaults (``"default"``). Every `LeakMaskParams` field, JSON-ready; stored
        fields this version does not know are ignored, as the inspector ignores them.

        Examples
        --------
        >>> spec = RunSpec("m.onnx", "0" * 64)
        >>> leak, source = spec.leak_for(PairJob(1, ("d.png",), "n.png", None, {"hi": 0.3}))
        >>> leak["hi"], source
        (0.3, 'stored')
        """
        from engine.leakmask import LeakMaskParams

        if self.params.get("leak"):
            given, source = dict(self.params["leak"]), "run"
        elif job.leak_params:
            given, source = dict(job.leak_params), "stored"
        else:
            given, source = {}, "default"
        known = {f.name for f in dataclasses.fields(LeakMaskParams)}
        merged = {**_default_leak(), **given}
        merged = {k: v for k, v in merged.items() if k in known or source == "run"}
        # through JSON: tuples become lists as in the store, so equal settings compare equal
        return json.loads(json.dumps(merged)), source

    def key_for(self, job: PairJob) -> str:
        """Identity of this run on one pair, for skip/resume: what its output depends on.

        The model, the parameters, the day captures and the registration used: with the
        stored one, its matrix and whether it is accepted (``ok``), so a registration changed
        in the inspector makes a new run, and the alignment options, which it does not use,
        are left out; when aligning, the alignment options. The leak-mask parameters used
        (`leak_for`) count when they differ from the defaults, so a mask tuned since makes a
        new run while runs made with the defaults keep their keys. For several day captures,
        how they are combined (`engine.reference.COMBINE`) counts too: runs made when they
        were combined by a plain median are redone once with the fused reference, while
        single-capture pairs keep their keys.

        Examples
        --------
        >>> spec = RunSpec("m.onnx", "0" * 64, {"motion": "affine"})
        >>> job = PairJob(1, ("d.png",), "n.png", {"ok": True, "matrix": np.eye(3).tolist()})
        >>> nudged = {"ok": True, "matrix": [[1, 0, 2], [0, 1, 0], [0, 0, 1]]}
        >>> spec.key_for(job) == spec.key_for(PairJob(1, ("d.png",), "n.png", nudged))
        False
        """
        params = {k: v for k, v in self.params.items() if k not in ("realign", "leak")}
        leak, _ = self.leak_for(job)
        if leak != _default_leak():
            params["leak"] = leak
        if self.uses_stored(job):
            reg = job.registration or {}
            params = {k: v for k, v in params.items() if k not in ("method", "motion")}
            used: dict[str, Any] = {
                "source": "stored",
                "ok": bool(reg.get("ok")),
                # 9 significant digits: the same stored matrix always gives the same key
                "matrix": [float(f"{v:.9g}") for v in np.asarray(reg["matrix"], float).ravel()],
            }
        else:
            used = {"source": "aligned"}
        identity: dict[str, Any] = {
            "model": self.model_sha256,
            "params": params,
            "day": list(job.day),
            "registration": used,
        }
        if len(job.day) > 1:
            from engine.reference import COMBINE

            identity["combine"] = COMBINE
        blob = json.dumps(identity, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    @classmethod
    def for_model(cls, model_path: str | Path | None = None, **params: Any) -> RunSpec:
        """Spec for a contract model (default: the shipped one), its sha256 read from its card."""
        from engine.models import default_model_path, verify_model

        path = Path(model_path) if model_path is not None else default_model_path()
        card = verify_model(path).card
        return cls(model_path=str(card.model_path), model_sha256=card.sha256, params=params)


@dataclass(frozen=True)
class RunOutcome:
    """What one pair produced. ``error`` is a one-line reason when the pair failed."""

    pair_id: int | str
    run_key: str
    ok: bool
    error: str | None
    metrics: dict[str, Any]
    outputs: dict[str, bytes]
    """``aligned_reference``, ``leak_mask``, ``colorized`` as PNG bytes (absent when not made)."""
    worker: str
    seconds: float


def _colorizer(spec: RunSpec):
    global load_count
    key = (spec.model_path, spec.threads)
    with _cache_lock:
        sha, col = _colorizers.get(key, (None, None))
        if col is None or sha != spec.model_sha256:
            from engine.colorize import load_colorizer
            from engine.models import ModelError

            col = load_colorizer(spec.model_path, threads=spec.threads)
            if getattr(col, "card", None) is not None and col.card.sha256 != spec.model_sha256:
                raise ModelError(f"{spec.model_path}: model changed since the run was planned")
            _colorizers[key] = (spec.model_sha256, col)
            load_count += 1
    return col


def _undo_malloc_trim() -> None:
    """Let glibc keep freed memory for reuse in this worker process.

    Dask's nanny starts workers with ``MALLOC_TRIM_THRESHOLD_=65536``, which also pins glibc's
    mmap threshold at 128 KiB: every image-sized numpy temporary is then a fresh mmap whose
    pages the kernel must zero, and the pipeline ran 3-4x slower per pair in a worker than in
    a plain process (align 200 vs 48 ms at 640x480, measured). Raising both thresholds with
    ``mallopt`` restores the normal speed; memory is still returned when a worker idles.
    A no-op where the C library is not glibc.
    """
    import ctypes
    import ctypes.util
    import sys

    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's mallopt parameter numbers
        libc.mallopt(m_mmap_threshold, 32 * 1024 * 1024)
        libc.mallopt(m_trim_threshold, 128 * 1024 * 1024)
    except (OSError, AttributeError):
        pass


def warm_worker(spec: RunSpec) -> str:
    """Import the pipeline and load the model on this worker before any pair is timed."""
    import os
    import socket

    if os.environ.get("MALLOC_TRIM_THRESHOLD_"):
        _undo_malloc_trim()

    import alignment  # noqa: F401  (the heavy imports a first task would otherwise pay)
    import engine.pipeline  # noqa: F401

    _colorizer(spec)
    return f"{socket.gethostname()}:{os.getpid()}"


def _png(image: np.ndarray) -> bytes:
    import cv2

    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError("cannot encode PNG")
    return buf.tobytes()


def _day_reference(job: PairJob, root: Path) -> FusedReference:
    """The pair's day reference as recorded: its one capture, or all fused in the first's grid."""
    from engine._image import read_image
    from engine.reference import fuse_day_captures

    return fuse_day_captures([read_image(root / p, mode="rgb") for p in job.day])


def _day_record(job: PairJob, fused: FusedReference) -> dict[str, Any]:
    """What the run's metrics say about the day reference: every capture, how they were
    combined, which went in and which were left out (with the reason)."""
    from engine.reference import COMBINE

    return {
        "captures": list(job.day),
        "combine": "single" if len(job.day) == 1 else COMBINE,
        "used": [job.day[i] for i in fused.used],
        "refused": [{"capture": job.day[i], "reason": why} for i, why in fused.refused],
    }


def _stored_alignment(job: PairJob, day: np.ndarray, night: np.ndarray):
    """The stored registration as an accepted `alignment.Alignment`; ValueError when the
    record says the pair is not aligned (reproducing it cannot give a reference)."""
    from engine.pair_views import alignment_from_record

    r = job.registration or {}
    if not r.get("ok"):
        raise ValueError(
            f"stored registration is not aligned ({r.get('reason') or 'no reason recorded'}); "
            "fix it in the inspector, or reprocess with realign (--realign) to search again"
        )
    return alignment_from_record(r, fixed_shape=night.shape[:2], moving_shape=day.shape[:2])


def _one(job: PairJob, spec: RunSpec, root: Path, worker: str) -> RunOutcome:
    from engine._image import read_image
    from engine.leakmask import LeakMaskParams
    from engine.pipeline import process_pair

    t0 = time.perf_counter()
    key = spec.key_for(job)
    try:
        fused = _day_reference(job, root)
        day = fused.image
        night = read_image(root / job.night, mode="gray")
        p = spec.params
        leak_used, leak_source = spec.leak_for(job)
        leak = LeakMaskParams(**leak_used)
        stored = spec.uses_stored(job)
        res = process_pair(
            day,
            night,
            colorizer=_colorizer(spec),
            method=p.get("method", "auto"),
            motion=p.get("motion", "homography"),
            leak_params=leak,
            registered=_stored_alignment(job, day, night) if stored else None,
            stability=fused.stability,
        )
        outputs: dict[str, bytes] = {}
        if res.ok:
            outputs["aligned_reference"] = _png(res.aligned_reference)
            outputs["leak_mask"] = _png(res.leak_mask)
            if res.colorized is not None:
                outputs["colorized"] = _png(res.colorized.rgb)
        metrics = res.metrics()
        # which registration this run used, and why: the run's record says it, not a guess
        metrics["registration"] = {
            "source": "stored" if stored else "aligned",
            "why": (
                "the pair's stored registration"
                if stored
                else "realign asked for a new search"
                if job.registration is not None
                else "the pair had no stored registration"
            ),
        }
        # the leak-mask settings this run used, so its leak figures can be traced to them
        metrics["leak_params"] = {"source": leak_source, "params": leak_used}
        metrics["day_reference"] = _day_record(job, fused)
        return RunOutcome(
            pair_id=job.pair_id,
            run_key=key,
            ok=res.ok,
            error=None if res.ok else f"not aligned: {res.alignment.reason}",
            metrics=metrics,
            outputs=outputs,
            worker=worker,
            seconds=time.perf_counter() - t0,
        )
    except Exception as exc:  # one bad pair never stops the batch
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        return RunOutcome(job.pair_id, key, False, msg, {}, {}, worker, time.perf_counter() - t0)


def process_batch(jobs: list[PairJob], spec: RunSpec, data_dir: str) -> list[RunOutcome]:
    """Process several pairs; the unit of work sent to a worker.

    Parameters
    ----------
    jobs : list of PairJob
        Pairs of this batch (batching amortises task overhead; the model loads once per worker).
    spec : RunSpec
        Model and parameters.
    data_dir : str
        The data directory on this worker (the same path on every machine of a cluster).

    Returns
    -------
    list of RunOutcome
        One per job, in order; a failed pair carries ``ok=False`` and ``error``.

    Examples
    --------
    >>> spec = RunSpec.for_model()  # doctest: +SKIP
    >>> process_batch([PairJob(1, ("captures/0001_day.png",), "captures/0002_night.png")],
    ...               spec, "/data/nightlab")  # doctest: +SKIP
    """
    import os
    import socket

    root = Path(data_dir)
    if not root.is_dir():
        raise ValueError(f"{data_dir}: data directory not found on worker {socket.gethostname()}")
    worker = f"{socket.gethostname()}:{os.getpid()}"
    return [_one(job, spec, root, worker) for job in jobs]
