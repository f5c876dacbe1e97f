"""Paging through a night's pairs: every page of a sort, in order, each pair once, and a
page that stays where it is while the night goes on recording (a seek, not an offset)."""

from __future__ import annotations

import numpy as np
import pytest

from engine.store import PairQuery, Store


def _night(store: Store, n: int, rng) -> int:
    """``n`` real pairs (tiny frames), every third one not measured (ssim NULL), the SSIM
    values with ties, as a night's failed alignments and rounding give."""
    s = store.create_session("night")
    for i in range(n):
        ssim = None if i % 3 == 0 else float(rng.integers(0, 6)) / 10
        store.capture_pair(s.id, day=np.full((8, 8, 3), i % 250, np.uint8),
                           night=np.full((8, 8), 30, np.uint8), ssim_mean=ssim)  # fmt: skip
    return s.id


def _walk(store: Store, q: PairQuery) -> list[list[int]]:
    pages, page = [], store.pair_page(q)
    while True:
        pages.append([p.id for p in page.pairs])
        if not page.has_next:
            return pages
        page = store.pair_page(PairQuery(**{**q.__dict__, "start": page.next_start(q.sort)}))


@pytest.mark.parametrize("sort", ["-id", "id", "ssim_mean", "-ssim_mean", "-created_at"])
def test_seek_pages_walk_every_pair_once_in_the_full_order(tmp_path, rng, sort):
    with Store(tmp_path / "data") as store:
        sid = _night(store, 47, rng)
        q = PairQuery(session_id=sid, sort=sort, limit=10)
        everything = [p.id for p in store.pairs(PairQuery(session_id=sid, sort=sort, limit=None))]
        pages = _walk(store, q)
        assert [len(p) for p in pages] == [10, 10, 10, 10, 7]
        assert sum(pages, []) == everything
        # each page knows where it stands among the matches
        start = None
        for k, ids in enumerate(pages):
            page = store.pair_page(PairQuery(session_id=sid, sort=sort, limit=10, start=start))
            assert (page.position, page.total, [p.id for p in page.pairs]) == (10 * k, 47, ids)
            start = page.next_start(sort)


def test_a_seek_page_stays_put_while_new_pairs_are_recorded_and_old_ones_judged(tmp_path, rng):
    with Store(tmp_path / "data") as store:
        sid = _night(store, 30, rng)
        first = store.pair_page(PairQuery(session_id=sid, sort="-id", limit=10))
        start = first.next_start("-id")
        q = PairQuery(session_id=sid, sort="-id", limit=10, start=start, verdict="none")
        before = store.pair_page(q)
        assert [p.id for p in before.pairs] == list(range(20, 10, -1))
        store.capture_pair(sid, day=np.zeros((8, 8, 3), np.uint8),
                           night=np.zeros((8, 8), np.uint8))  # fmt: skip
        store.set_verdict(25, "pass")  # on the page before: out of the "not judged" list
        after = store.pair_page(q)
        # an offset of 10 would now start at pair 21 (one new above, one judged out)
        assert [p.id for p in after.pairs] == list(range(20, 10, -1))
        assert (after.position, after.total) == (10, 30)


def test_a_page_whose_pairs_all_left_the_list_falls_back_to_the_last_page(tmp_path, rng):
    with Store(tmp_path / "data") as store:
        sid = _night(store, 25, rng)
        q = PairQuery(session_id=sid, sort="id", limit=10, verdict="none")
        last = store.pair_page(PairQuery(**{**q.__dict__, "start": (21, 21)}))
        assert [p.id for p in last.pairs] == [21, 22, 23, 24, 25]
        for pid in range(21, 26):  # the judge works through the last page
            store.set_verdict(pid, "fail")
        page = store.pair_page(PairQuery(**{**q.__dict__, "start": (21, 21)}))
        assert [p.id for p in page.pairs] == list(range(11, 21))
        assert (page.position, page.total, page.has_next) == (10, 20, False)


def test_a_page_starts_at_an_offset_or_at_a_pair_not_both():
    with pytest.raises(ValueError, match="not both"):
        PairQuery(offset=200, start=(5, 5))


def test_a_page_at_an_offset_past_the_matches_falls_back_to_the_last_page(tmp_path, rng):
    """The QA grid asks for the page before by its offset; when pairs left the list before
    that page came, an offset past the end gave an empty page at that position (the grid
    then read its first pair: IndexError on the GUI thread) instead of the last page."""
    with Store(tmp_path / "data") as store:
        sid = _night(store, 25, rng)
        q = PairQuery(session_id=sid, sort="id", limit=10, verdict="none", offset=10)
        for pid in range(1, 21):  # judged meanwhile: 5 left in the list
            store.set_verdict(pid, "pass")
        page = store.pair_page(q)
        assert [p.id for p in page.pairs] == [21, 22, 23, 24, 25]
        assert (page.position, page.total, page.has_next) == (0, 5, False)
        for pid in range(21, 26):  # and the rest: an empty list at its start, not at 10
            store.set_verdict(pid, "pass")
        empty = store.pair_page(q)
        assert (empty.pairs, empty.position, empty.total) == ([], 0, 0)
