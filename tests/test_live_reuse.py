"""The live view reuses a fixed camera's registration for a short while; captures never do.

Re-registering every frame of an unmoved camera was a third of each live result (13 of 37 ms
at 640x480), so `PairTracker.process(..., reuse_s=...)` may hand the last registration it
computed to the next frames. These tests count the real `alignment.align` calls.
"""

from __future__ import annotations

import time

import numpy as np
import pytest

import alignment
from engine.live import PairTracker
from engine.live_preview import LivePreview
from engine.pipeline import process_pair
from tests.conftest import still_camera_frames
from tests.live_feed import feed_one_at_a_time


@pytest.fixture(scope="module")
def frames():
    return still_camera_frames(3, seed=2)


@pytest.fixture
def align_calls(monkeypatch):
    calls = []
    real = alignment.align

    def counting(*args, **kw):
        calls.append(kw.get("initial") is not None)
        return real(*args, **kw)

    monkeypatch.setattr(alignment, "align", counting)
    return calls


def test_fixed_camera_registration_is_reused_while_young_then_registered_again(frames, align_calls):
    day, nights = frames
    tracker = PairTracker()
    tracker.set_reference(day, fixed_camera=True)
    first = tracker.process(nights[0], reuse_s=60.0)
    assert first.ok and len(align_calls) == 1
    second = tracker.process(nights[1], reuse_s=60.0)
    assert len(align_calls) == 1  # no registration ran
    assert second.ok and second.alignment is first.alignment
    assert second.timings_ms["align"] == 0.0
    assert second.leak_mask is not None and second.aligned_reference.shape[:2] == (120, 160)
    time.sleep(0.02)
    third = tracker.process(nights[2], reuse_s=0.01)  # the registration is now too old
    assert len(align_calls) == 2 and align_calls[-1]  # refined from the last matrix
    assert third.alignment is not first.alignment
    tracker.process(nights[0], reuse_s=60.0)  # the age counts from the fresh one
    assert len(align_calls) == 2


def test_captures_and_references_of_another_camera_register_every_frame(frames, align_calls):
    day, nights = frames
    fixed = PairTracker()
    fixed.set_reference(day, fixed_camera=True)
    for night in nights:
        fixed.process(night)  # reuse_s=0: what the recorder and `nightlab capture` call
    assert len(align_calls) == 3
    other = PairTracker()
    other.set_reference(day)  # not from this camera: it may have moved between frames
    for night in nights:
        other.process(night, reuse_s=60.0)
    assert len(align_calls) == 6


def test_a_reset_a_new_reference_or_a_new_frame_size_forces_a_registration(frames, align_calls):
    day, nights = frames
    tracker = PairTracker()
    tracker.set_reference(day, fixed_camera=True)
    tracker.process(nights[0], reuse_s=60.0)
    tracker.reset()
    tracker.process(nights[1], reuse_s=60.0)
    assert len(align_calls) == 2
    tracker.set_reference(day, fixed_camera=True)
    tracker.process(nights[1], reuse_s=60.0)
    assert len(align_calls) == 3
    half = np.ascontiguousarray(nights[2][::2, ::2])
    res = tracker.process(half, reuse_s=60.0)
    assert len(align_calls) == 4 and res.night.shape == (60, 80)


def test_reuse_and_registered_are_validated(frames):
    day, nights = frames
    tracker = PairTracker()
    tracker.set_reference(day, fixed_camera=True)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="reuse_s"):
            tracker.process(nights[0], reuse_s=bad)
    refused = alignment.align(day, np.zeros((120, 160), np.uint8), fixed_camera=True)
    assert not refused.ok
    with pytest.raises(ValueError, match="registered"):
        process_pair(day, nights[0], registered=refused)
    with pytest.raises(ValueError, match="realign_s"):
        LivePreview(workers=1, colorize=False, realign_s=-0.1)


@pytest.mark.parametrize(("realign_s", "reuses"), [(60.0, True), (0.0, False)])
def test_live_preview_reuses_the_registration_only_when_asked(
    frames, align_calls, realign_s, reuses
):
    day, nights = frames
    live = LivePreview(workers=1, colorize=False, realign_s=realign_s)
    results = feed_one_at_a_time(live, day, nights, 4)
    assert len(results) == 4 and all(r.pair.ok for r in results)
    assert len(align_calls) == (1 if reuses else 4)
