"""`docs/screenshots.py` gives up early (a wait's limit passed on a loaded machine) while its
own writes (verdicts, tags, two models' runs) are still going: it stops them and waits for
them before the window and the store close, so no thread writes to the closed store; its
limits grow with the load and its message says what it waited for and how long."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest

from tests.conftest import aligned_pairs

pytest.importorskip("PySide6")
pytestmark = pytest.mark.usefixtures("no_leaked_windows")

SCRIPT = Path(__file__).resolve().parents[1] / "docs" / "screenshots.py"


def _script():
    spec = importlib.util.spec_from_file_location("nightlab_screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_screenshots_giving_up_mid_writes_stops_them_before_the_store_closes(
    qapp, tmp_path, monkeypatch, shipped_model
):
    shots = _script()
    failed_threads: list = []
    monkeypatch.setattr(threading, "excepthook", failed_threads.append)
    started: list = []

    def drive_then_give_up(win, store, cam, scratch, pump, wait, shot, writes):
        made: list = []  # the pairs are written off the GUI thread (the window forbids it)
        maker = threading.Thread(target=lambda: made.append(aligned_pairs(store, 3)))
        maker.start()
        maker.join(60)
        session = made[0]
        pairs = store.pairs(session_id=session.id, sort="id")
        writes.append(shots.Writes(shots.judge, store, session.id, pairs, Path(scratch.name)))
        started.append(writes[-1])
        # as the verdicts' wait did at load 18: the writes are under way (past the verdicts,
        # the two models' runs being recorded)
        wait(lambda: store.pair(pairs[2].id).verdict is not None, what="the verdicts")
        raise TimeoutError("screenshots: gave up waiting for verdicts and runs")

    monkeypatch.setattr(shots, "_drive", drive_then_give_up)
    with pytest.raises(TimeoutError, match="verdicts and runs"):
        shots.main(tmp_path / "out", (800, 600), timeout_scale=1.0)

    (writes,) = started
    assert not writes.thread.is_alive()
    assert writes.error is None, f"the writes failed: {writes.error!r}"
    assert failed_threads == []


def test_screenshots_limits_grow_with_the_load_per_core(monkeypatch):
    shots = _script()
    monkeypatch.setattr(shots.os, "getloadavg", lambda: (18.0, 9.0, 4.0))
    monkeypatch.setattr(shots.os, "cpu_count", lambda: 2)
    assert shots.load_scale() == 9.0
    monkeypatch.setattr(shots.os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert shots.load_scale() == 1.0
