"""Events of the store: emitted right after a change committed, on the thread that asked for it
(a worker thread, never the writer thread). A Qt consumer hops to the GUI thread through a
queued signal."""

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
