"""Device tests need a real OAK: they run only with ``pytest -m device tests/device`` and are
skipped, with the reason, when no device is attached (or when ``-m device`` is not given)."""

from __future__ import annotations

import functools
import os

import pytest


@functools.cache
def oak_devices() -> tuple[dict, ...]:
    from engine.camera._oak_pipeline import list_oak_devices

    return tuple(list_oak_devices())


def _device_run_requested(config: pytest.Config) -> bool:
    expr = config.getoption("markexpr", "") or ""
    return "device" in expr and "not device" not in expr


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    device_items = [item for item in items if item.get_closest_marker("device")]
    if not device_items:
        return
    if not _device_run_requested(config):
        reason = "needs a real OAK; run with: pytest -m device tests/device"
    elif not oak_devices():
        reason = "no OAK device attached (depthai found none over USB or PoE)"
    else:
        return
    for item in device_items:
        item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def oak_id() -> str:
    """The device under test: ``NIGHTLAB_OAK_ID`` if set, else the first one found."""
    wanted = os.environ.get("NIGHTLAB_OAK_ID")
    ids = [d["device_id"] for d in oak_devices()]
    if wanted:
        if wanted not in ids:
            pytest.skip(
                f"NIGHTLAB_OAK_ID={wanted} not attached (found: {', '.join(ids) or 'none'})"
            )
        return wanted
    return ids[0]
