"""``engine._image`` file I/O: one-line errors on bad files, channel order, round-trips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine._image import IMAGE_SUFFIXES, ImageError, read_image, write_image
from tests.conftest import BAD_IMAGE_FILES


def _rgb(rng: np.random.Generator, h: int = 12, w: int = 17) -> np.ndarray:
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


# ---------------------------------------------------------------------------- read errors


@BAD_IMAGE_FILES
def test_read_image_errors_name_the_file(tmp_path, make, expect):
    bad = make(tmp_path)
    with pytest.raises(ImageError, match=expect) as info:
        read_image(bad)
    message = str(info.value)
    assert str(bad) in message and "\n" not in message


def test_read_image_rejects_unknown_mode(tmp_path, rng):
    path = write_image(tmp_path / "a.png", _rgb(rng))
    with pytest.raises(ValueError, match="mode must be"):
        read_image(path, mode="bgr")


# ---------------------------------------------------------------------------- read conversions


def test_read_16bit_png_is_scaled_to_8_bits(tmp_path):
    img16 = np.array([[0, 255, 256, 65535], [1024, 32768, 512, 4096]], np.uint16)
    path = tmp_path / "deep.png"
    assert cv2.imwrite(str(path), img16)
    out = read_image(path, mode="any")
    assert out.dtype == np.uint8 and out.shape == img16.shape
    np.testing.assert_array_equal(out, (img16 >> 8).astype(np.uint8))


def test_read_rgba_png_drops_alpha_and_keeps_rgb_order(tmp_path, rng):
    rgb = _rgb(rng)
    alpha = rng.integers(0, 256, rgb.shape[:2], dtype=np.uint8)
    bgra = np.dstack([rgb[..., ::-1], alpha])  # what OpenCV writes: B, G, R, A
    path = tmp_path / "rgba.png"
    assert cv2.imwrite(str(path), bgra)
    np.testing.assert_array_equal(read_image(path, mode="rgb"), rgb)
    np.testing.assert_array_equal(read_image(path, mode="any"), rgb)


def test_read_modes_of_colour_and_gray_files(tmp_path, rng):
    rgb = _rgb(rng)
    gray = rng.integers(0, 256, (9, 14), dtype=np.uint8)
    colour_path = write_image(tmp_path / "c.png", rgb)
    gray_path = write_image(tmp_path / "g.png", gray)

    np.testing.assert_array_equal(
        read_image(colour_path, mode="gray"), cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    )
    np.testing.assert_array_equal(read_image(gray_path, mode="gray"), gray)
    np.testing.assert_array_equal(read_image(gray_path, mode="any"), gray)
    as_rgb = read_image(gray_path, mode="rgb")
    assert as_rgb.shape == (*gray.shape, 3)
    for c in range(3):
        np.testing.assert_array_equal(as_rgb[..., c], gray)


def test_read_uniform_gray_is_equal_in_every_mode(tmp_path):
    path = write_image(tmp_path / "u.png", np.full((5, 6), 77, np.uint8))
    for mode in ("rgb", "gray", "any"):
        out = read_image(path, mode=mode)
        assert out.dtype == np.uint8 and out.flags.c_contiguous
        assert np.all(out == 77), mode


# ---------------------------------------------------------------------------- write


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tif"])
def test_write_read_round_trip_rgb_and_gray(tmp_path, rng, suffix):
    rgb = _rgb(rng)
    gray = rgb[..., 1].copy()
    np.testing.assert_array_equal(read_image(write_image(tmp_path / f"c{suffix}", rgb)), rgb)
    np.testing.assert_array_equal(
        read_image(write_image(tmp_path / f"g{suffix}", gray), mode="any"), gray
    )


def test_write_puts_rgb_order_on_disk_as_bgr(tmp_path):
    red = np.zeros((3, 4, 3), np.uint8)
    red[..., 0] = 255
    path = write_image(tmp_path / "red.png", red)
    on_disk = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    assert on_disk[..., 2].min() == 255 and on_disk[..., :2].max() == 0


def test_write_rgba_keeps_alpha_on_disk(tmp_path, rng):
    rgba = np.dstack([_rgb(rng), rng.integers(0, 256, (12, 17), dtype=np.uint8)])
    path = write_image(tmp_path / "rgba.png", rgba)
    on_disk = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(on_disk, rgba[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(read_image(path), rgba[..., :3])  # reading drops alpha


def test_write_float_mask_scales_to_0_255_and_creates_folders(tmp_path):
    mask = np.array([[0.0, 0.5, 1.0, 2.0, -1.0]], np.float32)
    path = write_image(tmp_path / "deep" / "er" / "mask.png", mask)
    np.testing.assert_array_equal(read_image(path, mode="any"), [[0, 128, 255, 255, 0]])


@pytest.mark.parametrize(
    "image",
    [
        np.zeros((4, 5, 2), np.uint8),
        np.zeros((4, 5, 5), np.uint8),
        np.zeros((2, 4, 5, 3), np.uint8),
        np.zeros(7, np.uint8),
        np.zeros((0, 5, 3), np.uint8),
        np.zeros((0, 5), np.uint8),
    ],
    ids=["2-channels", "5-channels", "4-d", "1-d", "empty-rgb", "empty-gray"],
)
def test_write_bad_shape_is_an_image_error_naming_the_shape(tmp_path, image):
    path = tmp_path / "bad.png"
    with pytest.raises(ImageError, match=r"shape \(") as info:
        write_image(path, image)
    assert str(image.shape) in str(info.value)
    assert not path.exists()


def test_write_bad_dtype_is_an_image_error(tmp_path):
    with pytest.raises(ImageError, match="dtype int32"):
        write_image(tmp_path / "bad.png", np.zeros((3, 3), np.int32))


def test_write_unknown_suffix_is_an_image_error(tmp_path, rng):
    path = tmp_path / "sub" / "a.notanimage"
    with pytest.raises(ImageError, match=r"cannot encode image as \.notanimage"):
        write_image(path, _rgb(rng))
    assert not path.parent.exists()  # nothing written, no folder made


def test_image_suffixes_are_lower_case_with_dot():
    assert ".png" in IMAGE_SUFFIXES and ".jpg" in IMAGE_SUFFIXES
    assert all(s.startswith(".") and s == s.lower() for s in IMAGE_SUFFIXES)
