"""The QA grid's thumbnails are of the results being judged: the stored runs of the model
whose run a verdict is on (B's chosen model when B shows a run's image, else A's), with a
"no run" tile where a pair has none of it, and the live render when both sides are live.

Before, they were always the live model's render: an engineer judging model X's runs paged
through thumbnails of another model (or, with no model loaded, of none). Real window, real
store, real runs of two real models (the shipped one and a gray passthrough model) recorded
as the app's "Process pairs without a run" records them.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

from tests.conftest import GUI_TIMEOUT, aligned_pairs, gray_model, qa_oldest_first, record_runs
from tests.qa_runs import qa_on_runs
from tests.qa_runs import runs_listed as _listed

pytestmark = pytest.mark.usefixtures("no_leaked_windows")

COLORIZED, NIGHT = 4, 2
"""Grid columns: the colorized and the night thumbnails."""


@pytest.fixture
def runs_window(store, open_window, qtbot, tmp_path):
    """`qa_on_runs`, its oldest pair selected and its runs listed in the choosers."""
    win, ids, runs = qa_on_runs(store, open_window, qtbot, tmp_path)
    assert qa_oldest_first(win, qtbot, row=0) == ids
    qtbot.waitUntil(lambda: _listed(win.qa, ids[0]), timeout=GUI_TIMEOUT)  # the choosers filled
    return win, ids, runs


def _icon(qa, row: int, column: int = COLORIZED) -> np.ndarray | None:
    """The cell's icon as RGB (None: no icon)."""
    from PySide6.QtGui import QImage

    from gui.qa.panel import THUMB

    icon = qa.table.item(row, column).icon()
    if icon.isNull():
        return None
    img = icon.pixmap(THUMB).toImage().convertToFormat(QImage.Format.Format_RGB32)
    bgra = np.frombuffer(img.constBits(), np.uint8).reshape(img.height(), img.bytesPerLine())
    return bgra[:, : img.width() * 4].reshape(img.height(), img.width(), 4)[..., 2::-1].copy()


def _thumb(image: np.ndarray) -> np.ndarray:
    """``image``'s grid thumbnail as RGB, made as the app makes it."""
    from engine.overlay import as_display
    from engine.pair_views import thumbnail
    from gui.pair_cache import THUMB_WIDTH

    return as_display(thumbnail(image, THUMB_WIDTH))[..., 2::-1]


def _run_thumb(store, run, role="colorized") -> np.ndarray:
    return _thumb(store.read_image(run.outputs[role]))


def _is(shown: np.ndarray | None, want: np.ndarray) -> bool:
    return shown is not None and shown.shape == want.shape and np.array_equal(shown, want)


def _no_run_tile(qa, row: int, pair_id: int) -> bool:
    return (
        qa.table.item(row, COLORIZED).toolTip().startswith(f"Pair #{pair_id} has no run of tiny (")
        and _icon(qa, row) is not None
    )


def test_the_grid_shows_the_stored_runs_of_the_model_b_shows_and_a_no_run_tile_elsewhere(
    runs_window, store, qtbot
):
    win, ids, runs = runs_window
    qa = win.qa
    gray = [runs[i].get("gray") for i in ids]
    assert qa.sources.choose("b", gray[0].model_sha256)  # B shows "Colorized": the gray runs
    qtbot.waitUntil(
        lambda: (
            all(_is(_icon(qa, r), _run_thumb(store, gray[r])) for r in (0, 1))
            and _no_run_tile(qa, 2, ids[2])
        ),
        timeout=GUI_TIMEOUT,
    )
    assert qa.table.item(0, COLORIZED).toolTip() == f"Colorized · run #{gray[0].id} (tiny)"
    # the pair without a gray run still shows its own night frame, beside the tile
    night = store.read_image(store.pair(ids[2]).night_id)
    assert _is(_icon(qa, 2, NIGHT), _thumb(night))
    assert "tiny" in qa.table.horizontalHeaderItem(COLORIZED).toolTip()

    # A on the shipped model's run and B on the night frame: the verdict is on A's run now,
    # and so are the thumbnails
    qa.role_a.setCurrentIndex(qa.role_a.findData("colorized"))
    assert qa.sources.choose("a", runs[ids[0]]["shipped"].model_sha256)
    qa.role_b.setCurrentIndex(qa.role_b.findData("night"))
    qtbot.waitUntil(
        lambda: all(
            _is(_icon(qa, r), _run_thumb(store, runs[i]["shipped"])) for r, i in enumerate(ids)
        ),  # fmt: skip
        timeout=GUI_TIMEOUT,
    )
    assert qa.judged_on.text() == f"on: run #{runs[ids[0]]['shipped'].id} (nightlab-refcolor-s)"


