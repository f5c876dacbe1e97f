"""What the QA tab's thumbnails and views are made of (`gui.pair_cache`). It shows the
pairs colorized by the model selected now (`AppState.model_path`,
rendered on the job runner with the live preview's colorizer): after another model is
loaded, the grid's thumbnails and the selected pair's views are made again with it.

Before, the pair cache kept what the previous model had made (the views of the last 8 pairs
looked at, 256 pairs' thumbnails) and showed it as long as it held it, beside pairs rendered
with the new model: a judge compared two models without knowing it. Real window, real
shipped model (a copy of it in another folder plays the other model). And a pair whose
thumbnails were pushed out gets them back, even while its full views are still held."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import GUI_TIMEOUT

pytestmark = pytest.mark.usefixtures("no_leaked_windows")


def _all_thumbs(qa) -> bool:
    n = qa.table.rowCount()
    return n > 0 and all(not qa.table.item(r, 2).icon().isNull() for r in range(n))


def test_another_model_renders_the_qa_thumbnails_and_views_again_with_it(
    qa_window, qtbot, tmp_path, monkeypatch
):
    import engine.pair_views as pair_views
    from engine.models import card_path_for, default_model_path

    win, qa = qa_window, qa_window.qa
    qa.table.selectRow(0)
    qtbot.waitUntil(lambda: _all_thumbs(qa) and qa.view_b.has_image(), timeout=60_000)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=GUI_TIMEOUT)
    before = qa.view_b.image().copy()
    old_model = win.preview.colorizer()  # loaded already: the views above were made with it

    used = []  # the colorizer of each render from now on
    real = pair_views.render_pair
    monkeypatch.setattr(
        pair_views, "render_pair", lambda *a, **k: used.append(k["colorizer"]) or real(*a, **k)
    )
    other = tmp_path / "other" / default_model_path().name  # its card names the file
    other.parent.mkdir()
    shutil.copyfile(default_model_path(), other)
    shutil.copyfile(card_path_for(default_model_path()), card_path_for(other))
    win.state.model_path = str(other)

    # every listed pair rendered again (before: none), each with the model chosen now
    qtbot.waitUntil(lambda: len(used) >= qa.table.rowCount(), timeout=60_000)
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=60_000)
    assert len(used) == qa.table.rowCount(), len(used)
    now = win.preview.colorizer()
    assert now is not None and now is not old_model
    assert all(c is now for c in used)
    assert _all_thumbs(qa) and qa.view_b.has_image()
    assert qa.view_b.image().shape == before.shape


def test_a_render_under_way_when_the_cache_is_cleared_is_made_again_for_who_waits(
    qtbot, store, monkeypatch
):
    # another model loaded while a pair renders with the old one: that render is neither
    # kept nor shown; who asked for the pair gets one made after the clear, with the new one
    import threading

    import engine.pair_views as pair_views
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache
    from tests.conftest import aligned_pairs

    pair = store.pairs(session_id=aligned_pairs(store, 1).id)[0]
    model = {"now": "old model"}
    used = []
    started, go_on = threading.Event(), threading.Event()
    real = pair_views.render_pair

    def render(*a, **k):  # (the pixels are not what is checked: no colorizer runs)
        used.append(k["colorizer"])
        started.set()
        go_on.wait(timeout=60)
        return real(*a, **{**k, "colorizer": None})

    monkeypatch.setattr(pair_views, "render_pair", render)
    jobs = JobRunner(workers=1)
    try:
        cache = PairCache(store, jobs, lambda: model["now"])
        got = []
        cache.request(pair, got.append)
        assert started.wait(timeout=60)  # rendering with the old model
        model["now"] = "new model"
        cache.clear()
        go_on.set()
        qtbot.waitUntil(lambda: bool(got) and not jobs.active, timeout=60_000)
        assert used == ["old model", "new model"] and len(got) == 1
        assert cache.get(pair) is got[0] and cache.thumbs_held == 1
    finally:
        go_on.set()
        jobs.shutdown()
        jobs.wait()


def test_a_pair_whose_views_are_held_but_thumbnails_not_gets_its_thumbnails_again(
    qtbot, store, monkeypatch
):
    # more pairs' thumbnails shown since (a few pages paged through) pushed a pair's out while
    # its full views were still held (looked at in the inspector): asked for again, the
    # cache answered with the views alone and the grid's row stayed blank for good
    import engine.pair_views as pair_views
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache
    from tests.conftest import aligned_pairs

    first, second = store.pairs(session_id=aligned_pairs(store, 2).id)
    renders = []
    real = pair_views.render_pair
    monkeypatch.setattr(
        pair_views, "render_pair", lambda *a, **k: renders.append(1) or real(*a, **k)
    )
    jobs = JobRunner(workers=1)
    try:
        cache = PairCache(store, jobs, lambda: None, size=2, thumbs_kept=1)
        got = []
        for p in (first, second):
            cache.request(p, got.append)
        qtbot.waitUntil(lambda: len(got) == 2 and not jobs.active, timeout=60_000)
        assert cache.get(first) is not None and not cache.thumbs(first)  # the case
        cache.request(first, got.append)
        qtbot.waitUntil(lambda: len(got) == 3 and not jobs.active, timeout=60_000)
        assert cache.thumbs(first)  # before: {} for as long as its views were held
        assert got[2] is got[0] and len(renders) == 2  # from the views held: no render again
    finally:
        jobs.shutdown()
        jobs.wait()
