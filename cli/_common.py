"""Shared CLI helpers: one-line errors, no tracebacks for user mistakes."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from engine.atomic import write_json_atomic


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def write_json(path: Path, data: Any) -> None:
    write_json_atomic(path, data, default=_jsonable)


def _jsonable(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def print_table(rows: list[list[str]], header: list[str], file=None) -> None:
    """Plain fixed-width table (no dependencies, readable in CI logs)."""
    file = file or sys.stdout
    cols = [header, *rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line, file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)), file=file)