def test_switching_the_source_never_shows_the_other_sources_thumbnail(runs_window, store, qtbot):
    win, ids, runs = runs_window
    qa, cache = win.qa, win.pair_cache
    qtbot.waitUntil(lambda: all(_icon(qa, r) is not None for r in range(3)), timeout=GUI_TIMEOUT)
    live = [_icon(qa, r) for r in range(3)]
    assert all(_is(live[r], cache.thumbs(p)["colorized"][..., 2::-1])
               for r, p in enumerate(qa.pairs))  # fmt: skip
    gray = [_run_thumb(store, runs[i]["gray"]) for i in ids[:2]]
    assert not any(_is(live[r], gray[r]) for r in (0, 1))  # told apart

    def only(allowed) -> bool:
        """Every row's colorized cell is empty or shows what ``allowed(row, image)`` allows."""
        return all((img := _icon(qa, r)) is None or allowed(r, img) for r in range(3))

    def gray_or_tile(r: int, img: np.ndarray) -> bool:
        return _is(img, gray[r]) if r < 2 else _no_run_tile(qa, r, ids[r])

    seen_other = []
    assert qa.sources.choose("b", runs[ids[0]]["gray"].model_sha256)
    assert only(gray_or_tile)  # at once, before any event: none of the live ones stayed

    def gray_shown() -> bool:
        if not only(gray_or_tile):
            seen_other.append(True)
        return all(_icon(qa, r) is not None for r in range(3))

    qtbot.waitUntil(gray_shown, timeout=GUI_TIMEOUT)
    assert not seen_other

    assert qa.sources.choose("b", None)  # back to the live model
    assert only(lambda r, img: _is(img, live[r]))  # held: shown again at once, or nothing

    def live_shown() -> bool:
        if not only(lambda r, img: _is(img, live[r])):
            seen_other.append(True)
        return all(_icon(qa, r) is not None for r in range(3))

    qtbot.waitUntil(live_shown, timeout=GUI_TIMEOUT)
    assert not seen_other


def test_stored_runs_thumbnails_are_read_and_made_off_the_gui_thread(
    runs_window, store, qtbot, monkeypatch
):
    import engine.pair_views as pair_views
    import engine.run_views as run_views

    win, ids, runs = runs_window
    qa = win.qa
    qtbot.waitUntil(lambda: not win.jobs.active, timeout=GUI_TIMEOUT)
    reads, made, runs_read = [], [], []
    real_read, real_thumb = store.read_image, pair_views.thumbnail
    real_load = run_views.load_run_views

    def read_image(*a, **k):
        reads.append(threading.current_thread())
        return real_read(*a, **k)

    def thumbnail(*a, **k):
        made.append(threading.current_thread())
        return real_thumb(*a, **k)

    def load_run_views(st, pair, run_id):
        runs_read.append((pair.id, run_id, threading.current_thread()))
        return real_load(st, pair, run_id)

    shipped = [runs[i]["shipped"] for i in ids]
    want = [_run_thumb(store, r) for r in shipped]  # (read here, before the reads are watched)
    monkeypatch.setattr(store, "read_image", read_image)
    monkeypatch.setattr(pair_views, "thumbnail", thumbnail)
    monkeypatch.setattr(run_views, "load_run_views", load_run_views)
    assert qa.sources.choose("b", shipped[0].model_sha256)
    qtbot.waitUntil(lambda: all(_is(_icon(qa, r), want[r]) for r in range(3)), timeout=GUI_TIMEOUT)
    main = threading.main_thread()
    # every listed pair's run was read for its row (the selected one's for the view too)
    assert {(p, r) for p, r, _t in runs_read} == {(i, runs[i]["shipped"].id) for i in ids}
    assert reads and made
    assert all(t is not main for t in reads), "a PNG was read on the GUI thread"
    assert all(t is not main for t in made), "a thumbnail was made on the GUI thread"
    assert all(t is not main for _p, _r, t in runs_read)


def test_with_no_model_loaded_the_stored_runs_thumbnails_still_show(store, open_window, qtbot):
    from engine.live_preview import LivePreview

    session = aligned_pairs(store, 2)
    ids = [p.id for p in store.pairs(session_id=session.id, sort="id")]
    shipped = record_runs(store, session.id)
    preview = LivePreview(workers=1)
    preview.colorizer = lambda: None  # no model loaded live
    win = open_window(resolution=(160, 120), preview=preview)
    qa = win.qa
    win.state.session = store.session(session.id)
    win.tabs.setCurrentWidget(qa)
    qtbot.waitUntil(lambda: qa.table.rowCount() == 2, timeout=GUI_TIMEOUT)
    qa_oldest_first(win, qtbot, row=0)
    # the live render without a model: night, reference and mask, no colour
    qtbot.waitUntil(lambda: all(_icon(qa, r, NIGHT) is not None for r in range(2)),
                    timeout=GUI_TIMEOUT)  # fmt: skip
    assert all(_icon(qa, r) is None for r in range(2))
    by_pair = {r.pair_id: r for r in shipped}
    qtbot.waitUntil(lambda: _listed(qa, ids[0]), timeout=GUI_TIMEOUT)
    assert qa.sources.choose("b", shipped[0].model_sha256)
    qtbot.waitUntil(
        lambda: all(_is(_icon(qa, r), _run_thumb(store, by_pair[i])) for r, i in enumerate(ids)),
        timeout=GUI_TIMEOUT,
    )
    masked = qa.table.item(0, COLORIZED + 1)
    assert not masked.icon().isNull() and masked.toolTip().startswith("Masked colorized · run #")


