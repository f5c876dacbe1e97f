"""The leak mask's edge-aware refinement: flagged up to a change's outline, not in a halo."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine._image import read_image, to_gray
from engine.leakmask import LeakMaskParams, leak_mask, leak_mask_stages
from engine.leakmask._refine import guided_refine
from engine.scene_change import donor_photos, paste_patches
from tests.conftest import shared_path

UNREFINED = LeakMaskParams(refine_radius=0, refine_radius_luminance=0)
#: the default before the refinement (a wider window, which the refinement made affordable)
BEFORE = LeakMaskParams(
    window=13, hi=0.125, close_px=11, refine_radius=0, refine_radius_luminance=0
)


def _blurred_step(shape=(40, 40)) -> np.ndarray:
    step = (np.arange(shape[1]) >= shape[1] // 2).astype(np.float32)
    return cv2.blur(np.tile(step, (shape[0], 1)), (13, 1))


def test_guided_refine_moves_a_blurred_transition_onto_the_guides_edge():
    guide = np.zeros((40, 40), np.uint8)
    guide[:, 20:] = 200
    blurry = _blurred_step()
    out = guided_refine(blurry, guide, radius=6, eps=1e-3)
    # the raw map changes by 0.08 between columns 19 and 20; refined, by over five times that
    assert blurry[20, 20] - blurry[20, 19] < 0.1
    assert out[20, 20] - out[20, 19] > 0.4
    assert out.dtype == np.float32 and out.min() >= 0.0 and out.max() <= 1.0


def test_a_colour_guide_sees_an_outline_between_areas_of_equal_brightness():
    """Red next to green of the same luminance: invisible to a gray guide, not to colour."""
    red, green = np.array([200, 60, 60], np.uint8), np.array([45, 143, 45], np.uint8)
    colour = np.empty((40, 40, 3), np.uint8)
    colour[:, :20], colour[:, 20:] = red, green
    gray = to_gray(colour)
    assert abs(int(gray[0, 0]) - int(gray[0, 39])) <= 2  # isoluminant
    blurry = _blurred_step()
    jump = {}
    for name, guide in (("gray", gray), ("colour", colour)):
        out = guided_refine(blurry, guide, radius=6, eps=1e-3)
        jump[name] = float(out[20, 20] - out[20, 19])
    assert jump["gray"] < 0.1 < 0.4 < jump["colour"]


@pytest.mark.parametrize("guide_kind", ["gray", "colour"])
def test_the_fast_guided_filter_stays_close_to_the_full_one(guide_kind, rng):
    photo = cv2.resize(donor_photos()[0], (160, 120), interpolation=cv2.INTER_AREA)
    guide = photo if guide_kind == "colour" else to_gray(photo)
    values = cv2.GaussianBlur(rng.random((120, 160)).astype(np.float32), (0, 0), 4)
    full = guided_refine(values, guide, radius=8, eps=1e-3)
    fast = guided_refine(values, guide, radius=8, eps=1e-3, subsample=2)
    assert float(np.median(np.abs(full - fast))) < 0.02


@pytest.mark.parametrize("guide_kind", ["gray", "colour"])
@pytest.mark.parametrize(
    ("size", "radius"), [((160, 120), 10), ((160, 120), 5), ((160, 120), 40), ((256, 169), 16)]
)
def test_the_compiled_fast_guided_filter_equals_the_opencv_one(guide_kind, size, radius, rng):
    """The one-call compiled filter (used once the kernels are loaded) against the OpenCV
    one, on a photo at the working sizes of 640x480 and 1024x679 (odd: the last row is left
    out of the fit) frames, and with a radius wider than the half grid (the border reflects
    more than once): the same map up to the float32 rounding of the OpenCV version's
    statistics."""
    from engine.leakmask import warm_kernels
    from engine.leakmask._refine import _guided_refine_opencv

    warm_kernels()
    photo = cv2.resize(donor_photos()[1], size, interpolation=cv2.INTER_AREA)
    guide = photo if guide_kind == "colour" else to_gray(photo)
    noise = cv2.GaussianBlur(rng.random(size[::-1]).astype(np.float32), (0, 0), 3)
    values = np.clip((noise - 0.5) * 12 + 0.5, 0, 1)  # a similarity-like map over [0, 1]
    expected = _guided_refine_opencv(values, guide, radius, 1e-3, 2)
    ours = guided_refine(values, guide, radius=radius, eps=1e-3, subsample=2)
    assert float(np.abs(expected - 0.5).max()) > 0.1  # the maps are not flat
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2e-5)


def test_until_the_kernels_are_loaded_the_opencv_filter_serves(monkeypatch, rng):
    import engine.leakmask._refine as refine

    guide = rng.integers(0, 256, (61, 83, 3), dtype=np.uint8)
    values = rng.random((61, 83)).astype(np.float32)
    counted = []
    monkeypatch.setattr(refine, "kernels_ready", lambda: False)
    monkeypatch.setattr(refine, "fallback_used", lambda: counted.append(1))
    out = guided_refine(values, guide, radius=6, eps=1e-3, subsample=2)
    np.testing.assert_array_equal(out, refine._guided_refine_opencv(values, guide, 6, 1e-3, 2))
    assert counted == [1]  # counted towards the background load of the kernels


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"radius": -1}, "radius"),
        ({"radius": 2.5}, "radius"),
        ({"eps": 0.0}, "eps"),
        ({"subsample": 3}, "subsample"),
        ({"guide": np.zeros((10, 12), np.uint8)}, "guide"),
        ({"guide": np.zeros((12, 12), np.float32)}, "guide"),
        ({"guide": np.zeros((12, 12, 4), np.uint8)}, "guide"),
        ({"values": np.zeros((12, 12, 2), np.float32)}, "values"),
    ],
)
def test_guided_refine_rejects_bad_input(kw, match):
    args = {
        "values": np.zeros((12, 12), np.float32),
        "guide": np.zeros((12, 12), np.uint8),
        "radius": 2,
        "eps": 1e-3,
    }
    args.update(kw)
    values, guide = args.pop("values"), args.pop("guide")
    with pytest.raises(ValueError, match=match):
        guided_refine(values, guide, **args)


def _ir_like(gray: np.ndarray, rng) -> np.ndarray:
    x = (255 - gray.astype(np.float32)) / 255.0
    x = 0.15 + 0.7 * x**0.6 + rng.normal(0, 0.02, x.shape)
    return np.clip(x * 255, 0, 255).astype(np.uint8)


def _pasted(photo: int, blur: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(night, reference gray, reference colour, change): a real photo 'in IR' and the same
    photo as day reference with a textured patch of another real photo pasted on it."""
    photos = donor_photos()
    truth = cv2.resize(photos[photo], (320, 240), interpolation=cv2.INTER_AREA)
    if blur:
        truth = cv2.GaussianBlur(truth, (0, 0), blur)
    night = _ir_like(to_gray(truth), np.random.default_rng(7))
    reference = truth.copy()
    changed = np.zeros(truth.shape[:2], bool)
    changed[70:170, 110:230] = True
    reference[changed] = cv2.resize(photos[2][100:350, 150:450], (120, 100)).reshape(-1, 3)
    return night, to_gray(reference), reference, changed


