"""QA review: a grid of pairs with thumbnails, filter and sort, side-by-side or wipe
comparison with synchronised zoom, and verdicts from the keyboard (P / F / R).

The list is a `engine.store.PairQuery` (FiftyOne-style view: filter by verdict, tag and
metric, sort by a metric); every store read and write runs on the job runner.
"""

from __future__ import annotations

import html
from collections import deque
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QKeySequence, QShortcut, QValidator
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QTableWidget,
    QToolButton,
    QWidget,
)
from superqt import QLabeledDoubleSlider

from engine.overlay import as_display
from engine.pair_views import wipe
from gui.bridge import follow
from gui.live.canvas import ImageCanvas
from gui.pair_cache import THUMB_ROLES, THUMB_WIDTH
from gui.panes import fill_with_split, pane
from gui.qa.grid_layout import GridLayout
from gui.qa.grid_thumbs import GridThumbs, Source, source_text, thumbs_source
from gui.qa.run_source import RunSources, SideImages, tooltip_as_typed
from gui.table_fill import bulk_fill, set_cell, set_icon

if TYPE_CHECKING:
    from engine.app_state import AppState
    from engine.pair_views import PairViews
    from engine.store import Pair, PairPage, Store
    from gui.jobs import JobRunner
    from gui.pair_cache import PairCache

__all__ = ["QAPanel"]