def test_a_run_recorded_later_replaces_the_pairs_no_run_tile(runs_window, store, qtbot, tmp_path):
    win, ids, runs = runs_window
    qa = win.qa
    assert qa.sources.choose("b", runs[ids[0]]["gray"].model_sha256)
    qtbot.waitUntil(lambda: _no_run_tile(qa, 2, ids[2]), timeout=GUI_TIMEOUT)
    session_id, made = win.state.session.id, []
    worker = threading.Thread(  # the store's writes are refused on the GUI thread
        target=lambda: made.extend(
            record_runs(store, session_id, gray_model(tmp_path / "m"), pair_ids=[ids[2]])
        )
    )
    worker.start()
    worker.join(timeout=60)
    assert len(made) == 1
    qtbot.waitUntil(lambda: _is(_icon(qa, 2), _run_thumb(store, made[0])), timeout=GUI_TIMEOUT)
    assert qa.table.item(2, COLORIZED).toolTip() == f"Colorized · run #{made[0].id} (tiny)"


def test_stored_runs_thumbnails_share_the_live_ones_bound_and_outlive_a_model_change(
    qtbot, store, tmp_path
):
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache

    session = aligned_pairs(store, 2)
    first, second = store.pairs(session_id=session.id, sort="id")
    (gray, _g2) = record_runs(store, session.id, gray_model(tmp_path / "m"))
    jobs = JobRunner(workers=1)
    try:
        cache = PairCache(store, jobs, lambda: None, thumbs_kept=3)
        got = []
        for p in (first, second):
            cache.request(p, got.append)
            cache.request_run_thumbs(p, gray.model_sha256, got.append)
        qtbot.waitUntil(lambda: len(got) == 4 and not jobs.active, timeout=60_000)
        # one bound for both sources (three pairs' worth here, 450 in the app): the oldest
        # shown (the first pair's live thumbnails) went
        assert cache.thumbs_held == 3 and not cache.thumbs(first)
        held = cache.run_thumbs(first, gray.model_sha256)
        assert held is not None and held[0].id == gray.id
        assert np.array_equal(
            held[1]["colorized"][..., 2::-1], _run_thumb(store, store.run(gray.id))
        )
        cache.clear()  # another model loaded: the live ones go, the runs' stay
        assert not cache.thumbs(second) and cache.thumbs_held == 2
        assert cache.run_thumbs(second, gray.model_sha256) is not None
    finally:
        jobs.shutdown()
        jobs.wait()


def test_a_stored_run_on_a_beside_the_live_colorized_b_leaves_the_live_thumbnails(
    runs_window, store, qtbot
):
    """A verdict with B's live colorization beside A's stored run is on the live render (A is
    the baseline, `RunSources.verdict_run`): the grid shows the live render then, not A's
    model's runs (nor a "no run" tile where A's model has none)."""
    win, ids, runs = runs_window
    qa, cache = win.qa, win.pair_cache
    qtbot.waitUntil(lambda: all(_icon(qa, r) is not None for r in range(3)), timeout=GUI_TIMEOUT)
    live = [_icon(qa, r) for r in range(3)]
    gray = [_run_thumb(store, runs[i]["gray"]) for i in ids[:2]]
    assert not any(_is(live[r], gray[r]) for r in (0, 1))  # told apart

    qa.role_a.setCurrentIndex(qa.role_a.findData("colorized"))
    assert qa.sources.choose("a", runs[ids[0]]["gray"].model_sha256)  # the baseline on A
    assert qa.role_b.currentData() == "colorized" and qa.sources.wanted("b") is None
    assert qa.judged_on.text() == "on: live model"
    qtbot.wait(300)  # what a switch of source would have asked is read by now
    for r, p in enumerate(qa.pairs):
        assert _is(_icon(qa, r), cache.thumbs(p)["colorized"][..., 2::-1])
        assert not _no_run_tile(qa, r, p.id)
    assert "live model" in qa.table.horizontalHeaderItem(COLORIZED).toolTip()
