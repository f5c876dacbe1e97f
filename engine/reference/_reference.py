"""Align several day frames onto a night frame and fuse them into one clean reference."""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from engine._image import check_rgb, has_colour, to_gray
from engine.reference._fuse import FuseParams, fuse_aligned

if TYPE_CHECKING:
    from collections.abc import Sequence

    from alignment import Alignment

__all__ = [
    "NO_COLOUR",
    "REGISTRATIONS",
    "FusedReference",
    "colour_frames",
    "describe_fusion",
    "fuse_references",
    "register_day_frame",
]

#: Values of ``registration=``: how each day frame is put onto the night frame's grid.
REGISTRATIONS = ("auto", "fixed", "translation")


@dataclass(frozen=True)
class FusedReference:
    """A day reference fused from several day frames, in one pixel grid: the night frame's
    (`fuse_references`) or an anchor day capture's (`fuse_day_captures`)."""

    image: np.ndarray
    """RGB uint8 ``(H, W, 3)``: the fused reference (black outside ``valid``)."""
    stability: np.ndarray | None
    """float32 ``(H, W)`` in [0, 1]: 1 = the day frames agree here, 0 = they disagree or
    nothing covers the pixel. Pass it to `engine.leakmask.leak_mask(stability=...)`. None
    for a single day capture (`fuse_day_captures`): one frame cannot disagree with itself."""
    valid: np.ndarray
    """bool ``(H, W)``: covered by enough aligned day frames."""
    count: np.ndarray
    """uint16 ``(H, W)``: how many aligned day frames cover each pixel."""
    alignments: tuple[Alignment, ...]
    """One `alignment.Alignment` per input day frame onto the result's grid, in input order
    (``ok`` False for the ones that did not register)."""
    used: tuple[int, ...]
    """Indices (into the input sequence) of the day frames that went into the fusion."""
    timings_ms: dict[str, float] = field(default_factory=dict, compare=False)

    @property
    def refused(self) -> tuple[tuple[int, str], ...]:
        """``(index, reason)`` of every day frame left out: it did not register, or it did
        and is a gray capture beside colour ones (`colour_frames`), the only other reason a
        registered frame is not used."""
        return tuple(
            (i, NO_COLOUR if a.ok else a.reason)
            for i, a in enumerate(self.alignments)
            if i not in self.used
        )


#: why a registered day frame was left out of the fusion
NO_COLOUR = "no colour: a gray capture"


def colour_frames(days: Sequence[np.ndarray], used: Sequence[int]) -> tuple[int, ...]:
    """The frames of ``used`` that have colour, or all of ``used`` when none has.

    A gray day capture (a camera still in its night / IR mode at dawn, an IR-cut filter that
    did not switch) registers like any other but carries no chroma: fused beside colour
    captures it halves the reference's colour (two captures) or, as the median of three,
    removes it. So it is left out whenever a colour capture is there to use; only a set of
    gray captures is fused as it is.

    Examples
    --------
    >>> colour = np.dstack([np.full((4, 4), v, np.uint8) for v in (200, 90, 40)])
    >>> gray = np.full((4, 4, 3), 90, np.uint8)
    >>> colour_frames([colour, gray, colour], (0, 1, 2)), colour_frames([gray, gray], (0, 1))
    ((0, 2), (0, 1))
    """
    coloured = tuple(i for i in used if has_colour(days[i]))
    return coloured if coloured else tuple(used)


def describe_fusion(
    used: Sequence[int],
    refused: Sequence[tuple[int, str]] = (),
    *,
    capture_ids: Sequence[int] = (),
) -> str:
    """One line for logs, the CLI and the inspector: which day captures went into a fused
    reference, which were left out and why.

    ``used`` and ``refused`` index the day captures in input order (`FusedReference.used`,
    `FusedReference.refused`); ``capture_ids`` (one per capture) names them by store id.

    Examples
    --------
    >>> describe_fusion((0, 2), ((1, "did not register"),), capture_ids=(12, 13, 14))
    'day captures #12, #14 fused; left out #13 (did not register)'
    >>> describe_fusion((0,), capture_ids=(12,))
    'day capture #12 used'
    >>> describe_fusion((0, 1, 2))
    '3 day captures fused'
    """
    n = len(used) + len(refused)
    if capture_ids and len(capture_ids) != n:
        raise ValueError(f"{len(capture_ids)} capture ids for {n} day captures")

    def name(i: int) -> str:
        return f"#{capture_ids[i]}" if capture_ids else f"capture {i + 1}"

    if capture_ids:
        plural = "s" if len(used) > 1 else ""
        text = f"day capture{plural} " + ", ".join(name(i) for i in used)
        text += " fused" if len(used) > 1 else " used"
    elif refused:
        text = f"{len(used)} of {n} day captures fused"
    else:
        text = f"{n} day captures fused" if n > 1 else "one day image"
    if refused:
        left = (f"{name(i)} ({why or 'did not register'})" for i, why in refused)
        text += "; left out " + ", ".join(left)
    return text