THUMBS = THUMB_ROLES
COLUMNS = ("Pair", "Verdict", *[t.capitalize() for t in THUMBS], "SSIM", "Leak %", "Score", "Tags")
ROLES = {
    "night": "Night",
    "reference": "Day reference (as taken)",
    "aligned": "Aligned reference",
    "colorized": "Colorized",
    "masked": "Masked colorized",
    "mask": "Leak mask",
}
SORTS = {
    "Newest": "-id",
    "Oldest": "id",
    "Leak area ↓": "-leak_area_pct",
    "Leak area ↑": "leak_area_pct",
    "SSIM ↑": "ssim_mean",
    "SSIM ↓": "-ssim_mean",
    "Score ↑": "score",
    "Score ↓": "-score",
}
# a click on a column header sorts by it; a second click reverses (the first order is the
# one QA usually wants: worst first)
HEADER_SORTS = {
    "Pair": ("Newest", "Oldest"),
    "SSIM": ("SSIM ↑", "SSIM ↓"),
    "Leak %": ("Leak area ↓", "Leak area ↑"),
    "Score": ("Score ↑", "Score ↓"),
}
VERDICT_COLOURS = {"pass": "#3fb950", "fail": "#f85149", "review": "#d29922"}
DISABLED_TEXT = "#a0a4ab"
THUMB = QSize(THUMB_WIDTH, THUMB_WIDTH * 3 // 4)
PAGE = 200
"""Pairs listed at once (each row asks for thumbnails, which the pair cache keeps for
`THUMB_PAGES_KEPT` pages); the count says which of how many, and the page buttons (or J past
the last row, K before the first) turn the page."""
THUMB_PAGES_KEPT = 2.25
"""Pages whose thumbnails the pair cache keeps: the page shown, the one paged from, and a
quarter for the pairs a night's run records meanwhile (~5 minutes at 10 a minute): at 200 a
page, 450 pairs of `gui.pair_cache.THUMB_BYTES`, 59 MiB. Before, 256 pairs (a page and a bit):
▶ then ◀ rendered most of the first page again (~100 ms a pair, ~20 s of job runner)."""
THUMBS_IN_FLIGHT = 2
"""Pairs whose thumbnails are asked of the job runner at once; the rest of the page waits
here, not in the runner's queue (first come, first served), so a listing, the selected
pair's views or a verdict asked for meanwhile wait for at most these renders. Before, a page
asked for its 200 at once: a sort, a page turn or a click on another row then waited for
all of them (tens of seconds at 640x480), and a page left behind still rendered."""
KEYS_HINT = "P pass · F fail · R review · J/K next/prev · +/−/0 zoom · W wipe · Esc: note → list"


class QAPanel(QWidget):
    message = Signal(str)
    selected = Signal(object)
    """The `Pair` now under review (GUI thread)."""
    listed = Signal(object)
    """The grid shows a new listing: its `engine.store.PairPage` (None: no session open)."""

    def __init__(
        self,
        state: AppState,
        store: Store,
        jobs: JobRunner,
        cache: PairCache,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._state, self._store, self._jobs, self._cache = state, store, jobs, cache
        cache.keep_thumbs(int(THUMB_PAGES_KEPT * PAGE))
        self._pairs: list[Pair] = []
        self._start: tuple | None = None
        """Where the page starts (`PairQuery.start`): at the first pair listed, so pairs
        recorded or judged meanwhile do not shift it; None on the first page (the newest
        pairs come in at its top)."""
        self._offset = 0
        """A page asked for by its position (the page before): once, then by its start."""
        self._page: PairPage | None = None
        self._select_on_page: int | None = None
        """The row to select when the page being turned to arrives (-1: its last)."""
        self._thumbs_wanted: deque[Pair] = deque()
        """The listed page's pairs still without thumbnails, in row order (`_ask_thumbs`)."""
        self._thumbs_asked = 0
        self._rows_shown: list[tuple] = []
        """What each row shows: (its `Pair`, the thumbnails' source, thumbnails set?): a
        refill skips rows that show the same (a verdict changes one row of 200; a refill
        compared all 2,200 cells, ~30 ms on the GUI thread at every verdict and every pair
        recorded)."""
        self._grid_thumbs = GridThumbs(cache, THUMB)
        """The listed pairs' thumbnail icons (a refill sets them again, not made again)."""
        self._thumb_source: Source = None
        """Whose results the thumbnails show (`gui.qa.grid_thumbs.thumbs_source`)."""
        self._stale = True
        """The list changed while the panel was hidden: it is listed again when shown."""
        self._views: PairViews | None = None
        self._query_gen = 0
        self._shown_gen = 0
        """The listing the grid shows (`_query_gen` when it shows the last one asked for)."""
        self._wipe_busy = False
        self._wipe_wanted: tuple | None = None
        self._info_text = ""
        """The selected pair's line (what `info` shows, before any note on the views)."""
        self._kept_notes: dict[int, tuple[str, str]] = {}
        """pair id -> (note, why refused or ""): notes typed and not stored yet, a pair's
        until it is judged with it: left when the judge moved on without a verdict, or typed
        for a verdict the store refused (the judge has often moved on when the refusal
        comes). One comes back in the note field when its pair is selected."""
        self._note_of: int | None = None
        """The pair the note field's text is for: it goes back to `_kept_notes`, as edited,
        when the selection leaves that pair (a note never rides on to another pair's
        verdict)."""
        self._kept_tags: dict[int, str] = {}
        """pair id -> tags typed in the field and not added (no Enter) when the judge moved
        on: they come back when the pair is selected, and never go to another pair."""
        self._tags_of: int | None = None
        """The pair the tags field's text is for (the selected one)."""
        self._judged_stay: int | None = None
        """The pair just judged where the list could not move on (the last one): a second
        verdict key on it is a double press, not a re-judgement, until the operator moves
        away and back or clicks it."""

        # filter bar
        self.verdict = QComboBox()
        self.verdict.addItem("All verdicts", None)
        self.verdict.addItem("Not judged", "none")
        for v in ("pass", "fail", "review"):
            self.verdict.addItem(v.capitalize(), v)
        self.verdict.setToolTip("Only pairs with this verdict (Not judged: no verdict yet)")
        self.tag = QLineEdit()
        self.tag.setPlaceholderText("filter by tag")
        self.tag.setToolTip("Only pairs with this tag (Enter)")
        self.tag.setMaximumWidth(110)
        self.min_ssim = QDoubleSpinBox()
        self.min_ssim.setRange(-1.0, 1.0)
        self.min_ssim.setValue(-1.0)
        self.min_ssim.setSingleStep(0.05)
        self.min_ssim.setPrefix("SSIM ≥ ")
        self.min_ssim.setSpecialValueText("any SSIM")
        self.min_ssim.setToolTip(
            "Only pairs whose night / aligned reference SSIM is at least this (any SSIM: −1)"
        )
        self.max_leak = _AtMostSpinBox("leak ≤ ", " %", "any leak")
        self.max_leak.setRange(0.0, 100.0)
        self.max_leak.setValue(100.0)
        self.max_leak.setToolTip("Only pairs whose leak area is at most this (any leak: 100 %)")
        self.sort = QComboBox()
        self.sort.addItems(list(SORTS))
        self.sort.setToolTip("Order of the pairs (or click a column's header)")
        bar = QHBoxLayout()
        for w in (self.verdict, self.tag, self.min_ssim, self.max_leak, QLabel("Sort"), self.sort):
            bar.addWidget(w)
        bar.addStretch(1)
        self.rows_button = QToolButton()  # its action: `grid_layout.act_compact`, below
        self.rows_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the keys stay in the list
        bar.addWidget(self.rows_button)
        self.count = QLabel()
        self.prev_page = QToolButton(text="◀", toolTip=f"The {PAGE} pairs before (K on the first)")
        self.next_page = QToolButton(text="▶", toolTip=f"The next {PAGE} pairs (J on the last)")
        self.prev_page.clicked.connect(lambda: self.turn_page(-1))
        self.next_page.clicked.connect(lambda: self.turn_page(+1))
        for w in (self.prev_page, self.count, self.next_page):
            bar.addWidget(w)
        for sig in (
            self.verdict.currentIndexChanged,
            self.sort.currentIndexChanged,
            self.min_ssim.valueChanged,
            self.max_leak.valueChanged,
            self.tag.editingFinished,
        ):
            sig.connect(lambda *_: self.first_page())

        # the grid
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().hide()
        hh = self.table.horizontalHeader()
        hh.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        hh.setStretchLastSection(True)
        for c in range(2, 2 + len(THUMBS)):
            hh.setSectionResizeMode(c, QHeaderView.ResizeMode.Fixed)  # sized by `grid_layout`
        self.table.itemSelectionChanged.connect(self._on_select)
        # a click on the row is deliberate: the pair may be judged again
        self.table.pressed.connect(lambda _index: self._forget_judged())
        hh.setSectionsClickable(True)
        hh.sectionClicked.connect(self._sort_by_column)
        for c, name in enumerate(COLUMNS):
            if name in HEADER_SORTS:
                self.table.horizontalHeaderItem(c).setToolTip(
                    f"Sort by {name.lower()} (click again to reverse)"
                )
        self.table.setToolTip(KEYS_HINT)
        for c in range(2, 2 + len(THUMBS)):  # which results they are (changes with A / B)
            self.table.horizontalHeaderItem(c).setToolTip(f"Thumbnails: {source_text(None)}")

        # the comparison
        self.mode = QComboBox()
        self.mode.addItems(["Side by side", "Wipe"])
        self.mode.setToolTip("A and B side by side, or B over A with a wipe (W)")
        self.role_a = QComboBox()
        self.role_b = QComboBox()
        for key, text in ROLES.items():
            self.role_a.addItem(text, key)
            self.role_b.addItem(text, key)
        self.role_a.setCurrentIndex(self.role_a.findData("night"))
        self.role_b.setCurrentIndex(self.role_b.findData("colorized"))
        self.role_a.setToolTip("Which image of the pair side A shows")
        self.role_b.setToolTip("Which image of the pair side B shows")
        # each side's images: the live model's render or a stored run of the pair
        self.sources = RunSources(store, jobs, self)
        self.source_a, self.source_b = self.sources.combo["a"], self.sources.combo["b"]
        self.sources.changed.connect(self._show_views)
        self.sources.changed.connect(self._follow_thumb_source)
        self.wipe_pos = QLabeledDoubleSlider(Qt.Orientation.Horizontal)
        self.wipe_pos.setRange(0.0, 1.0)
        self.wipe_pos.setValue(0.5)
        self.wipe_pos.setDecimals(2)
        self.wipe_pos.setMaximumWidth(180)
        self.wipe_pos.setToolTip("Wipe position")
        self.wipe_pos.setEnabled(False)  # side by side first: the wipe's position waits for W
        self.wipe_label = QLabel("Wipe")  # what the bare number is, greyed with it
        self.wipe_label.setBuddy(self.wipe_pos)
        self.wipe_label.setEnabled(False)
        for sig in (
            self.mode.currentIndexChanged,
            self.role_a.currentIndexChanged,
            self.role_b.currentIndexChanged,
            self.wipe_pos.valueChanged,
        ):
            sig.connect(lambda *_: self._show_views())
        for combo in (self.role_a, self.role_b):
            combo.currentIndexChanged.connect(lambda *_: self._follow_thumb_source())
        # after `_show_views` has shown the other comparison, at its own size
        self.mode.currentIndexChanged.connect(self._carry_view)
        cmp_bar = QHBoxLayout()
        for w in (
            self.mode,
            QLabel("A"),
            self.source_a,
            self.role_a,
            QLabel("B"),
            self.source_b,
            self.role_b,
            self.wipe_label,
            self.wipe_pos,
        ):
            cmp_bar.addWidget(w)
        cmp_bar.addStretch(1)
        self.view_a = ImageCanvas("Select a pair")
        self.view_b = ImageCanvas("")
        self.view_b.link(self.view_a)
        self.view_wipe = ImageCanvas("Select a pair")
        # not linked to the side-by-side views (whose size it does not share): W carries the
        # zoom over to the other comparison (`_carry_view`)
        side = QSplitter(Qt.Orientation.Horizontal)
        side.addWidget(self.view_a)
        side.addWidget(self.view_b)
        self.stack = QStackedWidget()
        self.stack.addWidget(side)
        self.stack.addWidget(self.view_wipe)

        # verdicts
        self.note = QLineEdit()
        self.note.setPlaceholderText("note for the verdict (optional)")
        self.tags_edit = QLineEdit()
        self.tags_edit.setPlaceholderText("add tags, comma-separated, Enter")
        # wide enough to read how to add several (at 1366 px it read "add tags, comma...")
        placeholder = self.tags_edit.fontMetrics().horizontalAdvance(
            self.tags_edit.placeholderText()
        )
        self.tags_edit.setMinimumWidth(placeholder + 16)
        self.tags_edit.setMaximumWidth(max(220, placeholder + 16))
        self.tags_edit.returnPressed.connect(self._add_tags)
        self.tags_edit.textEdited.connect(lambda _t: self._tags_refused(""))
        self.note.textEdited.connect(lambda _t: self._note_typed())
        self._note_refused("")  # the field's tooltip
        self._tags_refused("")  # the field's tooltip
        for edit in (self.note, self.tags_edit):
            # type a note, Esc, then P/F/R: back to the list without reaching for the mouse
            esc = QShortcut(QKeySequence("Esc"), edit)
            esc.setContext(Qt.ShortcutContext.WidgetShortcut)
            esc.activated.connect(self.table.setFocus)
        self.info = QLabel("")
        # the pair's line (its tags, a failed alignment's reason) is cut at its end where the
        # row is short of room, whole in its tooltip: a pair's tags made the window wider
        # than a 1366 px screen (1658 px with five tags)
        self.info.setMinimumWidth(120)
        self.verdict_buttons: dict[str, QPushButton] = {}
        vbar = QHBoxLayout()
        for verdict, key in (("pass", "P"), ("fail", "F"), ("review", "R")):
            b = QPushButton(f"{verdict.capitalize()} ({key})")
            b.setStyleSheet(  # greyed when disabled (a colour for every state hid that)
                f"QPushButton {{ color: {VERDICT_COLOURS[verdict]}; font-weight: 600; }}"
                f"QPushButton:disabled {{ color: {DISABLED_TEXT}; }}"
            )
            b.setToolTip(f"Verdict '{verdict}' for the selected pair, then the next one ({key})")
            b.clicked.connect(lambda _=False, v=verdict: self.judge(v))
            # a click leaves the keyboard in the list: arrows and P/F/R go on working
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            vbar.addWidget(b)
            self.verdict_buttons[verdict] = b
            # held down, a key repeats: one press is one verdict (the rest are ignored)
            self._shortcut(key, lambda v=verdict: self.judge(v), repeat=False)
        self.judged_on = QLabel("on: live model")
        self.judged_on.setObjectName("qa_judged_on")
        self.judged_on.setStyleSheet("color: #8a909a;")
        self.judged_on.setTextFormat(Qt.TextFormat.PlainText)  # a model's name as its card has it
        vbar.addWidget(self.judged_on)
        vbar.addWidget(self.note, 1)
        vbar.addWidget(self.tags_edit)
        # the keyboard works wherever the focus is in the panel (a text field keeps its
        # letters: Qt gives typed text to the field before a one-key shortcut)
        # J/K, not the arrows: those belong to the filter bar's combo and spin boxes
        self._shortcut("J", lambda: self.step(+1))
        self._shortcut("K", lambda: self.step(-1))
        for key in ("+", "="):
            self._shortcut(key, lambda: self._zoom(1.25))
        self._shortcut("-", lambda: self._zoom(0.8))
        self._shortcut("0", self._fit)
        self._shortcut("W", lambda: self.mode.setCurrentIndex(1 - self.mode.currentIndex()))
        self.keys = QLabel(KEYS_HINT)
        self.keys.setObjectName("qa_keys")
        self.keys.setStyleSheet("color: #8a909a;")

        info_row = QHBoxLayout()
        info_row.addWidget(self.info, 1)
        info_row.addWidget(self.keys)
        right = pane(cmp_bar, self.stack, info_row, vbar, stretch=self.stack)
        left = pane(bar, self.table, stretch=self.table)
        self.split = fill_with_split(self, Qt.Orientation.Vertical, (left, right), (330, 470))
        self.grid_layout = GridLayout(
            self.table, self.split, left, range(2, 2 + len(THUMBS)), THUMB
        )
        self.rows_button.setDefaultAction(self.grid_layout.act_compact)
        # a long count ("pairs 1,201–1,400 of 3,000 · ...") beside the button is cut at the bar's
        # end where the bar is short of room: it never makes the window wider than the screen
        self.count.setMinimumWidth(160)

        ev = store.events
        follow(ev.pair_added, lambda *_: self.refresh(), self)
        follow(ev.pair_changed, lambda *_: self.refresh(), self)
        follow(ev.run_added, self._run_added, self)
        # another session: its first page (a page start is a place in one session's list)
        follow(state.events.session, lambda *_: self.first_page(), self)
        self.refresh()

    # -- the list --------------------------------------------------------------------------
    @property
    def pairs(self) -> tuple[Pair, ...]:
        """The pairs the grid lists, row by row (the page shown)."""
        return tuple(self._pairs)

    @property
    def listing(self) -> bool:
        """A listing asked for (a sort, a filter, a page turned, a pair recorded) is not in
        the grid yet: what it shows is about to change."""
        return self._shown_gen != self._query_gen

    def renders_changed(self) -> None:
        """The pair cache was cleared (another model colorizes): the grid's thumbnails and
        the selected pair's views are made again, and nothing made before shows meanwhile."""
        self._grid_thumbs.forget_live()  # stored runs' thumbnails stand: no model made them
        self._rows_shown.clear()  # every row set again, without its old thumbnails
        self._views = None
        for view in (self.view_a, self.view_b, self.view_wipe):
            view.set_image(None)
        self.refresh()

    def query(self):
        from engine.store import PairQuery

        s = self._state.session
        ranges = {}
        if self.min_ssim.value() > -1.0:
            ranges["ssim_mean"] = (self.min_ssim.value(), None)
        if self.max_leak.value() < 100.0:
            ranges["leak_area_pct"] = (None, self.max_leak.value())
        return PairQuery(
            session_id=None if s is None else s.id,
            verdict=self.verdict.currentData(),
            tag=self.tag.text().strip() or None,
            ranges=ranges,
            sort=SORTS[self.sort.currentText()],
            limit=PAGE,
            offset=self._offset if self._start is None else 0,
            start=self._start,
        )

    def refresh(self) -> None:
        """List the pairs again (on the job runner); while the panel is hidden (another tab is
        shown) only remember to, until it is shown: a night's run records a pair every few
        minutes, and each refill is work on the GUI thread that nobody would see."""
        if not self.isVisible():
            self._stale = True
            return
        self._stale = False
        self._query_gen += 1
        gen, q = self._query_gen, self.query()
        if self._state.session is None:
            self._fill(None, gen)
            self.count.setText("no session open")
            self.count.setToolTip("Open a session in the Sessions dock to review its pairs")
            return
        store = self._store

        def listing():
            # the counts are of every match, not of the page: a night of 3,000 pairs says so
            from dataclasses import replace

            page = store.pair_page(q)
            todo = (
                page.total
                if q.verdict == "none"
                else store.count_pairs(replace(q, verdict="none", start=None))
                if q.verdict is None
                else 0
            )
            return page, todo

        self._jobs.submit(listing, done=lambda out: self._fill(*out[:1], gen, out[1]),
                          label="listing pairs")  # fmt: skip

    def first_page(self) -> None:
        """List again from the first page (done when a filter, the sort or the session
        changes)."""
        self._start, self._offset, self._select_on_page = None, 0, None
        # the page listed is of the old order: no page is turned from it (▶, J on its last
        # row) until the new one is listed
        self._page = None
        self.prev_page.setEnabled(False)
        self.next_page.setEnabled(False)
        self.refresh()

    def turn_page(self, delta: int, select: str | None = None) -> bool:
        """List the next (``+1``) or previous (``-1``) page; False when there is none.
        ``select``: the row to select there ("first" / "last"; going back, "last" is the
        pair just before this page), else the first."""
        page = self._page
        if page is None or (page.position == 0 if delta < 0 else not page.has_next):
            return False
        sort = SORTS[self.sort.currentText()]
        row = 0
        if delta > 0:
            self._start, self._offset = page.next_start(sort), 0
            row = -1 if select == "last" else 0
        else:
            self._start, self._offset = None, max(0, page.position - PAGE)
            if select == "last":  # the pair just before this page: the last row only when
                # the page before is a whole page (pairs before it may have left meanwhile)
                row = page.position - 1 - self._offset
        self._select_on_page = row
        self.refresh()
        return True

    def showEvent(self, event) -> None:  # noqa: N802 - Qt API
        super().showEvent(event)
        self.grid_layout.size_split()  # once, at the first show: the panel's height is known
        if self._stale:
            self.refresh()

    def _fill(self, page: PairPage | None, gen: int, todo: int = 0) -> None:
        if gen != self._query_gen:
            return  # a newer query is on its way
        self._shown_gen = gen
        keep = self.current()
        self._page = page
        pairs = page.pairs if page is not None else []
        self._pairs = pairs
        if page is not None and page.position > 0:  # stays here as the night goes on
            self._start, self._offset = pairs[0].sort_value(SORTS[self.sort.currentText()]), 0
        elif page is not None:
            self._start, self._offset = None, 0
        total = page.total if page is not None else 0
        shown = (
            f"pairs {page.position + 1:,}–{page.position + len(pairs):,} of {total:,}"
            if page is not None and total > len(pairs)
            else f"{total:,} pair{'s' if total != 1 else ''}"
        )
        self.count.setText(f"{shown} · {todo:,} not judged" if pairs else "no pairs match")
        self.count.setToolTip(self.count.text())  # whole, where a laptop's bar cuts it
        self.prev_page.setEnabled(page is not None and page.position > 0)
        self.next_page.setEnabled(page is not None and page.has_next)
        select, self._select_on_page = self._select_on_page, None
        self._thumbs_wanted.clear()  # a page left behind renders nothing more
        self.table.blockSignals(True)
        with bulk_fill(self.table):  # refilled at every pair recorded: linear, not N x N
            self.table.setRowCount(len(pairs))
            del self._rows_shown[len(pairs) :]
            for r, p in enumerate(pairs):
                self._fill_row(r, p)
        self.table.blockSignals(False)
        self._grid_thumbs.keep_only(pairs, self._thumb_source)
        self._ask_thumbs()
        row = next((i for i, p in enumerate(pairs) if keep and p.id == keep.id), None)
        if select is not None and pairs:  # a page turned: the row asked for, or its last
            row = len(pairs) - 1 if select < 0 else min(select, len(pairs) - 1)
        elif row is None and keep is not None and keep.id == self._judged_stay:
            # the last pair, just judged, left the list (e.g. "Not judged"): no other pair
            # slips under the operator's next key press; J selects the first one
            row = -1
            self.table.clearSelection()
            self.table.setCurrentCell(-1, -1)
        elif row is None:
            row = 0 if pairs else -1
        if row >= 0:
            self.table.selectRow(row)
        self._on_select()
        self.listed.emit(page)

    def _fill_row(self, r: int, p: Pair) -> None:
        def cell(c: int, text: str, colour: str | None = None, icon: QIcon | None = None) -> None:
            white = Qt.GlobalColor.white if colour else None
            set_cell(self.table, r, c, text, foreground=white,
                     background=_qcolor(colour) if colour else None, icon=icon)  # fmt: skip

        # the pair's own thumbnails from the source shown or none, set once: a reused row
        # shows nothing of the pair (nor the source) it showed before, and an unchanged row
        # is not touched
        source = self._thumb_source
        thumbs = self._grid_thumbs.cells(p, source)
        if thumbs is None and p.aligned_ok:  # kept for every pair of a page: no render again
            self._thumbs_wanted.append(p)
        shown = (p, source, thumbs is not None)
        if r < len(self._rows_shown) and self._rows_shown[r] == shown:
            return
        cell(0, f"#{p.id}")
        cell(1, p.verdict or "—", VERDICT_COLOURS.get(p.verdict or ""))
        for i in range(len(THUMBS)):
            icon, tip = thumbs[i] if thumbs else (None, "")
            set_cell(self.table, r, 2 + i, "", icon=icon, tooltip=tip)
        fmt = lambda v, f: "—" if v is None else format(v, f)  # noqa: E731
        cell(2 + len(THUMBS), fmt(p.ssim_mean, ".3f"))
        cell(3 + len(THUMBS), fmt(p.leak_area_pct, ".1f"))
        cell(4 + len(THUMBS), fmt(p.score, ".3f") if p.aligned_ok else f"failed: {p.reason}")
        cell(5 + len(THUMBS), ", ".join(p.tags))
        if r < len(self._rows_shown):
            self._rows_shown[r] = shown
        else:
            self._rows_shown.append(shown)

    def _ask_thumbs(self) -> None:
        """Ask for the next rows' thumbnails from the source shown, `THUMBS_IN_FLIGHT` pairs
        at a time (a stored run's: its PNGs read on the job runner, no model needed)."""
        source = self._thumb_source
        while self._thumbs_asked < THUMBS_IN_FLIGHT and self._thumbs_wanted:
            p = self._thumbs_wanted.popleft()
            if self._grid_thumbs.held(p, source):  # made meanwhile (the selected pair's views)
                self._show_thumbs(p.id)
                continue
            self._thumbs_asked += 1
            if source is None:
                self._cache.request(
                    p,
                    lambda views, pid=p.id: self._thumb_answered(pid, views),
                    lambda _reason: self._thumb_answered(None, None),
                )
            else:
                self._cache.request_run_thumbs(
                    p,
                    source[0],
                    lambda _out, pid=p.id: self._thumb_answered(pid, None),
                    lambda _reason: self._thumb_answered(None, None),
                )

    def _thumb_answered(self, pair_id: int | None, views: PairViews | None) -> None:
        """A row's thumbnails are made (``views``: the live render's, None for a stored
        run's); shown if the row still shows their source (`_show_thumbs` asks the cache)."""
        self._thumbs_asked -= 1
        if views is not None:
            self._thumbs(pair_id, views)
        elif pair_id is not None:
            self._show_thumbs(pair_id)
        self._ask_thumbs()

    def _show_thumbs(self, pair_id: int) -> bool:
        """Set a listed pair's thumbnails from the source shown in its row; False if it is
        not listed."""
        row = next((i for i, p in enumerate(self._pairs) if p.id == pair_id), None)
        if row is None:
            return False
        pair, source = self._pairs[row], self._thumb_source
        cells = self._grid_thumbs.cells(pair, source)
        if cells is not None:
            with bulk_fill(self.table):
                for i, (icon, tip) in enumerate(cells):
                    item = self.table.item(row, 2 + i)
                    if item is not None:
                        set_icon(item, icon)
                        if item.toolTip() != tip:
                            item.setToolTip(tip)
            if row < len(self._rows_shown):
                self._rows_shown[row] = (pair, source, True)
        return True

    def _follow_thumb_source(self) -> None:
        """The thumbnails follow the result a verdict is on (`thumbs_source`): when that is
        another model's now, every row's thumbnails go at once (none of the other source's
        stays under the new one) and the page's are asked from the new source."""
        wanted = {side: self.sources.wanted(side) for side in ("a", "b")}
        source = thumbs_source(self._roles(), wanted)
        if source == self._thumb_source:
            return
        self._thumb_source = source
        tip = f"Thumbnails: {source_text(source)}"
        for c in range(2, 2 + len(THUMBS)):
            self.table.horizontalHeaderItem(c).setToolTip(tip)
        self._thumbs_wanted.clear()
        self._grid_thumbs.keep_only(self._pairs, source)
        self.table.blockSignals(True)
        with bulk_fill(self.table):
            for r, p in enumerate(self._pairs):
                self._fill_row(r, p)
        self.table.blockSignals(False)
        self._ask_thumbs()

    def _thumbs(self, pair_id: int, views: PairViews) -> None:
        if not self._show_thumbs(pair_id):
            return
        if self.current() is not None and self.current().id == pair_id:
            self._views = views
            self._show_views()

    def current(self) -> Pair | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        return self._pairs[rows[0].row()] if rows and rows[0].row() < len(self._pairs) else None

    def _on_select(self) -> None:
        p = self.current()
        if p is None or p.id != self._judged_stay:
            self._judged_stay = None  # moved away: back on it, a verdict is deliberate
        self._swap_kept_note(p)
        self._swap_kept_tags(p)
        self._views = None
        self.sources.show_pair(p)
        # a verdict, note or tag is for a pair: with none selected they cannot work
        for w in (*self.verdict_buttons.values(), self.note, self.tags_edit):
            w.setEnabled(p is not None)
        if p is None:
            self._info_text = ""
            self._show_info("")
            self.view_a.set_image(None)
            self.view_b.set_image(None)
            self.view_wipe.set_image(None)
            return
        a = f"{p.method} / {p.motion}, score {p.score:.3f}" if p.aligned_ok else p.reason
        row = self.table.currentRow()
        at, total = (self._page.position, self._page.total) if self._page else (0, len(self._pairs))
        on_run = (
            f" on run #{p.verdict_run_id} ({html.escape(p.verdict_model or '?')})"
            if p.verdict and p.verdict_run_id is not None
            else ""
        )  # which stored result the verdict in force was given on
        self._info_text = (
            f"<b>Pair #{p.id}</b> ({at + row + 1:,} of {total:,}) · {a} · "
            f"verdict: {p.verdict or 'not judged'}{on_run}"
            + (f" · note: “{html.escape(p.note)}”" if p.note else "")
            + (f" · tags: {html.escape(', '.join(p.tags))}" if p.tags else "")
        )  # a note and tags are the judges' text, shown as typed, never as markup
        self._show_info(self._info_text)
        self.selected.emit(p)
        hit = self._cache.get(p)
        if hit is not None:
            self._views = hit
            self._show_views()
        elif p.aligned_ok:
            self._cache.request(p, lambda views, pid=p.id: self._thumbs(pid, views))

    def _show_info(self, text: str) -> None:
        self.info.setText(text)
        self.info.setToolTip(text)

    def _show_views(self) -> None:
        wiping = self.mode.currentIndex() == 1
        self.stack.setCurrentIndex(1 if wiping else 0)
        self.wipe_pos.setEnabled(wiping)
        self.wipe_label.setEnabled(wiping)
        self._show_judged_on()
        v = self._views
        a_role, b_role = self.role_a.currentData(), self.role_b.currentData()
        # both sides on the live model, and no run's image left from before: as ever, what
        # shows stays until the live render is made (a run's image never stays under it)
        live = (
            self.sources.wanted("a") is None
            and self.sources.wanted("b") is None
            and not any(
                " · run #" in c.caption() for c in (self.view_a, self.view_b, self.view_wipe)
            )
        )
        if v is None and live:
            return
        sa = self.sources.side("a", a_role, v)
        sb = self.sources.side("b", b_role, v)
        if any(
            r in ("colorized", "masked") and s.views is v and v is not None and v.image(r) is None
            for s, r in ((sa, a_role), (sb, b_role))
        ):
            # said once, after the pair's line (each view change used to append it again)
            self._show_info(self._info_text + " · (no colorizer: colour views unavailable)")
            if live:
                return
        else:
            self._show_info(self._info_text)
        if not wiping:
            pending = [(s.views, r) for s, r in ((sa, a_role), (sb, b_role))
                       if _has(s.views, r) and s.views.displayed(r) is None]  # fmt: skip
            if pending:
                # the conversion to paint layout (tens of ms at 1280x720) runs on the job
                # runner; the views show when it is done, if the pair and roles still stand
                def shown(_out, want=(sa.views, sb.views, a_role, b_role)) -> None:
                    if _same_sides(self._sides(), want):
                        self._show_views()

                self._jobs.submit(
                    lambda: [views.display(role) for views, role in pending],
                    done=shown,
                    label="pair views for display",
                )
                return
            for canvas, side, role in ((self.view_a, sa, a_role), (self.view_b, sb, b_role)):
                self._show_side(canvas, side, role)
            return
        if sa.views is None or sb.views is None:
            self.view_wipe.set_image(None)
            self.view_wipe.set_placeholder((sa if sa.views is None else sb).placeholder)
            return
        self._wipe(sa, sb, a_role, b_role)

    def _sides(self) -> tuple:
        """(A's views, B's views, A's role, B's role) as they stand now."""
        a_role, b_role = self.role_a.currentData(), self.role_b.currentData()
        sa = self.sources.side("a", a_role, self._views)
        sb = self.sources.side("b", b_role, self._views)
        return sa.views, sb.views, a_role, b_role

    @staticmethod
    def _show_side(canvas: ImageCanvas, side: SideImages, role: str) -> None:
        image = None if side.views is None else side.views.displayed(role)
        if image is None:
            canvas.set_image(None)
            canvas.set_placeholder(
                side.placeholder
                or ("Colour views need a model" if side.views is not None else "Select a pair")
            )
            return
        canvas.set_image(image, ROLES[role] + side.source)

    def _show_judged_on(self) -> None:
        """Say, beside the verdict buttons, which result a verdict given now is on."""
        on = self.sources.verdict_run(self._roles())
        runs = self.sources.runs or []
        if on is None:
            text, tip = "on: live model", "A verdict now is on the live model's render"
        elif isinstance(on, tuple):
            text, tip = f"on: {on[1]}'s newest run", "A verdict now is on that stored run"
        else:
            run = next((r for r in runs if r.id == on), None)
            text = f"on: run #{on}" + (f" ({run.model_name})" if run else "")
            tip = f"A verdict now is recorded as given on {run.describe() if run else text}"
        self.judged_on.setText(text)
        self.judged_on.setToolTip(tooltip_as_typed(tip))

    def _roles(self) -> dict[str, str]:
        return {"a": self.role_a.currentData(), "b": self.role_b.currentData()}

    def _run_added(self, run) -> None:
        if run.pair_id == self.sources.pair_id:
            self.sources.list_runs()
        self._cache.forget_run_thumbs(run.pair_id, run.model_sha256)
        source = self._thumb_source
        row = next((i for i, p in enumerate(self._pairs) if p.id == run.pair_id), None)
        if row is not None:
            self._grid_thumbs.forget_run(self._pairs[row], run.model_sha256)
        if row is not None and source is not None and source[0] == run.model_sha256:
            self._fill_row(row, self._pairs[row])  # its "no run" tile goes; its run is read
            self._ask_thumbs()

    def _wipe(self, sa: SideImages, sb: SideImages, a_role: str, b_role: str) -> None:
        """Compose the wipe on the job runner (a mask conversion, the wipe and the paint
        layout: tens of ms at 1280x720, once per slider step); one at a time, and when the
        slider moved meanwhile the newest position goes next, the ones between are skipped."""
        va, vb = sa.views, sb.views
        key = (id(va), id(vb), a_role, b_role, self.wipe_pos.value())
        self._wipe_wanted = key
        if self._wipe_busy:
            return
        self._wipe_busy = True
        caption = f"{ROLES[a_role]}{sa.source} | {ROLES[b_role]}{sb.source}"

        def work():
            a, b = va.image(a_role), vb.image(b_role)
            return None if a is None or b is None else as_display(wipe(a, b, key[-1]))

        def done(image) -> None:
            self._wipe_busy = False
            if _same_sides(self._sides()[:2], (va, vb)) and self.mode.currentIndex() == 1:
                if image is None:
                    self.view_wipe.set_image(None)
                    self.view_wipe.set_placeholder("Colour views need a model")
                else:
                    self.view_wipe.set_image(image, caption)
            if self._wipe_wanted != key:
                self._show_views()

        def failed(_msg: str) -> None:
            self._wipe_busy = False

        self._jobs.submit(work, done=done, failed=failed, label="wipe view")

    # -- verdicts --------------------------------------------------------------------------
    def judge(self, verdict: str) -> bool:
        """Judge the selected pair and move on to the next one; False when nothing was
        judged: no pair selected, or the press repeats one on the last pair (it stays
        selected: there is no next one), until the operator moves back to it or clicks it."""
        p = self.current()
        if p is None:
            return False
        if p.id == self._judged_stay:
            self.message.emit(
                f"Pair #{p.id} was just judged (the last pair listed): "
                f"{self._again_hint()} to judge it again"
            )
            return False
        typed = self.note.text()
        note = typed.strip()
        if self._note_of == p.id:  # its kept note, judged with it now (kept again if refused)
            self._note_of = None
            self._kept_notes.pop(p.id, None)
        operator = self._state.session.operator if self._state.session else ""
        on = self.sources.verdict_run(self._roles()) if self.sources.pair_id == p.id else None
        store = self._store

        def save():
            run_id = on
            if isinstance(on, tuple):  # the model's runs of the pair were not listed yet
                from engine.run_views import newest_run_of, pair_runs

                found = newest_run_of(pair_runs(store, p.id), on[0])
                run_id = None if found is None else found.id
            return store.set_verdict(p.id, verdict, note=note, operator=operator, run_id=run_id)

        # on to the next pair now, not when the write is done: a second key press judges the
        # next pair, never the same one twice (nor with this pair's note)
        self.note.clear()
        self._note_refused("")
        if self.note.hasFocus():  # a button clicked while typing it: the keys go on in the list
            self.table.setFocus()
        turning = self.step(+1) == "page"
        moved_to = self.current()
        last = not turning and moved_to is not None and moved_to.id == p.id
        self._judged_stay = p.id if last else None

        def done(v) -> None:
            end = f" · the last pair listed: {self._again_hint()} to judge it again" if last else ""
            on_run = "" if v.run_id is None else f" on run #{v.run_id}"
            self.message.emit(f"Pair #{p.id}: {verdict}{on_run}{end}")
            self.refresh()

        def failed(reason: str) -> None:  # the runner also shows it in the status bar
            if self._judged_stay == p.id:
                self._judged_stay = None  # not judged: a second press is no repeat
            why = f"Pair #{p.id}: {reason}"
            if typed.strip():  # kept: it comes back in the field whenever the pair is selected
                self._kept_notes[p.id] = (typed, why)
            # the store refused: the operator is taken back to the pair, unless they have
            # typed another note or moved on since (a refill lists new `Pair`s: by id)
            now = self.current()
            if self.note.text() or now is None or moved_to is None or now.id != moved_to.id:
                return
            row = next((i for i, q in enumerate(self._pairs) if q.id == p.id), None)
            if row is not None:
                self.table.selectRow(row)  # its note comes back (`_swap_kept_note`)
            if not typed.strip():
                self._note_refused(why)

        self._jobs.submit(
            save,
            done=done,
            failed=failed,
            label=f"saving the verdict for pair #{p.id}",
        )
        return True

    def _note_typed(self) -> None:
        self._note_refused("")
        p = self.current()
        self._note_of = None if p is None else p.id

    def _swap_kept_note(self, p: Pair | None) -> None:
        """The selection is now ``p``: the note field's text for another pair goes to
        `_kept_notes` (as edited; an emptied field lets a kept note go), and ``p``'s kept
        note, if any, comes into the field, marked with why it was refused."""
        left = self._note_of
        if left is not None and (p is None or p.id != left):
            self._note_of = None
            text = self.note.text()
            if text.strip():
                self._kept_notes[left] = (text, self._kept_notes.get(left, ("", ""))[1])
            else:
                self._kept_notes.pop(left, None)
            self.note.clear()
            self._note_refused("")
        if p is not None and p.id in self._kept_notes and not self.note.text():
            text, why = self._kept_notes[p.id]
            self.note.setText(text)
            self._note_refused(why)
            self._note_of = p.id

    def _swap_kept_tags(self, p: Pair | None) -> None:
        """As `_swap_kept_note`, for tags typed without Enter: before, they stayed in the field
        and the next Enter tagged whatever pair was selected then."""
        left = self._tags_of
        if left is not None and (p is None or p.id != left):
            text = self.tags_edit.text()
            if text.strip():
                self._kept_tags[left] = text
            else:
                self._kept_tags.pop(left, None)
            self.tags_edit.clear()
            self._tags_refused("")
        self._tags_of = None if p is None else p.id
        if p is not None and not self.tags_edit.text() and p.id in self._kept_tags:
            self.tags_edit.setText(self._kept_tags[p.id])

    def _again_hint(self) -> str:
        # with one pair listed K and J have nowhere to go: only a click moves "back" to it
        return "K then J (or a click on it)" if len(self._pairs) > 1 else "a click on it"

    def _forget_judged(self) -> None:
        self._judged_stay = None

    def _note_refused(self, reason: str) -> None:
        _mark_refused(self.note, reason, "Note stored with the verdict for the selected pair")

    def _sort_by_column(self, column: int) -> None:
        orders = HEADER_SORTS.get(COLUMNS[column])
        if orders is None:
            return
        now = self.sort.currentText()
        self.sort.setCurrentText(orders[1] if now == orders[0] else orders[0])

    def step(self, delta: int) -> str | None:
        """Select the next (``+1``) or previous (``-1``) pair of the list; past the page's
        last (first) row, the next (previous) page's first (last) pair: "page" then, and
        nothing is selected until that page is listed (a key pressed meanwhile judges
        nothing)."""
        n = self.table.rowCount()
        if not n:
            return None
        row = self.table.currentRow()
        if row >= 0 and not 0 <= row + delta < n:
            if self.turn_page(delta, "first" if delta > 0 else "last"):
                self.table.clearSelection()
                return "page"
        self.table.selectRow(max(0, min(n - 1, row + delta)) if row >= 0 else 0)
        return "row"

    def _shortcut(self, key: str, slot, *, repeat: bool = True) -> None:
        sc = QShortcut(QKeySequence(key), self)
        sc.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        sc.setAutoRepeat(repeat)
        sc.activated.connect(slot)

    def _carry_view(self, mode: int) -> None:
        wiping = mode == 1
        leaving, coming = (self.view_a, self.view_wipe) if wiping else (self.view_wipe, self.view_a)
        coming.show_part_of(leaving)

    def _zoom(self, factor: float) -> None:
        # the views are linked: zooming one zooms both sides and the wipe
        (self.view_wipe if self.mode.currentIndex() == 1 else self.view_a).zoom(factor)

    def _fit(self) -> None:
        (self.view_wipe if self.mode.currentIndex() == 1 else self.view_a).reset_view()

    def _add_tags(self) -> None:
        p = self.current()
        typed = self.tags_edit.text()
        tags = [t.strip() for t in typed.split(",") if t.strip()]
        if p is None or not tags:
            return
        self._tags_refused("")

        # the typed text stays until the store has the tags: a refused tag is corrected in
        # place, not typed again
        def done(now) -> None:
            if self._kept_tags.get(p.id) == typed:  # stored: no longer a draft of its pair
                del self._kept_tags[p.id]
            if self._tags_of == p.id and self.tags_edit.text() == typed:  # not typed since
                self.tags_edit.clear()
                if self.tags_edit.hasFocus():  # P / F / R next: they go to the list
                    self.table.setFocus()
            self.message.emit(f"Pair #{p.id}: tags {', '.join(now)}")
            self.refresh()

        def failed(reason: str) -> None:  # the runner also shows it in the status bar
            if self._tags_of == p.id and self.tags_edit.text() == typed:
                self._tags_refused(reason)

        self._jobs.submit(
            lambda: self._store.add_tags(p.id, *tags), done=done, failed=failed, label="tagging"
        )

    def _tags_refused(self, reason: str) -> None:
        _mark_refused(self.tags_edit, reason, "Tags for the selected pair, comma-separated (Enter)")


class _AtMostSpinBox(QDoubleSpinBox):
    """An upper bound whose maximum means no bound: it reads ``any_text`` there (as the SSIM
    filter's minimum reads "any SSIM"), not "leak ≤ 100.00 %"."""

    def __init__(self, prefix: str, suffix: str, any_text: str) -> None:
        super().__init__()
        self._affixes, self._any = (prefix, suffix), any_text
        self.valueChanged.connect(self._show_bound)
        self._show_bound(self.value())

    def _show_bound(self, value: float) -> None:
        top = value >= self.maximum()
        self.setPrefix("" if top else self._affixes[0])
        self.setSuffix("" if top else self._affixes[1])

    def setRange(self, low: float, high: float) -> None:  # noqa: N802 - Qt API
        super().setRange(low, high)
        self._show_bound(self.value())
        # as wide as a bound with its prefix: the filter bar does not jump when it goes
        self.setMinimumWidth(
            self.fontMetrics().horizontalAdvance(
                f"{self._affixes[0]}{super().textFromValue(high)}{self._affixes[1]}"
            )
            + 40
        )

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt API
        return self._any if value >= self.maximum() else super().textFromValue(value)

    def _typed(self, text: str) -> str:
        # what was typed between the bound's prefix and suffix (there while a bound shows)
        return text.removeprefix(self.prefix()).removesuffix(self.suffix()).strip()

    def valueFromText(self, text: str) -> float:  # noqa: N802 - Qt API
        if self._typed(text) == self._any:
            return self.maximum()
        return super().valueFromText(text)

    def validate(self, text: str, pos: int):
        typed = self._typed(text)
        if typed and self._any.startswith(typed):
            full = typed == self._any
            state = QValidator.State.Acceptable if full else QValidator.State.Intermediate
            return state, text, pos
        return super().validate(text, pos)


def _has(views: PairViews | None, role: str) -> bool:
    """``views`` hold an image for ``role`` (a render without a colorizer has no colour
    views: nothing to convert, the side says why)."""
    if views is None:
        return False
    return role not in ("colorized", "masked") or getattr(views, role) is not None


def _same_sides(now: tuple, then: tuple) -> bool:
    """Two `QAPanel._sides`: the same views objects (by identity: views hold arrays) and
    roles."""
    return len(now) == len(then) and all(
        a is b if not isinstance(a, str) else a == b for a, b in zip(now, then, strict=True)
    )


def _mark_refused(edit: QLineEdit, reason: str, tooltip: str) -> None:
    """Mark ``edit`` refused with ``reason`` (a red frame and its tooltip), or clear the mark
    (``""``) and give back its usual ``tooltip``; editing the text clears it too."""
    edit.setStyleSheet("QLineEdit { border: 1px solid #d9534f; }" if reason else "")
    edit.setToolTip(reason or tooltip)


def _qcolor(hex_colour: str):
    from PySide6.QtGui import QColor

    return QColor(hex_colour)
