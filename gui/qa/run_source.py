"""Where each side of the QA comparison takes its images from: the live model's render (the
Model dock's, `gui.pair_cache`) or a stored run of the pair (`engine.run_views`).

One chooser a side. The choice is of a model, not of one run: moving to another pair shows
the newest run of the same model there, or says plainly that the pair has none (never the
live render in its place, which would be another model's result under the same label). The
runs are listed and their images read on the job runner; a few runs' views are kept.
"""

from __future__ import annotations

import html
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QComboBox

from engine.run_views import RUN_ROLES, newest_run_of
from gui.bridge import follow

if TYPE_CHECKING:
    from engine.pair_views import PairViews
    from engine.run_views import RunSummary
    from engine.store import Pair, Store
    from gui.jobs import JobRunner

__all__ = ["LIVE", "RUN_VIEWS_KEPT", "RunSources", "SideImages", "tooltip_as_typed"]

LIVE = "Live model"
RUN_VIEWS_KEPT = 4
"""Runs whose views are kept (full resolution with the two sides' paint layouts: 7.3 MiB at
640x480, 49 MiB at 1920x1080, measured): the two compared and the pair just left, so K after
J shows them again without reading the PNGs back; bounded, as the app runs all night."""


@dataclass(frozen=True)
class SideImages:
    """What one side shows: ``views`` (None: nothing yet, ``placeholder`` says why) and the
    source named in its caption (" · run #12 (model)", " · live model", or "")."""

    views: PairViews | None
    source: str
    placeholder: str = ""
    run: RunSummary | None = None
    """The run shown, when its images decide the role (`engine.run_views.RUN_ROLES`)."""


