"""engine.pipeline.process_pair directly: from scratch, re-registration with initial=, colorize,
failure, and its input checks."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
import skimage.data

from engine.colorize import ReferenceTransferColorizer
from engine.pipeline import process_pair
from tests.warp_errors import worst_corner_error

SHIFT, ANGLE = (6.0, -4.0), 2.0


@pytest.fixture(scope="module")
def pair():
    day = np.ascontiguousarray(skimage.data.astronaut()[::2, ::2])
    h, w = day.shape[:2]
    m = cv2.getRotationMatrix2D((w / 2, h / 2), ANGLE, 1.0)
    m[:, 2] += SHIFT
    warped = cv2.warpAffine(day, m, (w, h), borderMode=cv2.BORDER_REFLECT)
    ir = warped.astype(np.float32) @ np.array([0.6, 0.3, 0.1], np.float32)  # IR-like mix
    night = np.clip(255 * (ir / 255) ** 0.7, 0, 255).astype(np.uint8)
    return day, night, np.vstack([m, [0, 0, 1]])


def test_from_scratch_recovers_the_warp_and_masks_nothing(pair):
    day, night, truth = pair
    res = process_pair(day, night)
    assert res.ok and worst_corner_error(res.alignment.matrix, truth, night.shape) < 1.0
    assert res.aligned_reference.shape == (*night.shape, 3)
    assert res.valid.dtype == bool and res.valid.mean() > 0.9
    assert res.leak_mask.dtype == np.float32 and res.leak_mask.shape == night.shape
    assert res.leak_area_pct < 10.0 and res.ssim_mean > 0.5
    # nothing changed between them: where the reference lands, (almost) no pixel is flagged
    assert (res.leak_mask[res.valid] > 0.5).mean() < 0.005
    # outside the warped reference there is no reference colour: the mask says so
    assert (res.leak_mask[~res.valid] == 1.0).all()
    assert res.colorized is None and "colorize" not in res.timings_ms
    assert set(res.timings_ms) == {"align", "warp", "leak_mask", "ssim", "total"}
    m = res.metrics()
    assert m["alignment"]["ok"] and m["night_size"] == [night.shape[1], night.shape[0]]


def test_initial_runs_only_a_refinement_and_lands_on_the_same_warp(pair):
    day, night, truth = pair
    first = process_pair(day, night)
    again = process_pair(day, night, initial=first.alignment.matrix)
    assert again.ok and again.alignment.method == "ecc"  # no search from scratch
    assert worst_corner_error(again.alignment.matrix, truth, night.shape) < 1.0
    # a start a few pixels off is pulled back onto the truth
    nudged = truth @ np.array([[1, 0, 3.0], [0, 1, -2.0], [0, 0, 1]])
    assert worst_corner_error(process_pair(day, night, initial=nudged).alignment.matrix, truth,
                         night.shape) < 1.0  # fmt: skip


def test_colorizer_result_is_part_of_the_pair(pair):
    day, night, _ = pair
    res = process_pair(day, night, colorizer=ReferenceTransferColorizer())
    assert res.colorized.rgb.shape == (*night.shape, 3)
    assert res.timings_ms["colorize"] > 0
    assert res.metrics()["colorize"]["model"] == "reference-transfer"


def test_unrelated_images_fail_without_mask_or_colour(pair):
    day, _, _ = pair
    noise = np.random.default_rng(3).integers(0, 256, (200, 260), dtype=np.uint8)
    res = process_pair(day, noise, colorizer=ReferenceTransferColorizer())
    assert not res.ok and res.alignment.reason
    assert res.leak_mask is None and res.colorized is None and res.aligned_reference is None
    assert res.metrics()["alignment"]["ok"] is False


def test_rgb_night_is_reduced_to_luminance(pair):
    day, night, truth = pair
    res = process_pair(day, cv2.cvtColor(night, cv2.COLOR_GRAY2RGB))
    assert res.ok and res.night.ndim == 2
    assert worst_corner_error(res.alignment.matrix, truth, night.shape) < 1.0


@pytest.mark.parametrize(
    "day, night, match",
    [
        (np.zeros((64, 64), np.uint8), np.zeros((64, 64), np.uint8), "day must be RGB"),
        (np.zeros((64, 64, 3), np.float32), np.zeros((64, 64), np.uint8), "day must be uint8"),
        (np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64), np.float32), "night must be uint8"),
    ],
    ids=["gray-day", "float-day", "float-night"],
)
def test_bad_arrays_raise_precise_value_errors(day, night, match):
    with pytest.raises(ValueError, match=match):
        process_pair(day, night)


def test_absurd_initial_is_a_value_error(pair):
    day, night, _ = pair
    with pytest.raises(ValueError, match="initial"):
        process_pair(day, night, initial=np.diag([1e308, 1e308, 1.0]))
