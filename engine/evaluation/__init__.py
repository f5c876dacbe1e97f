"""Colorization quality evaluation: metrics and the ``nightlab eval`` runner.

Examples
--------
>>> import numpy as np
>>> from engine.evaluation import psnr
>>> psnr(np.zeros((2, 2, 3), np.uint8), np.zeros((2, 2, 3), np.uint8), data_range=255)
inf
"""

from engine.evaluation._metrics import ab_error, colourfulness, lab_ab, psnr, ssim
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

__all__ = [
    "EvalPair",
    "EvalReport",
    "EvalRow",
    "TargetCheck",
    "ab_error",
    "colourfulness",
    "evaluate",
    "find_pairs",
    "lab_ab",
    "load_pair",
    "oracle_leak_mask",
    "psnr",
    "ssim",
]