@pytest.fixture(scope="module")
def pasted():
    return _pasted(0, 0.0)  # astronaut: textured all round


def _iou(flagged, changed) -> float:
    return float((flagged & changed).sum() / (flagged | changed).sum())


def test_refinement_removes_the_halo_around_a_change_on_a_smooth_background():
    """A textured patch on smooth surroundings (a wall, a sky): the wide unrefined window
    flags a halo around it; refined, the mask stops at the patch's outline."""
    night, ref_gray, ref_colour, changed = _pasted(1, 8.0)  # chelsea, blurred
    ring = cv2.dilate(changed.astype(np.uint8), np.ones((41, 41), np.uint8)).astype(bool)
    ring &= ~changed  # 20 px around the patch: where the raw similarity's window reaches it
    raw = leak_mask(night, ref_gray, params=BEFORE) > 0.5
    refined = leak_mask(night, ref_gray, reference_color=ref_colour) > 0.5
    assert raw[ring].mean() > 0.3  # the halo the refinement is for
    assert refined[ring].mean() < 0.05
    assert refined[changed].mean() > 0.9
    assert _iou(refined, changed) > _iou(raw, changed) + 0.1


def test_refinement_finds_more_of_a_change_on_a_textured_background(pasted):
    night, ref_gray, ref_colour, changed = pasted
    raw = leak_mask(night, ref_gray, params=BEFORE) > 0.5
    refined = leak_mask(night, ref_gray, reference_color=ref_colour) > 0.5
    far = ~cv2.dilate(changed.astype(np.uint8), np.ones((25, 25), np.uint8)).astype(bool)
    assert refined[changed].mean() > raw[changed].mean() + 0.1
    assert refined[far].mean() < 0.05
    assert _iou(refined, changed) > _iou(raw, changed) + 0.1


