"""``nightlab process``: align a day image onto a night image, leak mask, colorize, write files."""

from __future__ import annotations

import argparse
from pathlib import Path

from cli._common import CliError, check_image_size, folder_problem, warn_if_no_colour, write_json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "process",
        help="align a day reference onto a night frame, compute the leak mask, colorize",
        description="Writes aligned_reference.png, leak_mask.png, overlay.png, "
        "colorized.png (when a model is available) and metrics.json into --out, all or "
        "nothing: a failed or interrupted run leaves the previous outputs untouched. Inputs "
        "larger than 16 MP are processed and written at a 16 MP working resolution.",
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


#: every file ``process`` may write; ``metrics.json`` is written last and commits the set
IMAGE_OUTPUTS = ("aligned_reference.png", "leak_mask.png", "overlay.png", "colorized.png")
MARKER = "metrics.json"


def run(args: argparse.Namespace) -> int:
    """All or nothing: the outputs are written complete into a hidden staging folder inside
    ``--out``, then moved into place together with ``metrics.json`` last (engine.atomic's
    ``StagedOutputs``). A failed or interrupted run leaves the previous outputs untouched and
    nothing of its own; a folder without ``metrics.json`` holds no result."""
    from engine import read_image, write_image
    from engine.atomic import StagedOutputs
    from engine.overlay import mask_overlay
    from engine.pipeline import MAX_WORKING_PIXELS, process_pair, to_working_resolution

    out: Path = args.out
    _check_out(out, inputs=(*args.day, args.night))  # before any work
    days_full = []
    for d in args.day:
        days_full.append(read_image(d, mode="rgb"))
        check_image_size(days_full[-1], d)
        if not args.no_colorize:
            warn_if_no_colour(days_full[-1], d, "process")
    night_full = read_image(args.night, mode="gray")
    check_image_size(night_full, args.night)

    colorizer = None
    if not args.no_colorize:
        colorizer = _load_colorizer(args.model)

    # bounded memory: huge inputs are processed (and written) at a working resolution
    days, day_scales = [], []
    for d in days_full:
        small, scale = to_working_resolution(d)
        days.append(small)
        day_scales.append(scale)
    night, night_scale = to_working_resolution(night_full)
    del days_full, night_full
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
    day_names = [str(d) for d in args.day]
    # nothing touches --out until the results exist (its writability was checked up front)
    try:
        stage = StagedOutputs(out, marker=MARKER, replaces=IMAGE_OUTPUTS)
    except OSError as exc:
        raise CliError(f"{out}: cannot write the output folder here ({_why(exc)})") from None
    with stage:
        metrics = result.metrics()
        metrics["inputs"] = {
            "day": day_names[0] if len(days) == 1 else day_names,
            "night": str(args.night),
        }
        for frame in metrics.get("day_frames", []):
            frame["path"] = day_names[frame["index"]]
        metrics["outputs"] = {}
        # the fused reference lives on the first day frame's grid (frames of one camera)
        _record_working_resolution(metrics, result, days[0], night, day_scales[0], night_scale)
        if result.ok:
            images = {
                "aligned_reference": result.aligned_reference,
                "leak_mask": result.leak_mask,
                "overlay": mask_overlay(night, result.leak_mask),
            }
            if result.colorized is not None:
                images["colorized"] = result.colorized.rgb
            files = {k: write_image(stage.path(f"{k}.png"), img) for k, img in images.items()}
            metrics["outputs"] = {k: str(out / p.name) for k, p in files.items()}
            from engine.models import sha256_file

            metrics["output_sha256"] = {p.name: sha256_file(p) for p in files.values()}
        write_json(stage.path(MARKER), metrics)
    if not result.ok:
        raise CliError(
            f"cannot align {', '.join(day_names)} onto {args.night}: {result.alignment.reason} "
            f"(metrics.json written to {out})",
            code=3,
        )
    a = result.alignment
    colour = f"colorized with {result.colorized.model_name}" if result.colorized else "no colour"
    scaled = ""
    if night_scale != (1.0, 1.0):
        h, w = night.shape[:2]
        scaled = f"; processed at {w}x{h} (working maximum {MAX_WORKING_PIXELS / 1e6:g} MP)"
    fused = ""
    if len(days) > 1:
        # a day frame that did not align is left out of the reference: say which, not only
        # in metrics.json, or the operator believes every frame went in
        frames = metrics.get("day_frames", [])
        left_out = [f["path"] for f in frames if not f.get("used")]
        fused = f"fused {len(frames) - len(left_out)} of {len(frames)} day frames"
        if left_out:
            fused += f" (left out, not aligned: {', '.join(left_out)})"
        fused += "; "
    print(
        f"{fused}aligned with {a.method} (score {a.score:.3f}); SSIM mean {result.ssim_mean:.3f}; "
        f"leak area {result.leak_area_pct:.1f}%; "
        f"{colour}; "
        f"total {result.timings_ms['total']:.0f} ms{scaled} -> {out}"
    )
    return 0


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _check_out(out: Path, *, inputs: tuple[Path, ...]) -> None:
    """Refuse an unusable --out before any work: not a folder, not writable, a folder (or a
    FIFO, a device) where an output file goes, or an input that an output would overwrite."""
    import os

    from engine.atomic import special_file_kind

    problem = folder_problem(out)
    if problem:
        raise CliError(f"--out {out}: {problem}")
    if not out.exists():
        return
    for name in (*IMAGE_OUTPUTS, MARKER):
        target = out / name
        if target.is_dir():
            raise CliError(f"{target}: is a folder where an output file goes; move it away")
        if kind := special_file_kind(target):  # moving the output in would replace it
            raise CliError(f"{target}: not a regular file ({kind}) where an output goes")
        for inp in inputs:
            if target.exists() and inp.exists() and os.path.samefile(target, inp):
                raise CliError(
                    f"{inp}: is an input and would be overwritten by the output {name}; "
                    "choose another --out or rename the input"
                )


def _record_working_resolution(metrics, result, day, night, day_scale, night_scale) -> None:
    """metrics.json speaks in the input files' pixels; the working size is recorded beside."""
    import numpy as np

    sdx, sdy = day_scale
    snx, sny = night_scale
    metrics["night_size"] = [round(night.shape[1] / snx), round(night.shape[0] / sny)]
    metrics["working_size"] = {
        "night": [int(night.shape[1]), int(night.shape[0])],
        "day": [int(day.shape[1]), int(day.shape[0])],
    }
    if (sdx, sdy, snx, sny) == (1.0, 1.0, 1.0, 1.0):
        return
    m = np.asarray(result.alignment.matrix, float)
    to_file = np.diag([1.0 / snx, 1.0 / sny, 1.0]) @ m @ np.diag([sdx, sdy, 1.0])
    metrics["alignment"]["matrix_working"] = metrics["alignment"]["matrix"]
    metrics["alignment"]["matrix"] = (to_file / to_file[2, 2]).tolist()


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
