"""Small frozen records the store returns. Times are ``time.time()`` seconds (UTC epoch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "METRICS",
    "SORT_KEYS",
    "VERDICTS",
    "Capture",
    "LogEntry",
    "Pair",
    "PairPage",
    "PairQuery",
    "ReconcileReport",
    "Run",
    "Session",
    "Verdict",
]

#: What an operator can say about a pair (``review`` = needs review).
VERDICTS: tuple[str, ...] = ("pass", "fail", "review")
#: Pair metrics that can be filtered on and sorted by.
METRICS: tuple[str, ...] = ("ssim_mean", "leak_area_pct", "score")
#: Sort keys of `PairQuery`; prefix ``-`` for descending.
SORT_KEYS: tuple[str, ...] = ("id", "created_at", *METRICS)


@dataclass(frozen=True)
class Session:
    id: int
    uid: str
    """Globally unique id (UUID4 hex): survives export and import."""
    name: str
    operator: str
    scene_notes: str
    camera_backend: str
    device_id: str
    app_version: str
    created_at: float
    closed_at: float | None
    settings: dict[str, Any] = field(default_factory=dict)
    """Free-form settings saved with the session (e.g. leak-mask presets)."""
    n_captures: int = 0
    n_pairs: int = 0

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


@dataclass(frozen=True)
class Capture:
    id: int
    session_id: int
    kind: str
    """``"day"`` or ``"night"``."""
    path: str
    """Image file, relative to the data folder (lossless PNG at full resolution)."""
    sha256: str
    width: int
    height: int
    channels: int
    taken_at: float
    meta: dict[str, Any]
    """`FrameMeta.to_dict()` of the frame (named fields, backend extras under ``"extra"``)."""
    controls: dict[str, Any]
    """Camera controls in force when it was taken."""
    burst_of: int | None = None
    """For a member of a burst: the id of the burst's capture (the combined frame)."""
    burst_index: int | None = None
    burst_size: int = 1
    """For a burst capture: how many member frames it combines (1 = a single frame)."""


@dataclass(frozen=True)
class Pair:
    id: int
    session_id: int
    night_id: int
    day_ids: tuple[int, ...]
    """The day reference: one or more day captures, in order."""
    aligned_ok: bool | None
    """``None`` until the pair was aligned."""
    method: str | None
    motion: str | None
    score: float | None
    reason: str
    matrix: tuple[tuple[float, ...], ...] | None
    """3x3 homography mapping day-reference pixels onto the night frame."""
    leak_params: dict[str, Any]
    ssim_mean: float | None
    leak_area_pct: float | None
    created_at: float
    verdict: str | None = None
    """The latest verdict (``None`` = not judged yet)."""
    tags: tuple[str, ...] = ()
    note: str = ""
    """The latest verdict's note (the history is `Store.verdicts`)."""
    verdict_run_id: int | None = None
    """The stored run the latest verdict was given on (`Verdict.run_id`); None for a verdict
    on the live model's render, or none yet."""
    verdict_model: str | None = None
    """That run's model name (None without a run)."""

    def sort_value(self, sort: str) -> tuple[Any, int]:
        """Where this pair stands in an order ``sort`` (a `PairQuery.sort`): its
        ``(value, id)``, the `PairQuery.start` of a page that begins with it."""
        return getattr(self, sort.lstrip("-")), self.id


@dataclass(frozen=True)
class Run:
    id: int
    pair_id: int
    model_name: str
    model_sha256: str
    params: dict[str, Any]
    outputs: dict[str, str]
    """role (``aligned_reference``, ``leak_mask``, ``colorized``...) -> path in the data folder."""
    metrics: dict[str, Any]
    timings_ms: dict[str, float]
    created_at: float


@dataclass(frozen=True)
class Verdict:
    id: int
    pair_id: int
    verdict: str
    note: str
    operator: str
    created_at: float
    run_id: int | None = None
    """The stored run whose outputs the judge was shown (`Store.set_verdict`'s ``run_id``);
    None: the live model's render (or a verdict from before schema v3)."""


@dataclass(frozen=True)
class LogEntry:
    id: int
    session_id: int
    at: float
    kind: str
    """e.g. ``"captured"``, ``"missed"``, ``"camera_lost"``, ``"camera_back"``, ``"error"``."""
    message: str


