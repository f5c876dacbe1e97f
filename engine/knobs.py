"""Tuning knobs read from ``NIGHTLAB_*`` environment variables, with one warning when bad.

A knob someone set is a knob someone meant: a value that is not a number, or is out of range,
must not be dropped in silence (the run then measures something else than its operator
thinks). `env_number` reads one, and on a bad value writes one line on stderr naming the
variable, the value and what is used instead; it never raises.
"""

from __future__ import annotations

import math
import os
import sys
import threading
from typing import TextIO

__all__ = ["env_number", "usable_cores"]

_warned: set[tuple[str, str]] = set()
_lock = threading.Lock()


def usable_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS says, else all): the
    default and the bound of the thread-count knobs."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _warn(name: str, raw: str, problem: str, used: object, stream: TextIO | None) -> None:
    with _lock:  # once per variable and value: knobs are read again by each new runner
        if (name, raw) in _warned:
            return
        _warned.add((name, raw))
    print(
        f"nightlab: warning: {name}={raw!r} {problem}; using {used}",
        file=stream if stream is not None else sys.stderr,
    )


def env_number(
    name: str,
    default: float | None,
    *,
    kind: type = int,
    minimum: float | None = None,
    maximum: float | None = None,
    clamp: bool = True,
    stream: TextIO | None = None,
) -> float | None:
    """The number in environment variable ``name``, ``default`` when unset or blank.

    Parameters
    ----------
    name : str
        The variable, e.g. ``"NIGHTLAB_LIVE_WORKERS"``.
    default : int, float or None
        Used when the variable is unset, blank or not a (finite) number.
    kind : {int, float}
        ``int`` accepts whole numbers only (``"2"``, not ``"2.5"``).
    minimum, maximum : number, optional
        The allowed range. A value outside it is clamped into it (``clamp=True``) or replaced
        by ``default`` (``clamp=False``), with a warning either way.
    stream : file, optional
        Where the warning goes (default ``sys.stderr``).

    Returns
    -------
    int, float or None

    Examples
    --------
    >>> import io, os
    >>> os.environ["NIGHTLAB_DOC_KNOB"] = "two"
    >>> err = io.StringIO()
    >>> env_number("NIGHTLAB_DOC_KNOB", 1, minimum=1, stream=err)
    1
    >>> err.getvalue()
    "nightlab: warning: NIGHTLAB_DOC_KNOB='two' is not a whole number; using the default, 1\\n"
    """
    if kind not in (int, float):
        raise ValueError(f"kind must be int or float, got {kind!r}")
    raw = os.environ.get(name, "")
    if not raw.strip():
        return default
    fallback = f"the default, {default}" if default is not None else "the default"
    try:
        value = kind(raw.strip())
    except ValueError:
        value = None
    # an int is always finite (and math.isfinite of a 400-digit one raises OverflowError)
    if value is None or (kind is float and not math.isfinite(value)):
        what = "a whole number" if kind is int else "a finite number"
        _warn(name, raw, f"is not {what}", fallback, stream)
        return default
    if minimum is not None and value < minimum:
        bound, side = minimum, "below"
    elif maximum is not None and value > maximum:
        bound, side = maximum, "above"
    else:
        return value
    used = kind(bound) if clamp else default
    _warn(name, raw, f"is {side} {bound}", used if clamp else fallback, stream)
    return used
