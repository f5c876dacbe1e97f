"""Events of the store. Emitted on the writer thread right after the change committed."""

from __future__ import annotations

from psygnal import Signal, SignalGroup

__all__ = ["StoreEvents"]


class StoreEvents(SignalGroup):
    session_added = Signal(object)
    """A `Session` was created."""
    session_changed = Signal(object)
    """A `Session` was updated or closed (the new record)."""
    session_deleted = Signal(int)
    capture_added = Signal(object)
    """A `Capture` committed (its file is complete on disk)."""
    pair_added = Signal(object)
    """A `Pair` committed."""
    pair_changed = Signal(object)
    """A `Pair`'s alignment results were updated."""
    run_added = Signal(object)
    verdict_set = Signal(object)
    """A `Verdict` committed; it is now the pair's latest."""
    tags_changed = Signal(int, tuple)
    """(pair id, the pair's tags now)."""
    logged = Signal(object)
    """A `LogEntry` was added to a session's log."""
    reconciled = Signal(object)
    """A `ReconcileReport` (emitted on the opening thread, only when something was found)."""
