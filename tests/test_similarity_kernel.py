"""The compiled orientation similarity equals the OpenCV/numpy one it replaced (kept as the
fallback until the kernels are loaded), on real near-IR/visible pairs and webcam frames."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine._image import read_image, to_gray
from engine.leakmask import LeakMaskParams, leak_mask_stages
from engine.leakmask._mask import _shrink
from engine.leakmask._similarity import _orientation_compiled, _orientation_similarity
from tests.conftest import shared_path

P = LeakMaskParams()


#: these tests are about the compiled kernels: loaded before the first test (until then the
#: leak mask serves its maps with OpenCV)
pytestmark = pytest.mark.usefixtures("compiled_kernels")


def _pairs():
    """Working-resolution gray pairs: two VIS-NIR pairs (a wide modality gap, 1024x679:
    an odd working height), and consecutive frames of each shared webcam."""
    folder = shared_path("data", "visnir", "country")
    for nir_path in sorted(folder.glob("*_nir.jpg"))[:2]:
        nir = read_image(nir_path, mode="gray")
        rgb = read_image(folder / nir_path.name.replace("_nir", "_rgb"), mode="rgb")
        h, w = min(nir.shape[0], rgb.shape[0]), min(nir.shape[1], rgb.shape[1])
        yield _shrink(nir[:h, :w], P.work_width), _shrink(to_gray(rgb[:h, :w]), P.work_width)
    for camera in ("chamonix", "mexico", "stlouis"):
        files = sorted(shared_path("data", "webcam", camera).glob("*.png"))[:2]
        a, b = (cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files)
        if a.shape == b.shape:
            yield _shrink(a, P.work_width), _shrink(b, P.work_width)


@pytest.mark.parametrize("window", [9, 13, 3])
def test_compiled_orientation_similarity_equals_the_numpy_one(window):
    compared = 0
    for night, reference in _pairs():
        expected = _orientation_similarity(night, reference, window, P.contrast_floor)
        ours = _orientation_compiled(night, reference, window, P.contrast_floor)
        assert ours.dtype == np.float32 and ours.shape == expected.shape
        assert 0.05 < float((expected < 0.5).mean()) < 0.95  # neither all same nor all changed
        np.testing.assert_allclose(ours, expected, rtol=0, atol=2e-6)
        compared += 1
    assert compared >= 4


def test_until_the_kernels_are_loaded_the_numpy_similarity_serves(monkeypatch, rng):
    import engine.leakmask._similarity as similarity

    night = cv2.GaussianBlur(rng.integers(0, 256, (120, 160), dtype=np.uint8), (0, 0), 1.5)
    reference = np.ascontiguousarray(night[:, ::-1])
    counted = []
    monkeypatch.setattr(similarity, "kernels_ready", lambda: False)
    monkeypatch.setattr(similarity, "fallback_used", lambda: counted.append(1))
    stages = leak_mask_stages(night, reference)
    expected = _orientation_similarity(night, reference, P.window, P.contrast_floor)
    np.testing.assert_array_equal(stages.unrefined, expected)
    assert counted  # counted towards the background load of the kernels
