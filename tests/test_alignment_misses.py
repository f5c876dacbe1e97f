"""The evidence behind the VIS-NIR misses (``benchmarks/alignment_misses.py``).

The README says two of the three trusted pairs that ``align`` misses by just over 2 px are
misses of the *published* truth, not of ``align``, although the issue's rule (>= 50
independent inliers at a median residual > 1.2 px) keeps their truth. These tests hold
those claims to real data (EPFL VIS-NIR from ``../shared``, skipped when absent):
independent full-resolution SIFT inliers (the rule's own recipe, which shares nothing
with ``align``'s gradient ECC) fit ``align``'s matrix better than the published affine,
and on forest/0015 the independent fit itself lands about 2 px from that affine.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from alignment import align
from alignment._prep import PreparedImage
from engine import read_image
from engine.data import load_visnir_pair
from tests.conftest import shared_path

REPO = Path(__file__).resolve().parents[1]


def _benchmark():
    spec = importlib.util.spec_from_file_location(
        "alignment_misses", REPO / "benchmarks" / "alignment_misses.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


misses = _benchmark()


def test_difference_splits_a_known_relative_motion_into_shift_rotation_scale_and_shear():
    shape = (300, 400)
    truth = np.vstack([cv2.getRotationMatrix2D((10.0, 20.0), 7.0, 1.05), [0, 0, 1]])
    truth[:2, 2] += (30.0, -12.0)
    centre = misses.apply_homography(truth, np.array([[199.5, 149.5]]))[0]
    # ours = truth followed by a rotation of 0.2 deg and 0.5 % scale about where the truth
    # puts the frame's centre, then a shift of (1.5, -0.5) px.
    rel = np.vstack([cv2.getRotationMatrix2D(tuple(centre), 0.2, 1.005), [0, 0, 1]])
    rel[:2, 2] += (1.5, -0.5)
    d = misses.difference(rel @ truth, truth, shape)
    assert d.shift == pytest.approx((1.5, -0.5), abs=1e-9)
    assert d.rotation_deg == pytest.approx(0.2, abs=1e-9)  # cv2's sense: counter-clockwise
    assert d.scale == pytest.approx(1.005, abs=1e-12)
    assert d.anisotropy == pytest.approx(1.0, abs=1e-12)
    # A pure shear is anisotropy, not rotation or scale.
    shear = np.array([[1.0, 0.004, 0.0], [0.004, 1.0, 0.0], [0.0, 0.0, 1.0]])
    d = misses.difference(shear, np.eye(3), shape)
    assert d.rotation_deg == pytest.approx(0.0, abs=1e-9)
    assert d.anisotropy == pytest.approx(1.004 / 0.996, rel=1e-9)
    assert d.corners_px[0] == pytest.approx(0.0, abs=1e-12)  # the origin does not move
    assert d.corners_px[2] == pytest.approx(np.hypot(0.004 * 299, 0.004 * 399), rel=1e-9)


def _evidence(category: str, stem: str):
    folder = shared_path("data", "visnir", category)
    moving, fixed, truth = load_visnir_pair(folder, stem)
    result = align(moving, fixed)
    assert result.ok
    # read as the benchmark's truth check reads them (the gray conversion moves a few
    # inliers, and the independent fit of a pair with few inliers by up to 0.6 px)
    src, dst = misses.sift_matches(
        read_image(folder / f"{stem}_rgb.jpg", mode="gray"),
        read_image(folder / f"{stem}_nir.jpg", mode="gray"),
    )
    shape = moving.shape[:2]
    table = misses.residual_table(
        src, dst, {"truth": truth, "ours": result.matrix}, shape, thresholds=(1.0, 2.0)
    )
    return result, truth, shape, table


def test_indoor_0000_independent_inliers_fit_align_not_the_published_truth():
    result, truth, shape, (one, two) = _evidence("indoor", "0000")
    # The rule keeps this truth only because the 1 px fit has fewer than 50 inliers ...
    assert 20 <= one["inliers"] < 50
    # ... yet on them the published affine is off by more than 2 px, ours by under 1 px,
    # and ours fits nearly every match better (also with a 2 px fit's inliers).
    for row in (one, two):
        assert row["median_px"]["truth"] > 2.0
        assert row["median_px"]["ours"] < 1.0
        assert row["closer"]["ours"] >= 0.9
    # The published truth puts the frame about 2 px from ours, and the independent fit
    # sits nearer ours (0.95 px) than the truth (1.99 px).
    assert misses.difference(result.matrix, truth, shape).mean_corner_px > 1.9
    to_ours = misses.difference(one["fit"], result.matrix, shape).mean_corner_px
    assert to_ours < misses.difference(one["fit"], truth, shape).mean_corner_px


@pytest.mark.slow  # full-resolution SIFT on foliage: 5-10 s
def test_forest_0015_independent_fit_misses_the_published_truth_by_2px_too():
    result, truth, shape, (one, two) = _evidence("forest", "0015")
    assert one["inliers"] < 50  # the rule keeps this truth
    # An estimator that shares nothing with align lands about as far from the published
    # truth (2.06 px) as align does (2.32 px).
    assert misses.difference(one["fit"], truth, shape).mean_corner_px > 1.9  # 2.06 px
    # Its inliers fit ours better at 1 px, and no worse at 2 px.
    assert one["median_px"]["ours"] < one["median_px"]["truth"]
    assert two["median_px"]["ours"] <= two["median_px"]["truth"] + 0.05


# -------------------------------------------- what the images' own structure says (all three)


def _prepared(category: str, stem: str):
    moving, fixed, truth = load_visnir_pair(shared_path("data", "visnir", category), stem)
    return moving, fixed, truth, PreparedImage(moving), PreparedImage(fixed)


@pytest.mark.slow  # align on field/0002 runs the search and the orientation rescue: 1-3 s
@pytest.mark.parametrize("pair", ["field/0002", "forest/0015", "indoor/0000"])
def test_every_structure_measure_prefers_aligns_matrix_to_the_published_truth(pair):
    # Why no refinement of these measures can take the three trusted misses under 2 px:
    # each one of them scores align's matrix (2.09-2.32 px off) above the published truth,
    # and so does the gray images' mutual information, which shares nothing with them.
    moving, fixed, truth, pm, pf = _prepared(*pair.split("/"))
    result = align(moving, fixed)
    assert result.ok
    assert misses.difference(result.matrix, truth, moving.shape[:2]).mean_corner_px > 2.0
    evidence = misses.structure_evidence(pm, pf, {"truth": truth, "ours": result.matrix})
    for measure in ("raw_320", "raw_640", "fine_640", "verify", "mutual_information"):
        assert evidence["ours"][measure] > evidence["truth"][measure], measure


@pytest.mark.slow  # 24 compass climbs at 640 px: about 4 s
def test_orientation_climbs_near_the_truth_spread_along_a_ridge_on_frosted_grass_only():
    # field/0002 shares one band of structure (the hedge): climbs from 2 px around the
    # truth end 1.4-2.7 px from it at agreements within 0.001 of one another, so where a
    # climb stops along that ridge is not determined by the images. A pair with structure
    # over the whole frame (field/0015) sends every climb to within 0.4 px of its truth.
    _, _, truth, pm, pf = _prepared("field", "0002")
    ridge = misses.climb_spread(pm, pf, truth)
    ends = np.array(ridge["ends_px"])
    assert ends.max() - ends.min() > 1.0
    assert np.median(ends) > 1.5
    assert ridge["agreement"][1] - ridge["agreement"][0] < 0.002

    _, _, truth, pm, pf = _prepared("field", "0015")
    determined = np.array(misses.climb_spread(pm, pf, truth)["ends_px"])
    assert determined.max() < 0.5
    assert determined.max() - determined.min() < 0.5
