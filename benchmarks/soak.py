"""Soak test of the real app: does NightLab survive a long live session with flat memory?

Usage::

    python benchmarks/soak.py [--minutes 10] [--interval 5] [--warmup MIN] [--camera sim]
                              [--out DIR] [--capture-every SECONDS [--burst K]]

Starts ``python -m main --smoke SECONDS`` (the real main window on the simulated camera, which
the smoke run walks through capture day reference -> night -> **live colorize**) with
``NIGHTLAB_SOAK_PROBE`` set, so the app logs every few seconds its RSS, the number of objects
the garbage collector tracks, the refcounts of ``None`` and ``True`` (a drift there is what
aborted the app with PySide6 6.12.0 on Python 3.11), how late its GUI timer fired, the GUI
thread's stalls over the interval (5 ms heartbeat: max, p99, gaps over 50 ms) and the live
results shown. The probe also steps the result view through every overlay. ``--resolution``
sets the simulated camera's frame size. Afterwards this script prints a table
(start, end of warm-up, end; slopes after warm-up), a verdict, and saves ``soak.png`` (needs
matplotlib: ``pip install -e ".[bench]"``) and ``soak.json`` into ``--out``.

With ``--capture-every SECONDS`` it soaks what an unattended night of *recording* does: once
the smoke flow has recorded its first pair, the probe starts a scheduled capture run in the
Capture dock (every SECONDS, until stopped, burst ``--burst``) into a real store in a scratch
data folder, beside the live colorize, and shows the QA grid for one interval a minute. Each
sample then also has the open file descriptors, threads, the SQLite file and WAL sizes, the
rows in the store, the job backlog and the pair cache; the table gets those per 5 minutes,
their trends after warm-up are judged too (file descriptors and threads must not grow, the
WAL must stay bounded), and after the app has exited the store is opened and checked: rows,
every file against its checksum, SQLite's integrity check.

The warm-up (not judged) is 2 minutes, or with a capture run the time it takes to record the
pairs whose QA thumbnails the app keeps (they fill to a fixed size: 2.25 pages of 200 pairs,
about 45 minutes at a pair every 6 s) plus 2 minutes, unless ``--warmup`` says otherwise;
growth while that cache fills is not growth per pair.

Not a CI test: it runs for minutes. Exit status: the app's, or 1 if memory (or, with a
capture run, fds, threads, the WAL or the record) is not flat / sound.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from engine.atomic import write_bytes_atomic, write_json_atomic  # noqa: E402

#: after warm-up, RSS may grow at most this much over the rest of the run to count as flat
FLAT_RSS_MIB = 20.0
#: ... and the tracked-object count at most this fraction
FLAT_OBJECTS_FRACTION = 0.02
#: a steady fall of refcount(None)/refcount(True) beyond this is the interpreter-abort bug
MAX_REFCOUNT_DRAIN = 1000
#: with a capture run: open fds / threads may grow at most this much after warm-up (trend)
FLAT_FDS = 4
FLAT_THREADS = 2
#: ... and the WAL may not end bigger than this (SQLite checkpoints at ~4 MiB by default)
MAX_WAL_MIB = 16.0
#: ... and the job backlog must come back down: its median over the last fifth of the run
MAX_JOBS_BACKLOG = 8


@dataclass(frozen=True)
class Sample:
    t_s: float
    rss_mib: float
    objects: int
    ref_none: int
    ref_true: int
    late_ms: float
    view: str
    stall_max_ms: float = float("nan")
    stall_p99_ms: float = float("nan")
    stalls_over_50ms: int = 0
    results: int = 0
    # resources and the record (probes from before they were logged leave them at -1)
    fds: int = -1
    threads: int = -1
    py_threads: int = -1
    db_bytes: int = -1
    wal_bytes: int = -1
    pairs: int = -1
    captures: int = -1
    log_rows: int = -1
    jobs: int = -1
    cached: int = -1
    load1: float = float("nan")
    # where the RSS is: anonymous / file-backed, and malloc's heap in use / held free
    rss_anon_kib: int = -1
    rss_file_kib: int = -1
    heap_kib: int = -1
    heap_free_kib: int = -1


_COLUMNS = {  # probe column -> (Sample field, parser)
    "t_s": ("t_s", float),
    "rss_kib": ("rss_mib", lambda v: int(v) / 1024.0),
    "gc_objects": ("objects", int),
    "refcount_None": ("ref_none", int),
    "refcount_True": ("ref_true", int),
    "timer_late_ms": ("late_ms", float),
    "result_view": ("view", str),
    "stall_max_ms": ("stall_max_ms", float),
    "stall_p99_ms": ("stall_p99_ms", float),
    "stalls_over_50ms": ("stalls_over_50ms", int),
    "results": ("results", int),
    **{name: (name, int) for name in (
        "fds", "threads", "py_threads", "db_bytes", "wal_bytes", "pairs", "captures",
        "log_rows", "jobs", "cached",
    )},
    "load1": ("load1", float),
    **{name: (name, int) for name in ("rss_anon_kib", "rss_file_kib", "heap_kib",
                                      "heap_free_kib")},
}  # fmt: skip
_OLD_HEADER = list(_COLUMNS)[:11]


def read_samples(path: Path) -> list[Sample]:
    """Parse the probe's log by its header line (a log of an older probe, without one or
    with fewer columns, too); header lines and a torn last line are skipped."""
    out = []
    header = _OLD_HEADER
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if parts[0] == "t_s":
            header = parts
            continue
        if len(parts) not in (len(header), 7) or len(parts) < 7:
            continue
        try:
            fields = {}
            for name, value in zip(header, parts, strict=False):
                if name in _COLUMNS:
                    key, parse = _COLUMNS[name]
                    fields[key] = parse(value)
            out.append(Sample(**fields))
        except (ValueError, TypeError):
            continue
    return out


def _slope_per_min(t_s: np.ndarray, y: np.ndarray) -> float:
    if len(t_s) < 2 or np.ptp(t_s) == 0:
        return 0.0
    return float(np.polyfit(t_s / 60.0, y, 1)[0])


def summarise(samples: list[Sample], warmup_s: float) -> dict:
    """Start / after warm-up / end figures and least-squares slopes after warm-up."""
    if not samples:
        raise ValueError("no samples: the app wrote nothing to the probe file")
    t = np.array([s.t_s for s in samples])
    rss = np.array([s.rss_mib for s in samples])
    objs = np.array([s.objects for s in samples], float)
    steady = t >= warmup_s
    if steady.sum() < 2:
        steady = np.ones_like(t, bool)
    i_warm = int(np.argmax(steady))
    first, warm, last = samples[0], samples[i_warm], samples[-1]
    ts, rs, os_ = t[steady], rss[steady], objs[steady]
    rss_slope = _slope_per_min(ts, rs)
    obj_slope = _slope_per_min(ts, os_)
    steady_min = float(ts[-1] - ts[0]) / 60.0
    return {
        "samples": len(samples),
        "duration_s": float(t[-1]),
        "warmup_s": float(warm.t_s),
        "start": asdict(first),
        "after_warmup": asdict(warm),
        "end": asdict(last),
        # growth = least-squares trend over the steady part (single samples swing by
        # ~15 MiB as the views cycle and buffers come and go; the trend is what leaks)
        "rss_growth_after_warmup_mib": rss_slope * steady_min,
        "rss_min_after_warmup_mib": float(rs.min()),
        "rss_max_after_warmup_mib": float(rs.max()),
        "rss_slope_mib_per_min": rss_slope,
        "objects_growth_after_warmup": int(round(obj_slope * steady_min)),
        "objects_slope_per_min": obj_slope,
        "ref_none_drift": int(last.ref_none - warm.ref_none),
        "ref_true_drift": int(last.ref_true - warm.ref_true),
        "timer_late_ms_median": float(np.median([s.late_ms for s in samples[1:]] or [0.0])),
        "timer_late_ms_max": float(max([s.late_ms for s in samples[1:]] or [0.0])),
        "views_shown": sorted({s.view for s in samples}),
        "stalls": stall_periods(samples, warmup_s),
        "resources": resource_trends(samples, warmup_s),
    }


def resource_trends(samples: list[Sample], warmup_s: float) -> dict | None:
    """Open fds, threads, WAL, the record and the job backlog: after warm-up, start / end /
    range and least-squares trend; None for a probe that did not log them."""
    logged = [s for s in samples if s.fds >= 0]
    if not logged:
        return None
    steady = [s for s in logged if s.t_s >= warmup_s] or logged
    t = np.array([s.t_s for s in steady])
    minutes = float(t[-1] - t[0]) / 60.0
    out: dict = {"from_s": steady[0].t_s, "to_s": steady[-1].t_s}
    for name in ("fds", "threads", "py_threads", "wal_bytes", "db_bytes", "pairs", "jobs",
                 "cached"):  # fmt: skip
        y = np.array([getattr(s, name) for s in steady], float)
        slope = _slope_per_min(t, y)
        out[name] = {
            "start": int(y[0]),
            "end": int(y[-1]),
            "min": int(y.min()),
            "max": int(y.max()),
            "growth": slope * minutes,
            "slope_per_min": slope,
        }
    tail = [s.jobs for s in steady[int(len(steady) * 0.8) :]] or [steady[-1].jobs]
    out["jobs_tail_median"] = float(np.median(tail))
    pairs = out["pairs"]
    out["pairs_per_min"] = (pairs["end"] - pairs["start"]) / minutes if minutes > 0 else 0.0
    rss = np.array([s.rss_mib for s in steady])
    pair_counts = np.array([s.pairs for s in steady], float)
    # memory per recorded pair: the RSS trend against the rows, not against time
    out["rss_kib_per_pair"] = (
        float(np.polyfit(pair_counts, rss, 1)[0] * 1024.0) if np.ptp(pair_counts) > 0 else None
    )
    # and of its parts: anonymous memory, file pages, malloc's heap in use and held free
    for name in ("rss_anon_kib", "rss_file_kib", "heap_kib", "heap_free_kib"):
        y = np.array([getattr(s, name) for s in steady], float)
        if (y < 0).any() or np.ptp(pair_counts) == 0:
            out[f"{name}_per_pair"] = None
            continue
        out[f"{name}_per_pair"] = float(np.polyfit(pair_counts, y, 1)[0])
        out[f"{name}_start_end"] = [int(y[0]), int(y[-1])]
    return out


def stall_periods(samples: list[Sample], warmup_s: float, period_s: float = 300.0) -> list:
    """GUI stalls and live results per ``period_s`` of the run (the warm-up is its own
    first period): is the worst stall flat over the night, and did the live view go on?"""
    rows = []
    edges = [0.0, warmup_s] if warmup_s > 0 else [0.0]
    end = max((s.t_s for s in samples), default=0.0)
    while edges[-1] < end:
        edges.append(edges[-1] + period_s)
    for lo, hi in zip(edges, edges[1:], strict=False):
        part = [s for s in samples if lo < s.t_s <= hi and not np.isnan(s.stall_max_ms)]
        if not part:
            continue
        span = part[-1].t_s - part[0].t_s + (part[1].t_s - part[0].t_s if len(part) > 1 else 0)
        rows.append(
            {
                "from_s": lo,
                "to_s": min(hi, end),
                "stall_max_ms": max(s.stall_max_ms for s in part),
                "stall_p99_ms_median": float(np.median([s.stall_p99_ms for s in part])),
                "stalls_over_50ms": int(sum(s.stalls_over_50ms for s in part)),
                "results_per_s": sum(s.results for s in part) / span if span > 0 else 0.0,
                "rss_mib_mean": float(np.mean([s.rss_mib for s in part])),
                "fds_max": max(s.fds for s in part),
                "threads_max": max(s.threads for s in part),
                "db_mib": part[-1].db_bytes / 2**20,
                "wal_mib_max": max(s.wal_bytes for s in part) / 2**20,
                "pairs": part[-1].pairs,
                "jobs_max": max(s.jobs for s in part),
                "load1_median": _nanmedian([s.load1 for s in part]),
            }
        )
    return rows


def _nanmedian(values: list[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


def is_flat(summary: dict) -> bool:
    """Memory trend within limits and no None/True refcount drain (the 6.12.0 abort); with
    a capture run also fds, threads, the WAL and the job backlog (`not_flat` says which)."""
    return not not_flat(summary)


def not_flat(summary: dict) -> list[str]:
    """What grew beyond its limit (empty: flat)."""
    warm = summary["after_warmup"]
    bad = []
    if summary["rss_growth_after_warmup_mib"] > FLAT_RSS_MIB:
        bad.append(f"RSS +{summary['rss_growth_after_warmup_mib']:.1f} MiB > {FLAT_RSS_MIB:g}")
    if summary["objects_growth_after_warmup"] > FLAT_OBJECTS_FRACTION * warm["objects"]:
        bad.append(f"objects +{summary['objects_growth_after_warmup']}")
    if min(summary["ref_none_drift"], summary["ref_true_drift"]) <= -MAX_REFCOUNT_DRAIN:
        bad.append("None/True refcount drain")
    res = summary.get("resources")
    if res and res["pairs"]["max"] > 0:
        if res["fds"]["growth"] > FLAT_FDS:
            bad.append(f"open fds +{res['fds']['growth']:.1f} (trend) > {FLAT_FDS}")
        if res["threads"]["growth"] > FLAT_THREADS:
            bad.append(f"threads +{res['threads']['growth']:.1f} (trend) > {FLAT_THREADS}")
        if res["wal_bytes"]["max"] > MAX_WAL_MIB * 2**20:
            bad.append(f"WAL reached {res['wal_bytes']['max'] / 2**20:.1f} MiB > {MAX_WAL_MIB:g}")
        if res["jobs_tail_median"] > MAX_JOBS_BACKLOG:
            bad.append(f"job backlog {res['jobs_tail_median']:.0f} at the end (keeps growing)")
    record = summary.get("record")
    if record is not None and record.get("problems"):
        bad.append(f"record: {record['problems'][0]}")
    return bad


def print_table(summary: dict) -> None:
    rows = [("start", summary["start"]), ("after warm-up", summary["after_warmup"])]
    rows.append(("end", summary["end"]))
    print(f"{'':<14}{'t s':>8}{'RSS MiB':>10}{'objects':>10}{'refs None':>12}{'refs True':>12}")
    for name, s in rows:
        print(
            f"{name:<14}{s['t_s']:>8.0f}{s['rss_mib']:>10.1f}{s['objects']:>10d}"
            f"{s['ref_none']:>12d}{s['ref_true']:>12d}"
        )
    print(
        f"after warm-up (trend): RSS {summary['rss_growth_after_warmup_mib']:+.1f} MiB "
        f"({summary['rss_slope_mib_per_min']:+.2f} MiB/min; samples "
        f"{summary['rss_min_after_warmup_mib']:.0f}-{summary['rss_max_after_warmup_mib']:.0f}"
        f"); objects {summary['objects_growth_after_warmup']:+d} "
        f"({summary['objects_slope_per_min']:+.0f}/min); None/True refcount drift "
        f"{summary['ref_none_drift']:+d}/{summary['ref_true_drift']:+d}"
    )
    print(
        f"GUI timer lateness: median {summary['timer_late_ms_median']:.0f} ms, "
        f"max {summary['timer_late_ms_max']:.0f} ms; views shown: "
        f"{', '.join(summary['views_shown'])}"
    )
    res = summary.get("resources")
    capture = bool(res and res["pairs"]["max"] > 0)
    if summary.get("stalls"):
        head = (f"{'minutes':<14}{'stall max':>10}{'p99 (med)':>10}{'> 50 ms':>9}"
                f"{'results/s':>10}{'RSS MiB':>9}")  # fmt: skip
        if capture:
            head += (
                f"{'fds':>6}{'threads':>8}{'DB MiB':>8}{'WAL MiB':>8}{'pairs':>7}{'jobs':>6}"
                f"{'load':>6}"
            )
        print(head)
        for r in summary["stalls"]:
            span = f"{r['from_s'] / 60:.1f}-{r['to_s'] / 60:.1f}"
            line = (
                f"{span:<14}{r['stall_max_ms']:>10.1f}{r['stall_p99_ms_median']:>10.1f}"
                f"{r['stalls_over_50ms']:>9d}{r['results_per_s']:>10.1f}{r['rss_mib_mean']:>9.1f}"
            )
            if capture:
                line += (
                    f"{r['fds_max']:>6d}{r['threads_max']:>8d}{r['db_mib']:>8.2f}"
                    f"{r['wal_mib_max']:>8.2f}{r['pairs']:>7d}{r['jobs_max']:>6d}"
                    f"{r['load1_median']:>6.1f}"
                )
            print(line)
    if capture:
        g = lambda k: res[k]  # noqa: E731
        print(
            f"after warm-up (trend): fds {g('fds')['start']}->{g('fds')['end']} "
            f"({g('fds')['growth']:+.1f}; range {g('fds')['min']}-{g('fds')['max']}), "
            f"threads {g('threads')['start']}->{g('threads')['end']} "
            f"({g('threads')['growth']:+.1f}; range {g('threads')['min']}-{g('threads')['max']}), "
            f"WAL max {g('wal_bytes')['max'] / 2**20:.2f} MiB, DB "
            f"{g('db_bytes')['end'] / 2**20:.2f} MiB, pairs {g('pairs')['start']}->"
            f"{g('pairs')['end']} ({res['pairs_per_min']:.1f}/min), job backlog max "
            f"{g('jobs')['max']} (end median {res['jobs_tail_median']:.0f}), pair cache max "
            f"{g('cached')['max']}"
            + (
                f", RSS {res['rss_kib_per_pair']:+.0f} KiB per pair (fit)"
                if res["rss_kib_per_pair"] is not None
                else ""
            )
        )
    if capture and res.get("heap_kib_per_pair") is not None:
        parts = [
            f"{label} {res[k + '_start_end'][0] / 1024:.1f}->{res[k + '_start_end'][1] / 1024:.1f}"
            f" MiB ({res[k + '_per_pair']:+.1f} KiB per pair)"
            for k, label in (("rss_anon_kib", "RSS anonymous"), ("rss_file_kib", "file-backed"),
                             ("heap_kib", "malloc heap in use"), ("heap_free_kib", "held free"))
        ]  # fmt: skip
        print("after warm-up: " + ", ".join(parts))
    record = summary.get("record")
    if record is not None:
        print(
            f"the record after the run: {record.get('pairs')} pairs, {record.get('captures')} "
            f"captures, {record.get('files')} files checked, {record.get('log_rows')} log lines; "
            + ("sound" if not record.get("problems") else f"PROBLEMS: {record['problems'][:3]}")
        )


def save_plot(samples: list[Sample], summary: dict, path: Path, title: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('(no plot: matplotlib missing; pip install -e ".[bench]")', file=sys.stderr)
        return False
    t = np.array([s.t_s for s in samples]) / 60.0
    series = [
        ("RSS (MiB)", [s.rss_mib for s in samples]),
        ("gc-tracked objects", [s.objects for s in samples]),
        ("refcount(None) - start", [s.ref_none - samples[0].ref_none for s in samples]),
    ]
    if not all(np.isnan(s.stall_max_ms) for s in samples):
        series.append(("GUI stall max (ms)", [s.stall_max_ms for s in samples]))
    if any(s.pairs > 0 for s in samples):  # a capture run: what it holds as the record grows
        series += [
            ("open fds / threads", ([s.fds for s in samples], [s.threads for s in samples])),
            ("WAL (MiB)", [s.wal_bytes / 2**20 for s in samples]),
            ("pairs in the store", [s.pairs for s in samples]),
        ]
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.5 * len(series)), sharex=True)
    for ax, (label, ys) in zip(axes, series, strict=True):
        if isinstance(ys, tuple):  # two series on one axis, named by the label's parts
            for y, name in zip(ys, label.split(" / "), strict=True):
                ax.plot(t, y, lw=1.2, label=name)
            ax.legend(loc="center right", fontsize=8)
        else:
            ax.plot(t, ys, lw=1.2)
        ax.axvline(summary["warmup_s"] / 60.0, color="0.6", ls="--", lw=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes (dashed: end of warm-up)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.985))
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return True


def default_warmup_min(capture_every_s: float | None) -> tuple[float, str]:
    """The warm-up in minutes when ``--warmup`` is not given, and why."""
    if not capture_every_s:
        return 2.0, "2 min (no capture run)"
    from gui.qa.panel import PAGE, THUMB_PAGES_KEPT

    pairs = int(THUMB_PAGES_KEPT * PAGE)
    fill_min = pairs * capture_every_s / 60.0
    return fill_min + 2.0, (
        f"{fill_min + 2.0:g} min: the QA thumbnails of {pairs} pairs, kept by the app, fill by "
        f"minute {fill_min:g} at a pair every {capture_every_s:g} s, plus 2 min"
    )


def replot(json_path: Path, warmup_s: float | None, plot: Path | None = None) -> int:
    """Re-summarise a saved run (``--replot soak.json``) without running the app again, with
    another warm-up if asked (``--warmup``), and draw it again (``--plot PNG``)."""
    data = json.loads(json_path.read_text(encoding="utf-8"))
    samples = [Sample(**s) for s in data["samples"]]
    if warmup_s is None:
        minutes, why = default_warmup_min(data["summary"].get("capture_every_s"))
        warmup_s = minutes * 60.0
        print(f"warm-up {why}")
    summary = {**data["summary"], **summarise(samples, warmup_s)}
    summary["flat"] = is_flat(summary)
    print_table(summary)
    if plot is not None:
        every = summary.get("capture_every_s")
        title = (
            f"NightLab soak: {summary['duration_s'] / 60:.0f} min, live colorize"
            + (f" + a capture every {every:g} s" if every else "")
            + f"; {'flat' if summary['flat'] else 'NOT flat'} after {warmup_s / 60:g} min"
        )
        save_plot(samples, summary, plot, title)
    print(f"verdict: {'flat' if summary['flat'] else 'NOT flat'} after warm-up")
    for why in not_flat(summary):
        print(f"  not flat: {why}")
    return 0 if summary["flat"] else 1


def check_record(data_dir: Path) -> dict:
    """After the app exited: open the store it wrote and check it (rows, every file against
    its checksum, SQLite's own integrity check). The run's whole record must be sound."""
    import sqlite3

    from engine.store import DB_NAME, Store, StoreError

    if not (data_dir / DB_NAME).exists():
        return {"problems": [f"{data_dir}: no database written"]}
    try:
        with Store(data_dir, read_only=True) as store:
            problems = store.verify()
            files = store.count_files()
            sessions = store.sessions()
            pairs = sum(s.n_pairs for s in sessions)
            captures = sum(s.n_captures for s in sessions)
            log_rows = sum(len(store.log_entries(s.id)) for s in sessions)
            db = store.db_path
    except (StoreError, OSError) as exc:
        return {"problems": [str(exc)]}
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    wal = Path(f"{db}-wal")
    return {
        "pairs": pairs,
        "captures": captures,
        "files": files,
        "log_rows": log_rows,
        "db_bytes": db.stat().st_size,
        "wal_bytes_after_close": wal.stat().st_size if wal.exists() else 0,
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    p.add_argument(
        "--warmup",
        type=float,
        default=None,
        help="warm-up minutes, not judged (default: 2, or with --capture-every the QA "
        "thumbnails' fill plus 2)",
    )
    p.add_argument("--camera", default="sim")
    p.add_argument("--resolution", help="simulated camera frame size, e.g. 1280x720")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out", help="folder")
    p.add_argument("--replot", type=Path, metavar="JSON", help="re-summarise a saved soak.json")
    p.add_argument("--plot", type=Path, metavar="PNG", help="with --replot: draw it here")
    p.add_argument(
        "--capture-every",
        type=float,
        default=0.0,
        metavar="S",
        help="also run an unattended capture run, a capture every S seconds (>= 3)",
    )
    p.add_argument("--burst", type=int, default=0, help="frames per capture (default: the app's)")
    args = p.parse_args(argv)
    if args.replot:
        return replot(args.replot, None if args.warmup is None else args.warmup * 60.0, args.plot)
    if args.warmup is None:
        args.warmup, why = default_warmup_min(args.capture_every)
        print(f"warm-up {why}", flush=True)
    if args.minutes <= 0 or args.interval <= 0 or args.warmup < 0:
        p.error("--minutes and --interval must be > 0, --warmup >= 0")
    if args.capture_every and args.capture_every < 3.0:
        p.error("--capture-every: the Capture dock's finest interval is 3 s (0.05 min)")
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = args.minutes * 60.0
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="nightlab-soak-") as tmp:
        probe = Path(tmp) / "probe.tsv"
        env["NIGHTLAB_SOAK_PROBE"] = str(probe)
        env["NIGHTLAB_SOAK_INTERVAL"] = str(args.interval)
        data_dir = Path(tmp) / "data"
        if args.capture_every:
            env["NIGHTLAB_SOAK_CAPTURE_EVERY"] = str(args.capture_every)
            env["NIGHTLAB_SOAK_CAPTURE_BURST"] = str(args.burst)
            env["NIGHTLAB_DATA_DIR"] = str(data_dir)  # a real store, checked afterwards
        cmd = [sys.executable, "-m", "main", "--camera", args.camera, "--smoke", f"{seconds:g}"]
        if args.resolution:
            cmd += ["--resolution", args.resolution]
        print(f"$ {' '.join(cmd)}  (probe every {args.interval:g} s)", flush=True)
        t0 = time.monotonic()
        load_before = os.getloadavg()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        load_after = os.getloadavg()
        samples = read_samples(probe) if probe.exists() else []
        record = check_record(data_dir) if args.capture_every else None
    print(f"exit code {proc.returncode} after {wall:.0f} s wall")
    if proc.stderr.strip():
        print("app stderr (last lines):\n  " + "\n  ".join(proc.stderr.strip().splitlines()[-5:]))
    if not samples:
        print("no samples recorded")
        return proc.returncode or 1
    summary = summarise(samples, args.warmup * 60.0)
    summary.update(
        exit_code=proc.returncode,
        wall_s=wall,
        command=cmd,
        machine=f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}",
        load_average={"start": load_before, "end": load_after},
        started_at=time.time() - wall,
        capture_every_s=args.capture_every or None,
        record=record,
    )
    summary["flat"] = is_flat(summary)
    print_table(summary)
    verdict = "flat" if summary["flat"] else "NOT flat"
    what = "memory" + (", fds, threads, WAL, backlog and record" if args.capture_every else "")
    print(
        f"verdict: {what} {verdict} after warm-up (limits: RSS +{FLAT_RSS_MIB:g} MiB, "
        f"objects +{FLAT_OBJECTS_FRACTION:.0%}"
        + (
            f", fds +{FLAT_FDS}, threads +{FLAT_THREADS}, WAL {MAX_WAL_MIB:g} MiB"
            if args.capture_every
            else ""
        )
        + f"); exit {proc.returncode}; load average 1/5/15 min at start "
        f"{'/'.join(f'{x:.1f}' for x in load_before)}, at end "
        f"{'/'.join(f'{x:.1f}' for x in load_after)}"
    )
    for why in not_flat(summary):
        print(f"  not flat: {why}")
    write_json_atomic(
        args.out / "soak.json", {"summary": summary, "samples": [asdict(s) for s in samples]}
    )
    title = (
        f"NightLab soak: {args.minutes:g} min, camera {args.camera}, live colorize"
        + (f" + a capture every {args.capture_every:g} s" if args.capture_every else "")
        + "; "
        f"exit {proc.returncode}, {verdict}"
    )
    if save_plot(samples, summary, args.out / "soak.png", title):
        print(f"wrote {args.out / 'soak.png'} and {args.out / 'soak.json'}")
    if proc.returncode != 0:
        return proc.returncode
    return 0 if summary["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
