"""Where NightLab's data lives, and loaders for the data sets every area shares.

* :func:`shared_dir`: the read-only ``../shared`` folder (tests, benchmarks, training).
* :func:`load_visnir_pair`: one EPFL RGB/NIR pair from ``../shared/data/visnir/<category>``.
* :func:`skimage_photos`: the colour photos bundled in the scikit-image wheel (no download).

Images are numpy ``uint8`` arrays, gray ``(H, W)`` or RGB ``(H, W, 3)`` in RGB order.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from engine._image import read_image

__all__ = ["SKIMAGE_PHOTOS", "load_visnir_pair", "shared_dir", "skimage_photos"]

#: Colour photos bundled in the scikit-image wheel. ``stereo_motorcycle`` is a stereo pair.
SKIMAGE_PHOTOS = (
    "astronaut",
    "chelsea",
    "coffee",
    "rocket",
    "immunohistochemistry",
    "retina",
    "stereo_motorcycle",
)


def shared_dir() -> Path:
    """The read-only data folder: ``$NIGHTLAB_SHARED``, else ``<repo root>/../shared``.

    The repository root is the folder that holds the ``engine`` package. The path is returned
    whether or not it exists: callers that need it check and skip (tests) or say so (tools).

    Examples
    --------
    >>> (shared_dir() / "data" / "visnir").name
    'visnir'
    """
    env = os.environ.get("NIGHTLAB_SHARED")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared"


def load_visnir_pair(
    folder: str | Path, stem: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Read ``folder/<stem>_rgb.jpg``, ``<stem>_nir.jpg`` and, if present, ``<stem>_nir.npy``.

    Parameters
    ----------
    folder : str or Path
        A ``data/visnir/<category>`` folder.
    stem : str
        Pair number, e.g. ``"0013"``.

    Returns
    -------
    rgb : ndarray
        Visible image, RGB uint8 ``(H, W, 3)``.
    nir : ndarray
        Near-infrared image, gray uint8 ``(H, W)``.
    truth : ndarray or None
        3x3 float64 matrix mapping ``rgb`` pixels onto ``nir`` pixels (the 2x3 affine of
        ``<stem>_nir.npy`` with a ``[0, 0, 1]`` row), or None when there is no such file
        (the registered ``country`` pairs).

    Raises
    ------
    ImageError
        An image is missing or unreadable (the message names the file).

    Examples
    --------
    >>> rgb, nir, truth = load_visnir_pair(shared_dir() / "data/visnir/field", "0013")
    ... # doctest: +SKIP
    """
    stem_path = Path(folder) / stem
    rgb = read_image(f"{stem_path}_rgb.jpg", mode="rgb")
    nir = read_image(f"{stem_path}_nir.jpg", mode="gray")
    truth_path = Path(f"{stem_path}_nir.npy")
    truth = None
    if truth_path.is_file():
        truth = np.vstack([np.load(truth_path), [0.0, 0.0, 1.0]])
    return rgb, nir, truth


def skimage_photos(
    names: tuple[str, ...] = SKIMAGE_PHOTOS, *, both_views: bool = False
) -> dict[str, np.ndarray]:
    """The named scikit-image photos as RGB uint8 arrays, in ``names`` order.

    Parameters
    ----------
    names : tuple of str
        ``skimage.data`` function names (see :data:`SKIMAGE_PHOTOS`).
    both_views : bool
        For a stereo pair, return both views as ``<name>_0`` and ``<name>_1``; by default
        only the left view, as ``<name>``.

    Returns
    -------
    dict of str to ndarray
        Fresh, writable, contiguous ``(H, W, 3)`` arrays (alpha dropped), keyed by name.

    Examples
    --------
    >>> photos = skimage_photos(("astronaut", "stereo_motorcycle"), both_views=True)
    >>> list(photos)
    ['astronaut', 'stereo_motorcycle_0', 'stereo_motorcycle_1']
    """
    import skimage.data

    out = {}
    for name in names:
        photo = getattr(skimage.data, name)()
        if isinstance(photo, tuple):  # stereo: (left, right, disparity)
            views = photo[:2] if both_views else photo[:1]
        else:
            views = (photo,)
        for k, view in enumerate(views):
            tag = f"{name}_{k}" if len(views) > 1 else name
            out[tag] = np.ascontiguousarray(view[..., :3])
    return out
