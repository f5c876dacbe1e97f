"""Colorization quality evaluation: metrics and the ``nightlab eval`` runner.

Examples
--------
>>> import numpy as np
>>> from engine.evaluation import psnr
>>> psnr(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), data_range=255)
inf
"""

from engine.evaluation._metrics import ab_error, colourfulness, lab_ab, psnr, ssim
from engine.evaluation._parity import output_max_abs_diff, photo_feeds
from engine.evaluation._runner import (
    EvalPair,
    EvalReport,
    EvalRow,
    TargetCheck,
    evaluate,
    find_pairs,
    load_pair,
    oracle_leak_mask,
)
from engine.evaluation._webcam import (
    WebcamReport,
    WebcamRow,
    evaluate_webcam,
    find_webcam_frames,
    webcam_cameras,
    webcam_montage,
)

__all__ = [
    "EvalPair",
    "EvalReport",
    "EvalRow",
    "TargetCheck",
    "WebcamReport",
    "WebcamRow",
    "ab_error",
    "colourfulness",
    "evaluate",
    "evaluate_webcam",
    "find_pairs",
    "find_webcam_frames",
    "lab_ab",
    "load_pair",
    "oracle_leak_mask",
    "output_max_abs_diff",
    "photo_feeds",
    "psnr",
    "ssim",
    "webcam_cameras",
    "webcam_montage",
]
