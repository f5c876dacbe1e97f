"""The leak mask's change cues: flat changes (luminance relation), unstable references
(stability map) and the night frame's own colour."""

from __future__ import annotations

import doctest

import cv2
import numpy as np
import pytest

import engine.leakmask._cues
import engine.leakmask._mask
from engine._image import to_gray
from engine.leakmask import LeakMaskParams, leak_mask, leak_mask_stages
from engine.scene_change import donor_photos
from tests.conftest import shared_path


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """A real colour photo (scikit-image's coffee) at 320x240."""
    return cv2.resize(donor_photos()[2], (320, 240), interpolation=cv2.INTER_AREA)


def _flat_canopy(photo: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(night, reference, changed): the reference has a bright, textureless canopy over a
    region that is dim and flat in the night frame (a flat change: no edge inside it)."""
    night = to_gray(photo).copy()
    changed = np.zeros(night.shape, bool)
    changed[20:70, 30:110] = True
    night[changed] = 60  # the night sees a dim flat wall there
    reference = (to_gray(photo).astype(np.float32) * 1.3).clip(0, 255).astype(np.uint8)
    reference[changed] = 235  # the day had a white canopy over it
    return night, reference, changed


def test_luminance_cue_flags_a_flat_change_that_structure_misses(photo):
    night, reference, changed = _flat_canopy(photo)
    inner = cv2.erode(changed.astype(np.uint8), np.ones((15, 15), np.uint8)).astype(bool)
    structure_only = leak_mask(night, reference, params=LeakMaskParams(luminance=False))
    with_cue = leak_mask_stages(night, reference)
    assert float((structure_only[inner] > 0.5).mean()) < 0.5  # the interior is flat in both
    assert float((with_cue.mask[inner] > 0.5).mean()) > 0.9
    assert "luminance" in with_cue.cues


def test_luminance_cue_holds_under_a_smooth_gain_and_vignetting(photo):
    """No change, but the night is darker with a strong vignette: nothing is flagged."""
    gray = to_gray(photo).astype(np.float32)
    h, w = gray.shape
    y, x = np.mgrid[:h, :w]
    vignette = 1.0 - 0.6 * (((x - w / 2) / w) ** 2 + ((y - h / 2) / h) ** 2) * 2
    night = (gray * 0.45 * vignette).clip(0, 255).astype(np.uint8)
    st = leak_mask_stages(night, to_gray(photo))
    assert float((st.cues["luminance"] > 0.5).mean()) < 0.01
    assert float((st.mask > 0.5).mean()) < 0.02


def test_luminance_cue_fades_out_when_the_modality_inverts_contrast(photo):
    """An IR camera whose contrast is inverted against the day has no gain relation."""
    gray = to_gray(photo)
    st = leak_mask_stages(255 - gray, gray)
    assert float(st.cues["luminance"].max()) == 0.0


def test_stability_cue_flags_where_the_day_frames_disagree(photo):
    gray = to_gray(photo)
    stability = np.ones(gray.shape, np.float32)
    stability[150:220, 200:300] = 0.0  # e.g. a fountain that changes colour every day
    plain = leak_mask(gray, gray)
    masked = leak_mask(gray, gray, stability=stability)
    assert float(plain.max()) < 0.5  # identical images: nothing to flag
    assert float(masked[170:200, 220:280].min()) > 0.9
    assert float(masked[:100, :150].max()) < 0.1


def test_colour_cue_flags_recoloured_areas_but_not_a_colour_cast(photo):
    """Same luminance, different colour (a red flag that was blue by day) is a change; a
    global white-balance shift of the whole night frame is not."""
    night_rgb = photo.copy()
    lab = cv2.cvtColor(night_rgb, cv2.COLOR_RGB2Lab)
    lab[..., 2] = np.clip(lab[..., 2].astype(int) + 12, 0, 255)  # warm cast everywhere
    region = (slice(40, 120), slice(180, 280))
    lab[region + (1,)] = 128 + 60  # a strongly red object only at night
    lab[region + (2,)] = 128 + 20
    night_rgb = cv2.cvtColor(lab, cv2.COLOR_Lab2RGB)
    night = to_gray(photo)  # the luminance the colorizer uses is unchanged
    st = leak_mask_stages(night, to_gray(photo), night_color=night_rgb, reference_color=photo)
    m = st.mask
    assert float(m[55:105, 195:265].mean()) > 0.9
    outside = np.ones(m.shape, bool)
    outside[30:130, 170:290] = False
    assert float((m[outside] > 0.5).mean()) < 0.02
    assert float(st.cues["colour"][::4, ::4].mean()) < 0.2


def test_cue_inputs_are_validated(photo):
    gray = to_gray(photo)
    with pytest.raises(ValueError, match="stability must be a float"):
        leak_mask(gray, gray, stability=np.ones((10, 10), np.float32))
    with pytest.raises(ValueError, match="stability must be a float"):
        leak_mask(gray, gray, stability=np.ones(gray.shape, np.uint8))
    with pytest.raises(ValueError, match="needs reference_color"):
        leak_mask(gray, gray, night_color=photo)
    with pytest.raises(ValueError, match="night_color must be"):
        leak_mask(gray, gray, night_color=photo[:100], reference_color=photo)
    with pytest.raises(ValueError, match="luminance_lo < luminance_hi"):
        LeakMaskParams(luminance_lo=1.0, luminance_hi=0.5)
    with pytest.raises(ValueError, match="stability_lo < stability_hi"):
        LeakMaskParams(stability_lo=0.5, stability_hi=0.5)


def test_leak_mask_docstring_examples_run():
    # _cues holds private helpers without examples; the public leak_mask documents the cues
    result = doctest.testmod(engine.leakmask._mask, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0, "no examples found: the test would prove nothing"
    assert result.failed == 0, f"{result.failed} example(s) failed"


def test_luminance_cue_adds_little_on_real_visnir_pairs():
    """On real near-IR / visible pairs without any change the cue must not flood the mask
    (the modality changes foliage and sky ratios): flagged area grows by < 1 point."""
    from engine.data import load_visnir_pair

    folder = shared_path("data", "visnir", "country")
    grown = []
    for stem in ("0000", "0010", "0040"):
        rgb, nir, _ = load_visnir_pair(folder, stem)
        h, w = min(nir.shape[0], rgb.shape[0]), min(nir.shape[1], rgb.shape[1])
        nir, ref = nir[:h, :w], to_gray(np.ascontiguousarray(rgb[:h, :w]))
        before = (leak_mask(nir, ref, params=LeakMaskParams(luminance=False)) > 0.5).mean()
        after = (leak_mask(nir, ref) > 0.5).mean()
        grown.append(after - before)
    assert max(grown) < 0.01, grown
