"""Free disk space for an unattended run: will tonight's plan fit, and stop before it fills.

A full disk in the night used to become a string of failed captures. `DiskGuard` measures
the data folder's free space (``shutil.disk_usage``, injectable so tests can simulate a filling
disk) against what the plan needs: captures x bytes per capture, measured from the session's
recent captures when it has some, else a conservative estimate from the frame size (raw
pixels; lossless PNG is smaller). `check_plan` is the preflight (``"ok"``, ``"thin"``: fits,
but not another night like it; ``"short"``: the plan does not fit above the floor;
``"full"``: already under the floor); `CaptureRunner` calls `check_now` before each capture
and stops the run, with the reason, when the next capture would take the disk under the
floor. Qt-free; every call is a cheap ``statvfs``.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from engine.live._plan import CapturePlan
    from engine.store import Store

__all__ = [
    "DEFAULT_FLOOR_BYTES",
    "THIN_HOURS",
    "DiskGuard",
    "DiskStatus",
    "DiskUsage",
    "captures_in_plan",
    "format_bytes",
    "parse_size",
]

DEFAULT_FLOOR_BYTES = 1 << 30
"""Stop capturing when less than this would be free (1 GiB): the OS, the SQLite journal and
the morning's export still need room on a lab PC's disk."""

_OVERHEAD = 1.05
"""Rows, the journal and file-system blocks on top of the image bytes."""

THIN_HOURS = 12.0
"""A run until stopped with less than this left at its interval is short of room."""

_RECENT = 24
"""How many recent night capture files the measured size per frame averages."""


class _Usage(NamedTuple):
    total: int
    used: int
    free: int


DiskUsage = Callable[[str], "_Usage | tuple[int, int, int]"]
"""``shutil.disk_usage`` or a stand-in: path -> ``(total, used, free)`` in bytes."""


def format_bytes(n: float) -> str:
    """``1.5 GiB``, ``320 MiB``.

    >>> format_bytes(1.5 * 2**30), format_bytes(320 * 2**20), format_bytes(900)
    ('1.5 GiB', '320 MiB', '900 B')
    """
    for unit, size in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if abs(n) >= size:
            value = n / size
            return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"
    return f"{int(n)} B"


def parse_size(text: str) -> int:
    """Bytes from ``"2G"``, ``"500M"``, ``"1.5GiB"`` or a bare number of bytes.

    >>> parse_size("2G"), parse_size("500M"), parse_size("0")
    (2147483648, 524288000, 0)
    """
    s = str(text).strip().upper().removesuffix("IB").removesuffix("B")
    units = {"K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
    scale = units.get(s[-1:], 1)
    number = s[:-1] if s[-1:] in units else s
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"size must look like 2G or 500M, got {text!r}") from None
    if not math.isfinite(value * scale):  # "inf", "nan", "1e400": float() takes them
        raise ValueError(f"size must be a finite number of bytes, got {text!r}")
    if value < 0:
        raise ValueError(f"size must be >= 0, got {text!r}")
    return int(value * scale)


def captures_in_plan(plan: CapturePlan) -> int | None:
    """Captures (night ones, plus the day reference) a plan takes; None when it runs until
    stopped (no count, no window, no listed times).

    A window counts in full (a run started inside it needs less): the preflight errs on the
    side of room.

    >>> from engine.live import CapturePlan, parse_clock
    >>> captures_in_plan(CapturePlan(every_s=600, start=parse_clock("21:00"),
    ...                              end=parse_clock("05:00")))
    49
    >>> captures_in_plan(CapturePlan(count=5, day_reference=True))
    6
    """
    day = 1 if plan.day_reference else 0
    if plan.times:
        nights: int | None = len(plan.times)
    elif plan.count is not None:
        nights = plan.count
    elif plan.start is not None and plan.end is not None and plan.every_s > 0:
        today = dt.date(2000, 1, 1)
        start = dt.datetime.combine(today, plan.start)
        end = dt.datetime.combine(today, plan.end)
        if end <= start:
            end += dt.timedelta(days=1)
        nights = int((end - start).total_seconds() // plan.every_s) + 1
    else:
        nights = None
    return None if nights is None else nights + day


@dataclass(frozen=True)
class DiskStatus:
    """The data folder's space against a plan (one measurement)."""

    folder: str
    free_bytes: int
    floor_bytes: int
    bytes_per_capture: int
    measured: bool
    """True when ``bytes_per_capture`` comes from the session's own captures."""
    needed_bytes: int | None
    """What the plan (still) needs; None for a run until stopped."""
    verdict: str
    """``"ok"``, ``"thin"`` (fits, but no second night like it; for a run until stopped:
    less than a night, `THIN_HOURS`, left at its interval), ``"short"`` (the plan does not
    fit above the floor) or ``"full"`` (the next capture would go under the floor)."""
    every_s: float = 0.0
    """The plan's interval (for `hours_left`)."""

    @property
    def usable_bytes(self) -> int:
        """Free space above the floor."""
        return max(0, self.free_bytes - self.floor_bytes)

    @property
    def captures_left(self) -> int:
        """Captures that fit above the floor."""
        return self.usable_bytes // max(1, self.bytes_per_capture)

    @property
    def hours_left(self) -> float | None:
        """For a run until stopped: hours of capture left at its interval (None otherwise)."""
        if self.needed_bytes is not None or not self.every_s:
            return None
        return self.captures_left * self.every_s / 3600

    @property
    def nights_left(self) -> float | None:
        """How many runs like this one fit above the floor (None for a run until stopped)."""
        if not self.needed_bytes:
            return None
        return self.usable_bytes / self.needed_bytes

    def describe(self) -> str:
        """One line: free space, the floor, what the plan needs, how many nights fit."""
        per = f"{format_bytes(self.bytes_per_capture)}/capture" + (
            "" if self.measured else " estimated"
        )
        head = f"{format_bytes(self.free_bytes)} free on {self.folder}"
        if self.needed_bytes is None:
            hours = "" if self.hours_left is None else f", {self.hours_left:.0f} h at this interval"
            return f"{head}: room for {self.captures_left} more captures ({per}{hours})"
        nights = self.nights_left
        if nights is None:
            fit = ""
        else:
            fit = f"{nights:,.{1 if nights < 10 else 0}f} runs like this fit"  # 16,804
        return (
            f"{head}; the plan needs {format_bytes(self.needed_bytes)} ({per}), "
            f"keeping {format_bytes(self.floor_bytes)} free: {fit}"
        )


