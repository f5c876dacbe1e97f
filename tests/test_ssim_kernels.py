"""The compiled SSIM paths against straightforward references kept here: the uint8 / box map
equals the exact-integer OpenCV computation it replaced, to the bit; float32 maps equal
scikit-image's to the bit on real photos and on the inputs most sensitive to rounding."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.metrics import structural_similarity

from engine.leakmask import ssim_map
from tests.conftest import shared_path

F = np.float32


#: these tests are about the compiled kernels: loaded before the first test (until then the
#: leak mask serves its maps with OpenCV)
pytestmark = pytest.mark.usefixtures("compiled_kernels")


def _opencv_exact_u8_box(a, b, win, data_range=255.0, cov_norm=None):
    """The former uint8 / box path on whole images: exact int32 window sums (OpenCV box
    filters, ``BORDER_REFLECT``), exact numerators, then the same float32 operations."""
    n = win * win
    cov_norm = n / (n - 1) if cov_norm is None else cov_norm
    box = {"ksize": (win, win), "normalize": False, "borderType": cv2.BORDER_REFLECT}
    sx = cv2.boxFilter(a, cv2.CV_32S, **box)
    sy = cv2.boxFilter(b, cv2.CV_32S, **box)
    d16 = cv2.absdiff(a, b).astype(np.uint16)
    sdd = cv2.boxFilter(d16 * d16, cv2.CV_32S, **box)
    sxy = cv2.boxFilter(a.astype(np.uint16) * b.astype(np.uint16), cv2.CV_32S, **box)
    p = sx * sy
    d = (sx - sy) ** 2
    cov = sxy * n - p  # N^2 cov(x, y), exact in int32
    var_d = sdd * n - d  # N^2 var(x - y)
    c1 = F((0.01 * data_range) ** 2 * n * n)
    c2 = F((0.03 * data_range) ** 2 * n * n)
    a1 = p.astype(F) * F(2) + c1
    b1 = d.astype(F) + a1
    a2 = cov.astype(F) * F(2 * cov_norm)
    b2 = var_d.astype(F) * F(cov_norm) + a2 + c2
    return (a1 * (a2 + c2)) / (b1 * b2)


def _photo_pair(width, height):
    from engine.bench._leakmask import _frames

    return _frames(width, height)


@pytest.mark.parametrize("win", [3, 5, 7, 9, 11, 13])
@pytest.mark.parametrize("shape", [(480, 640), (13, 13), (41, 300), (700, 29)])
def test_uint8_box_kernel_equals_the_exact_integer_opencv_computation(win, shape, rng):
    a = cv2.GaussianBlur(rng.integers(0, 256, shape, dtype=np.uint8), (0, 0), 1.0)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, shape), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(
        ssim_map(a, b, data_range=255, win_size=win), _opencv_exact_u8_box(a, b, win)
    )


def test_uint8_box_kernel_equals_the_opencv_computation_on_real_frames():
    """The bench photo pair and consecutive frames of each shared webcam (gray)."""
    pairs = [_photo_pair(640, 480)]
    for camera in ("chamonix", "mexico", "stlouis"):
        files = sorted(shared_path("data", "webcam", camera).glob("*.png"))[:2]
        pairs.append(tuple(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE) for f in files))
    for a, b in pairs:
        ours = ssim_map(a, b, data_range=255)
        np.testing.assert_array_equal(ours, _opencv_exact_u8_box(a, b, 7))
        skimage = structural_similarity(a, b, data_range=255, full=True)[1]
        assert np.abs(ours - skimage).max() <= 2.5e-7  # the documented tolerance


def test_uint8_box_kernel_population_covariance_and_extremes():
    """All-black against all-white, and 0/255 noise: the largest sums the int32 terms hold."""
    rng = np.random.default_rng(3)
    cases = [
        (np.zeros((20, 30), np.uint8), np.full((20, 30), 255, np.uint8)),
        ((rng.random((40, 50)) > 0.5).astype(np.uint8) * 255,) * 2,
        (
            (rng.random((40, 50)) > 0.5).astype(np.uint8) * 255,
            (rng.random((40, 50)) > 0.5).astype(np.uint8) * 255,
        ),
    ]
    for a, b in cases:
        for win in (7, 13):
            ours = ssim_map(a, b, data_range=255, win_size=win, use_sample_covariance=False)
            np.testing.assert_array_equal(ours, _opencv_exact_u8_box(a, b, win, cov_norm=1.0))


@pytest.mark.parametrize("gaussian", [False, True])
def test_float32_maps_equal_skimage_to_the_bit(gaussian, rng):
    """The bench photo pair as float32 and bright, nearly flat float32 images (where
    scikit-image's own float32 rounding is furthest from the exact map)."""
    kw = {"gaussian_weights": True, "win_size": 11} if gaussian else {"win_size": 7}
    night, reference = _photo_pair(640, 480)
    flat = (0.95 + 0.01 * rng.random((200, 300))).astype(np.float32)
    flat[:, 150:] = rng.random((200, 150))
    other = np.clip(flat + 0.003 * rng.standard_normal(flat.shape), 0, 1).astype(np.float32)
    for a, b in (
        (night.astype(np.float32) / 255, reference.astype(np.float32) / 255),
        (flat, other),
        (flat * np.float32(255), other * np.float32(255)),
    ):
        data_range = 255.0 if a.max() > 1 else 1.0
        expected = structural_similarity(a, b, data_range=data_range, full=True, **kw)[1]
        np.testing.assert_array_equal(ssim_map(a, b, data_range=data_range, **kw), expected)


def test_a_live_preview_starts_loading_the_kernels_without_waiting(monkeypatch):
    """Opening a live session starts the kernels' background load (`warm_in_background`,
    tested below to run on a thread of its own) and does not wait for it."""
    import engine.live_preview as lp

    calls = []
    monkeypatch.setattr(lp, "warm_in_background", lambda: calls.append("started"))
    preview = lp.LivePreview(workers=1, colorize=False)
    try:
        assert calls == ["started"]
    finally:
        preview.stop()


def test_warm_kernels_compiles_every_live_kernel_once():
    # that the kinds compiled are the live path's (read-only inputs too) is proved by
    # tests/test_overnight_capture.py::test_after_the_warm_up_a_live_frame_...compiles_nothing
    from engine.leakmask import warm_kernels
    from tests.test_overnight_capture import _kernel_signatures

    warm_kernels()
    compiled = _kernel_signatures()
    assert len(compiled) == 6 and all(compiled.values()), compiled  # each one compiled
    warm_kernels()  # once per process: a second call compiles nothing more
    assert _kernel_signatures() == compiled


def test_until_the_kernel_is_loaded_opencv_gives_the_same_uint8_map(monkeypatch, rng):
    """A process's first maps come from OpenCV while the kernel loads on another thread:
    the map must not depend on which path ran."""
    import engine.leakmask._ssim as ssim_module

    started = []
    a = cv2.GaussianBlur(rng.integers(0, 256, (480, 640), dtype=np.uint8), (0, 0), 1.0)
    b = np.clip(a.astype(int) + rng.integers(-50, 50, a.shape), 0, 255).astype(np.uint8)
    compiled = {w: ssim_map(a, b, data_range=255, win_size=w) for w in (3, 7, 13)}
    monkeypatch.setattr(ssim_module, "kernels_ready", lambda: False)
    monkeypatch.setattr(ssim_module, "fallback_used", lambda: started.append(1))
    for w, expected in compiled.items():
        np.testing.assert_array_equal(ssim_map(a, b, data_range=255, win_size=w), expected)
    assert len(started) == 3  # each call counted towards loading the kernel by itself


def test_warm_in_background_loads_the_kernels_on_another_thread(monkeypatch):
    import threading

    import engine.leakmask._warm as warm

    ran = []
    monkeypatch.setattr(warm, "_READY", threading.Event())
    monkeypatch.setattr(warm, "_STARTED", threading.Event())
    monkeypatch.setattr(
        warm, "_warm_quietly", lambda: (ran.append(threading.current_thread()), warm._READY.set())
    )
    warm.warm_in_background()
    warm.warm_in_background()  # once per process
    for _ in range(300):
        if warm.kernels_ready():
            break
        threading.Event().wait(0.01)
    assert warm.kernels_ready() and len(ran) == 1
    assert ran[0] is not threading.current_thread() and ran[0].name == "nightlab-warm-kernels"


def test_after_loading_the_disk_cache_holds_every_live_kernel():
    """What decides whether the background load compiles in a child process first."""
    from engine.leakmask import warm_kernels
    from engine.leakmask._warm import _cached

    warm_kernels()
    assert _cached()


def test_a_process_loads_the_kernels_by_itself_after_enough_opencv_maps(monkeypatch):
    """A short command never pays numba's import for a map or two; a process that keeps
    computing maps (an overnight capture) starts the background load."""
    import engine.leakmask._warm as warm

    started = []
    monkeypatch.setattr(warm, "_FALLBACK_CALLS", [0])
    monkeypatch.setattr(warm, "warm_in_background", lambda: started.append(1))
    for _ in range(warm.AUTO_WARM_AFTER - 1):
        warm.fallback_used()
    assert not started
    warm.fallback_used()
    assert started
