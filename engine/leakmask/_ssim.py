"""SSIM map equal to scikit-image's ``structural_similarity(..., full=True)[1]``, much faster.

scikit-image filters five whole float images with ``scipy.ndimage`` (single-threaded) and
builds the map from ``E[x^2] - E[x]^2`` through a dozen whole-image temporaries. Here one
compiled pass per output row (numba) gives the same numbers, a horizontal strip at a time:

* uint8 images with a box window (the default, and the live case; ``_ssim_u8_kernel``):
  window sums of ``x``, ``y``, ``(x - y)^2`` and ``x * y`` are exact integers, and the
  variance and covariance numerators ``N * sum(x^2) - sum(x)^2`` are formed exactly in
  int32, so there is no cancellation at all; only the last few operations are float32.
* everything else (float or other integer inputs, Gaussian weights, windows above 13;
  ``_ssim_kernels``): scikit-image's operations in its float type with scipy's rounding:
  each filter axis accumulated in float64 and, for float32 images, rounded to float32 in
  between, as scipy stores it; then the formula in float32 op by op. scikit-image's
  float32 map differs from the exact value by up to ~3e-4 in flat, bright areas; this one
  follows it to its last bit nearly everywhere.

Images from about 640x480 up are processed by two threads taking strips from one queue
(the compiled kernels release the GIL): the caller and one long-lived helper.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from engine.leakmask._ssim_u8_opencv import ssim_u8_box_opencv, strip_rows
from engine.leakmask._strips import PARALLEL_PIXELS, run_strips, scratch, strips, threads_for
from engine.leakmask._warm import fallback_used, kernels_ready

__all__ = ["SSIM_PARALLEL_PIXELS", "ssim_map", "ssim_threads"]

_K1, _K2 = 0.01, 0.03
_TRUNCATE = 3.5  # scikit-image's Gaussian truncation for SSIM (an 11-tap filter at sigma 1.5)
_MAX_EXACT_WIN = 13  # int32 holds N * sum(x * y) and sum(x)^2 exactly up to 13 x 13 windows
#: the size from which ``ssim_map`` splits the work over two threads
SSIM_PARALLEL_PIXELS = PARALLEL_PIXELS
_F32 = np.float32


def ssim_map(
    a: np.ndarray,
    b: np.ndarray,
    *,
    data_range: float,
    win_size: int = 7,
    gaussian_weights: bool = False,
    sigma: float = 1.5,
    use_sample_covariance: bool = True,
) -> np.ndarray:
    """Per-pixel structural similarity of two gray images, as scikit-image computes it.

    Equal (within 1e-4 at every pixel, borders included) to
    ``skimage.metrics.structural_similarity(a, b, data_range=data_range, full=True,
    win_size=win_size, gaussian_weights=gaussian_weights, sigma=sigma,
    use_sample_covariance=use_sample_covariance)[1]``; float32 images carry scikit-image's
    own float32 rounding (scipy rounds each filter axis to float32), reproduced to the bit.
    Several times faster on one thread, also against a scikit-image whose heap is warm
    (its temporaries already mapped): at 640x480 about 30x for uint8 with the box window and
    5-10x for float32 and the Gaussian window (``nightlab bench --only ssim``); two threads
    from ``SSIM_PARALLEL_PIXELS`` up. The kernels are compiled (numba) on first use, then
    loaded from a disk cache; for uint8 with the box window that happens in the background
    (`warm_in_background`, or `warm_kernels` now), OpenCV giving the same map until then.

    Parameters
    ----------
    a, b : ndarray
        Gray images ``(H, W)`` of the same shape, normally uint8 (with the box window:
        exact integer window sums);
        any real dtype is accepted and promoted as scikit-image does (float32 stays float32,
        everything else becomes float64, ``b`` is cast to ``a``'s float type).
    data_range : float
        Intensity range of the images (255 for uint8; 1.0 for floats in [0, 1]). Required.
    win_size : int
        Odd side of the sliding window, at most the image's shorter side. With
        ``gaussian_weights`` the filter is scikit-image's fixed Gaussian
        (``truncate=3.5``) and ``win_size`` only sets the sample-covariance factor
        ``N / (N - 1)`` with ``N = win_size**2``, exactly as in scikit-image.
    gaussian_weights : bool
        Gaussian-weighted window statistics instead of a uniform window.
    sigma : float
        Standard deviation of the Gaussian window (used with ``gaussian_weights``).
    use_sample_covariance : bool
        Normalise (co)variances by ``N - 1`` rather than ``N``.

    Returns
    -------
    ndarray
        float32 ``(H, W)`` SSIM map, 1 where the images agree.

    Raises
    ------
    ValueError
        Not 2-D numpy arrays, different shapes, a non-numeric dtype, an even or too large
        ``win_size``, ``data_range`` / ``sigma`` not finite and positive, or float images
        with NaN / inf or values so large that SSIM would overflow (e.g. 1e308).

    Notes
    -----
    scikit-image uses ``win_size=11`` when ``gaussian_weights=True`` and ``win_size`` is
    None; here ``win_size`` defaults to 7 in every case, so pass ``win_size=11`` to
    reproduce that default. Unlike scikit-image the map is always float32.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> a = rng.integers(0, 256, (48, 64), dtype=np.uint8)
    >>> s = ssim_map(a, a, data_range=255)
    >>> s.shape, s.dtype, float(s.min())
    ((48, 64), dtype('float32'), 1.0)
    """
    _check_images(a, b)
    win = _check_options(a.shape, win_size, data_range, sigma, use_sample_covariance)
    n_win = win * win
    cov_norm = n_win / (n_win - 1) if use_sample_covariance else 1.0
    h, w = a.shape
    out = np.empty((h, w), _F32)
    exact = (
        a.dtype == np.uint8
        and b.dtype == np.uint8
        and not gaussian_weights
        and win <= _MAX_EXACT_WIN
    )
    step = _kernel_rows(h)
    if exact and not kernels_ready():
        # the compiled kernel is not loaded in this process (`engine.leakmask._warm`: a live
        # session loads it in the background, any process after 20 maps): OpenCV gives the
        # same map
        fallback_used()
        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        margin = win // 2

        def work(items) -> None:
            ssim_u8_box_opencv(a, b, items, win, float(data_range), cov_norm)

        run_strips(work, out, strips(h, strip_rows(w), margin))
        return out
    if exact:
        from engine.leakmask._ssim_u8_kernel import ssim_u8_box_strip

        a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
        n = win * win
        # every term scaled by N^2, so the window sums can be used as they are
        c1 = _F32((_K1 * data_range) ** 2 * n * n)
        c2 = _F32((_K2 * data_range) ** 2 * n * n)
        two_cn, cn = _F32(2.0 * cov_norm), _F32(cov_norm)

        def work(items) -> None:
            (buf,) = scratch((((8, w + win), "<i4"),))  # one per thread
            for (s0, s1, _, _), dst in items:
                ssim_u8_box_strip(a, b, dst, s0, s1, win, c1, c2, two_cn, cn, buf)

    else:
        # numba is imported here, not with the module: the live uint8 path never needs it
        from engine.leakmask._ssim_kernels import ssim_strip

        if a.dtype == np.uint8 and b.dtype == np.uint8:
            # scikit-image computes these in float64. uint8 values and their products are
            # exact in float32 too, so the kernel reads float32 copies (half the bytes of
            # float64) without rounding anything (round32=False), and the float32 kernel
            # serves: one compiled version fewer (each costs seconds on first use)
            f4 = np.dtype(np.float32).str
            x, y = scratch((((h, w), f4), ((h, w), f4)))  # kept: no fresh pages per call
            np.copyto(x, a)
            np.copyto(y, b)
            round32 = False
        else:
            x, y = _promote(a, b)
            _check_values(x, y, a, b, float(data_range))
            round32 = x.dtype == np.float32
        box = not gaussian_weights
        taps = np.ones(win) if box else _gaussian_taps(float(sigma))
        c1, c2 = (_K1 * data_range) ** 2, (_K2 * data_range) ** 2

        # the Gaussian's rows of statistics: float32 holds float32 images' values and
        # products, and uint8 ones' exactly; float64 images need float64
        ring_type = np.float64 if x.dtype == np.float64 else np.float32
        ring_shape = (5, 0 if box else len(taps) + 1, w)

        def work(items) -> None:
            (ring,) = scratch(((ring_shape, np.dtype(ring_type).str),))  # one per thread
            for (s0, s1, _, _), dst in items:
                ssim_strip(x, y, dst, s0, s1, taps, box, cov_norm, c1, c2, round32, ring)

    # the kernels reflect rows themselves: a strip needs no margin rows
    run_strips(work, out, strips(h, step, 0))
    return out


def ssim_threads(shape: tuple[int, int]) -> int:
    """Threads ``ssim_map`` uses for an image of this shape: 2 from ``SSIM_PARALLEL_PIXELS``
    pixels when the process may use two cores (``cv2.setNumThreads(1)`` means one), else 1.

    Examples
    --------
    >>> ssim_threads((48, 64))
    1
    """
    h, w = shape
    return threads_for(h * w)


# --------------------------------------------------------------------------- validation
def _check_images(a, b) -> None:
    for name, img in (("a", a), ("b", b)):
        if not isinstance(img, np.ndarray):
            raise ValueError(f"{name} must be a numpy array, got {type(img).__name__}")
        if img.ndim != 2:
            raise ValueError(f"{name} must be a 2-D gray image (H, W), got shape {img.shape}")
        if img.dtype.kind not in "biuf":
            raise ValueError(f"{name} must have a real numeric dtype, got {img.dtype}")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape, got {a.shape} and {b.shape}")


def _check_values(x, y, a, b, data_range: float) -> None:
    """Non-finite or huge values would come back as an all-NaN map: refuse them instead.

    SSIM multiplies two products of squared statistics, i.e. values to the fourth power, so
    magnitudes beyond ``(max / 64) ** 0.25`` of the working float type overflow.
    """
    limit = float(np.finfo(x.dtype).max / 64.0) ** 0.25
    for name, img, orig in (("a", x, a), ("b", y, b)):
        # min and max propagate NaN and show an inf, and allocate nothing (a whole-image
        # temporary costs page faults comparable to the map itself)
        lo, hi = float(img.min()), float(img.max())
        if orig.dtype.kind == "f" and not (math.isfinite(lo) and math.isfinite(hi)):
            bad = int(np.count_nonzero(~np.isfinite(img)))
            raise ValueError(f"{name} contains {bad} NaN or infinite value(s); SSIM needs finite")
        peak = max(abs(lo), abs(hi))
        if not np.isfinite(peak) or peak > limit:
            raise ValueError(
                f"{name} has values up to {peak:.3g}, beyond {limit:.3g} where SSIM overflows "
                f"{x.dtype}; rescale the images (and data_range)"
            )
    if data_range > limit:
        raise ValueError(
            f"data_range={data_range:.3g} is beyond {limit:.3g} where SSIM overflows {x.dtype}"
        )


def _check_options(shape, win_size, data_range, sigma, use_sample_covariance) -> int:
    if isinstance(win_size, bool) or not isinstance(win_size, numbers.Integral):
        raise ValueError(f"win_size must be an odd integer, got {win_size!r}")
    win = int(win_size)
    smallest = 3 if use_sample_covariance else 1
    if win < smallest or win % 2 == 0:
        why = " (N - 1 = 0 with use_sample_covariance)" if win == 1 else ""
        raise ValueError(f"win_size must be an odd integer >= {smallest}, got {win}{why}")
    if win > min(shape):
        raise ValueError(
            f"win_size={win} exceeds the image size {shape[0]}x{shape[1]}; "
            f"use an odd win_size <= {min(shape)}"
        )
    if not _finite_positive(data_range):
        raise ValueError(f"data_range must be a finite number > 0, got {data_range!r}")
    if not _finite_positive(sigma):
        raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
    return win


def _finite_positive(value) -> bool:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    return math.isfinite(float(value)) and float(value) > 0


def _promote(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cast like scikit-image: float16/float32 -> float32, anything else -> float64, and
    ``b`` to ``a``'s float type (contiguous, so OpenCV takes them as they are)."""
    # ``dtype.type``, not the dtype: ``>f4`` (big-endian) is float32 too, and scikit-image
    # (``_supported_float_type``) keys on the type, so it computes such input in float32.
    float_type = np.float32 if a.dtype.type in (np.float16, np.float32) else np.float64
    x = np.ascontiguousarray(a, dtype=float_type)  # native byte order, contiguous
    y = np.ascontiguousarray(b, dtype=float_type)
    return x, y


def _gaussian_taps(sigma: float) -> np.ndarray:
    """scipy.ndimage's Gaussian weights for ``truncate=3.5`` (what scikit-image filters with)."""
    radius = int(_TRUNCATE * sigma + 0.5)
    t = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-0.5 / (sigma * sigma) * t * t)
    return taps / taps.sum()


# --------------------------------------------------------------------------- strips
def _kernel_rows(h: int) -> int:
    """Rows per strip for the compiled kernels (whose buffers are a few rows): four strips.
    Under load, two threads sharing 4 strips beat 8 or 16 (at a load average of 20, 640x480:
    float32/box 8.4x scikit-image vs 6.3x with 8 strips, Gaussian 6.4x vs 4.7x): each strip
    is a GIL hand-over and a chance to wait for a descheduled thread."""
    return max(32, -(-h // 4))