def test_stages_keep_the_unrefined_similarity(pasted):
    night, ref_gray, ref_colour, _ = pasted
    st = leak_mask_stages(night, ref_gray, reference_color=ref_colour)
    assert st.unrefined is not None and st.unrefined.shape == st.similarity.shape
    assert not np.array_equal(st.unrefined, st.similarity)
    off = leak_mask_stages(night, ref_gray, params=UNREFINED)
    assert off.unrefined is None
    # the refinement works on exactly the map the unrefined mask thresholds
    np.testing.assert_array_equal(off.similarity, st.unrefined)


def test_other_normalisations_are_not_refined(pasted):
    night, ref_gray, ref_colour, _ = pasted
    for norm in ("gradient", "lcn", "none"):
        st = leak_mask_stages(
            night, ref_gray, params=LeakMaskParams(normalization=norm), reference_color=ref_colour
        )
        assert st.unrefined is None


def test_reference_colour_of_the_wrong_size_or_type_is_refused(pasted):
    night, ref_gray, ref_colour, _ = pasted
    with pytest.raises(ValueError, match="reference_color"):
        leak_mask(night, ref_gray, reference_color=ref_colour[:-2])
    with pytest.raises(ValueError, match="reference_color"):
        leak_mask(night, ref_gray, reference_color=ref_colour.astype(np.float32))


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"refine_radius": -1}, "refine_radius"),
        ({"refine_radius": 1.5}, "refine_radius"),
        ({"refine_radius_luminance": -2}, "refine_radius_luminance"),
        ({"refine_eps": 0}, "refine_eps"),
        ({"refine_eps": float("nan")}, "refine_eps"),
    ],
)
def test_refinement_params_validated(kw, match):
    with pytest.raises(ValueError, match=match):
        LeakMaskParams(**kw)


def test_refinement_raises_iou_on_real_ir_visible_pairs():
    """Country pairs (NIR = night, RGB = day reference with pasted patches), as in
    ``benchmarks/leakmask_quality.py`` but 8 pairs and other seeds: the refined mask overlaps
    the changes better than the unrefined one, with few unchanged pixels flagged."""
    folder = shared_path("data", "visnir", "country")
    photos = donor_photos()
    before = BEFORE
    ious = {"before": [], "after": [], "luminance guide": []}
    fps = {"before": [], "after": [], "luminance guide": []}
    for i, nir_path in enumerate(sorted(folder.glob("*_nir.jpg"))[:8]):
        nir = read_image(nir_path, mode="gray")
        rgb = read_image(folder / nir_path.name.replace("_nir", "_rgb"), mode="rgb")
        h, w = min(nir.shape[0], rgb.shape[0]), min(nir.shape[1], rgb.shape[1])
        ref, changed = paste_patches(
            np.ascontiguousarray(rgb[:h, :w]), photos, rng=np.random.default_rng([5, i])
        )
        masks = {
            "before": leak_mask(nir[:h, :w], to_gray(ref), params=before),
            "after": leak_mask(nir[:h, :w], to_gray(ref), reference_color=ref),
            "luminance guide": leak_mask(nir[:h, :w], to_gray(ref)),
        }
        for k, m in masks.items():
            f = m > 0.5
            ious[k].append((f & changed).sum() / max(1, (f | changed).sum()))
            fps[k].append((f & ~changed).sum() / (~changed).sum())
    assert np.mean(ious["after"]) > np.mean(ious["before"]) + 0.05
    assert np.mean(fps["after"]) < 0.05
    # without the reference's colour (a caller that has only its luminance) still better
    assert np.mean(ious["luminance guide"]) > np.mean(ious["before"])
    assert np.mean(fps["luminance guide"]) < 0.05


def test_the_pipeline_guides_the_mask_with_the_references_colour():
    """`process_pair` (the CLI's and the live view's path) passes the aligned reference's
    colour: its mask is the colour-guided one, not the luminance-guided one."""
    from engine.pipeline import process_pair

    day = np.ascontiguousarray(donor_photos()[0][::2, ::2])  # astronaut, 256x256
    night = _ir_like(to_gray(day), np.random.default_rng(3))
    night[60:140, 80:200] = 128  # something the day reference shows and the night does not
    res = process_pair(day, night)
    assert res.ok
    aligned, valid = res.aligned_reference, res.valid
    colour = leak_mask(night, to_gray(aligned), reference_color=aligned)
    luminance = leak_mask(night, to_gray(aligned))
    np.testing.assert_array_equal(res.leak_mask[valid], colour[valid])
    assert not np.array_equal(colour[valid], luminance[valid])
