"""``nightlab process``: align a day image onto a night image, leak mask, colorize, write files."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli._common import CliError, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "process",
        help="align a day reference onto a night frame, compute the leak mask, colorize",
        description="Writes aligned_reference.png, leak_mask.png, overlay.png, "
        "colorized.png (when a model is available) and metrics.json into --out.",
    )
    p.add_argument(
        "--day",
        required=True,
        type=Path,
        action="append",
        help="day reference image (colour); repeat it to fuse several day frames into one "
        "clean reference (transients removed, stability map used by the leak mask)",
    )
    p.add_argument("--night", required=True, type=Path, help="night image (IR / low light)")
    p.add_argument("--out", required=True, type=Path, help="output folder (created)")
    p.add_argument("--model", type=Path, help="colorization model (default: the shipped one)")
    p.add_argument("--no-colorize", action="store_true", help="skip colorization")
    p.add_argument(
        "--method",
        default="auto",
        choices=["auto", "ecc", "features", "phase"],
        help="alignment method (default: auto)",
    )
    p.add_argument(
        "--motion",
        default="homography",
        choices=["translation", "euclidean", "affine", "homography"],
        help="alignment motion model (default: homography)",
    )
    p.add_argument(
        "--fixed-camera",
        action="store_true",
        help="day and night come from the same camera that was not moved: start from the "
        "identity, refine locally (full search only if that does not verify)",
    )
    p.add_argument(
        "--registration",
        default="auto",
        choices=["auto", "fixed", "translation"],
        help="with several --day: how each is registered (fixed = a camera that did not "
        "move; --fixed-camera implies it)",
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from engine._image import read_image, write_image
    from engine.overlay import mask_overlay
    from engine.pipeline import process_pair

    days = [read_image(d, mode="rgb") for d in args.day]
    night = read_image(args.night, mode="gray")
    if args.out.exists() and not args.out.is_dir():
        raise CliError(f"{args.out}: exists and is not a folder")

    colorizer = None
    if not args.no_colorize:
        colorizer = _load_colorizer(args.model)

    if len(days) == 1:
        result = process_pair(
            days[0],
            night,
            colorizer=colorizer,
            method=args.method,
            motion=args.motion,
            fixed_camera=args.fixed_camera,
        )
    else:
        from engine.pipeline import process_fused

        registration = "fixed" if args.fixed_camera else args.registration
        result = process_fused(days, night, colorizer=colorizer, registration=registration)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    metrics = result.metrics()
    day_names = [str(d) for d in args.day]
    metrics["inputs"] = {
        "day": day_names[0] if len(days) == 1 else day_names,
        "night": str(args.night),
    }
    for frame in metrics.get("day_frames", []):
        frame["path"] = day_names[frame["index"]]
    metrics["outputs"] = {}
    if not result.ok:
        write_json(out / "metrics.json", metrics)
        raise CliError(
            f"cannot align {', '.join(day_names)} onto {args.night}: {result.alignment.reason} "
            f"(metrics.json written to {out})",
            code=3,
        )
    files = {
        "aligned_reference": write_image(out / "aligned_reference.png", result.aligned_reference),
        "leak_mask": write_image(out / "leak_mask.png", result.leak_mask),
        "overlay": write_image(out / "overlay.png", mask_overlay(night, result.leak_mask)),
    }
    if result.colorized is not None:
        files["colorized"] = write_image(out / "colorized.png", result.colorized.rgb)
    metrics["outputs"] = {k: str(v) for k, v in files.items()}
    write_json(out / "metrics.json", metrics)
    a = result.alignment
    colour = f"colorized with {result.colorized.model_name}" if result.colorized else "no colour"
    print(
        f"aligned with {a.method} (score {a.score:.3f}); SSIM mean {result.ssim_mean:.3f}; "
        f"leak area {result.leak_area_pct:.1f}%; "
        f"{colour}; "
        f"total {result.timings_ms['total']:.0f} ms -> {out}"
    )
    return 0


def _load_colorizer(model: Path | None):
    try:
        from engine.colorize import load_colorizer
    except ImportError as exc:  # the colorization engine is an optional part of the install
        if model is not None:
            raise CliError(f"--model given but colorization is unavailable ({exc})") from None
        return None
    if model is not None and not model.exists():
        raise CliError(f"{model}: model file not found")
    return load_colorizer(model)
