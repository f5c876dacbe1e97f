"""``nightlab bench``: our per-stage latency side by side with the reference libraries.

Everything runs in one process and one run, so ratios are comparable on a noisy machine;
every figure is a median of repeated runs.
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
from dataclasses import asdict
from pathlib import Path

from cli._common import check_output_file, print_table, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "bench",
        help="per-stage latency, ours vs reference libraries",
        description="Times each stage (leak mask, leak cues, SSIM, alignment, colorize, camera, "
        "store) beside the reference libraries, in one process: medians of --repeats runs.",
    )
    p.add_argument("--repeats", type=int, default=15, help="timed runs per row (median)")
    p.add_argument(
        "--only",
        action="append",
        metavar="AREA",
        help="run only this area (repeatable): leakmask, leakcues, ssim, alignment, colorize, "
        "camera, store",
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="also write the rows as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine.bench import AREAS

    if args.repeats < 1:
        raise ValueError(f"--repeats must be >= 1, got {args.repeats}")
    areas = args.only or list(AREAS)
    unknown = sorted(set(areas) - set(AREAS))
    if unknown:
        raise ValueError(f"unknown area {', '.join(unknown)}; choose from {', '.join(AREAS)}")
    if args.json:
        check_output_file(args.json, "--json")  # before minutes of benchmarking
    print(_machine_line())
    rows, missing = [], []
    for area in areas:
        try:
            mod = importlib.import_module(f"engine.bench._{area}")
        except ModuleNotFoundError:
            missing.append(area)
            continue
        print(f"running {area} ...", file=sys.stderr, flush=True)
        rows.extend(mod.rows(repeats=args.repeats))
    table = [
        [
            r.stage,
            r.size,
            f"{r.ours_ms:.2f}",
            r.reference or "-",
            "-" if r.reference_ms is None else f"{r.reference_ms:.2f}",
            "-" if r.speedup is None else f"{r.speedup:.1f}x",
            r.target or "-",
            {True: "yes", False: "NO", None: "-"}[r.met],
            r.note,
        ]
        for r in rows
    ]
    print_table(
        table,
        ["stage", "size", "ours ms", "reference", "ref ms", "speedup", "target", "met", "note"],
    )
    if missing:
        print(f"(not built: {', '.join(missing)})")
    if args.json:
        write_json(args.json, {"machine": _machine_line(), "rows": [asdict(r) for r in rows]})
    return 0


def _machine_line() -> str:
    import cv2
    import numpy as np

    return (
        f"# {platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"numpy {np.__version__}, OpenCV {cv2.__version__}; medians of repeated runs"
    )
