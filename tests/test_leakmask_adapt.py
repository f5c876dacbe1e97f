"""Leak-mask thresholds that follow the frame's own agreement, and the reference's footprint."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine._image import to_gray
from engine.leakmask import LeakMaskParams, leak_mask, leak_mask_stages, stages_from_similarity
from engine.scene_change import degrade_reference, donor_photos
from tests.conftest import shared_path


def _textured(rng, shape=(240, 320)) -> np.ndarray:
    return cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.5)


def _ir_like(gray: np.ndarray, rng) -> np.ndarray:
    """A modality gap: inverted, gamma-warped, noisy (as in tests/test_leakmask.py)."""
    x = (255 - gray.astype(np.float32)) / 255.0
    x = 0.15 + 0.7 * x**0.6 + rng.normal(0, 0.08, x.shape)
    return np.clip(x * 255, 0, 255).astype(np.uint8)


def test_thresholds_rise_where_the_images_agree_and_fall_across_a_modality_gap(rng):
    day = _textured(rng)
    p = LeakMaskParams()
    same = leak_mask_stages(day, day).threshold_scale
    gap = leak_mask_stages(_ir_like(day, rng), day).threshold_scale
    unrelated = leak_mask_stages(_textured(rng), day).threshold_scale
    assert same == p.adapt_range[1]  # identical structure everywhere: the top of the range
    assert unrelated == p.adapt_range[0]  # nothing agrees: the bottom
    assert unrelated <= gap < same
    off = leak_mask_stages(day, day, params=LeakMaskParams(adapt=False))
    assert off.threshold_scale == 1.0


def test_the_scale_moves_the_flag_threshold_by_that_factor(rng):
    """The binary stage flags similarity <= scale * (lo + hi) / 2, nothing else."""
    day = _textured(rng)
    night = day.copy()
    night[60:180, 80:240] = _textured(rng, (120, 160))
    st = leak_mask_stages(night, day)
    p = LeakMaskParams()
    cut = st.threshold_scale * (p.lo + p.hi) / 2
    away = np.abs(st.similarity - cut) > 1e-4  # float rounding right at the cut
    np.testing.assert_array_equal(st.binary[away], (st.similarity <= cut)[away])


def test_a_black_border_does_not_count_towards_the_frames_agreement(rng):
    """Outside a warped reference's footprint nothing agrees; that must not lower the scale."""
    day = _textured(rng, (240, 400))
    night = np.clip(day.astype(np.int16) + rng.integers(-6, 7, day.shape), 0, 255).astype(np.uint8)
    bordered = day.copy()
    bordered[:, :120] = 0  # a footprint ending 120 px into the frame
    st = leak_mask_stages(night, bordered)
    inside = leak_mask_stages(night[:, 128:], day[:, 128:]).threshold_scale
    whole_frame = stages_from_similarity(st.similarity, night.shape).threshold_scale
    assert abs(st.threshold_scale - inside) < 0.15
    assert whole_frame < st.threshold_scale - 0.3  # what counting the border would give
    again = stages_from_similarity(st.similarity, night.shape, threshold_scale=st.threshold_scale)
    np.testing.assert_array_equal(again.mask, st.mask)


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"adapt_quantile": 0}, "adapt_quantile"),
        ({"adapt_quantile": 100}, "adapt_quantile"),
        ({"adapt_reference": 0}, "adapt_reference"),
        ({"adapt_range": (2.0, 1.0)}, "adapt_range"),
        ({"adapt_range": (0.0, 1.0)}, "adapt_range"),
        ({"adapt_range": (0.7, 2.0, 3.0)}, "adapt_range"),
        ({"adapt_range": "0.7-2"}, "adapt_range"),
    ],
)
def test_adaptation_params_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        LeakMaskParams(**kw)


def test_params_survive_a_json_round_trip_as_the_store_keeps_them(tmp_path):
    """The store saves a pair's leak params as JSON and the GUI rebuilds them from it; the
    range comes back as a list. Through a real store, reopened, as the inspector reads them."""
    import dataclasses

    from engine.store import Store

    p = LeakMaskParams(adapt_range=(0.8, 1.5), close_px=21)
    with Store(tmp_path) as store:
        s = store.create_session("tuned")
        pair = store.add_pair_with_captures(
            s.id, days=[np.zeros((8, 8, 3), np.uint8)], night=np.zeros((8, 8), np.uint8),
            leak_params=p,
        )  # fmt: skip
    with Store(tmp_path, read_only=True) as store:
        saved = store.pair(pair.id).leak_params
    known = {f.name for f in dataclasses.fields(LeakMaskParams)}  # as engine.pair_views does
    again = LeakMaskParams(**{k: v for k, v in saved.items() if k in known})
    assert again == p and again.adapt_range == (0.8, 1.5)


def test_threshold_scale_argument_validated():
    st = leak_mask_stages(np.zeros((60, 80), np.uint8), np.zeros((60, 80), np.uint8))
    with pytest.raises(ValueError, match="threshold_scale"):
        stages_from_similarity(st.similarity, (60, 80), threshold_scale=0.0)


# --- real pairs (../shared) ----------------------------------------------------------------


def _degraded_pairs(folder_name: str, n: int):
    from engine.evaluation import find_pairs, load_pair

    folder = shared_path("data", "visnir", folder_name)
    donors = donor_photos()
    for i, pair in enumerate(find_pairs(folder)[:n]):
        truth, night, footprint = load_pair(pair)
        ref, changed = degrade_reference(truth, donors, rng=np.random.default_rng([7, i]))
        ref = np.where(footprint[..., None], ref, np.uint8(0))
        yield night, to_gray(ref), changed & footprint, ~changed & footprint


@pytest.mark.parametrize("folder_name", ["indoor", "forest"])
def test_adapted_thresholds_find_more_of_the_changes_on_bordered_real_pairs(folder_name):
    """Indoor and forest VIS-NIR pairs, warped by their published affine (black border):
    night and reference agree over most of the frame, so the fixed thresholds missed much
    of the pasted changes (the 76-pair eval's shortfall); the adapted ones find more of
    them and still flag few unchanged pixels."""
    recall, recall_fixed, fps = [], [], []
    for night, ref, changed, unchanged in _degraded_pairs(folder_name, 6):
        adapted = leak_mask(night, ref)
        fixed = leak_mask(night, ref, params=LeakMaskParams(adapt=False))
        recall.append(float(adapted[changed].mean()))
        recall_fixed.append(float(fixed[changed].mean()))
        fps.append(float((adapted[unchanged] > 0.5).mean()))
    # 6 pairs each: indoor 0.55 -> 0.72, forest 0.71 -> 0.75 of the changed area masked
    assert np.mean(recall) > np.mean(recall_fixed) + 0.03
    assert np.mean(fps) < 0.05


@pytest.mark.parametrize("normalization", ["gradient", "lcn", "none"])
def test_other_similarities_keep_their_swept_thresholds(normalization, rng):
    """``adapt_reference`` is on the orientation similarity's scale; plain SSIM's values are
    much higher, and scaling its thresholds by them flagged most of every frame."""
    day = _textured(rng)
    st = leak_mask_stages(day, day, params=LeakMaskParams(normalization=normalization))
    assert st.threshold_scale == 1.0
