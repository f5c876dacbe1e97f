"""What an unattended night of recording keeps per capture or pair stays bounded: after N
captures or pairs the app holds no more than after a few (the capture soak's RSS grew ~8 KiB
a recorded pair beyond the harness's own record)."""

from __future__ import annotations

import pytest

from tests.test_harness_record_bounded import _traced_growth


def test_disk_guard_holds_no_more_after_50000_captures_than_after_100(tmp_path):
    from engine.live import DiskGuard

    guard = DiskGuard(tmp_path, bytes_per_capture=1)
    sizes = iter(range(1_000_000, 2_000_000, 7))  # distinct ints: each one an object
    grew = _traced_growth(lambda: guard.observe(next(sizes)), 100, 50_000)
    # the old guard listed every capture's size: ~1.7 MiB more here
    assert grew < 2 * 1024, f"the disk guard grew {grew} bytes over 50,000 captures"
    ref = DiskGuard(tmp_path, bytes_per_capture=1)
    ref.observe(1_000_000)  # the guard's overhead on one capture's size
    mean = (1_000_000 + (1_000_000 + 7 * 50_099)) / 2  # the run's mean size still rules
    assert guard.bytes_per_capture == pytest.approx(mean * ref.bytes_per_capture / 1e6, rel=1e-5)
