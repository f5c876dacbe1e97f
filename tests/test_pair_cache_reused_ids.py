"""The QA panel's pair cache after a session is deleted. SQLite gives a deleted session's pair
ids to the next pairs recorded (the highest rowids are reused), so a cache keyed by the pair's
id served the deleted night's render, and its stored run's thumbnails, for a new pair of that
id. Real store, real renders (reference transfer), the job runner's threads."""

from __future__ import annotations

import threading

import numpy as np

from tests.conftest import GUI_TIMEOUT, record_runs

_ALIGNED = {"ok": True, "method": "ecc", "motion": "homography", "score": 0.9, "reason": "",
            "matrix": np.eye(3).tolist()}  # fmt: skip


def _night_of_one_pair(store, seed: int):
    """A session with one pair (identity matrix, as a fixed camera gives) of random frames."""
    rng = np.random.default_rng(seed)
    s = store.create_session(f"night {seed}")
    store.capture_pair(s.id, day=rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
                       night=rng.integers(0, 255, (48, 64), dtype=np.uint8),
                       alignment=_ALIGNED)  # fmt: skip
    (pair,) = store.pairs(session_id=s.id)
    return s, pair


def _off_the_gui_thread(fn):
    out = {}
    worker = threading.Thread(target=lambda: out.update(value=fn()))
    worker.start()
    worker.join(timeout=120)
    return out["value"]


def _render(qtbot, cache, pair):
    got = []
    cache.request(pair, got.append, lambda reason: got.append(reason))
    qtbot.waitUntil(lambda: bool(got), timeout=GUI_TIMEOUT)
    assert not isinstance(got[0], str), got[0]
    return got[0]


def test_a_pair_given_a_deleted_pairs_id_is_rendered_anew_not_served_the_deleted_render(
    qtbot, store
):
    from engine.colorize import ReferenceTransferColorizer
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache

    jobs = JobRunner(workers=1)
    colorizer = ReferenceTransferColorizer()
    cache = PairCache(store, jobs, lambda: colorizer)
    try:
        old_session, old = _night_of_one_pair(store, 1)
        old_views = _render(qtbot, cache, old)

        def deleted_then_another_night():
            store.delete_session(old_session.id)
            return _night_of_one_pair(store, 2)[1]

        new = _off_the_gui_thread(deleted_then_another_night)
        assert (new.id, new.matrix) == (old.id, old.matrix)  # the id given again
        new_views = _render(qtbot, cache, new)
        # the new night's own render, not the deleted one's
        assert not np.array_equal(new_views.colorized, old_views.colorized)
        assert np.array_equal(new_views.colorized, _render(qtbot, PairCache(
            store, jobs, lambda: colorizer), new).colorized)  # fmt: skip
        assert not np.array_equal(cache.thumbs(new)["colorized"], cache.thumbs(old)["colorized"])
    finally:
        jobs.shutdown()
        jobs.wait()


def test_a_stored_runs_thumbnails_are_not_served_for_a_pair_given_a_deleted_pairs_id(qtbot, store):
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache

    jobs = JobRunner(workers=1)
    cache = PairCache(store, jobs, lambda: None)  # no model loaded: runs are read back

    def thumbs_of(pair, sha):
        got = []
        cache.request_run_thumbs(pair, sha, got.append, lambda reason: got.append(reason))
        qtbot.waitUntil(lambda: bool(got), timeout=GUI_TIMEOUT)
        assert not isinstance(got[0], str), got[0]
        return got[0]

    try:
        old_session, old = _off_the_gui_thread(lambda: _night_of_one_pair(store, 1))
        (old_run,) = _off_the_gui_thread(lambda: record_runs(store, old_session.id))
        old_shown, old_thumbs = thumbs_of(old, old_run.model_sha256)
        assert old_shown.id == old_run.id

        def deleted_then_another_night():
            store.delete_session(old_session.id)
            return _night_of_one_pair(store, 2)[1]

        new = _off_the_gui_thread(deleted_then_another_night)
        assert new.id == old.id  # the id given again, with no run yet
        shown, thumbs = thumbs_of(new, old_run.model_sha256)
        assert shown is None  # "no run": before, the deleted pair's run and its images
        assert not np.array_equal(thumbs["night"], old_thumbs["night"])
    finally:
        jobs.shutdown()
        jobs.wait()
