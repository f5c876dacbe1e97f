"""Errors of export and import, written for users: one line naming the file and the problem."""

from __future__ import annotations

__all__ = ["BagRejected", "Cancelled", "SessionExists"]


class BagRejected(ValueError):
    """An import refused before anything was written: the bag is incomplete, altered, hostile
    or of a format this NightLab does not read. The message names the file and the problem."""


class SessionExists(ValueError):
    """The bag's session is already in the store (import it with ``as_copy=True``)."""


class Cancelled(Exception):
    """Raised by a progress callback to stop an export or import; nothing is left behind."""
