"""`PairTracker`: the live alignment state the GUI and ``nightlab capture`` share.

It holds the day reference (one day capture, or several fused in the first one's grid by
`engine.reference.fuse_day_captures`, with their stability map) and the last good
registration; each night frame is aligned with the previous matrix as ``initial=`` (a fast
refinement instead of a full search), and a failure resets it so the next frame gets a full
search again.

For live video of a camera that did not move (a ``fixed_camera`` reference), a caller may
also reuse the last fresh registration for a short while (``process(..., reuse_s=...)``):
re-registering every frame of an unmoved camera costs about a third of a live result, and
the camera's pose changes far more slowly than frames arrive. Captures never pass it: every
recorded pair is registered on its own. While a registration is reused, so is everything
made from the reference and that registration alone: the warped reference, its coverage and
luminance (`engine.pipeline.WarpedReference`), and the colorizer's preparation of it (kept by
the colorizer for the same read-only warped image).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal, SignalGroup

if TYPE_CHECKING:
    from engine.camera import FrameMeta
    from engine.leakmask import LeakMaskParams
    from engine.pipeline import PairResult, SupportsColorize, WarpedReference

__all__ = ["PairTracker", "Reference", "TrackerEvents"]


def _read_only_copy(image: np.ndarray) -> np.ndarray:
    out = np.array(image, dtype=np.uint8, order="C", copy=True)
    out.setflags(write=False)
    return out


class TrackerEvents(SignalGroup):
    """Emitted on the thread that called the tracker."""

    reference_changed = Signal(object)
    """The new `Reference`, or None when cleared."""
    processed = Signal(object)
    """A `engine.pipeline.PairResult` (aligned or not)."""
    lost = Signal(str)
    """Alignment failed (the reason); the tracker was reset to a full search."""
    reset = Signal()


@dataclass(frozen=True)
class Reference:
    """The day reference in use: the combined image and the captures it came from."""

    image: np.ndarray
    """RGB uint8 ``(H, W, 3)``, read-only: the one day capture, or the captures fused in the
    first one's grid (`engine.reference.fuse_day_captures`)."""
    capture_ids: tuple[int, ...] = ()
    """Store ids of the day captures (empty when not recorded)."""
    fixed_camera: bool = False
    """Taken by the camera being processed (same device, not moved): registration starts from
    the identity and stays local (`alignment.align(..., fixed_camera=True)`)."""
    stability: np.ndarray | None = None
    """float32 ``(H, W)`` in [0, 1], read-only, in ``image``'s grid: where the fused day
    captures agree (1) or not (0). Warped with the reference onto each night frame and given
    to the leak mask. None for one day capture."""
    used: tuple[int, ...] = (0,)
    """Indices (into the day images given) of the captures fused into ``image``."""
    refused: tuple[tuple[int, str], ...] = ()
    """``(index, reason)`` of every day capture left out: it did not register onto the
    first one."""
    days: tuple[np.ndarray, ...] = ()
    """The day images it was made from, read-only, in the order given (``image`` itself for
    one): what a capture run stores as the pair's day captures when the reference was not
    recorded yet (the GUI's fused reference), so the record rebuilds the same reference."""
    metas: tuple[FrameMeta | None, ...] = ()
    """What the camera said about each of ``days`` (``None`` for one from a file; empty when
    not given): recorded with them, so a day capture keeps its time, exposure and frame
    number like a night capture."""
    controls: tuple[Mapping[str, Any] | None, ...] = ()
    """The camera controls in force when each of ``days`` was taken (``None`` for one from a
    file; empty when not given): recorded with them, as ``nightlab capture`` records its own."""

    def describe(self) -> str:
        """One line for logs and the CLI: which captures went in, which were left out and why.

        Examples
        --------
        >>> Reference(np.zeros((1, 1, 3), np.uint8), (4, 7), used=(0,),
        ...           refused=((1, "no overlap"),)).describe()
        'day capture #4 used; left out #7 (no overlap)'
        >>> Reference(np.zeros((1, 1, 3), np.uint8), used=(0, 1, 2)).describe()
        '3 day captures fused'
        """
        from engine.reference import describe_fusion

        return describe_fusion(self.used, self.refused, capture_ids=self.capture_ids)


