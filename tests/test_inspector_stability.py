"""The inspector shows a stored pair's fused day reference: its stability map (where the day
captures disagreed, the leak mask's cue) as a view, and which captures went in or were left
out. Real SQLite store, a real photograph (skimage's astronaut), the real job runner.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.live import PairTracker
from engine.pair_views import DayCaptures, load_pair_reference, render_pair
from engine.store import Store
from tests.test_fused_day_captures import SHIFT, TENT, _moved, _with_tent

pytestmark = pytest.mark.usefixtures("no_leaked_windows")

TIMEOUT = 30_000
# the tent in the night frame, a margin inside (the stability map is smoothed at its edges)
TENT_NIGHT = (slice(TENT[0].start + SHIFT[1] + 8, TENT[0].stop + SHIFT[1] - 8),
              slice(TENT[1].start + SHIFT[0] + 8, TENT[1].stop + SHIFT[0] - 8))  # fmt: skip
CALM_NIGHT = (slice(150, 220), slice(30, 110))  # far from the tent, inside every capture


@pytest.fixture(scope="module")
def scene() -> np.ndarray:
    import cv2
    import skimage.data

    return cv2.resize(skimage.data.astronaut(), (320, 240), interpolation=cv2.INTER_AREA)


@pytest.fixture
def pairs(tmp_path, scene):
    """A store with a fused pair (4 day captures: a tent on two days, one capture of noise
    that cannot register) and a pair of one day capture, both registered as a capture run
    registers them."""
    from engine import to_gray

    night = _moved(to_gray(scene), *SHIFT)
    noise = np.random.default_rng(3).integers(0, 256, scene.shape, dtype=np.uint8)
    fused_days = [scene, _with_tent(scene), scene.copy(), _with_tent(scene), noise]
    with Store(tmp_path / "data") as store:
        s = store.create_session("inspect")
        out = {}
        for name, days in (("fused", fused_days), ("single", [scene])):
            tracker = PairTracker()
            tracker.set_reference(days, fixed_camera=True)
            result = tracker.process(night)
            assert result.ok, result.alignment.reason
            out[name] = store.add_pair_with_captures(
                s.id, days=days, night=night, alignment=result.alignment
            )
        yield store, out["fused"], out["single"]


def test_pair_views_keep_the_stability_map_and_render_it_low_where_the_days_disagreed(pairs):
    store, fused_pair, single_pair = pairs
    night, fused = load_pair_reference(store, fused_pair)
    captures = DayCaptures.of(fused_pair.day_ids, fused)
    views = render_pair(
        night, fused.image, np.asarray(fused_pair.matrix), stability=fused.stability,
        day_captures=captures,
    )  # fmt: skip
    img = views.image("stability")
    assert img.shape == night.shape + (3,) and img.dtype == np.uint8
    # viridis: yellow (high red + green) where the captures agree, purple where they did not
    tent, calm = img[TENT_NIGHT].astype(int), img[CALM_NIGHT].astype(int)
    assert tent[..., 1].mean() < 90 < 180 < calm[..., 1].mean(), (tent.mean(), calm.mean())
    assert tent[..., 2].mean() > tent[..., 0].mean()  # purple-blue, not yellow
    # the noise capture did not register: named as left out, with the reason
    ids = fused_pair.day_ids
    assert captures.used_ids == tuple(ids[:4]) and captures.left_out_ids == (ids[4],)
    # a single capture: no stability map, no view
    night1, one = load_pair_reference(store, single_pair)
    views1 = render_pair(night1, one.image, np.asarray(single_pair.matrix))
    assert one.stability is None and views1.image("stability") is None


def test_inspector_shows_the_stability_view_of_a_fused_pair_off_the_gui_thread(
    qtbot, pairs, monkeypatch
):
    import engine.pair_views as pv
    from gui.inspector.panel import InspectorPanel
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache

    store, fused_pair, single_pair = pairs
    threads = []
    real = pv.stability_view

    def spy(*args, **kwargs):
        threads.append(threading.current_thread())
        return real(*args, **kwargs)

    monkeypatch.setattr(pv, "stability_view", spy)
    jobs = JobRunner(workers=1)
    panel = InspectorPanel(store, jobs, PairCache(store, jobs, lambda: None))
    qtbot.addWidget(panel)
    item = panel.view.model().item(panel.view.findData("stability"))
    try:
        panel.show_pair(fused_pair)
        assert not item.isEnabled() and "Fusing" in item.toolTip()  # until the render lands
        qtbot.waitUntil(item.isEnabled, timeout=TIMEOUT)
        assert "yellow = the day captures agree (1)" in item.toolTip()
        ids = fused_pair.day_ids
        header = panel.header.text()
        assert (
            f"day captures #{ids[0]}, #{ids[1]}, #{ids[2]}, #{ids[3]} fused; left out #{ids[4]} ("
            in header
        ), header
        panel.view.setCurrentIndex(panel.view.findData("stability"))
        qtbot.waitUntil(lambda: bool(threads) and not panel._in_flight, timeout=TIMEOUT)
        qtbot.waitUntil(lambda: "Stability" in panel.canvas._caption.text(), timeout=TIMEOUT)
        shown = panel.canvas._image
        assert shown.shape == fused_pair_night_shape(store, fused_pair) + (3,)
        assert shown[TENT_NIGHT][..., 1].mean() < 90 < 180 < shown[CALM_NIGHT][..., 1].mean()
        assert "agree" in panel.canvas._caption.text()
        assert all(t is not threading.main_thread() for t in threads)

        # a single-capture pair: the view is offered no more, and the tooltip says why
        panel.show_pair(single_pair)
        qtbot.waitUntil(lambda: panel._views is not None, timeout=TIMEOUT)
        qtbot.waitUntil(lambda: not panel._in_flight, timeout=TIMEOUT)
        assert not item.isEnabled()
        assert "single day capture" in item.toolTip()
        assert panel.view.currentData() == "checkerboard"  # moved off the view it lost
        assert f"reference: day capture #{single_pair.day_ids[0]} used" in panel.header.text()
    finally:
        jobs.shutdown()
        jobs.wait()


def fused_pair_night_shape(store: Store, pair) -> tuple[int, int]:
    return store.read_image(pair.night_id).shape[:2]
