"""Night-camera degradations and host-side effects the model must learn to live with.

All functions take a seeded ``numpy.random.Generator`` and work on small uint8 / float32
arrays with OpenCV, so a training sample costs a few milliseconds. Images are RGB order.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = [
    "NightDegradation",
    "degrade_night",
    "leak_mask_like",
    "synthesize_nir",
]


def synthesize_nir(rgb: np.ndarray, *, rng: np.random.Generator) -> np.ndarray:
    """A near-infrared-like gray frame (uint8 ``(H, W)``) from an RGB uint8 photo.

    An IR-sensitive night camera sees mostly the red end of the spectrum; foliage reflects
    strongly in the near infrared (so green vegetation turns bright) and blue sky turns dark.
    The channel weights and the foliage/sky factors are drawn at random so the model does
    not learn one fixed mapping.

    Examples
    --------
    >>> rgb = np.zeros((4, 4, 3), np.uint8); rgb[..., 1] = 200  # pure green
    >>> nir = synthesize_nir(rgb, rng=np.random.default_rng(0))
    >>> nir.shape, nir.dtype, bool(nir.mean() > 0)
    ((4, 4), dtype('uint8'), True)
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8 (H, W, 3), got {rgb.dtype} {rgb.shape}")
    f = rgb.astype(np.float32) * (1.0 / 255.0)
    r, g, b = f[..., 0], f[..., 1], f[..., 2]
    wr = rng.uniform(0.45, 0.8)
    wg = rng.uniform(0.1, 0.45) * (1.0 - wr)
    nir = wr * r + wg * g + (1.0 - wr - wg) * b
    foliage = np.clip((g - np.maximum(r, b)) * 4.0, 0.0, 1.0)
    sky = np.clip((b - np.maximum(r, g)) * 3.0, 0.0, 1.0)
    nir = nir + rng.uniform(0.1, 0.5) * foliage - rng.uniform(0.0, 0.3) * sky * nir
    return np.clip(nir * 255.0 + 0.5, 0, 255).astype(np.uint8)


@dataclass(frozen=True)
class NightDegradation:
    """Ranges of the night camera's degradations (uniform draws; 0 disables one).

    ``p_clean`` is the chance of leaving the frame as it is: ``nightlab eval`` feeds the clean
    registered NIR, so the model must do well on it too. ``min_exposure`` is the darkest
    scene light as a fraction of the frame's own; ``max_gain`` caps the auto-gain. Noise is in
    8-bit units before the gain: read-noise std up to ``max_read_noise``, shot-noise variance
    up to ``max_shot_noise`` times the signal.
    """

    p_clean: float = 0.3
    min_exposure: float = 0.1
    max_gamma_change: float = 0.3
    max_blur_sigma: float = 1.2
    max_vignetting: float = 0.5
    max_read_noise: float = 1.0
    max_shot_noise: float = 0.05
    max_gain: float = 8.0


def degrade_night(
    gray: np.ndarray,
    *,
    rng: np.random.Generator,
    params: NightDegradation = NightDegradation(),
) -> np.ndarray:
    """Turn a clean gray / NIR frame into what a night camera delivers (uint8 ``(H, W)``).

    Low light (exposure), lens vignetting and blur, then the camera's auto-gain brings the
    mean back up, which multiplies the shot and read noise (noise grows with gain), then a
    tone curve (gamma) and 8-bit quantisation. Noise levels are in 8-bit units *at the
    model's resolution* (the host downsizes 640x480 frames, which already averages noise).

    Examples
    --------
    >>> g = np.full((8, 8), 128, np.uint8)
    >>> degrade_night(g, rng=np.random.default_rng(0)).shape
    (8, 8)
    """
    if gray.ndim != 2 or gray.dtype != np.uint8:
        raise ValueError(f"gray must be uint8 (H, W), got {gray.dtype} {gray.shape}")
    if rng.random() < params.p_clean:
        return gray.copy()
    h, w = gray.shape
    s = gray.astype(np.float32) * (1.0 / 255.0)
    exposure = rng.uniform(params.min_exposure, 1.0)
    s = s * exposure
    if params.max_vignetting > 0:
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        r2 = ((xx - w / 2) / (w / 2)) ** 2 + ((yy - h / 2) / (h / 2)) ** 2
        s = s * (1.0 - rng.uniform(0, params.max_vignetting) * r2 / 2.0)
    sigma = rng.uniform(0, params.max_blur_sigma)
    if sigma > 0.3:
        s = cv2.GaussianBlur(s, (0, 0), sigma)
    # auto-gain towards a mid-gray mean; the darker the scene the more the noise is amplified
    gain = float(np.clip(rng.uniform(0.35, 0.5) / max(float(s.mean()), 1e-3), 1.0, params.max_gain))
    # in 8-bit units before the gain: shot-noise variance = k * signal, plus read noise
    shot_k = rng.uniform(0, params.max_shot_noise)
    read = rng.uniform(0, params.max_read_noise)
    noise_std = np.sqrt(shot_k * s * 255.0 + read**2) * (1.0 / 255.0)
    s = (s + noise_std * rng.standard_normal((h, w), dtype=np.float32)) * gain
    gamma = 1.0 + rng.uniform(-params.max_gamma_change, params.max_gamma_change)
    s = np.clip(s, 0.0, 1.0) ** gamma
    return (s * 255.0 + 0.5).astype(np.uint8)


def _random_blobs(shape: tuple[int, int], n: int, *, rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    out = np.zeros((h, w), np.uint8)
    for _ in range(n):
        axes = (int(rng.uniform(0.05, 0.25) * w), int(rng.uniform(0.05, 0.25) * h))
        center = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.ellipse(out, center, axes, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return out.astype(bool)


def leak_mask_like(
    change_mask: np.ndarray,
    *,
    rng: np.random.Generator,
    max_false_blobs: int = 3,
) -> np.ndarray:
    """An imperfect soft leak mask (float32 ``(H, W)`` in [0, 1]) around a known change mask.

    The host's mask comes from an SSIM map, closing and a blur: it overshoots or undershoots
    the true change by a few pixels, has a soft edge, and also fires where night and day
    structure differ for other reasons (foliage in NIR, shadows). Those false alarms are
    drawn as random blobs: under them the model sees zeroed reference chroma over unchanged
    scene and must fall back on its own estimate.

    Examples
    --------
    >>> m = np.zeros((48, 64), bool); m[10:20, 10:30] = True
    >>> soft = leak_mask_like(m, rng=np.random.default_rng(0))
    >>> soft.dtype, float(soft.max()) <= 1.0, float(soft[15, 20]) > 0.5
    (dtype('float32'), True, True)
    """
    if change_mask.ndim != 2:
        raise ValueError(f"change_mask must be (H, W), got shape {change_mask.shape}")
    m = change_mask.astype(np.uint8)
    grow = int(rng.integers(-1, 6))
    if grow > 0:
        m = cv2.dilate(m, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow + 1,) * 2))
    elif grow < 0:
        m = cv2.erode(m, np.ones((3, 3), np.uint8))
    n_false = int(rng.integers(0, max_false_blobs + 1))
    if n_false:
        m = m | _random_blobs(m.shape, n_false, rng=rng).astype(np.uint8)
    soft = m.astype(np.float32)
    sigma = rng.uniform(0.5, 4.0)
    soft = cv2.GaussianBlur(soft, (0, 0), sigma)
    # keep the core of the mask at 1 like the host's closing + blur does
    return np.clip(soft * rng.uniform(1.0, 1.5), 0.0, 1.0)
