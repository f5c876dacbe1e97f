"""The day captures an operator collects for a fused reference (**Add capture**), kept until
they are removed or cleared: one evented list that the Capture dock shows and edits, and that
`fuse_day_captures` (through the live tracker) reads when the operator asks for the fusion.

The list only holds what the camera already gave (the image and its `FrameMeta`): adding,
removing and clearing are O(1) bookkeeping, safe on any thread; thumbnails are made on request
(`thumbnail`), by whoever can afford the resize (the GUI asks its job runner).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from psygnal import Signal, SignalGroup

if TYPE_CHECKING:
    from engine.camera import FrameMeta

__all__ = ["KEPT_LIMIT", "DayCaptureList", "DayCaptureEvents", "KeptCapture"]

KEPT_LIMIT = 32
"""Captures kept at most by default: fusing more buys nothing (the median settles well
before) and each 1280x800 RGB frame holds 3 MB."""


@dataclass(frozen=True)
class KeptCapture:
    """One day capture kept for the fusion.

    Examples
    --------
    >>> from engine.camera import FrameMeta
    >>> meta = FrameMeta(timestamp=0.0, sequence=812, device_id="sim", exposure_us=8300, iso=400)
    >>> KeptCapture(2, np.zeros((4, 4, 3), np.uint8), meta, taken_at=0.0).describe(utc=True)
    'Capture 2 · 00:00:00 · frame #812 · exposure 8.3 ms · ISO 400'
    """

    id: int
    """1, 2, 3… in the order added; never reused within a list (a removal leaves a gap)."""
    image: np.ndarray
    """RGB uint8 ``(H, W, 3)``, read-only."""
    meta: FrameMeta | None
    """What the camera said about the frame (``None`` when it came from elsewhere)."""
    taken_at: float
    """Host time, seconds since the epoch (the frame's timestamp when the camera gave one)."""
    controls: Mapping[str, Any] | None = None
    """The camera controls in force when it was taken (``None`` when it came from elsewhere)."""

    def clock(self, *, utc: bool = False) -> str:
        """The time it was taken, ``HH:MM:SS`` (local time unless ``utc``)."""
        t = time.gmtime(self.taken_at) if utc else time.localtime(self.taken_at)
        return time.strftime("%H:%M:%S", t)

    def describe(self, *, utc: bool = False) -> str:
        """One line: number, time, frame number, exposure and ISO where the camera told."""
        parts = [f"Capture {self.id}", self.clock(utc=utc)]
        m = self.meta
        if m is not None:
            parts.append(f"frame #{m.sequence}")
            if m.exposure_us:
                parts.append(f"exposure {m.exposure_us / 1000:.3g} ms")
            if m.iso:
                parts.append(f"ISO {m.iso}")
        return " · ".join(parts)


class DayCaptureEvents(SignalGroup):
    """Emitted on the thread that changed the list."""

    changed = Signal(tuple)
    """The `KeptCapture` tuple now kept (empty once cleared)."""


class DayCaptureList:
    """The day captures kept for a fused reference, in the order added; evented.

    ``events.changed`` carries the tuple of captures now kept after every change, on the
    thread that made it (a Qt consumer hops to its own thread).

    Parameters
    ----------
    limit : int
        Captures kept at most; `add` refuses one more (``ValueError``).

    Examples
    --------
    >>> kept = DayCaptureList()
    >>> seen = []
    >>> _ = kept.events.changed.connect(lambda caps: seen.append(len(caps)))
    >>> a = kept.add(np.zeros((48, 64, 3), np.uint8))
    >>> b = kept.add(np.full((48, 64, 3), 9, np.uint8))
    >>> kept.remove([a.id]), [c.id for c in kept.captures]
    (1, [2])
    >>> kept.clear(), len(kept), seen
    (1, 0, [1, 2, 1, 0])
    """

    def __init__(self, *, limit: int = KEPT_LIMIT) -> None:
        if int(limit) < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = int(limit)
        self.events = DayCaptureEvents()
        self._lock = threading.Lock()
        self._captures: tuple[KeptCapture, ...] = ()
        self._next_id = 1

    @property
    def captures(self) -> tuple[KeptCapture, ...]:
        """The captures kept, oldest first."""
        return self._captures

    def __len__(self) -> int:
        return len(self._captures)

    def images(self) -> list[np.ndarray]:
        """The kept images, oldest first (what the fusion takes)."""
        return [c.image for c in self._captures]

    def add(
        self,
        image: np.ndarray,
        meta: FrameMeta | None = None,
        controls: Mapping[str, Any] | None = None,
    ) -> KeptCapture:
        """Keep ``image`` (RGB uint8) with the camera's ``meta`` and the ``controls`` in force.

        A capture of another size than those kept (another camera or resolution) starts the
        list over: frames of different grids are not fused together.

        Raises
        ------
        ValueError
            ``image`` is not RGB uint8, or `limit` captures are kept already.
        """
        from engine._image import is_frozen

        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(
                f"a day capture must be RGB uint8 (H, W, 3), got {image.dtype} {image.shape}"
            )
        if not is_frozen(image):  # the camera may reuse its buffer: keep what was seen
            image = image.copy()
            image.setflags(write=False)
        taken_at = meta.timestamp if meta is not None and meta.timestamp else time.time()
        with self._lock:
            kept = self._captures
            if kept and kept[0].image.shape != image.shape:
                kept = ()
            if len(kept) >= self.limit:
                raise ValueError(
                    f"{self.limit} day captures are kept already: remove or clear some first"
                )
            given = None if controls is None else dict(controls)
            capture = KeptCapture(self._next_id, image, meta, float(taken_at), given)
            self._next_id += 1
            self._captures = now = (*kept, capture)
        self.events.changed.emit(now)
        return capture

    def remove(self, ids: Iterable[int]) -> int:
        """Forget the captures numbered ``ids``; returns how many were kept (unknown ids are
        ignored: another hand may have removed them already)."""
        gone = {int(i) for i in ids}
        with self._lock:
            before = self._captures
            self._captures = now = tuple(c for c in before if c.id not in gone)
        if len(now) != len(before):
            self.events.changed.emit(now)
        return len(before) - len(now)

    def clear(self) -> int:
        """Forget every capture; returns how many there were."""
        with self._lock:
            before, self._captures = self._captures, ()
        if before:
            self.events.changed.emit(())
        return len(before)

    def summary(self, *, utc: bool = False) -> str:
        """``3 captures kept, 14:01:05–14:09:40`` (or ``No captures kept``).

        Examples
        --------
        >>> kept = DayCaptureList()
        >>> kept.summary()
        'No captures kept'
        """
        caps = self._captures
        if not caps:
            return "No captures kept"
        noun = "capture" if len(caps) == 1 else "captures"
        first = min(caps, key=lambda c: c.taken_at).clock(utc=utc)
        last = max(caps, key=lambda c: c.taken_at).clock(utc=utc)
        span = first if first == last else f"{first}–{last}"
        return f"{len(caps)} {noun} kept, {span}"
