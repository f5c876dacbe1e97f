"""Soak test of the real app: does NightLab survive a long live session with flat memory?

Usage::

    python benchmarks/soak.py [--minutes 10] [--interval 5] [--warmup 2] [--camera sim]
                              [--out DIR]

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

Not a CI test: it runs for minutes. Exit status: the app's, or 1 if memory is not flat.
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


def read_samples(path: Path) -> list[Sample]:
    """Parse the probe's log (header lines and a torn last line are skipped)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) not in (7, 11) or parts[0] == "t_s":
            continue
        try:
            extra = (
                (float(parts[7]), float(parts[8]), int(parts[9]), int(parts[10]))
                if len(parts) == 11
                else ()
            )
            out.append(
                Sample(
                    float(parts[0]),
                    int(parts[1]) / 1024.0,
                    int(parts[2]),
                    int(parts[3]),
                    int(parts[4]),
                    float(parts[5]),
                    parts[6],
                    *extra,
                )
            )
        except ValueError:
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
    }


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
            }
        )
    return rows


def is_flat(summary: dict) -> bool:
    """Memory trend within limits and no None/True refcount drain (the 6.12.0 abort)."""
    warm = summary["after_warmup"]
    return (
        summary["rss_growth_after_warmup_mib"] <= FLAT_RSS_MIB
        and summary["objects_growth_after_warmup"] <= FLAT_OBJECTS_FRACTION * warm["objects"]
        and summary["ref_none_drift"] > -MAX_REFCOUNT_DRAIN
        and summary["ref_true_drift"] > -MAX_REFCOUNT_DRAIN
    )


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
    if summary.get("stalls"):
        print(f"{'minutes':<14}{'stall max':>10}{'p99 (med)':>10}{'> 50 ms':>9}"
              f"{'results/s':>10}{'RSS MiB':>9}")  # fmt: skip
        for r in summary["stalls"]:
            span = f"{r['from_s'] / 60:.1f}-{r['to_s'] / 60:.1f}"
            print(
                f"{span:<14}{r['stall_max_ms']:>10.1f}{r['stall_p99_ms_median']:>10.1f}"
                f"{r['stalls_over_50ms']:>9d}{r['results_per_s']:>10.1f}{r['rss_mib_mean']:>9.1f}"
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
    fig, axes = plt.subplots(len(series), 1, figsize=(8, 2.5 * len(series)), sharex=True)
    for ax, (label, ys) in zip(axes, series, strict=True):
        ax.plot(t, ys, lw=1.2)
        ax.axvline(summary["warmup_s"] / 60.0, color="0.6", ls="--", lw=1)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[-1].set_xlabel("minutes (dashed: end of warm-up)")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())
    return True


def replot(json_path: Path, warmup_s: float) -> int:
    """Re-summarise a saved run (``--replot soak.json``) without running the app again."""
    data = json.loads(json_path.read_text(encoding="utf-8"))
    samples = [Sample(**s) for s in data["samples"]]
    summary = {**data["summary"], **summarise(samples, warmup_s)}
    summary["flat"] = is_flat(summary)
    print_table(summary)
    print(f"verdict: memory {'flat' if summary['flat'] else 'NOT flat'} after warm-up")
    return 0 if summary["flat"] else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--interval", type=float, default=5.0, help="seconds between samples")
    p.add_argument("--warmup", type=float, default=2.0, help="warm-up minutes (not judged)")
    p.add_argument("--camera", default="sim")
    p.add_argument("--resolution", help="simulated camera frame size, e.g. 1280x720")
    p.add_argument("--out", type=Path, default=REPO / "benchmarks" / "out", help="folder")
    p.add_argument("--replot", type=Path, metavar="JSON", help="re-summarise a saved soak.json")
    args = p.parse_args(argv)
    if args.replot:
        return replot(args.replot, args.warmup * 60.0)
    if args.minutes <= 0 or args.interval <= 0 or args.warmup < 0:
        p.error("--minutes and --interval must be > 0, --warmup >= 0")
    args.out.mkdir(parents=True, exist_ok=True)
    seconds = args.minutes * 60.0
    env = dict(os.environ)
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory(prefix="nightlab-soak-") as tmp:
        probe = Path(tmp) / "probe.tsv"
        env["NIGHTLAB_SOAK_PROBE"] = str(probe)
        env["NIGHTLAB_SOAK_INTERVAL"] = str(args.interval)
        cmd = [sys.executable, "-m", "main", "--camera", args.camera, "--smoke", f"{seconds:g}"]
        if args.resolution:
            cmd += ["--resolution", args.resolution]
        print(f"$ {' '.join(cmd)}  (probe every {args.interval:g} s)", flush=True)
        t0 = time.monotonic()
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True)
        wall = time.monotonic() - t0
        samples = read_samples(probe) if probe.exists() else []
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
    )
    summary["flat"] = is_flat(summary)
    print_table(summary)
    verdict = "flat" if summary["flat"] else "NOT flat"
    print(
        f"verdict: memory {verdict} after warm-up (limits: RSS +{FLAT_RSS_MIB:g} MiB, "
        f"objects +{FLAT_OBJECTS_FRACTION:.0%}); exit {proc.returncode}"
    )
    write_json_atomic(
        args.out / "soak.json", {"summary": summary, "samples": [asdict(s) for s in samples]}
    )
    title = (
        f"NightLab soak: {args.minutes:g} min, camera {args.camera}, live colorize; "
        f"exit {proc.returncode}, {verdict}"
    )
    if save_plot(samples, summary, args.out / "soak.png", title):
        print(f"wrote {args.out / 'soak.png'} and {args.out / 'soak.json'}")
    if proc.returncode != 0:
        return proc.returncode
    return 0 if summary["flat"] else 1


if __name__ == "__main__":
    sys.exit(main())
