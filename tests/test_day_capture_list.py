"""`engine.reference.DayCaptureList`: what Add capture keeps for a fused reference, shared by
the Capture dock and the engine (no Qt here)."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from engine.camera import FrameMeta
from engine.reference import DayCaptureList


def test_kept_captures_carry_the_cameras_metadata_and_are_frozen_copies():
    image = np.full((48, 64, 3), 7, np.uint8)  # a writable buffer, as a webcam hands out
    meta = FrameMeta(timestamp=1_700_000_000.0, sequence=41, device_id="x", exposure_us=12500)
    kept = DayCaptureList()
    cap = kept.add(image, meta)
    image[:] = 200  # the camera reuses its buffer: the kept capture is what was seen
    assert cap.image[0, 0, 0] == 7 and not cap.image.flags.writeable
    assert cap.taken_at == meta.timestamp
    assert cap.describe(utc=True) == "Capture 1 · 22:13:20 · frame #41 · exposure 12.5 ms"


def test_another_size_starts_over_and_the_limit_refuses_one_more():
    kept = DayCaptureList(limit=2)
    kept.add(np.zeros((48, 64, 3), np.uint8))
    kept.add(np.zeros((48, 64, 3), np.uint8))
    with pytest.raises(ValueError, match="2 day captures are kept already"):
        kept.add(np.zeros((48, 64, 3), np.uint8))
    other = kept.add(np.zeros((24, 32, 3), np.uint8))  # another camera: not fused with those
    assert [c.id for c in kept.captures] == [other.id] == [3]
    with pytest.raises(ValueError, match="RGB uint8"):
        kept.add(np.zeros((24, 32), np.uint8))
    with pytest.raises(ValueError, match="limit"):
        DayCaptureList(limit=0)


def test_changes_from_several_threads_lose_nothing_and_every_event_is_a_whole_list():
    kept = DayCaptureList(limit=1000)
    seen = []
    lists = []  # every list an event carried
    kept.events.changed.connect(lambda caps: (seen.append(len(caps)), lists.append(caps)))
    image = np.zeros((8, 8, 3), np.uint8)
    image.setflags(write=False)

    def add_many():
        for _ in range(50):
            kept.add(image)

    threads = [threading.Thread(target=add_many) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(kept) == 200 and sorted(c.id for c in kept.captures) == list(range(1, 201))
    assert len(seen) == 200 and max(seen) == 200
    # whole: the list as one add left it, all earlier captures in order, once per add
    assert sorted(seen) == list(range(1, 201))
    assert all([c.id for c in caps] == list(range(1, len(caps) + 1)) for caps in lists)
    assert kept.remove([1, 2, 999]) == 2 and kept.clear() == 198 and seen[-1] == 0
    assert kept.remove([3]) == 0 and kept.clear() == 0  # nothing left: no event
    assert seen[-2:] == [198, 0]
