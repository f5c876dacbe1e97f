"""``data/metrics.csv``: one row per pair, for a spreadsheet or a quick look (the manifest is the
record; this is a view of it)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import IO, Any

__all__ = ["METRICS_COLUMNS", "metrics_csv", "metrics_row", "write_metrics_csv"]

#: Fixed columns; the chosen run's metrics and stage times follow, sorted by name.
METRICS_COLUMNS: tuple[str, ...] = (
    "pair",
    "folder",
    "verdict",
    "tags",
    "aligned_ok",
    "method",
    "score",
    "ssim_mean",
    "leak_area_pct",
    "model",
    "model_sha256",
)


def metrics_csv(manifest: dict[str, Any]) -> bytes:
    """The CSV for a (valid) manifest, UTF-8, ``\\n`` line ends.

    Examples
    --------
    >>> metrics_csv({"pairs": []}).decode().split(",")[:3]
    ['pair', 'folder', 'verdict']
    """
    run_keys: set[str] = set()
    rows = []
    for p in manifest["pairs"]:
        row = metrics_row(p)
        run_keys.update(k for k in row if k not in METRICS_COLUMNS)
        rows.append(row)
    out = io.StringIO()
    write_metrics_csv(out, rows, run_keys)
    return out.getvalue().encode("utf-8")


def metrics_row(p: dict[str, Any]) -> dict[str, Any]:
    """One pair's row: the fixed columns, then its chosen run's ``metric:`` and ``ms:`` cells
    (an export streaming its pairs keeps the rows aside until it knows every column)."""
    run = _chosen(p)
    extra = {}
    if run is not None:
        extra.update(
            {
                f"metric:{k}": v
                for k, v in run.get("metrics", {}).items()
                if isinstance(v, (int, float, str, bool)) or v is None
            }
        )
        extra.update({f"ms:{k}": v for k, v in run.get("timings_ms", {}).items()})
    a = p["alignment"]
    m = p.get("metrics", {})
    return {
        "pair": p["id"],
        "folder": p["folder"],
        "verdict": p["verdict"] or "",
        "tags": ";".join(p["tags"]),
        "aligned_ok": "" if a.get("ok") is None else int(bool(a["ok"])),
        "method": a.get("method") or "",
        "score": _num(a.get("score")),
        "ssim_mean": _num(m.get("ssim_mean")),
        "leak_area_pct": _num(m.get("leak_area_pct")),
        "model": run["model_name"] if run else "",
        "model_sha256": run["model_sha256"] if run else "",
        **{k: _num(v) for k, v in extra.items()},
    }


def write_metrics_csv(out: IO[str], rows: Iterable[dict[str, Any]], run_keys: set[str]) -> None:
    """The header (fixed columns, then ``run_keys`` sorted) and ``rows`` to ``out``."""
    writer = csv.DictWriter(
        out, [*METRICS_COLUMNS, *sorted(run_keys)], lineterminator="\n", restval=""
    )
    writer.writeheader()
    writer.writerows(rows)


def _chosen(pair: dict[str, Any]) -> dict[str, Any] | None:
    for run in pair["runs"]:
        if run["id"] == pair["chosen_run"]:
            return run
    return None


def _num(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return v
