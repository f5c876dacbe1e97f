"""Several frames -> one: burst averaging (night noise) and a clean day reference.

A burst of frames taken within a second has the same scene and independent sensor noise:
their mean lowers the noise by sqrt(N). Captures spread over time (minutes apart) also
differ in passers-by, cars and shadows: their per-pixel median keeps what stays (the clean
reference), which a mean would smear in as ghosts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from engine.camera import Camera

__all__ = ["average_frames", "grab_burst", "median_frames"]


def _stack(frames: Sequence[np.ndarray], what: str) -> np.ndarray:
    if len(frames) == 0:
        raise ValueError(f"{what}: no frames given")
    first = np.asarray(frames[0])
    gray_or_rgb = first.ndim == 2 or (first.ndim == 3 and first.shape[2] == 3)
    if first.dtype != np.uint8 or not gray_or_rgb or first.size == 0:
        raise ValueError(
            f"{what}: frames must be uint8 (H, W) or (H, W, 3), got {first.dtype} {first.shape}"
        )
    for i, f in enumerate(frames):
        f = np.asarray(f)
        if f.shape != first.shape or f.dtype != first.dtype:
            raise ValueError(
                f"{what}: frame {i} is {f.dtype} {f.shape}, "
                f"the first is {first.dtype} {first.shape}"
            )
    return np.stack([np.asarray(f) for f in frames])


def average_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Mean of a burst of same-sized uint8 frames, rounded back to uint8.

    Examples
    --------
    >>> average_frames([np.zeros((1, 2), np.uint8), np.full((1, 2), 3, np.uint8)]).tolist()
    [[2, 2]]
    """
    stack = _stack(frames, "average_frames")
    acc = stack.sum(axis=0, dtype=np.uint32)
    n = len(stack)
    return ((acc + n // 2) // n).astype(np.uint8)


def median_frames(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Per-pixel median of same-sized uint8 frames (a clean reference from several captures).

    Examples
    --------
    >>> f = [np.full((1, 1), v, np.uint8) for v in (10, 200, 12)]
    >>> median_frames(f).tolist()
    [[12]]
    """
    stack = _stack(frames, "median_frames")
    return np.median(stack, axis=0).round().astype(np.uint8)


def grab_burst(camera: Camera, count: int, *, colour: bool | None = None, timeout: float = 2.0):
    """The next ``count`` consecutive frames of a streaming camera (blocking: a worker call).

    Parameters
    ----------
    camera : engine.camera.Camera
        A streaming camera.
    count : int
        Frames to collect (>= 1).
    colour : bool, optional
        True: every frame must be colour (a day burst); False: gray (night); None: either.
    timeout : float
        Seconds to wait for each frame.

    Returns
    -------
    list of engine.camera.Frame

    Raises
    ------
    ValueError
        A frame of the wrong kind arrived (the scene switched mid-burst).
    engine.camera.CameraError
        No frame within ``timeout``.
    """
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    frames = []
    last = None
    for _ in range(count):
        frame = camera.wait_frame(timeout, after=last)
        last = frame.meta.sequence
        if colour is not None and frame.is_gray == colour:
            want = "colour (day)" if colour else "gray (night)"
            raise ValueError(f"frame #{last} is not {want}: the camera switched mode mid-burst")
        frames.append(frame)
    return frames
