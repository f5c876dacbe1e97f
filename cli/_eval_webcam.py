"""``nightlab eval --webcam DIR``: colour leaks measured without labels on fixed webcams."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli._common import (
    CliError,
    check_not_an_input,
    check_output_file,
    folder_problem,
    print_table,
    write_json,
)

#: the issue's target: fused + masked vs a single unmasked reference
DISAGREEMENT_TARGET = 0.5
CHROMA_TARGET = 0.8


def add_webcam_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("with --webcam")
    g.add_argument(
        "--night-hours",
        default="20-6",
        metavar="H1-H2",
        help="capture hours counted as night (default 20-6: 20:00 to 05:59)",
    )
    g.add_argument("--max-refs", type=int, default=8, help="day frames fused per side (default 8)")
    g.add_argument(
        "--min-refs",
        type=int,
        default=3,
        help="skip night frames with fewer day frames before or after (default 3)",
    )
    g.add_argument(
        "--registration",
        default="fixed",
        choices=["fixed", "translation", "auto"],
        help="how day frames are put onto the night frame (default: fixed camera)",
    )
    g.add_argument(
        "--baseline",
        action="store_true",
        help="colorize with the classical reference transfer instead of the model",
    )
    g.add_argument("--montage", type=Path, metavar="DIR", help="write one montage PNG per camera")
    g.add_argument("--json", type=Path, metavar="OUT", help="write every row as JSON")


def _night_hours(text: str) -> tuple[int, int]:
    try:
        a, b = (int(v) for v in text.split("-"))
    except ValueError:
        raise CliError(f"--night-hours must look like 20-6, got {text!r}") from None
    if not (0 <= a <= 24 and 0 <= b <= 24):
        raise CliError(f"--night-hours: hours must be in 0..24, got {text!r}")
    return a, b


def run_webcam(args: argparse.Namespace) -> int:
    from engine import write_image
    from engine.colorize import RecombineParams, ReferenceTransferColorizer, load_colorizer
    from engine.evaluation import (
        evaluate_webcam,
        find_webcam_frames,
        webcam_cameras,
        webcam_montage,
    )

    if args.model:
        raise CliError("--model applies to --pairs; --webcam evaluates one colorizer")
    hours = _night_hours(args.night_hours)
    cameras = webcam_cameras(args.webcam)  # one clear line when DIR holds no webcam frames
    # outputs are checked before minutes of evaluation, not after them
    if args.json:
        check_output_file(args.json, "--json")
        frames = [f.path for cam in cameras for f in find_webcam_frames(cam)]
        check_not_an_input(args.json, frames, "--json")
    if args.montage and (problem := folder_problem(args.montage)):
        raise CliError(f"--montage {args.montage}: {problem}")
    params = RecombineParams(
        **({} if args.passthrough is None else {"passthrough": args.passthrough})
    )
    if args.baseline:
        colorizer = ReferenceTransferColorizer(params=params)
    else:
        colorizer = load_colorizer(threads=args.threads, params=params)
    best: dict[str, dict] = {}

    def keep(kept: dict) -> None:  # the most leak-prone night of each camera, for the montage
        score = kept["scores"]["single"][0]
        if args.montage and score > best.get(kept["camera"], {}).get("_score", -1.0):
            best[kept["camera"]] = {**kept, "_score": score}

    report = evaluate_webcam(
        args.webcam,
        colorizer,
        night_hours=hours,
        max_refs=args.max_refs,
        min_refs=args.min_refs,
        registration=args.registration,
        limit=args.limit,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
        keep=keep,
    )
    if not report.rows:
        reasons = "; ".join(f"{n}: {r}" for n, r in report.skipped) or "no night frames"
        raise CliError(f"{args.webcam}: nothing to evaluate ({reasons})")
    nights = len({(r.camera, r.night) for r in report.rows})
    print(
        f"{nights} night frames evaluated ({len(report.skipped)} skipped), colorizer "
        f"{colorizer.name} (passthrough {params.passthrough}), registration "
        f"{report.registration}, up to {args.max_refs} day "
        f"frames fused per side; night = capture hours {args.night_hours}, luminance only; "
        f"{report.day_frames_refused} of {report.day_frames_tried} day frames did not align "
        "and were left out"
    )
    header = [
        "camera",
        "config",
        "nights",
        "disagreement ΔE_ab",
        "vs single",
        "chroma",
        "chroma kept",
        "masked %",
    ]
    table = []
    for r in report.summary:
        n = (
            nights
            if r.camera == "all"
            else len({x.night for x in report.rows if x.camera == r.camera})
        )
        table.append(
            [
                r.camera,
                r.config,
                str(n),
                f"{r.disagreement:.2f}",
                f"{report.ratio(r.camera, r.config, 'disagreement'):.2f}x",
                f"{r.chroma:.2f}",
                f"{100 * report.ratio(r.camera, r.config, 'chroma'):.0f}%",
                f"{r.masked_pct:.1f}",
            ]
        )
    print_table(table, header, markdown=args.markdown)
    for name, reason in report.skipped:
        print(f"skipped {name}: {reason}")
    cams = [c for c in dict.fromkeys(r.camera for r in report.summary) if c != "all"]
    dis = report.ratio("all", "fused+mask", "disagreement")
    chroma = report.ratio("all", "fused+mask", "chroma")
    per = ", ".join(
        f"{c} {report.ratio(c, 'fused+mask', 'disagreement'):.2f}x/"
        f"{100 * report.ratio(c, 'fused+mask', 'chroma'):.0f}%"
        for c in cams
    )
    met = dis <= DISAGREEMENT_TARGET and chroma >= CHROMA_TARGET
    print(
        f"target {'met' if met else 'NOT met'}: fused+mask disagreement <= "
        f"{DISAGREEMENT_TARGET}x single unmasked with >= {CHROMA_TARGET:.0%} of its chroma: "
        f"{dis:.2f}x at {chroma:.0%} (per camera: {per})"
    )
    if args.json:
        from dataclasses import asdict

        write_json(
            args.json,
            {
                "rows": [asdict(r) for r in report.rows],
                "summary": [asdict(r) for r in report.summary],
                "skipped": report.skipped,
            },
        )
        print(f"wrote {args.json}")
    if args.montage:
        args.montage.mkdir(parents=True, exist_ok=True)
        for cam, kept in best.items():
            print(f"wrote {write_image(args.montage / f'webcam_{cam}.png', webcam_montage(kept))}")
    return 0
