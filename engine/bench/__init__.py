"""Benchmark plumbing behind ``nightlab bench``.

Each area contributes a module ``engine/bench/_<area>.py`` with a function
``rows(*, repeats: int) -> list[BenchRow]`` that times our implementation side by side with
the reference library **in the same process and run**, so the ratio is meaningful on a noisy
shared machine. Medians only.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["AREAS", "BenchRow", "median_ms"]

#: Modules (``engine.bench._<name>``) that ``nightlab bench`` runs, in this order.
AREAS: tuple[str, ...] = (
    "leakmask",
    "leakcues",
    "ssim",
    "alignment",
    "colorize",
    "camera",
    "store",
)


@dataclass(frozen=True)
class BenchRow:
    """One line of the benchmark table. ``reference_ms`` is ``None`` when there is none."""

    stage: str
    size: str
    ours_ms: float
    reference: str = ""
    reference_ms: float | None = None
    target: str = ""
    """The issue's target for this row, e.g. "<= 3 ms" or ">= 10x"."""
    met: bool | None = None
    note: str = ""

    @property
    def speedup(self) -> float | None:
        if self.reference_ms is None or self.ours_ms <= 0:
            return None
        return self.reference_ms / self.ours_ms


def median_ms(fn: Callable[[], object], *, repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in milliseconds over ``repeats`` calls after ``warmup``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)
