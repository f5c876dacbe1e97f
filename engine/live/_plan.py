"""`CapturePlan`: what a capture run does, as data (validated, printable, saved with a session)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["CapturePlan", "parse_clock", "parse_interval"]

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*$", re.IGNORECASE)


def parse_interval(text: str | float) -> float:
    """Seconds from ``"90s"``, ``"10m"``, ``"1.5h"`` or a bare number of seconds.

    >>> parse_interval("10m"), parse_interval("2h"), parse_interval("0.5s")
    (600.0, 7200.0, 0.5)
    """
    if isinstance(text, (int, float)):
        value = float(text)
    else:
        m = _INTERVAL.match(str(text))
        if not m:
            raise ValueError(f"interval must look like 30s, 10m or 1h, got {text!r}")
        value = float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2).lower()]
    if value < 0:
        raise ValueError(f"interval must be >= 0, got {text!r}")
    return value


def parse_clock(text: str | dt.time) -> dt.time:
    """A local time of day from ``"21:00"`` or ``"05:30:15"``.

    >>> parse_clock("21:00")
    datetime.time(21, 0)
    >>> parse_clock("1:30")
    datetime.time(1, 30)
    """
    if isinstance(text, dt.time):
        return text
    clean = str(text).strip()
    # an hour of one digit ("1:00", as people write it) was refused: "got ' 1:00'"
    if m := re.fullmatch(r"(\d):(\d\d(?::\d\d)?)", clean):
        clean = f"0{m[1]}:{m[2]}"
    try:
        return dt.time.fromisoformat(clean)
    except ValueError:
        raise ValueError(f"time of day must look like 21:00, got {str(text).strip()!r}") from None


@dataclass(frozen=True)
class CapturePlan:
    """A capture run: optional day reference first, then night frames on a schedule.

    Parameters
    ----------
    every_s : float
        Seconds between night captures (0: as fast as the camera delivers).
    count : int, optional
        Stop after this many night captures; 0 (with ``day_reference`` only) takes just the
        day reference, e.g. in the afternoon before a night run.
    start, end : datetime.time, optional
        Capture only between these local times (``end`` before ``start`` crosses midnight:
        21:00 -> 05:00). Before ``start`` the runner counts down; it stops at ``end``.
    times : tuple of datetime.time
        Instead of an interval: capture once at each of these local times (their next
        occurrence, so 22:00, 01:00, 04:00 started at 20:00 spans the night), then stop.
    burst : int
        Frames per capture; the store keeps each and their per-pixel mean.
    day_reference : bool
        Capture a day reference first (switching a camera with a ``mode`` control to day).
    day_controls, night_controls : dict
        Camera controls set before the day reference / the night frames.
    frame_timeout_s : float
        How long to wait for a frame before the slot counts as missed.

    Examples
    --------
    >>> plan = CapturePlan(every_s=600, start=parse_clock("21:00"), end=parse_clock("05:00"))
    >>> plan.describe()
    'every 10m between 21:00 and 05:00, burst 1'
    """

    every_s: float = 0.0
    count: int | None = None
    start: dt.time | None = None
    end: dt.time | None = None
    times: tuple[dt.time, ...] = ()
    burst: int = 1
    day_reference: bool = False
    day_controls: Mapping[str, Any] = field(default_factory=dict)
    night_controls: Mapping[str, Any] = field(default_factory=dict)
    frame_timeout_s: float = 5.0

    def __post_init__(self) -> None:
        if not self.every_s >= 0:
            raise ValueError(f"every_s must be >= 0, got {self.every_s!r}")
        if self.count is not None and self.count < (0 if self.day_reference else 1):
            raise ValueError(
                f"count must be >= 1 (0 only with a day reference, to take just that), "
                f"got {self.count}"
            )
        if (self.start is None) != (self.end is None):
            raise ValueError("give both a start and an end time, or neither")
        if self.start is not None and self.start == self.end:
            raise ValueError("start and end time are the same")
        if not 1 <= self.burst <= 100:
            raise ValueError(f"burst must be 1..100 frames, got {self.burst}")
        if self.times and (self.start is not None or self.every_s):
            raise ValueError("listed times replace an interval and a start/end window")
        if len(set(self.times)) != len(self.times):
            raise ValueError("a time of day is listed twice")
        if not self.frame_timeout_s > 0:
            raise ValueError("frame_timeout_s must be > 0")
        if self.count is None and self.start is None and self.every_s == 0:
            pass  # until cancelled: allowed (a live session), the CLI asks for an end

    def in_window(self, when: dt.datetime) -> bool:
        if self.start is None or self.end is None:
            return True
        t = when.time()
        if self.start < self.end:
            return self.start <= t < self.end
        return t >= self.start or t < self.end  # crosses midnight

    def window_start_after(self, when: dt.datetime) -> dt.datetime:
        """The next moment at or after ``when`` that is inside the window."""
        if self.in_window(when) or self.start is None:
            return when
        candidate = when.replace(
            hour=self.start.hour, minute=self.start.minute, second=self.start.second,
            microsecond=self.start.microsecond,
        )  # fmt: skip
        if candidate < when:
            candidate += dt.timedelta(days=1)
        return candidate

    def listed_after(self, when: dt.datetime) -> list[dt.datetime]:
        """The next occurrence of each of `times` after ``when``, in order."""
        out = []
        for t in self.times:
            at = dt.datetime.combine(when.date(), t)
            out.append(at if at > when else at + dt.timedelta(days=1))
        return sorted(out)

    def describe(self) -> str:
        parts = []
        if self.day_reference:
            parts.append("day reference first")
        if self.count == 0:
            return "day reference only" + (f", burst {self.burst}" if self.burst > 1 else "")
        if self.count == 1 and not (self.times or self.every_s or self.start is not None):
            # the app's Capture pair: one capture is no run ("continuous, 1 capture(s)" in
            # the session log read as a schedule)
            return ", ".join([*parts, "one capture", f"burst {self.burst}"])
        if self.times:
            parts.append("at " + ", ".join(f"{t:%H:%M}" for t in self.times))
        else:
            parts.append(f"every {_fmt_interval(self.every_s)}" if self.every_s else "continuous")
        if self.count is not None:
            parts.append(f"{self.count} capture{'' if self.count == 1 else 's'}")
        if self.start is not None and self.end is not None:
            parts[-1] += f" between {self.start:%H:%M} and {self.end:%H:%M}"
        parts.append(f"burst {self.burst}")
        return ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["start"] = None if self.start is None else self.start.isoformat()
        d["end"] = None if self.end is None else self.end.isoformat()
        d["times"] = [t.isoformat() for t in self.times]
        d["day_controls"], d["night_controls"] = dict(self.day_controls), dict(self.night_controls)
        return d


def _fmt_interval(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