def register_day_frame(day: np.ndarray, night: np.ndarray, *, registration: str = "auto"):
    """Register one day frame onto a night frame; returns an `alignment.Alignment`.

    ``registration``: ``"auto"`` is `alignment.align` (full cross-modal search);
    ``"translation"`` is its phase correlation restricted to a shift; ``"fixed"`` is for a
    camera that does not move: `alignment.align(..., fixed_camera=True)` where the installed
    `alignment` offers it, otherwise a verified shift, and the identity (the fixed camera's
    prior, marked ``method="fixed-identity"``) when even that does not verify and the sizes
    match.

    Examples
    --------
    >>> import skimage.data
    >>> day = skimage.data.astronaut()[::2, ::2]
    >>> register_day_frame(day, np.roll(to_gray(day), 3, axis=1), registration="translation").ok
    True
    """
    import alignment

    if registration not in REGISTRATIONS:
        raise ValueError(f"registration must be one of {REGISTRATIONS}, got {registration!r}")
    if registration == "auto":
        return alignment.align(day, night)
    if registration == "fixed" and "fixed_camera" in inspect.signature(alignment.align).parameters:
        return alignment.align(day, night, fixed_camera=True)
    result = alignment.align(day, night, method="phase", motion="translation")
    if result.ok or registration == "translation" or day.shape[:2] != night.shape[:2]:
        return result
    return alignment.Alignment(
        np.eye(3),
        ok=True,
        score=result.score,
        method="fixed-identity",
        motion="translation",
        reason="",
        fixed_shape=night.shape[:2],
        moving_shape=day.shape[:2],
    )


def fuse_references(
    days: Sequence[np.ndarray],
    night: np.ndarray,
    *,
    registration: str = "auto",
    params: FuseParams | None = None,
    alignments: Sequence[Alignment] | None = None,
) -> FusedReference:
    """Align every day frame onto the night frame and fuse them robustly, pixel by pixel.

    Transients (people, vehicles, tents, clouds) are in few of the frames, so the per-pixel
    median of the aligned, photometrically matched frames drops them; the frames' spread
    around it is kept as a stability map for the leak mask.

    Parameters
    ----------
    days : sequence of ndarray
        Day frames, RGB uint8 ``(H_i, W_i, 3)`` (sizes may differ from the night frame).
    night : ndarray
        The night frame, gray uint8 ``(H, W)`` or RGB (reduced to luminance for alignment).
    registration : {"auto", "fixed", "translation"}
        How each day frame is registered (see `register_day_frame`).
    params : FuseParams, optional
        Fusion parameters (coverage, photometric matching, stability scale); defaults when
        None.
    alignments : sequence of alignment.Alignment, optional
        One per day frame, already computed (e.g. kept from a previous night frame of a
        fixed camera); ``registration`` is then not used.

    Returns
    -------
    FusedReference
        Fused image, stability, validity, per-pixel count, every frame's alignment and the
        indices of the frames used. Frames that do not align are left out (see
        ``refused``).

    Raises
    ------
    ValueError
        No day frames, a day frame that is not RGB uint8, or no day frame that aligns
        (the message lists each frame's reason).

    Examples
    --------
    >>> import skimage.data
    >>> scene = skimage.data.astronaut()[::2, ::2]
    >>> days = [scene.copy() for _ in range(4)]
    >>> days[1][100:150, 100:150] = (255, 0, 0)   # a transient in one frame
    >>> ref = fuse_references(days, to_gray(scene), registration="fixed")
    >>> ref.used, ref.image.shape
    ((0, 1, 2, 3), (256, 256, 3))
    >>> int(np.abs(ref.image[125, 125].astype(int) - scene[125, 125]).max()) < 3  # no red
    True
    """
    days = list(days)
    if not days:
        raise ValueError("need at least one day frame")
    for i, d in enumerate(days):
        check_rgb(d, f"day frame {i}")
    night = to_gray(night)
    shape = night.shape[:2]
    t0 = time.perf_counter()
    if alignments is None:
        alignments = tuple(register_day_frame(d, night, registration=registration) for d in days)
    else:
        alignments = tuple(alignments)
        if len(alignments) != len(days):
            raise ValueError(f"got {len(alignments)} alignments for {len(days)} day frames")
    used = tuple(i for i, a in enumerate(alignments) if a.ok)
    if not used:
        reasons = "; ".join(f"{i}: {a.reason}" for i, a in enumerate(alignments))
        raise ValueError(
            f"none of the {len(days)} day frames aligns onto the night frame ({reasons})"
        )
    t1 = time.perf_counter()
    return warp_and_fuse(
        days,
        alignments,
        colour_frames(days, used),
        shape=shape,
        params=params,
        timings={"align": (t1 - t0) * 1e3},
    )


def warp_and_fuse(
    days: Sequence[np.ndarray],
    alignments: Sequence[Alignment],
    used: tuple[int, ...],
    *,
    shape: tuple[int, int],
    params: FuseParams | None,
    timings: dict[str, float],
) -> FusedReference:
    """The ``used`` frames warped into ``shape`` by their alignments, with their coverage,
    fused (`fuse_aligned`); the step both fusions share once their frames are registered."""
    t1 = time.perf_counter()
    warped, valid = [], []
    for i in used:
        a, d = alignments[i], days[i]
        warped.append(a.warp(d, output_shape=shape))
        cover = a.warp(np.full(d.shape[:2], 255, np.uint8), output_shape=shape)
        valid.append(cover > 127)
    t2 = time.perf_counter()
    stack = fuse_aligned(warped, valid=valid, params=params or FuseParams())
    t3 = time.perf_counter()
    return FusedReference(
        image=stack.image,
        stability=stack.stability,
        valid=stack.valid,
        count=stack.count,
        alignments=tuple(alignments),
        used=used,
        timings_ms={**timings, "warp": (t2 - t1) * 1e3, "fuse": (t3 - t2) * 1e3},
    )
