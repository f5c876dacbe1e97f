"""Full-resolution recombination: the reference's own chroma passed through, corrected by
the model (``RecombineParams.passthrough``)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.color import rgb_to_lab
from engine.colorize import (
    RecombineParams,
    ReferenceTransferColorizer,
    fed_reference_ab,
    load_colorizer,
    recombine,
    reference_planes,
)

GRAY = (128, 128, 128)
RED = (200, 40, 40)


def _stripe_scene(width=640, height=480, x0=301, stripe=2):
    """A gray wall with a thin red stripe (``stripe`` px wide) the night frame sees darker."""
    ref = np.full((height, width, 3), GRAY, np.uint8)
    ref[:, x0 : x0 + stripe] = RED
    night = cv2.cvtColor(ref, cv2.COLOR_RGB2GRAY)
    return night, ref, slice(x0, x0 + stripe)


def _chroma(ab: np.ndarray) -> np.ndarray:
    return np.hypot(ab[..., 0], ab[..., 1])


@pytest.mark.parametrize("colorizer", ["transfer", "model"])
def test_full_resolution_path_keeps_a_thin_stripes_colour_the_working_path_loses(colorizer):
    """A 2 px red stripe is under one pixel wide at the model's 256x192: upsampled from
    there its chroma is spread and diluted; passed through, it keeps the reference's."""
    night, ref, cols = _stripe_scene()
    truth = _chroma(rgb_to_lab(ref)[..., 1:])[:, cols].mean()
    got = {}
    for mode in ("off", "direct", "guided"):
        params = RecombineParams(passthrough=mode)
        col = (
            ReferenceTransferColorizer(params=params)
            if colorizer == "transfer"
            else load_colorizer(params=params)
        )
        got[mode] = _chroma(col.colorize(night, ref).ab)[40:-40, cols].mean() / truth
    assert got["off"] < 0.7, got  # what the working resolution loses
    assert got["direct"] > 0.9, got
    assert got["guided"] > 0.85, got  # the night sees the stripe: the guide keeps it


def test_guided_pass_through_puts_less_colour_across_a_night_edge_than_either_other_path():
    """The reference is 2 px off (its red ends at x = 322, the night's dark half at 320).
    Passed through as it is, all of that red lands on the night's bright side; the working
    resolution path smears it there too (its edge is 2.5 px per model pixel); guided by the
    full-resolution night L, the pass-through puts the least there (it cannot undo a
    misalignment, it only pulls colour edges part way onto the night's)."""
    h, w = 120, 640
    night = np.full((h, w), 200, np.uint8)
    night[:, :320] = 60
    ref = np.full((h, w, 3), GRAY, np.uint8)
    ref[:, :322] = RED
    a_red = rgb_to_lab(ref)[0, 0, 1]
    bleed = {}
    for mode in ("off", "direct", "guided"):
        col = ReferenceTransferColorizer(params=RecombineParams(passthrough=mode))
        ab = col.colorize(night, ref).ab
        bleed[mode] = ab[10:-10, 320:322, 0].mean() / a_red  # red on the bright side
        # far from the edges every path gives the reference's colours
        np.testing.assert_allclose(ab[10:-10, 200:300, 0], a_red, rtol=0.02)
        assert np.abs(ab[10:-10, 340:400]).max() < 1.0
    assert bleed["direct"] > 0.95, bleed
    assert bleed["guided"] < bleed["off"] - 0.05, bleed


@pytest.mark.parametrize("mode", ["direct", "guided"])
def test_mask_and_footprint_still_take_the_fallback(mode):
    """Under the leak mask and outside the reference's footprint nothing is passed through:
    the result there is exactly the working-resolution path's (here grey: neutral fallback)."""
    night, ref, _ = _stripe_scene()
    ref[:, 600:] = 0  # a warped reference's black outside
    mask = np.zeros(night.shape, np.float32)
    mask[100:200, 250:350] = 1.0  # over the stripe: the scene changed there
    off = RecombineParams(fallback="neutral")
    on = RecombineParams(fallback="neutral", passthrough=mode)
    for col_off, col_on in (
        (ReferenceTransferColorizer(params=off), ReferenceTransferColorizer(params=on)),
        (load_colorizer(params=off), load_colorizer(params=on)),
    ):
        a = col_off.colorize(night, ref, leak_mask=mask).ab
        b = col_on.colorize(night, ref, leak_mask=mask).ab
        for region in (np.s_[100:200, 250:350], np.s_[:, 600:]):
            np.testing.assert_allclose(b[region], a[region], atol=1e-4)
            assert np.abs(b[region]).max() < 1e-3  # neutral
        # and outside both, the stripe is the reference's own colour again
        assert _chroma(b[300:400, 301:303]).mean() > 0.85 * _chroma(rgb_to_lab(ref)[300, 301, 1:])


def test_recombine_with_the_reference_gives_the_colorizers_result():
    """The camera path (its own inference, then `recombine`) with the reference it sent gets
    the host's full-resolution picture, footprint and pass-through included."""
    night, ref, _ = _stripe_scene()
    ref[:40] = 0
    mask = np.zeros(night.shape, np.float32)
    mask[200:260, 100:200] = 1.0
    params = RecombineParams(passthrough="direct")
    host = load_colorizer(params=params).colorize(night, ref, leak_mask=mask)
    camera = recombine(night, host.ab_lowres, leak_mask=mask, params=params, reference=ref)
    np.testing.assert_allclose(camera.ab, host.ab, atol=1e-4)
    planes = reference_planes(ref, (256, 192), full_res=True)
    again = recombine(
        night, host.ab_lowres, leak_mask=mask, params=params, reference=ref, planes=planes
    )
    np.testing.assert_array_equal(again.rgb, camera.rgb)
    with pytest.raises(ValueError, match="planes were prepared at"):
        recombine(night, host.ab_lowres[:-1], params=params, reference=ref, planes=planes)


def test_fed_reference_ab_is_zero_under_the_mask_only():
    ref = np.full((48, 64, 3), RED, np.uint8)
    planes = reference_planes(ref, (16, 12))
    mask = np.zeros((48, 64), np.float32)
    mask[:, :32] = 1.0
    fed = fed_reference_ab(planes, mask)
    assert np.abs(fed[:, :7]).max() == 0.0
    np.testing.assert_allclose(fed[:, 9:], planes.ref_ab[:, 9:])
    assert fed_reference_ab(planes, None) is planes.ref_ab
    assert planes.ab_full is None
    assert reference_planes(ref, (16, 12), full_res=True).ab_full.shape == (48, 64, 2)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"passthrough": "full"}, "passthrough must be one of"),
        ({"passthrough_radius": 0}, "passthrough_radius must be >= 1"),
        ({"passthrough_eps": 0.0}, "passthrough_eps must be > 0"),
    ],
)
def test_passthrough_param_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        RecombineParams(**kw)