class PairTracker:
    """Aligns night frames onto a day reference, reusing the last good matrix.

    Parameters
    ----------
    method, motion : str
        Passed to `alignment.align` through `engine.pipeline.process_pair`.
    leak_params : engine.leakmask.LeakMaskParams, optional
        Leak-mask parameters (defaults when None); can be changed live.

    Examples
    --------
    >>> import skimage.data
    >>> from engine._image import to_gray
    >>> tracker = PairTracker()
    >>> day = skimage.data.astronaut()
    >>> ref = tracker.set_reference(day)
    >>> res = tracker.process(to_gray(day))  # doctest: +SKIP
    >>> res.ok, tracker.matrix is not None  # doctest: +SKIP
    (True, True)
    """

    def __init__(
        self,
        *,
        method: str = "auto",
        motion: str = "homography",
        leak_params: LeakMaskParams | None = None,
    ) -> None:
        self.events = TrackerEvents()
        self.method = method
        self.motion = motion
        self._leak_params = leak_params
        self._lock = threading.Lock()
        self._reference: Reference | None = None
        self._matrix: np.ndarray | None = None
        # the last registration actually computed (not reused), the reference warped by it,
        # when, and what it was made under: (method, motion, night shape)
        self._fresh: tuple[WarpedReference, float, tuple] | None = None

    @property
    def reference(self) -> Reference | None:
        return self._reference

    @property
    def matrix(self) -> np.ndarray | None:
        """The last good 3x3 registration (None before the first or after a failure)."""
        return None if self._matrix is None else self._matrix.copy()

    @property
    def leak_params(self) -> LeakMaskParams:
        if self._leak_params is None:
            from engine.leakmask import LeakMaskParams

            self._leak_params = LeakMaskParams()
        return self._leak_params

    @leak_params.setter
    def leak_params(self, params: LeakMaskParams | None) -> None:
        self._leak_params = params

    def set_reference(
        self,
        images: np.ndarray | Sequence[np.ndarray],
        *,
        capture_ids: Sequence[int] = (),
        fixed_camera: bool = False,
        metas: Sequence[FrameMeta | None] = (),
        controls: Sequence[Mapping[str, Any] | None] = (),
        if_none: bool = False,
        if_still: Callable[[], bool] | None = None,
    ) -> Reference | None:
        """Use one day image, or several fused into one, as the reference.

        ``if_none``: only if the tracker has no reference when the fusion is done (a default
        filled in in the background never replaces one the operator set meanwhile); returns
        None, changing nothing, when it had one. ``if_still``: asked once the fusion is done,
        right before the reference is set; False sets nothing and returns None (what it was
        read for has gone meanwhile: the session it belongs to is no longer the open one).

        Several day images (e.g. captures taken over an afternoon) are fused by
        `engine.reference.fuse_day_captures` in the first one's grid: each is registered onto
        it, exposure and colour cast are matched, the robust per-pixel median drops the
        transients, and the stability map (where they disagree) goes with the reference to
        the leak mask. That is done once here, not per night frame: blocking (about 0.5 s for
        4 captures at 640x480, 1-1.5 s for 8), so call it off the GUI thread. One image is
        used as it is (a read-only copy).

        Raises
        ------
        ValueError
            Not RGB uint8, or none of the images given.
        """
        from engine._image import check_rgb

        if isinstance(images, np.ndarray) and images.ndim == 3 and images.shape[2] == 3:
            stack = [images]
        else:
            stack = list(images)
        if not stack:
            raise ValueError("a reference needs at least one day image")
        for i, img in enumerate(stack):
            check_rgb(img, f"day image {i}")
        if capture_ids and len(capture_ids) != len(stack):
            raise ValueError(f"got {len(capture_ids)} capture ids for {len(stack)} day images")
        if metas and len(metas) != len(stack):
            raise ValueError(f"got {len(metas)} frame metadata for {len(stack)} day images")
        if controls and len(controls) != len(stack):
            raise ValueError(f"got {len(controls)} sets of controls for {len(stack)} day images")
        from engine.reference import fuse_day_captures

        # the same deterministic fusion the inspector and `nightlab reprocess` rebuild from
        # the stored captures, so a stored registration fits what they warp, byte for byte
        fused = fuse_day_captures(stack)
        # our own read-only copy: it cannot change under us, so alignment prepares it once
        # and reuses that for every night frame (`alignment.align` on a read-only reference)
        image = np.ascontiguousarray(fused.image, dtype=np.uint8)
        image.setflags(write=False)
        stability = fused.stability
        if stability is not None:
            stability = np.ascontiguousarray(stability, dtype=np.float32)
            stability.setflags(write=False)
        days = (image,) if len(stack) == 1 else tuple(_read_only_copy(d) for d in stack)
        ref = Reference(
            image,
            tuple(int(i) for i in capture_ids),
            bool(fixed_camera),
            stability=stability,
            used=fused.used,
            refused=fused.refused,
            days=days,
            metas=tuple(metas),
            controls=tuple(None if c is None else dict(c) for c in controls),
        )
        with self._lock:
            if if_none and self._reference is not None:
                return None
            if if_still is not None and not if_still():
                return None
            self._reference = ref
            self._matrix = None  # a new reference needs a full search
            self._fresh = None
        self.events.reference_changed.emit(ref)
        return ref

    def recorded(self, reference: Reference, capture_ids: Sequence[int]) -> Reference | None:
        """Name the store captures ``reference`` was just recorded as (one per ``days``),
        keeping everything else, the registration too: the image does not change. Returns the
        renamed reference, or None when another reference was set meanwhile (nothing done).
        """
        import dataclasses

        ids = tuple(int(i) for i in capture_ids)
        if len(ids) != len(reference.days):
            raise ValueError(f"got {len(ids)} capture ids for {len(reference.days)} day images")
        renamed = dataclasses.replace(reference, capture_ids=ids)
        with self._lock:
            if self._reference is not reference:
                return None
            self._reference = renamed  # same image: the registration and its reuse hold
        self.events.reference_changed.emit(renamed)
        return renamed

    def clear_reference(self) -> None:
        with self._lock:
            self._reference = None
            self._matrix = None
            self._fresh = None
        self.events.reference_changed.emit(None)

    def reset(self) -> None:
        """Forget the last matrix: the next frame gets a full search."""
        with self._lock:
            self._matrix = None
            self._fresh = None
        self.events.reset.emit()

    def process(
        self,
        night: np.ndarray,
        *,
        colorizer: SupportsColorize | None = None,
        ssim: bool = True,
        reuse_s: float = 0.0,
    ) -> PairResult:
        """Align ``night`` to the reference (leak mask, SSIM, optional colorization).

        Blocking (tens to hundreds of ms): call it off the GUI thread.

        Parameters
        ----------
        night : ndarray
            Night frame (see `engine.pipeline.process_pair`).
        colorizer : object, optional
            Passed to `engine.pipeline.process_pair`.
        ssim : bool
            Compute the SSIM mean.
        reuse_s : float
            For a ``fixed_camera`` reference only: reuse the last registration this tracker
            computed (not one it reused) if it is younger than ``reuse_s`` seconds and was
            made for a frame of the same size with the same ``method`` and ``motion``; the
            reference warped by it is reused too (the result's ``timings_ms["align"]`` and
            ``["warp"]`` are then 0). 0 (the default, and what captures use) registers every
            frame.

        Raises
        ------
        ValueError
            No reference set, a bad night image, or ``reuse_s`` negative or not finite.
        """
        from engine.pipeline import process_pair

        if not math.isfinite(reuse_s) or reuse_s < 0:
            raise ValueError(f"reuse_s must be a finite number >= 0, got {reuse_s!r}")
        with self._lock:
            ref, initial, fresh = self._reference, self._matrix, self._fresh
        if ref is None:
            raise ValueError("no day reference: capture or set one first")
        registered = None
        made_under = (self.method, self.motion, tuple(night.shape[:2]))
        if reuse_s > 0 and ref.fixed_camera and fresh is not None:
            warped, at, under = fresh
            if under == made_under and warped.day is ref.image and time.monotonic() - at < reuse_s:
                registered = warped
        result = process_pair(
            ref.image,
            night,
            colorizer=colorizer,
            method=self.method,
            motion=self.motion,
            initial=initial,
            fixed_camera=ref.fixed_camera,
            leak_params=self.leak_params,
            stability=ref.stability,
            ssim=ssim,  # the live view refreshes its SSIM label a few times a second only
            registered=registered,
        )
        with self._lock:
            if self._reference is ref:  # the reference did not change meanwhile
                self._matrix = np.asarray(result.alignment.matrix, float) if result.ok else None
                if registered is None:
                    ok = result.ok and result.warped is not None
                    self._fresh = (result.warped, time.monotonic(), made_under) if ok else None
        if not result.ok:
            self.events.lost.emit(result.alignment.reason or "alignment failed")
        self.events.processed.emit(result)
        return result
