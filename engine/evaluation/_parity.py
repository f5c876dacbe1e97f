"""Does a derived model (FP16 export, camera variant) still compute what its source computes?

One check for every derived model: both get the same realistic night frames and references
(:func:`photo_feeds`, same seed), each encoded as its own card says (L or gray levels, float32
or float16), and the largest output difference is reported in tensor units. It lives here, above
``engine.models`` and ``engine.colorize``, because it needs both (cards, ``prepare_inputs``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["output_max_abs_diff", "photo_feeds"]


def photo_feeds(card, *, count: int = 3, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Realistic input tensors for ``card``: bundled scikit-image photos as night + reference.

    The night frame is the photo's luminance with noise and a gamma, the reference the photo
    itself with a pasted scene change, half of them with a leak mask; tensors are built with
    :func:`engine.colorize.prepare_inputs`, as the host and camera paths do, so they follow
    the card's encoding and dtypes.

    Examples
    --------
    >>> feeds = photo_feeds(load_card("refcolor_s.onnx"), count=2)  # doctest: +SKIP
    >>> sorted(feeds[0])  # doctest: +SKIP
    ['night_l', 'ref_ab', 'ref_l']
    """
    import cv2

    from engine._image import to_gray
    from engine.colorize import prepare_inputs
    from engine.scene_change import donor_photos, paste_patches

    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    rng = np.random.default_rng(seed)
    photos = donor_photos()
    feeds = []
    for i in range(count):
        photo = photos[i % len(photos)]
        w, h = card.input_size
        photo = cv2.resize(photo, (w * 2, h * 2), interpolation=cv2.INTER_AREA)
        gray = to_gray(photo).astype(np.float32) / 255.0
        night = np.clip(255 * gray**1.3 + rng.normal(0, 4, gray.shape), 0, 255).astype(np.uint8)
        reference, changed = paste_patches(photo, photos, rng=rng)
        mask = cv2.GaussianBlur(changed.astype(np.float32), (0, 0), 2.0) if i % 2 else None
        feeds.append(prepare_inputs(night, reference, leak_mask=mask, card=card))
    return feeds


def output_max_abs_diff(
    source: str | Path, derived: str | Path, *, count: int = 3, seed: int = 0
) -> float:
    """Max abs output difference (tensor units) of an ONNX model and one derived from it.

    Works for any pair with cards: an FP16 export (fed the same values in float16), a camera
    variant (fed gray levels where the source gets L), or both. Runs onnxruntime on the CPU.

    Examples
    --------
    >>> output_max_abs_diff("refcolor_s.onnx", "refcolor_s_fp16.onnx")  # doctest: +SKIP
    0.00029
    """
    import onnxruntime as ort

    from engine.models import load_card

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sessions = [
        ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"])
        for p in (source, derived)
    ]
    feeds = [photo_feeds(load_card(p), count=count, seed=seed) for p in (source, derived)]
    worst = 0.0
    for a, b in zip(*feeds, strict=True):
        (out_a,) = sessions[0].run(None, a)
        (out_b,) = sessions[1].run(None, b)
        diff = np.abs(out_a.astype(np.float32) - out_b.astype(np.float32)).max()
        worst = max(worst, float(diff))
    return worst
