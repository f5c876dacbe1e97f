"""The result of a registration, and the names of the methods and motion models."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

__all__ = ["METHODS", "MOTIONS", "Alignment"]

#: Motion models, from the fewest to the most degrees of freedom.
MOTIONS: tuple[str, ...] = ("translation", "euclidean", "affine", "homography")

#: Values accepted by ``align(method=...)``.
METHODS: tuple[str, ...] = ("auto", "ecc", "features", "phase")


@dataclass(frozen=True)
class Alignment:
    """Where a ``moving`` image lies in a ``fixed`` image's pixel grid.

    Attributes
    ----------
    matrix : ndarray
        3x3 float64 homography mapping pixel coordinates ``(x, y, 1)`` of ``moving`` to
        ``fixed`` (pixel centres at integer coordinates, OpenCV's convention). Always
        normalised so ``matrix[2, 2] == 1``; the identity when ``ok`` is ``False``.
    ok : bool
        ``True`` when the registration passed verification (sane matrix, enough overlap,
        structure lines up). Never trust ``matrix`` when ``ok`` is ``False``.
    score : float
        Verification score in ``[0, 1]``, higher is better: how well the gradient structure
        of the warped ``moving`` image correlates with ``fixed`` in their overlap.
    method : str
        What produced the matrix, e.g. ``"features+ecc"``, ``"phase+ecc"``, ``"ecc"``,
        ``"fixed+ecc"`` (the fixed-camera prior refined locally); a ``"+orientation"``
        suffix marks the last attempt when nothing else verified (a similarity climbed by
        gradient-orientation agreement).
    motion : str
        Motion model of the matrix: ``"translation"``, ``"euclidean"``, ``"affine"`` or
        ``"homography"``.
    reason : str
        Why ``ok`` is ``False`` (one line); ``""`` when ``ok``.
    fixed_shape : tuple of int
        ``(H, W)`` of ``fixed``: the default output size of :meth:`warp`.
    moving_shape : tuple of int
        ``(H, W)`` of ``moving``: the output size of the inverse's :meth:`warp`.
    elapsed_ms : dict of str to float
        Wall time of each stage in milliseconds (e.g. ``"features"``, ``"ecc"``,
        ``"verify"``, ``"total"``).

    Examples
    --------
    >>> a = Alignment(np.eye(3), ok=True, score=1.0, method="ecc", motion="affine",
    ...               fixed_shape=(4, 6), moving_shape=(4, 6))
    >>> a.warp(np.full((4, 6), 7, np.uint8)).shape
    (4, 6)
    """

    matrix: np.ndarray
    ok: bool
    score: float
    method: str
    motion: str
    reason: str = ""
    fixed_shape: tuple[int, int] = (0, 0)
    moving_shape: tuple[int, int] = (0, 0)
    elapsed_ms: dict[str, float] = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        m = np.array(self.matrix, dtype=np.float64)  # a private copy: the result is frozen
        if m.shape != (3, 3):
            raise ValueError(f"matrix must be 3x3, got shape {m.shape}")
        if np.isfinite(m[2, 2]) and abs(m[2, 2]) > 1e-12:
            m /= m[2, 2]
        m.flags.writeable = False
        object.__setattr__(self, "matrix", m)
        object.__setattr__(self, "score", float(np.clip(self.score, 0.0, 1.0)))

    def warp(
        self,
        image: np.ndarray,
        *,
        output_shape: tuple[int, int] | None = None,
        interpolation: int = cv2.INTER_LINEAR,
        border_value: float = 0.0,
    ) -> np.ndarray:
        """Warp an image that lives in ``moving``'s pixel grid into ``fixed``'s grid.

        Parameters
        ----------
        image : ndarray
            Image in ``moving`` coordinates: uint8 gray ``(H, W)`` or RGB ``(H, W, 3)``, or a
            float mask. Any size works, but the matrix refers to ``moving``'s pixel grid.
        output_shape : (int, int), optional
            ``(H, W)`` of the result; defaults to ``fixed_shape``.
        interpolation : int
            OpenCV interpolation flag (``cv2.INTER_NEAREST`` for label images).
        border_value : float
            Value of output pixels that ``image`` does not cover.

        Returns
        -------
        ndarray
            Same dtype and channels as ``image``, shape ``output_shape``.

        Examples
        --------
        >>> shift = np.array([[1.0, 0, 2], [0, 1, 0], [0, 0, 1]])
        >>> a = Alignment(shift, ok=True, score=1.0, method="phase", motion="translation",
        ...               fixed_shape=(1, 5), moving_shape=(1, 5))
        >>> a.warp(np.array([[9, 0, 0, 0, 0]], np.uint8)).tolist()
        [[0, 0, 9, 0, 0]]
        """
        image = np.asarray(image)
        if image.ndim not in (2, 3) or image.size == 0:
            raise ValueError(f"image must be (H, W) or (H, W, C) and non-empty, got {image.shape}")
        h, w = output_shape if output_shape is not None else self.fixed_shape
        if h <= 0 or w <= 0:
            raise ValueError(f"output_shape must be positive (H, W), got {(h, w)}")
        flags = interpolation
        if _is_affine(self.matrix):
            return cv2.warpAffine(
                image, self.matrix[:2], (int(w), int(h)), flags=flags, borderValue=border_value
            )
        return cv2.warpPerspective(
            image, self.matrix, (int(w), int(h)), flags=flags, borderValue=border_value
        )

    def inverse(self) -> Alignment:
        """The alignment of ``fixed`` onto ``moving`` (inverse matrix, shapes swapped).

        Examples
        --------
        >>> a = Alignment(np.diag([2.0, 2.0, 1.0]), ok=True, score=1.0, method="ecc",
        ...               motion="affine", fixed_shape=(8, 8), moving_shape=(4, 4))
        >>> a.inverse().matrix[0, 0], a.inverse().fixed_shape
        (np.float64(0.5), (4, 4))
        """
        inv = np.linalg.inv(self.matrix)
        return Alignment(
            inv / inv[2, 2],
            ok=self.ok,
            score=self.score,
            method=self.method,
            motion=self.motion,
            reason=self.reason,
            fixed_shape=self.moving_shape,
            moving_shape=self.fixed_shape,
            elapsed_ms=dict(self.elapsed_ms),
        )

    def transform_points(self, points: np.ndarray) -> np.ndarray:
        """Map ``(N, 2)`` pixel coordinates ``(x, y)`` of ``moving`` into ``fixed``.

        Examples
        --------
        >>> a = Alignment(np.diag([2.0, 2.0, 1.0]), ok=True, score=1.0, method="ecc",
        ...               motion="affine", fixed_shape=(8, 8), moving_shape=(4, 4))
        >>> a.transform_points(np.array([[1.0, 3.0]])).tolist()
        [[2.0, 6.0]]
        """
        return apply_homography(self.matrix, points)


def apply_homography(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map ``(N, 2)`` points through a 3x3 matrix (with the perspective divide).

    Parameters
    ----------
    matrix : (3, 3) array
        An :attr:`Alignment.matrix` or any homography, moving pixels to fixed pixels.
    points : (N, 2) array
        ``(x, y)`` pixel coordinates.

    Returns
    -------
    (N, 2) float64 array

    Examples
    --------
    >>> import numpy as np
    >>> apply_homography(np.diag([2.0, 2.0, 1.0]), np.array([[1.0, 3.0]])).tolist()
    [[2.0, 6.0]]
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    q = pts @ matrix[:2, :2].T + matrix[:2, 2]
    w = pts @ matrix[2, :2] + matrix[2, 2]
    return q / w[:, None]


def _is_affine(matrix: np.ndarray) -> bool:
    return bool(abs(matrix[2, 0]) < 1e-12 and abs(matrix[2, 1]) < 1e-12)
