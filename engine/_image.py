"""Image I/O and validation shared by every engine module.

Images cross every NightLab API as numpy arrays: ``uint8``, gray ``(H, W)`` or colour
``(H, W, 3)`` in **RGB** order. OpenCV's BGR appears only inside this module (reading and
writing files), so the rest of the code never has to think about channel order.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from engine._native import captured_native_stderr
from engine.atomic import special_file_kind, write_bytes_atomic

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageError",
    "check_gray",
    "check_rgb",
    "has_colour",
    "is_frozen",
    "read_image",
    "to_gray",
    "write_image",
]

#: File suffixes treated as images when scanning folders (lower case, with the dot).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp")


def is_frozen(image: np.ndarray) -> bool:
    """True if ``image`` cannot change under its holder: read-only, and so is the array it
    views. Work derived from such an array alone may be kept and reused while the same array
    object comes back (the live view's warped reference, `alignment.align`'s reference).

    Examples
    --------
    >>> a = np.zeros(3); frozen = a.view(); frozen.setflags(write=False)
    >>> is_frozen(frozen), is_frozen(a)
    (False, False)
    >>> a.setflags(write=False); is_frozen(frozen)
    True
    """
    base = image.base if isinstance(image.base, np.ndarray) else None
    return not image.flags.writeable and (base is None or not base.flags.writeable)


class ImageError(ValueError):
    """An image could not be read, or is not what the caller needs (one-line message)."""


def read_image(path: str | Path, *, mode: str = "rgb") -> np.ndarray:
    """Read an image file as a uint8 RGB or gray numpy array.

    Parameters
    ----------
    path : str or Path
        Image file (any format OpenCV reads: PNG, JPEG, TIFF, BMP, ...).
    mode : {"rgb", "gray", "any"}
        ``"rgb"`` returns ``(H, W, 3)`` RGB, ``"gray"`` returns ``(H, W)`` luminance,
        ``"any"`` returns gray files as gray and colour files as RGB. Alpha is dropped.

    Returns
    -------
    numpy.ndarray
        ``uint8`` image. 16-bit files are scaled to 8 bits.

    Raises
    ------
    ImageError
        The file is missing, unreadable, not an image, or empty. The message names the file.

    Examples
    --------
    >>> img = read_image("day.png")  # doctest: +SKIP
    >>> img.shape, img.dtype  # doctest: +SKIP
    ((480, 640, 3), dtype('uint8'))
    """
    if mode not in ("rgb", "gray", "any"):
        raise ValueError(f"mode must be 'rgb', 'gray' or 'any', got {mode!r}")
    p = Path(path)
    if not p.exists():
        raise ImageError(f"{p}: file not found")
    if p.is_dir():
        raise ImageError(f"{p}: is a directory, not an image file")
    if kind := special_file_kind(p):  # reading a FIFO without a writer would never end
        raise ImageError(f"{p}: not a regular file ({kind}), not an image file")
    try:
        data = np.fromfile(p, dtype=np.uint8)
    except OSError as exc:
        raise ImageError(f"{p}: cannot read ({exc.strerror or exc})") from None
    if data.size == 0:
        raise ImageError(f"{p}: file is empty")
    # libpng / libjpeg / libtiff print their complaints to fd 2: keep them out of our line
    with captured_native_stderr() as native:
        try:
            img = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
        except cv2.error as exc:  # OpenCV refuses a header above its limit by an assertion
            raise ImageError(f"{p}: {_decode_refusal(exc, data)}") from None
    if img is None:
        why = f": {native.reason}" if native.reason else ""
        raise ImageError(f"{p}: not an image or corrupt (cannot decode{why})")
    if img.size == 0 or img.shape[0] == 0 or img.shape[1] == 0:
        raise ImageError(f"{p}: image has no pixels")
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        img = _float_to_uint8(img, p)
    if img.ndim == 3 and img.shape[2] == 4:
        img = cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.ndim == 3 and img.shape[2] == 1:
        img = img[:, :, 0]
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if mode == "rgb" and img.ndim == 2:
        img = cv2.cvtColor(img, cv2.COLOR_GRAY2RGB)
    elif mode == "gray" and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(img)


def _decode_refusal(exc: cv2.error, data: np.ndarray) -> str:
    """Why OpenCV's decoder raised on ``data``, in a user's words."""
    if "CV_IO_MAX_IMAGE" in str(exc):  # validateInputImageSize: the header's pixel count
        size = _png_header_size(data)
        limit = "(at most 2^30 pixels, 2^20 a side)"
        if size:
            return f"image is {size[0]}x{size[1]} pixels, more than can be read {limit}"
        return f"image header declares more pixels than can be read {limit}"
    return f"not an image or corrupt (cannot decode: {exc.err or exc})"


def _png_header_size(data: np.ndarray) -> tuple[int, int] | None:
    """(width, height) declared by a PNG's IHDR chunk, None for other files."""
    head = data[:24].tobytes()
    if len(head) < 24 or not head.startswith(b"\x89PNG\r\n\x1a\n") or head[12:16] != b"IHDR":
        return None
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _float_to_uint8(img: np.ndarray, p: Path) -> np.ndarray:
    """Stretch a float (or other) image to 0..255; NaN/inf pixels become 0."""
    img = img.astype(np.float64, copy=False)
    finite = np.isfinite(img)
    if not finite.any():
        raise ImageError(f"{p}: image has no finite pixel values (all NaN or infinite)")
    if not finite.all():
        img = np.where(finite, img, np.nan)
        lo, hi = float(np.nanmin(img)), float(np.nanmax(img))
        img = np.nan_to_num(img, nan=lo)
    else:
        lo, hi = float(img.min()), float(img.max())
    if hi <= lo:
        return np.zeros(img.shape, np.uint8)
    with np.errstate(over="ignore", invalid="ignore"):
        scaled = (img - lo) * (255.0 / (hi - lo))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write a uint8 gray, RGB or RGBA array to an image file (format from the suffix).

    ``image`` is ``(H, W)`` gray, ``(H, W, 3)`` RGB or ``(H, W, 4)`` RGBA (channel order RGB;
    the file gets OpenCV's BGR/BGRA). Float images in [0, 1] (masks) are scaled to 0..255.
    Parent folders are created. Any other shape or dtype raises :class:`ImageError`.

    Examples
    --------
    >>> write_image("/tmp/mask.png", np.zeros((4, 4), np.float32))  # doctest: +SKIP
    """
    p = Path(path)
    img = np.asarray(image)
    if img.dtype != np.uint8:
        if np.issubdtype(img.dtype, np.floating):
            img = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
        else:
            raise ImageError(f"{p}: cannot write dtype {img.dtype}; expected uint8 or float")
    if img.size == 0 or not (img.ndim == 2 or (img.ndim == 3 and img.shape[2] in (3, 4))):
        raise ImageError(
            f"{p}: cannot write an image of shape {img.shape}; "
            "expected non-empty gray (H, W), RGB (H, W, 3) or RGBA (H, W, 4)"
        )
    if img.ndim == 3:
        code = cv2.COLOR_RGB2BGR if img.shape[2] == 3 else cv2.COLOR_RGBA2BGRA
        img = cv2.cvtColor(img, code)
    try:
        ok, buf = cv2.imencode(p.suffix or ".png", img)
    except cv2.error:  # no encoder for this suffix
        ok = False
    if not ok:
        raise ImageError(f"{p}: cannot encode image as {p.suffix or '.png'}")
    write_bytes_atomic(p, buf.tobytes())
    return p


def _check_2d(image, name: str) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise ValueError(f"{name} must be a numpy array, got {type(image).__name__}")
    if image.size == 0:
        raise ValueError(f"{name} is empty (shape {image.shape})")
    return image


def check_gray(image, name: str = "image", *, dtype=np.uint8) -> np.ndarray:
    """Validate a gray image: 2-D, non-empty, of ``dtype``. Returns it unchanged."""
    image = _check_2d(image, name)
    if image.ndim != 2:
        raise ValueError(f"{name} must be gray (H, W), got shape {image.shape}")
    if dtype is not None and image.dtype != dtype:
        raise ValueError(f"{name} must be {np.dtype(dtype).name}, got {image.dtype}")
    return image


def check_rgb(image, name: str = "image") -> np.ndarray:
    """Validate an RGB image: ``(H, W, 3)`` uint8, non-empty. Returns it unchanged."""
    image = _check_2d(image, name)
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"{name} must be RGB (H, W, 3), got shape {image.shape}")
    if image.dtype != np.uint8:
        raise ValueError(f"{name} must be uint8, got {image.dtype}")
    return image


def to_gray(image: np.ndarray) -> np.ndarray:
    """Luminance of an RGB uint8 image (BT.601 weights); gray images pass through.

    Examples
    --------
    >>> to_gray(np.full((2, 2, 3), 200, np.uint8))[0, 0]
    np.uint8(200)
    """
    image = _check_2d(image, "image")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"image must be gray (H, W) or RGB (H, W, 3), got shape {image.shape}")


def has_colour(image: np.ndarray, *, tolerance: int = 2) -> bool:
    """True if an RGB image has colour; False for gray (H, W) or RGB whose channels agree.

    A gray "day reference" gives a colorizer no reference colour. Every 4th pixel is
    compared, and channel differences up to ``tolerance`` (JPEG noise) count as gray.

    Examples
    --------
    >>> has_colour(np.full((4, 4, 3), 90, np.uint8))
    False
    >>> has_colour(np.dstack([np.full((4, 4), v, np.uint8) for v in (200, 90, 40)]))
    True
    """
    if image.ndim != 3 or image.shape[2] < 3:
        return False
    step = image[::4, ::4, :3].astype(np.int16)
    spread = max(
        int(np.abs(step[..., 0] - step[..., 1]).max()),
        int(np.abs(step[..., 1] - step[..., 2]).max()),
    )
    return spread > tolerance
