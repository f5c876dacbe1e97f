"""Fuse the day captures of a stored pair into one reference, in one capture's pixel grid.

A stored pair keeps its day captures and *one* registration (day reference -> night frame).
So that one matrix still fits when the reference is fused from several captures, they are
fused in the grid of one of them, the **anchor**: every other capture is registered onto the
anchor (same camera, same modality: a fixed-camera prior refined locally), warped onto it and
fused there (`fuse_aligned`: exposure and colour cast matched, robust per-pixel median,
chroma kept, stability map). The live tracker, ``ingest``, the inspector and ``reprocess``
all build it here, from the same stored captures, so they all get the same image.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from engine._image import check_rgb, to_gray
from engine.reference._fuse import FuseParams
from engine.reference._reference import (
    REGISTRATIONS,
    FusedReference,
    colour_frames,
    register_day_frame,
    warp_and_fuse,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ["COMBINE", "fuse_day_captures"]

#: What `fuse_day_captures` makes of several captures, as recorded with a pair's results
#: (``reprocess``'s run metrics and skip key). Change it whenever the fused image of the
#: same captures would change, so runs made with the old definition are not taken as done.
COMBINE = "fused-v2"  # v2: gray captures beside colour ones are left out


def fuse_day_captures(
    days: Sequence[np.ndarray],
    *,
    anchor: int = 0,
    registration: str = "fixed",
    params: FuseParams | None = None,
) -> FusedReference:
    """Fuse several day captures of one scene into a clean reference in the anchor's grid.

    Each capture other than the anchor is registered onto the anchor capture
    (`register_day_frame`), warped onto its grid and fused with it (`fuse_aligned`):
    exposure and colour cast matched to the consensus, robust per-pixel median with the
    chroma magnitude kept, and a stability map (where the captures disagree). A capture that
    does not register is left out (``refused`` says why). The result is deterministic: the
    same captures give the same image, byte for byte, so a registration stored against it
    fits every later rebuild (inspector, reprocess).

    One capture is returned as it is (a copy), with no stability map: one frame cannot
    disagree with itself, and a single-capture reference stays what it always was. The same
    holds when no other capture registers onto the anchor.

    Parameters
    ----------
    days : sequence of ndarray
        Day captures, RGB uint8 ``(H_i, W_i, 3)`` (sizes may differ; the result has the
        anchor's).
    anchor : int
        Index of the capture whose pixel grid the result is in (default: the first).
    registration : {"fixed", "translation", "auto"}
        How the other captures are registered onto the anchor (`register_day_frame`):
        ``"fixed"`` (default) for captures of one camera that has not moved (identity start,
        local refinement, a full search only when that does not verify).
    params : FuseParams, optional
        Fusion parameters (defaults when None).

    Returns
    -------
    FusedReference
        ``image`` (RGB uint8, anchor's size), ``stability`` (float32, None for one capture),
        ``valid``, ``count``, ``alignments`` (each capture onto the anchor; the anchor's is
        the identity), ``used`` and ``refused``.

    Raises
    ------
    ValueError
        No captures, a capture that is not RGB uint8, ``anchor`` out of range, or an
        unknown ``registration``.

    Examples
    --------
    >>> import skimage.data
    >>> scene = skimage.data.astronaut()[::2, ::2]
    >>> days = [scene, np.roll(scene, 3, axis=1), scene.copy()]
    >>> days[2][100:150, 100:150] = (255, 0, 0)       # a transient in one capture
    >>> ref = fuse_day_captures(days)
    >>> ref.used, ref.image.shape, ref.stability.dtype
    ((0, 1, 2), (256, 256, 3), dtype('float32'))
    >>> int(np.abs(ref.image[125, 125].astype(int) - scene[125, 125]).max()) < 6  # no red
    True
    """
    import alignment

    days = list(days)
    if not days:
        raise ValueError("need at least one day capture")
    for i, d in enumerate(days):
        check_rgb(d, f"day capture {i}")
    if isinstance(anchor, bool) or not isinstance(anchor, int | np.integer):
        raise ValueError(f"anchor must be an index into the day captures, got {anchor!r}")
    if not 0 <= anchor < len(days):
        raise ValueError(f"anchor {anchor} is out of range for {len(days)} day captures")
    if registration not in REGISTRATIONS:  # before a bad name could refuse every capture
        raise ValueError(f"registration must be one of {REGISTRATIONS}, got {registration!r}")
    base = days[anchor]
    shape = base.shape[:2]
    identity = alignment.Alignment(
        np.eye(3),
        ok=True,
        score=1.0,
        method="anchor",
        motion="translation",
        fixed_shape=shape,
        moving_shape=shape,
    )
    if len(days) == 1:
        return _as_is(base, (identity,), anchor)
    t0 = time.perf_counter()
    gray = to_gray(base)
    alignments = tuple(
        identity if i == anchor else _register(d, gray, registration, identity)
        for i, d in enumerate(days)
    )
    registered = tuple(i for i, a in enumerate(alignments) if a.ok)
    used = colour_frames(days, registered)
    t1 = time.perf_counter()
    timings = {"register": (t1 - t0) * 1e3}
    if used == (anchor,):  # nothing else registered (or has colour): the anchor alone
        return _as_is(base, alignments, anchor, timings)
    # the anchor goes through its identity warp too: exact, and the same one step for all;
    # a gray anchor still gives the grid, its colourless pixels are left out
    return warp_and_fuse(days, alignments, used, shape=shape, params=params, timings=timings)


def _as_is(base: np.ndarray, alignments, anchor: int, timings=None) -> FusedReference:
    """The anchor capture alone, byte for byte (a copy), with no stability map."""
    shape = base.shape[:2]
    return FusedReference(
        image=np.array(base, dtype=np.uint8, order="C", copy=True),
        stability=None,
        valid=np.ones(shape, bool),
        count=np.ones(shape, np.uint16),
        alignments=tuple(alignments),
        used=(anchor,),
        timings_ms=dict(timings or {}),
    )


def _register(day: np.ndarray, anchor: np.ndarray, registration: str, identity):
    """``day`` registered onto the anchor; a capture alignment cannot take (too small, say)
    is refused with the reason rather than failing the whole reference."""
    import dataclasses

    try:
        return register_day_frame(day, anchor, registration=registration)
    except ValueError as exc:
        return dataclasses.replace(
            identity,
            ok=False,
            score=0.0,
            method="none",
            reason=str(exc).splitlines()[0],
            moving_shape=day.shape[:2],
        )