class DiskGuard:
    """Free-space checks on ``folder`` for a run taking ``bytes_per_capture`` per capture.

    Parameters
    ----------
    folder : path
        The data folder (the store's root).
    bytes_per_capture : int
        What one capture (a burst and its members) writes; see `estimate`.
    floor_bytes : int
        Never capture when less than this would stay free.
    measured : bool
        Whether ``bytes_per_capture`` was measured on real captures (shown to the user).
    disk_usage : callable, optional
        ``shutil.disk_usage`` (default) or a stand-in returning ``(total, used, free)``.

    Examples
    --------
    >>> from engine.live import CapturePlan
    >>> full = lambda path: (100 * 2**30, 99 * 2**30, 2**30 + 5 * 2**20)
    >>> guard = DiskGuard(".", bytes_per_capture=2**20, floor_bytes=2**30, disk_usage=full)
    >>> guard.check_plan(CapturePlan(count=10)).verdict
    'short'
    >>> guard.check_now().verdict
    'ok'
    """

    def __init__(
        self,
        folder: str | Path,
        *,
        bytes_per_capture: int,
        floor_bytes: int = DEFAULT_FLOOR_BYTES,
        measured: bool = False,
        disk_usage: DiskUsage | None = None,
    ) -> None:
        if bytes_per_capture <= 0:
            raise ValueError(f"bytes_per_capture must be > 0, got {bytes_per_capture}")
        if floor_bytes < 0:
            raise ValueError(f"floor_bytes must be >= 0, got {floor_bytes}")
        self.folder = Path(folder)
        self.bytes_per_capture = int(bytes_per_capture)
        self.floor_bytes = int(floor_bytes)
        self.measured = measured
        # looked up now, not at import: a test may stand in for the module function
        self._disk_usage = disk_usage or shutil.disk_usage
        # the run's own mean capture size, as a running sum: a night's list of sizes grew
        # by ~40 bytes a capture (and was summed again at every capture)
        self._seen_bytes = 0
        self._seen_count = 0

    @classmethod
    def estimate(
        cls,
        store: Store,
        session_id: int,
        *,
        burst: int,
        frame_shape: tuple[int, ...] | None,
        floor_bytes: int = DEFAULT_FLOOR_BYTES,
        disk_usage: DiskUsage | None = None,
    ) -> DiskGuard:
        """A guard for a run of ``burst``-frame captures into ``session_id`` of ``store``.

        The bytes per frame are the mean size of the session's recent night capture files
        when it has some, else ``frame_shape`` as raw pixels (3 channels when unknown), else
        a 1920x1080 colour frame. A burst of K > 1 frames writes K members and their mean.
        """
        files = store.captures(session_id, kind="night", members=True, newest=_RECENT)
        sizes = []
        for cap in files:
            try:
                sizes.append(store.path(cap.path).stat().st_size)
            except OSError:
                continue
        measured = bool(sizes)
        if measured:
            per_frame = sum(sizes) / len(sizes)
        else:
            shape = tuple(frame_shape) if frame_shape else (1080, 1920, 3)
            h, w = shape[:2]
            per_frame = h * w * (shape[2] if len(shape) > 2 else 3)
        frames = burst + 1 if burst > 1 else 1
        per_capture = max(1, int(per_frame * frames * _OVERHEAD))
        return cls(
            store.root,
            bytes_per_capture=per_capture,
            floor_bytes=floor_bytes,
            measured=measured,
            disk_usage=disk_usage,
        )

    def free_bytes(self) -> int:
        return int(self._disk_usage(str(self.folder))[2])

    def check_plan(self, plan: CapturePlan, *, done: int = 0) -> DiskStatus:
        """Preflight: will ``plan`` (``done`` captures of it already taken) fit above the floor?"""
        free = self.free_bytes()
        n = captures_in_plan(plan)
        needed = None if n is None else max(0, n - done) * self.bytes_per_capture
        usable = free - self.floor_bytes
        if usable < self.bytes_per_capture:
            verdict = "full"
        elif needed is None:
            hours = usable // self.bytes_per_capture * plan.every_s / 3600
            verdict = "thin" if plan.every_s and hours < THIN_HOURS else "ok"
        elif needed > usable:
            verdict = "short"
        elif 2 * needed > usable:
            verdict = "thin"
        else:
            verdict = "ok"
        return self._status(free, needed, verdict, plan.every_s)

    def observe(self, nbytes: int) -> None:
        """A capture of the run wrote ``nbytes``: later checks use the run's own mean size
        (night frames of a gray camera are a third of the colour estimate)."""
        self._seen_bytes += int(nbytes)
        self._seen_count += 1
        mean = self._seen_bytes / self._seen_count
        self.bytes_per_capture = max(1, int(mean * _OVERHEAD))
        self.measured = True

    def check_now(self, plan: CapturePlan | None = None, *, done: int = 0) -> DiskStatus:
        """Before one capture: ``"full"`` when it would take the disk under the floor (the
        run stops); otherwise the plan's status for the rest of the run."""
        if plan is not None:
            status = self.check_plan(plan, done=done)
            return status if status.verdict != "short" else _with(status, "thin")
        free = self.free_bytes()
        verdict = "full" if free - self.floor_bytes < self.bytes_per_capture else "ok"
        return self._status(free, None, verdict)

    def _status(
        self, free: int, needed: int | None, verdict: str, every_s: float = 0.0
    ) -> DiskStatus:
        return DiskStatus(
            folder=str(self.folder),
            free_bytes=free,
            floor_bytes=self.floor_bytes,
            bytes_per_capture=self.bytes_per_capture,
            measured=self.measured,
            needed_bytes=needed,
            verdict=verdict,
            every_s=every_s,
        )


def _with(status: DiskStatus, verdict: str) -> DiskStatus:
    from dataclasses import replace

    return replace(status, verdict=verdict)
