"""The leak-mask overlay used by the CLI and the GUI."""

import numpy as np
import pytest

from engine.overlay import mask_overlay


def test_overlay_keeps_gray_where_mask_is_zero_and_tints_where_one():
    gray = np.full((4, 6), 100, np.uint8)
    mask = np.zeros((4, 6), np.float32)
    mask[:, 3:] = 1.0
    out = mask_overlay(gray, mask, color=(255, 0, 0), alpha=0.5)
    assert out.shape == (4, 6, 3) and out.dtype == np.uint8
    assert (out[:, :3] == 100).all()
    assert out[0, 4].tolist() == [178, 50, 50]


def test_overlay_nan_counts_as_flagged():
    out = mask_overlay(np.zeros((1, 1), np.uint8), np.array([[np.nan]], np.float32), alpha=1.0)
    assert out[0, 0].tolist() == [255, 40, 90]


@pytest.mark.parametrize(
    "kwargs, match",
    [({"alpha": 1.5}, "alpha"), ({"color": (300, 0, 0)}, "color"), ({"color": (1, 2)}, "color")],
)
def test_overlay_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mask_overlay(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.float32), **kwargs)


def test_overlay_shape_mismatch():
    with pytest.raises(ValueError, match="mask shape"):
        mask_overlay(np.zeros((2, 2), np.uint8), np.zeros((3, 2), np.float32))
