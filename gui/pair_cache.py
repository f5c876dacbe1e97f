"""Rendered pairs for the inspector and the QA grid, computed on the job runner, cached.

``request(pair, done)`` calls ``done(PairViews)`` on the GUI thread, from the cache when it
can; renders of the same pair already under way are shared, not repeated.

Two bounds, because a night's run records pairs all night and both views ask for them: the
full renders (every view of a pair at full resolution: ~7 MiB at 640x480, ~45 MiB at
1920x1080) are kept for the few pairs being looked at (``VIEWS_KEPT``: the inspector's, the
QA selection, the newest recorded); the thumbnails (`THUMB_BYTES` a pair whatever the frame
size) for as many pairs as whoever shows them asks (`keep_thumbs`: the QA grid keeps two pages
and a quarter, 450 pairs, 59 MiB), so refilling a page as the record grows, or paging back,
renders nothing again. Before, 96 full renders held the thumbnails too: 4.4 MiB of RSS per
recorded pair up to ~750 MiB at 640x480, and past 96 pairs each refill of the grid re-rendered
the pairs pushed out, a backlog of jobs that grew with every pair.

The QA grid may show a stored run's thumbnails instead (`request_run_thumbs`: the newest run
of a chosen model, its PNGs read back, no model needed). They are held under their own key
(the model's sha256 and the pair), in the same bound as the live ones, so a grid switched
from one source to the other never finds the other's thumbnails, and switching back finds
its own still held when they were shown recently.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from engine.pair_views import PairViews
    from engine.pipeline import PairResult, SupportsColorize
    from engine.run_views import RunSummary
    from engine.store import Pair, Store
    from gui.jobs import JobRunner

    RunThumbs = tuple[RunSummary | None, dict]

__all__ = ["THUMB_BYTES", "THUMB_ROLES", "THUMB_WIDTH", "PairCache"]

THUMB_ROLES = ("night", "reference", "colorized", "masked", "mask")
THUMB_WIDTH = 96
VIEWS_KEPT = 8
"""Pairs whose full render is kept (least recently used goes first)."""
THUMBS_KEPT = VIEWS_KEPT
"""Pairs whose thumbnails are kept until a grid asks for more (`PairCache.keep_thumbs`)."""
THUMB_BYTES = len(THUMB_ROLES) * THUMB_WIDTH * (THUMB_WIDTH * 3 // 4) * 4
"""A pair's thumbnails (5 BGRA images 96 px wide) of a 4:3 frame: 138,240 bytes (16:9:
103,680; measured the same from `_thumbnails`)."""


class PairCache:
    """Rendered pairs (``size`` full renders, ``thumbs_kept`` pairs' thumbnails), rendered
    on ``jobs``; ``colorizer()`` gives the colorizer at render time."""

    def __init__(
        self,
        store: Store,
        jobs: JobRunner,
        colorizer: Callable[[], SupportsColorize | None],
        *,
        size: int = VIEWS_KEPT,
        thumbs_kept: int = THUMBS_KEPT,
    ):
        if size < 1 or thumbs_kept < 1:
            raise ValueError(f"size and thumbs_kept must be >= 1, got {size}, {thumbs_kept}")
        self._store, self._jobs, self._colorizer = store, jobs, colorizer
        self._size = size
        self._thumbs_kept = thumbs_kept
        self._cache: OrderedDict[tuple, PairViews] = OrderedDict()
        self._waiting: dict[tuple, list[tuple[Callable, Callable | None]]] = {}
        """Renders under way: key -> (done, failed) of everyone waiting for it."""
        self._thumbs: OrderedDict[tuple, dict | RunThumbs] = OrderedDict()
        """`key` -> role -> BGRA (the live render's); `run_key` -> (the run, role -> BGRA)."""
        self._generation = 0
        """Counts `clear`s: a render begun before one is not kept, and who waits for it gets
        a render made anew (with the colorizer of now)."""
        self._reread: set[tuple] = set()
        """Run thumbnails being read when `forget_run_thumbs` was called for their pair: read
        again when done (a run was recorded meanwhile: the newest may be another)."""

    @staticmethod
    def key(pair: Pair) -> tuple:
        # the matrix is part of the key: a re-run or an accepted nudge renders anew; so is the
        # pair's creation time: SQLite gives a deleted session's pair ids to the next pairs
        # recorded, and a pair by id alone was served the deleted night's render
        return (pair.id, pair.created_at, pair.matrix)

    def __len__(self) -> int:
        """Full renders held (at most ``size``)."""
        return len(self._cache)

    @staticmethod
    def run_key(pair: Pair, model_sha256: str) -> tuple:
        # a run's outputs are its own (its registration, its model): not the pair's matrix;
        # the creation time tells a pair from a deleted one whose id it was given (`key`)
        return ("run", model_sha256, pair.id, pair.created_at)

    def clear(self, *, runs: bool = False) -> None:
        """Forget every live render held (full views and thumbnails), e.g. when another model
        colorizes: the next request renders anew, and so do renders under way (who waits
        for one gets a render made after this call). Stored runs' thumbnails stay (no model
        made them now), unless ``runs`` (a benchmark's cold start)."""
        self._cache.clear()
        for key in [k for k in self._thumbs if runs or k[0] != "run"]:
            del self._thumbs[key]
        self._generation += 1

    @property
    def thumbs_kept(self) -> int:
        """Pairs whose thumbnails are kept at most (the least recently shown go first)."""
        return self._thumbs_kept

    def keep_thumbs(self, at_least: int) -> None:
        """Keep at least ``at_least`` pairs' thumbnails (a grid: what it pages between);
        a smaller number than kept already changes nothing."""
        self._thumbs_kept = max(self._thumbs_kept, int(at_least))

    @property
    def thumbs_held(self) -> int:
        """Pairs whose thumbnails are held (at most ``thumbs_kept``)."""
        return len(self._thumbs)

    def get(self, pair: Pair) -> PairViews | None:
        return self._cache.get(self.key(pair))

    def thumbs(self, pair: Pair) -> dict:
        """role -> BGRA thumbnail (``THUMB_WIDTH`` wide) of a rendered pair ({} if not yet,
        or no longer held)."""
        key = self.key(pair)
        thumbs = self._thumbs.get(key)
        if thumbs is None:
            return {}
        self._thumbs.move_to_end(key)  # a page shown again keeps its thumbnails
        return thumbs

    def run_thumbs(self, pair: Pair, model_sha256: str) -> RunThumbs | None:
        """(the newest run of the model ``model_sha256`` the thumbnails are of, or None when
        the pair has no run of it: then only the night and reference thumbnails; role ->
        BGRA), or None while not read (or no longer held)."""
        key = self.run_key(pair, model_sha256)
        held = self._thumbs.get(key)
        if held is not None:
            self._thumbs.move_to_end(key)
        return held

    def request_run_thumbs(
        self,
        pair: Pair,
        model_sha256: str,
        done: Callable[[RunThumbs], None],
        failed: Callable[[str], None] | None = None,
    ) -> None:
        """``done((run, thumbs))`` on the GUI thread once the thumbnails of the pair's newest
        run of the model ``model_sha256`` are read (at once when held): its stored PNGs and
        the pair's night frame and reference, on the job runner; no model is loaded."""
        key = self.run_key(pair, model_sha256)
        held = self.run_thumbs(pair, model_sha256)
        if held is not None:
            done(held)
            return
        if key in self._waiting:
            self._waiting[key].append((done, failed))
            return
        self._waiting[key] = [(done, failed)]
        store = self._store

        def work() -> RunThumbs:
            from engine.pair_views import load_pair_reference
            from engine.run_views import load_run_views, newest_run_of, pair_runs

            run = newest_run_of(pair_runs(store, pair.id), model_sha256)
            if run is None:  # the pair's own images, beside a "no run" tile
                night, fused = load_pair_reference(store, pair)
                return None, _thumbnails_of({"night": night, "reference": fused.image})
            return run, _thumbnails(load_run_views(store, pair, run.id))

        def finished(out: RunThumbs) -> None:
            waiting = self._waiting.pop(key, [])
            if key in self._reread:  # a run of the pair recorded meanwhile: read again
                self._reread.discard(key)
                for cb, fb in waiting:
                    self.request_run_thumbs(pair, model_sha256, cb, fb)
                return
            self._hold(key, out)
            for cb, _fb in waiting:
                cb(out)

        def not_read(reason: str) -> None:
            self._reread.discard(key)
            for _cb, fb in self._waiting.pop(key, []):
                if fb is not None:
                    fb(reason)

        self._jobs.submit(work, done=finished, failed=not_read,
                          label=f"reading the thumbnails of pair #{pair.id}'s run")  # fmt: skip

    def forget_run_thumbs(self, pair_id: int, model_sha256: str) -> None:
        """A run of the model ``model_sha256`` was recorded for the pair ``pair_id``: the
        thumbnails held of that model's newest run there (or of "no run") are read again
        when asked."""

        def of_it(key: tuple) -> bool:
            return key[:3] == ("run", model_sha256, pair_id)

        for key in [k for k in self._thumbs if of_it(k)]:
            del self._thumbs[key]
        self._reread.update(k for k in self._waiting if of_it(k))

    def _hold(self, key: tuple, thumbs) -> None:
        """Hold ``thumbs`` under ``key``, the least recently shown going past the bound."""
        self._thumbs[key] = thumbs
        self._thumbs.move_to_end(key)
        while len(self._thumbs) > self._thumbs_kept:
            self._thumbs.popitem(last=False)

    def request(
        self,
        pair: Pair,
        done: Callable[[PairViews], None],
        failed: Callable[[str], None] | None = None,
    ) -> None:
        """``done(views)`` on the GUI thread once the pair is rendered (at once from the
        cache); ``failed(reason)`` if it cannot be (the job runner also says why)."""
        key = self.key(pair)
        hit = self._cache.get(key)
        if hit is not None and key in self._thumbs:
            self._cache.move_to_end(key)
            done(hit)
            return
        if key in self._waiting:
            self._waiting[key].append((done, failed))
            return
        self._waiting[key] = [(done, failed)]
        if hit is not None:
            # its thumbnails went (more pairs' were shown since) while its views stayed:
            # made again from them, or a grid's row would wait for them for good
            self._cache.move_to_end(key)
            self._submit(pair, key, lambda: (hit, _thumbnails(hit)))
            return
        store, colorizer = self._store, self._colorizer

        def work():
            import dataclasses

            import numpy as np

            from engine.leakmask import LeakMaskParams
            from engine.pair_views import DayCaptures, load_pair_reference, render_pair

            night, fused = load_pair_reference(store, pair)
            if pair.matrix is None or not pair.aligned_ok:
                raise ValueError(f"pair #{pair.id} is not aligned: {pair.reason or 'no result'}")
            known = {f.name for f in dataclasses.fields(LeakMaskParams)}
            saved = {k: v for k, v in (pair.leak_params or {}).items() if k in known}
            params = LeakMaskParams(**saved) if saved else None
            views = render_pair(
                night,
                fused.image,
                np.asarray(pair.matrix),
                colorizer=colorizer(),
                leak_params=params,
                stability=fused.stability,
                day_captures=DayCaptures.of(pair.day_ids, fused),
            )
            return views, _thumbnails(views)

        self._submit(pair, key, work)

    def seed(self, pair: Pair, result: PairResult, day: np.ndarray) -> None:
        """Render a pair just recorded from the images it was recorded with (`engine.live.
        SessionRecorder`'s ``processed``): no PNG read-back, warp or leak mask again, only
        its colorization. Later `request`s for the pair share this render.

        A pair of several day captures is not seeded: the recorder hands over the fused
        image alone, and the inspector needs its stability map and which captures went in,
        which `request` rebuilds from the store."""
        key = self.key(pair)
        if key in self._cache or key in self._waiting or len(pair.day_ids) > 1:
            return
        self._waiting[key] = []
        colorizer = self._colorizer

        def work():
            from engine.pair_views import views_from_result

            views = views_from_result(result, day, colorizer=colorizer())
            return views, _thumbnails(views)

        def fall_back(_msg: str) -> None:  # render it the usual way for whoever asked meanwhile
            for cb, fb in self._waiting.pop(key, []):
                self.request(pair, cb, fb)

        self._submit(pair, key, work, failed=fall_back)

    def _submit(
        self,
        pair: Pair,
        key: tuple,
        work: Callable[[], tuple],
        failed: Callable[[str], None] | None = None,
    ) -> None:
        generation = self._generation

        def finished(out) -> None:
            if generation != self._generation:  # cleared meanwhile: rendered with the old
                for cb, fb in self._waiting.pop(key, []):
                    self.request(pair, cb, fb)
                return
            views, thumbs = out
            self._hold(key, thumbs)
            self._cache[key] = views
            self._cache.move_to_end(key)
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
            for cb, _fb in self._waiting.pop(key, []):
                cb(views)

        def not_rendered(reason: str) -> None:
            for _cb, fb in self._waiting.pop(key, []):
                if fb is not None:
                    fb(reason)

        self._jobs.submit(
            work,
            done=finished,
            failed=failed or not_rendered,
            label=f"rendering pair #{pair.id}",
        )


def _thumbnails(views: PairViews) -> dict:
    """role -> BGRA thumbnail; on the job thread (5 area resizes of a 720p pair: ~100 ms)."""
    return _thumbnails_of({role: views.image(role) for role in THUMB_ROLES})


def _thumbnails_of(images: dict) -> dict:
    """role -> BGRA thumbnail of each image given (None: none); on the job thread."""
    from engine.overlay import as_display
    from engine.pair_views import thumbnail

    return {role: as_display(thumbnail(img, THUMB_WIDTH)) for role, img in images.items()
            if img is not None}  # fmt: skip