@dataclass(frozen=True)
class PairQuery:
    """A filtered, sorted page of pairs (what the QA grid and ``sessions show`` ask for).

    Parameters
    ----------
    session_id : int, optional
    verdict : str, optional
        One of `VERDICTS`, or ``"none"`` for pairs not judged yet.
    tag : str, optional
    ranges : dict, optional
        ``{metric: (low, high)}``; either bound may be ``None``. Metrics: `METRICS`.
    sort : str
        One of `SORT_KEYS`, ``-`` prefix for descending (default ``"id"``).
    limit, offset : int
        The page. ``limit=None`` returns every match.
    start : (value, id), optional
        The page starts at the pair with this sort value and id, or where it would be in
        the order (a seek: pairs recorded or judged meanwhile do not shift the page, as an
        offset does). ``value`` is the sort key's value (the id again for ``"id"``);
        `Pair.sort_value` gives it. Use it or ``offset``, not both.

    Examples
    --------
    >>> PairQuery(verdict="fail", ranges={"ssim_mean": (None, 0.5)}, sort="-leak_area_pct")
    ... # doctest: +ELLIPSIS
    PairQuery(...)
    """

    session_id: int | None = None
    verdict: str | None = None
    tag: str | None = None
    ranges: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)
    sort: str = "id"
    limit: int | None = 200
    offset: int = 0
    start: tuple[Any, int] | None = None

    def __post_init__(self) -> None:
        if self.verdict is not None and self.verdict not in (*VERDICTS, "none"):
            raise ValueError(
                f"verdict must be one of {', '.join(VERDICTS)} or none, got {self.verdict!r}"
            )
        for name in self.ranges:
            if name not in METRICS:
                raise ValueError(f"cannot filter on {name!r}; metrics: {', '.join(METRICS)}")
        if self.sort.lstrip("-") not in SORT_KEYS:
            raise ValueError(f"cannot sort by {self.sort!r}; keys: {', '.join(SORT_KEYS)}")
        if self.limit is not None and self.limit < 0 or self.offset < 0:
            raise ValueError("limit and offset must be >= 0")
        if self.start is not None and self.offset:
            raise ValueError("a page starts at an offset or at a pair (start), not both")


@dataclass(frozen=True)
class PairPage:
    """One page of a `PairQuery` and where it stands: ``pairs`` are matches number
    ``position + 1`` to ``position + len(pairs)`` of ``total`` (`Store.pair_page`)."""

    pairs: list[Pair]
    position: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.position + len(self.pairs) < self.total

    def next_start(self, sort: str) -> tuple[Any, int] | None:
        """The `PairQuery.start` of the page after this one: just past its last pair (ids
        are integers, so "after (value, id)" is "at or after (value, id +- 1)")."""
        if not self.pairs:
            return None
        value, pid = self.pairs[-1].sort_value(sort)
        return value, pid - 1 if sort.startswith("-") else pid + 1


@dataclass(frozen=True)
class ReconcileReport:
    """What reconciling the files with the rows found. Nothing is ever deleted.

    ``orphans``: files without a row (a writer killed between writing a file and committing
    its row), moved to ``moved_to``; ``partials``: temporary files of a killed writer, moved
    there too; ``missing``: rows whose file is gone, marked missing (still listed, flagged);
    ``restored``: rows marked missing earlier whose file is back.
    """

    orphans: tuple[str, ...] = ()
    partials: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    restored: tuple[str, ...] = ()
    moved_to: str | None = None

    @property
    def clean(self) -> bool:
        return not (self.orphans or self.partials or self.missing)

    def summary(self) -> str:
        if self.clean and not self.restored:
            return "store is consistent"
        parts = []
        if self.orphans:
            parts.append(f"{len(self.orphans)} file(s) without a record")
        if self.partials:
            parts.append(f"{len(self.partials)} half-written temporary file(s)")
        if self.missing:
            parts.append(f"{len(self.missing)} record(s) whose file is missing (marked)")
        if self.restored:
            parts.append(f"{len(self.restored)} missing file(s) back")
        where = f"; moved aside to {self.moved_to}" if self.moved_to else ""
        return ", ".join(parts) + where