class RunSources(QObject):
    """The two sources choosers (``combo["a"]``, ``combo["b"]``) and the runs' views.

    ``changed`` fires (GUI thread) when a side's images may differ: a choice, a pair's runs
    listed, a run's views read."""

    changed = Signal()

    def __init__(self, store: Store, jobs: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store, self._jobs = store, jobs
        self.combo: dict[str, QComboBox] = {}
        self._wanted: dict[str, tuple[str, str] | None] = {"a": None, "b": None}
        """side -> (model sha256, model name) chosen, None for the live model: kept from pair
        to pair."""
        self._pair: Pair | None = None
        self._runs: list[RunSummary] | None = None
        """The pair's runs, newest first (None: being listed)."""
        self._list_gen = 0
        self._unlisted = ""
        """Why the pair's runs could not be listed ("" when they were)."""
        self._views: OrderedDict[int, PairViews] = OrderedDict()
        self._loading: set[int] = set()
        self._failed: dict[int, str] = {}
        self._views_gen = 0
        """Bumped when ids may name other runs: a deleted session's pair and run ids are
        given again to the next ones recorded (SQLite reuses the highest rowids)."""
        self._filling = False
        for side in ("a", "b"):
            combo = QComboBox()
            combo.setSizeAdjustPolicy(
                QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
            )
            combo.setMinimumContentsLength(14)
            combo.currentIndexChanged.connect(lambda _i, s=side: self._chosen(s))
            self.combo[side] = combo
        follow(store.events.session_deleted, lambda *_: self._forget_runs(), self)
        self._fill()

    def _forget_runs(self) -> None:
        """A session was deleted: its runs' ids go to the next runs recorded, so no view read
        under one is shown for another (nor a listing for a pair whose id comes back)."""
        self._views.clear()
        self._loading.clear()
        self._failed.clear()
        self._views_gen += 1
        if self._pair is not None:  # its runs listed again (it may have gone with the session)
            self._runs, self._unlisted = None, ""
            self._fill()
            self.list_runs()
        self.changed.emit()

    # -- the pair ----------------------------------------------------------------------------
    def show_pair(self, pair: Pair | None) -> None:
        """The pair now selected: its runs are listed (job runner); the choosers keep their
        model."""
        if (
            pair is not None
            and self._pair is not None
            and (pair.id, pair.created_at) == (self._pair.id, self._pair.created_at)
        ):  # (by id alone: a deleted session's pair ids are given to the next pairs)
            self._pair = pair  # the same pair listed again (a verdict): its runs stand
            return
        self._pair, self._runs, self._unlisted = pair, None, ""
        self._failed.clear()  # a run that could not be read is tried again when come back to
        self._fill()
        if pair is not None:
            self.list_runs()

    def list_runs(self) -> None:
        """List the selected pair's runs again (a run was recorded for it)."""
        pair = self._pair
        if pair is None:
            return
        self._list_gen += 1
        gen, store = self._list_gen, self._store

        def listed(runs, why: str = "") -> None:
            if gen == self._list_gen and self._pair is not None and self._pair.id == pair.id:
                self._runs, self._unlisted = runs, why
                self._fill()
                self.changed.emit()

        from engine.run_views import pair_runs

        self._jobs.submit(pair_runs, store, pair.id, done=listed,
                          failed=lambda why: listed([], why),  # the status bar says it too
                          label=f"listing the runs of pair #{pair.id}")  # fmt: skip

    @property
    def pair_id(self) -> int | None:
        return None if self._pair is None else self._pair.id

    @property
    def runs(self) -> list[RunSummary] | None:
        """The selected pair's runs, newest first (None while they are listed)."""
        return self._runs

    # -- the choosers ------------------------------------------------------------------------
    def _fill(self) -> None:
        """Each chooser: the live model, the pair's runs, and the model wanted when the pair
        has no run of it; the wanted model's newest run selected."""
        self._filling = True
        try:
            for side, combo in self.combo.items():
                keep = combo.currentData()
                combo.clear()
                combo.addItem(LIVE, ("live",))
                for r in self._runs or ():
                    # the whole line in the list (sha, date, metrics); the box shows its start
                    combo.addItem(r.describe(), ("run", r.id, r.model_sha256, r.model_name))
                wanted = self._wanted[side]
                index = 0
                if wanted is not None:
                    sha, name = wanted
                    kept = keep if keep and keep[0] == "run" and keep[2] == sha else None
                    run = newest_run_of(self._runs or [], sha)
                    if kept is not None and _index_of(combo, kept) >= 0:
                        index = _index_of(combo, kept)  # the run chosen on this pair stays
                    elif run is not None:
                        index = _index_of(combo, ("run", run.id, sha, name))
                    else:
                        pending = self._runs is None and self._pair is not None
                        text = f"{name} · {'…' if pending else 'no run'}"
                        combo.addItem(text, ("missing", sha, name))
                        index = combo.count() - 1
                combo.setCurrentIndex(index)
                if self._pair is None or self._runs is not None:  # (kept while listing)
                    combo.setEnabled(combo.count() > 1)  # a pair without runs: nothing to choose
                self._describe(side)
                combo.view().setMinimumWidth(combo.view().sizeHintForColumn(0) + 24)
        finally:
            self._filling = False

    def _describe(self, side: str) -> None:
        """The chooser's tooltip: its choice whole, or that the pair has no run to choose."""
        combo = self.combo[side]
        data = combo.currentData() or ("live",)
        if self._pair is not None and self._runs == []:
            tip = (f"Pair #{self._pair.id} has no stored run: `nightlab reprocess` or the "
                   "Sessions dock's “Process pairs without a run” makes them")  # fmt: skip
        elif data[0] == "live":
            tip = "The pair colorized now by the Model dock's model"
        elif data[0] == "missing":
            tip = f"This pair has no run of {data[2]} ({data[1][:8]})"
        else:
            tip = combo.currentText()
        combo.setToolTip(tooltip_as_typed(f"Side {side.upper()}: {tip}"))

    def _chosen(self, side: str) -> None:
        if self._filling:
            return
        data = self.combo[side].currentData()
        if data is None:
            return
        self._describe(side)
        if data[0] == "live":
            self._wanted[side] = None
        elif data[0] == "run":
            self._wanted[side] = (data[2], data[3])
        self.changed.emit()

    def choose(self, side: str, model_sha256: str | None) -> bool:
        """Choose the newest run of the model ``model_sha256`` (None: the live model) for
        ``side``, as picking it in the chooser does; False when the pair has no run of it."""
        combo = self.combo[side]
        for i in range(combo.count()):
            data = combo.itemData(i)
            if (model_sha256 is None and data[0] == "live") or (
                data[0] == "run" and data[2] == model_sha256
            ):
                combo.setCurrentIndex(i)
                return True
        return False

    def wanted(self, side: str) -> tuple[str, str] | None:
        """(model sha256, name) ``side`` shows runs of, None for the live model."""
        return self._wanted[side]

    # -- images ------------------------------------------------------------------------------
    def side(self, side: str, role: str, live: PairViews | None) -> SideImages:
        """What ``side`` shows of ``role`` now; starts reading a run's views if needed."""
        data = self.combo[side].currentData() or ("live",)
        pair = self._pair
        if data[0] == "live" or pair is None or (role not in RUN_ROLES and live is not None):
            waiting = (
                "Select a pair"
                if pair is None
                else f"Rendering pair #{pair.id} with the live model…"
                if pair.aligned_ok
                else f"Pair #{pair.id} did not align: no view to render"
            )
            return SideImages(live, " · live model" if role in RUN_ROLES else "", waiting)
        if data[0] == "missing":
            if self._runs is None:
                return SideImages(None, "", f"Listing the runs of pair #{pair.id}…")
            sha, name = data[1], data[2]
            if self._unlisted:
                return SideImages(None, "", f"Runs of pair #{pair.id} unreadable: {self._unlisted}")
            return SideImages(
                None,
                "",
                f"Pair #{pair.id} has no run of {name} ({sha[:8]}).\n"
                f"Choose “{LIVE}” or another run in the {side.upper()} chooser.",
            )
        run = next((r for r in self._runs or () if r.id == data[1]), None)
        views = self._run_views(pair, data[1])
        if views is None:
            why = self._failed.get(data[1])
            text = f"Run #{data[1]} cannot be shown: {why}" if why else f"Reading run #{data[1]}…"
            return SideImages(None, "", text, run)
        if role not in RUN_ROLES:
            return SideImages(views, "", run=None)
        return SideImages(views, f" · run #{data[1]} ({data[3]})", run=run)

    def _run_views(self, pair: Pair, run_id: int) -> PairViews | None:
        hit = self._views.get(run_id)
        if hit is not None:
            self._views.move_to_end(run_id)
            return hit
        if run_id in self._loading or run_id in self._failed:
            return None
        self._loading.add(run_id)
        store, gen = self._store, self._views_gen

        def work():
            from engine.run_views import load_run_views

            views = load_run_views(store, pair, run_id)
            views.display("colorized")  # the paint layout of what B shows first, off the GUI
            return views

        def done(views) -> None:
            if gen != self._views_gen:
                return  # read before a session was deleted: the id may be another run's now
            self._loading.discard(run_id)
            self._views[run_id] = views
            while len(self._views) > RUN_VIEWS_KEPT:
                self._views.popitem(last=False)
            self.changed.emit()

        def failed(reason: str) -> None:
            if gen != self._views_gen:
                return
            self._loading.discard(run_id)
            self._failed[run_id] = reason
            self.changed.emit()

        self._jobs.submit(work, done=done, failed=failed, label=f"reading run #{run_id}")
        return None

    def verdict_run(self, roles: dict[str, str]) -> int | tuple[str, str] | None:
        """The run a verdict given now is on: that of the side whose result is judged, B
        (colorized by default) unless B shows only the pair's own night frame or reference,
        or a run the pair does not have or whose images could not be read, or the live
        render's aligned reference or leak mask (no model's); then A. None when that side
        shows the live model's colorization, or neither shows a result: a run on A beside the
        live model's colorized B is the baseline B is compared with, not what is judged (the
        verdict named A's run). A model whose run is not listed yet is given as
        (sha256, name): the verdict's job finds the pair's newest run of it."""
        for side in ("b", "a"):
            if roles[side] not in RUN_ROLES:
                continue
            data = self.combo[side].currentData() or ("live",)
            if data[0] == "run":
                if int(data[1]) in self._failed:
                    continue  # its images could not be read: the side shows only why
                return int(data[1])
            if data[0] == "missing":
                if self._runs is None:
                    return (data[1], data[2])
                continue  # nothing shows on this side: the other side's result is judged
            if roles[side] in ("colorized", "masked"):
                return None  # the live model's colorization is the result judged
            # (the live aligned reference or leak mask is the pair's stored registration's,
            # no model's: the other side's result is judged)
        return None


def tooltip_as_typed(text: str) -> str:
    """``text`` as a tooltip shows it as written: Qt takes a tooltip with a tag in its first
    line as markup, and a run's line holds its model's name from the card (someone else's
    file: "<i>gray</i>" read "gray" in italics)."""
    return f"<p style='white-space:pre-wrap'>{html.escape(text, quote=False)}</p>"


def _index_of(combo: QComboBox, data: tuple) -> int:
    """The item whose data is ``data`` (-1: none). ``QComboBox.findData`` does not match a
    Python tuple held in an item by value."""
    return next((i for i in range(combo.count()) if combo.itemData(i) == data), -1)
