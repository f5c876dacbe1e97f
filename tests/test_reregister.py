"""A pair's registration changed after capture (inspector re-run, accepted nudge): its SSIM
mean and leak area are measured again under the new matrix, never left from the old one."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
import skimage.data

from alignment import Alignment
from engine.pair_views import record_registration
from engine.pipeline import process_pair
from engine.store import Store


@pytest.fixture
def recorded(tmp_path):
    day = np.ascontiguousarray(skimage.data.astronaut()[::4, ::4])  # 128 x 128
    night = cv2.cvtColor(np.roll(day, (3, -2), axis=(0, 1)), cv2.COLOR_RGB2GRAY)
    first = process_pair(day, night)
    assert first.ok
    with Store(tmp_path / "data") as store:
        out = {}

        def record():  # stores write off the calling (GUI-like) thread in the app; here too
            s = store.create_session("roof")
            out["pair"] = store.add_pair_with_captures(
                s.id,
                days=[day],
                night=night,
                alignment=first.alignment,
                ssim_mean=first.ssim_mean,
                leak_area_pct=first.leak_area_pct,
            )

        t = threading.Thread(target=record)
        t.start()
        t.join()
        yield store, out["pair"], day, night, first


def test_a_nudged_registration_is_stored_with_the_metrics_it_gives(recorded):
    store, pair, day, night, first = recorded
    moved = first.alignment.matrix.copy()
    moved[0, 2] += 6.0  # the operator nudged it 6 px
    nudged = {"ok": True, "method": "ecc+manual", "motion": first.alignment.motion,
              "score": first.alignment.score, "reason": "nudged", "matrix": moved}  # fmt: skip
    updated = record_registration(store, pair, nudged)
    expected = process_pair(
        day, night, registered=Alignment(moved, ok=True, score=1.0, method="m", motion="affine")
    )
    np.testing.assert_allclose(updated.matrix, moved)
    assert updated.ssim_mean == pytest.approx(expected.ssim_mean, abs=1e-6)
    assert updated.leak_area_pct == pytest.approx(expected.leak_area_pct, abs=1e-6)
    assert updated.ssim_mean < first.ssim_mean - 0.05  # 6 px off: the old figure was wrong


def test_a_failed_rerun_clears_the_metrics_of_the_old_registration(recorded):
    store, pair, *_ = recorded
    failed = Alignment(np.eye(3), ok=False, score=0.0, method="ecc", motion="affine",
                       reason="structure does not line up")  # fmt: skip
    updated = record_registration(store, pair, failed)
    assert updated.aligned_ok is False
    assert updated.ssim_mean is None and updated.leak_area_pct is None
