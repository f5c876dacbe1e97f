"""``nightlab bench --only store``: the experiment record's rows, gathered from one module per
part so each part lands on its own (capture latency and ingest, export/import, reprocess).

Each part module provides ``rows(*, repeats) -> list[BenchRow]``; a part not built yet is
skipped.
"""

from __future__ import annotations

import importlib

from engine.bench import BenchRow

__all__ = ["PARTS", "rows"]

#: modules under ``engine.bench`` that contribute store rows, in table order
PARTS: tuple[str, ...] = ("_store_capture", "_store_exchange", "_store_reprocess")


def rows(*, repeats: int) -> list[BenchRow]:
    out: list[BenchRow] = []
    for part in PARTS:
        name = f"engine.bench.{part}"
        try:
            mod = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        out.extend(mod.rows(repeats=repeats))
    return out
