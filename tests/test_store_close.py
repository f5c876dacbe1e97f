"""Closing the store while another thread is writing: the write completes before the store
closes (files and rows, whole), or is refused before it writes anything; nothing lands in
the folder after ``close`` returned (the folder is released then, and marked clean).

The app closes its store after its window's jobs end; a thread it did not wait for (a
script's, `docs/screenshots.py` under load) reached ``add_run`` as the store closed: its PNGs
went into the released folder, then its commit failed ("the store is closed").
"""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

import engine.store._store as store_module
from engine.store import Store, StoreError
from tests.conftest import aligned_pairs


def _slow_file_writes(monkeypatch, started: threading.Event, finished: list[float]):
    """Each file write takes 0.3 s more (a loaded machine); records when each one ended."""
    real = store_module.write_file

    def write_file(root, rel, data):
        started.set()
        time.sleep(0.3)
        real(root, rel, data)
        finished.append(time.monotonic())

    monkeypatch.setattr(store_module, "write_file", write_file)


def _record_run(store, pair_id):
    return store.add_run(
        pair_id,
        model_name="m",
        model_sha256="0" * 64,
        outputs={"colorized": np.full((40, 60, 3), 90, np.uint8)},
    )


def _record_pair(store, session_id):
    day = np.full((40, 60, 3), 120, np.uint8)
    night = np.full((40, 60), 30, np.uint8)
    return store.capture_pair(session_id, day=day, night=night)


@pytest.mark.parametrize("write", ["run", "pair"])
def test_close_waits_for_a_write_in_flight_and_nothing_lands_after_it(tmp_path, monkeypatch, write):
    store = Store(tmp_path / "data")
    session = aligned_pairs(store, 1)
    pair_id = store.pairs(session_id=session.id)[0].id
    started, finished = threading.Event(), []
    _slow_file_writes(monkeypatch, started, finished)
    outcome: list = []

    def writer():
        try:
            if write == "run":
                outcome.append(_record_run(store, pair_id))
            else:
                outcome.append(_record_pair(store, session.id))
        except Exception as exc:  # noqa: BLE001 - the test reports it
            outcome.append(exc)

    t = threading.Thread(target=writer)
    t.start()
    assert started.wait(10)
    store.close()
    closed_at = time.monotonic()
    t.join(20)
    assert not t.is_alive()

    assert finished and max(finished) <= closed_at, "a file was written after close returned"
    assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    again = Store(tmp_path / "data")
    try:
        assert again.last_reconcile is None or again.last_reconcile.clean
        assert again.verify() == []
        if write == "run":
            assert [r.id for r in again.runs(pair_id)] == [outcome[0].id]
        else:
            assert again.count_pairs(session_id=session.id) == 2
    finally:
        again.close()


def test_a_write_begun_after_close_is_refused_and_writes_no_file(tmp_path, monkeypatch):
    store = Store(tmp_path / "data")
    session = aligned_pairs(store, 1)
    store.close()
    written: list = []
    monkeypatch.setattr(store_module, "write_file", lambda *a: written.append(a))
    with pytest.raises(StoreError, match="the store is closed"):
        _record_pair(store, session.id)
    assert written == []


def test_closing_while_another_thread_reads_refuses_its_next_read_and_does_not_crash(tmp_path):
    # closing a read connection another thread was stepping through crashed the interpreter
    # (a segmentation fault, seen as a run was read back right after its commit)
    for attempt in range(15):
        store = Store(tmp_path / f"data{attempt}")
        session = aligned_pairs(store, 2)
        pair_id = store.pairs(session_id=session.id)[0].id
        _record_run(store, pair_id)
        reading, outcome = threading.Event(), []

        def reader(store=store, session=session, pair_id=pair_id, reading=reading, out=outcome):
            try:
                while True:
                    store.runs(pair_id)
                    store.pairs(session_id=session.id)
                    reading.set()
            except StoreError as exc:
                out.append(str(exc))

        t = threading.Thread(target=reader)
        t.start()
        assert reading.wait(10)
        time.sleep(0.01 * (attempt % 5))
        store.close()
        t.join(10)
        assert not t.is_alive()
        assert outcome == ["the store is closed"]


def test_a_run_committed_as_the_store_closes_is_returned_not_reported_as_failed(tmp_path):
    # add_run read its run back after the commit, outside the write: a close between the
    # two made the caller see "the store is closed" for a run that was recorded
    store = Store(tmp_path / "data")
    session = aligned_pairs(store, 1)
    pair_id = store.pairs(session_id=session.id)[0].id
    read_back = store.run
    closer = threading.Thread(target=store.close)

    def run_after_a_close_began(run_id):
        closer.start()
        time.sleep(0.3)
        return read_back(run_id)

    store.run = run_after_a_close_began
    run = _record_run(store, pair_id)
    closer.join(20)
    again = Store(tmp_path / "data")
    try:
        assert [r.id for r in again.runs(pair_id)] == [run.id]
    finally:
        again.close()
