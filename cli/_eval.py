"""``nightlab eval``: colorization quality on registered pairs with known colour truth."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from cli._common import CliError, check_not_an_input, check_output_file, print_table

COLUMNS = (
    ("method", "method"),
    ("leak mask", "leak_mask"),
    ("PSNR dB", "psnr"),
    ("PSNR unch. dB", "psnr_unchanged"),
    ("SSIM", "ssim"),
    ("ab MAE", "ab_mae"),
    ("ΔE_ab", "ab_err"),
    ("ΔE_ab unch.", "ab_err_unchanged"),
    ("ΔE_ab changed", "ab_err_changed"),
    ("colourful.", "colourfulness"),
    ("truth col.", "colourfulness_truth"),
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "eval",
        help="colorization quality (PSNR, SSIM, ab error, colourfulness) on registered pairs",
        description="For each pair NNNN_rgb (truth) + NNNN_nir (night) in --pairs, a day "
        "reference with synthetic scene changes is made from the truth (fixed seed per pair); "
        "the default model, each --model and the classical baseline colorize the night frame "
        "with and without the leak mask. Pairs listed in an evaluated card's "
        "training.pairs_used are left out.",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--pairs",
        type=Path,
        action="append",
        metavar="DIR",
        help="folder of pairs (repeatable); NNNN_nir.npy affines register unregistered RGB",
    )
    source.add_argument(
        "--webcam",
        type=Path,
        metavar="DIR",
        help="fixed-webcam frames named YYYYMMDD_HHMMSS (or a folder of such cameras): "
        "disagreement of colorizations from earlier vs later day frames (no labels needed)",
    )
    p.add_argument(
        "--model",
        action="append",
        type=Path,
        default=[],
        metavar="M",
        help="also evaluate this model (repeatable; .onnx or its card)",
    )
    p.add_argument("--no-default", action="store_true", help="skip the shipped default model")
    p.add_argument("--csv", type=Path, metavar="OUT", help="write per-pair rows + means as CSV")
    p.add_argument("--seed", type=int, default=0, help="base seed (default 0)")
    p.add_argument("--limit", type=int, metavar="N", help="evaluate at most N pairs")
    p.add_argument(
        "--mask",
        choices=["computed", "oracle"],
        default="computed",
        help="leak mask from engine.leakmask (default) or the known change mask",
    )
    p.add_argument(
        "--leak-strength",
        type=float,
        default=None,
        help="0..1: how far masked areas fall to neutral (default: RecombineParams' value)",
    )
    p.add_argument(
        "--upsample",
        choices=["fast_guided", "guided", "bilinear"],
        default=None,
        help="chroma upsampling (default: RecombineParams' value, fast_guided)",
    )
    p.add_argument(
        "--fallback",
        choices=["surround", "neutral"],
        default=None,
        help="what masked areas fall back to (default: RecombineParams' value, surround)",
    )
    p.add_argument(
        "--passthrough",
        choices=["off", "direct", "guided"],
        default=None,
        help="the reference's full-resolution chroma passed through (default: "
        "RecombineParams' value); applies to every colorizer, the baseline too",
    )
    p.add_argument(
        "--reference",
        choices=["degraded", "perfect"],
        default="degraded",
        help="day reference: the truth re-seen with scene changes (default) or the truth itself",
    )
    p.add_argument("--threads", type=int, default=2, help="onnxruntime threads (default 2)")
    p.add_argument("--markdown", action="store_true", help="print the table as markdown")
    from cli._eval_webcam import add_webcam_arguments

    add_webcam_arguments(p)
    p.set_defaults(func=run)


def _fmt(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 1.5 else f"{value:.2f}"
    return str(value)


def run(args: argparse.Namespace) -> int:
    if args.webcam is not None:
        from cli._eval_webcam import run_webcam

        return run_webcam(args)
    from engine.colorize import RecombineParams, ReferenceTransferColorizer, load_colorizer
    from engine.evaluation import evaluate, find_pairs
    from engine.models import card_path_for, default_model_path

    if args.csv:
        check_output_file(args.csv, "--csv")  # before the run, not after it
    overrides = {}
    if args.leak_strength is not None:
        overrides["leak_strength"] = args.leak_strength
    if args.upsample is not None:
        overrides["upsample"] = args.upsample
    if args.fallback is not None:
        overrides["fallback"] = args.fallback
    if args.passthrough is not None:
        overrides["passthrough"] = args.passthrough
    params = RecombineParams(**overrides)
    paths: list[Path | None] = list(args.model)
    if not args.no_default:
        if default_model_path().is_file():
            paths.insert(0, None)
        else:
            print(
                "note: the default model is not installed; evaluating the others", file=sys.stderr
            )
    pairs = [p for folder in args.pairs for p in find_pairs(folder)]
    if args.csv:  # a pair's image or a model given as --csv would be replaced by the table
        read = [f for p in pairs for f in (p.truth, p.night, p.affine) if f is not None]
        models = [default_model_path() if m is None else m for m in paths]  # the default too
        read += [f for m in models for f in (m, card_path_for(m))]
        check_not_an_input(args.csv, read, "--csv")
    colorizers = [load_colorizer(p, threads=args.threads, params=params) for p in paths]
    names = [c.name for c in colorizers]
    if len(set(names)) != len(names):
        raise CliError(f"two models share a card name: {names}")
    exclude = sorted({pid for c in colorizers for pid in c.card.pairs_used})
    report = evaluate(
        pairs,
        colorizers,
        baseline=ReferenceTransferColorizer(params=params),
        seed=args.seed,
        limit=args.limit,
        exclude=exclude,
        mask=args.mask,
        reference=args.reference,
        progress=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    skipped = len(report.pairs_skipped)
    print(
        f"pairs: {len(report.pairs_used)} used, {len(report.pairs_excluded)} excluded as seen in "
        f"training, {skipped} skipped (unreadable), of {len(pairs)} in "
        f"{', '.join(map(str, args.pairs))} (seed {args.seed}, "
        f"reference: {args.reference}, leak mask: {args.mask}, "
        f"leak_strength {params.leak_strength}, fallback {params.fallback}, "
        f"upsample {params.upsample}, passthrough {params.passthrough})"
    )
    header = [h for h, _ in COLUMNS]
    table = [[_fmt(getattr(r, key)) for _, key in COLUMNS] for r in report.summary]
    print_table(table, header, markdown=args.markdown)
    print("means over pairs; ΔE_ab = mean Euclidean ab error (CIE Lab), unch. = unchanged region")
    for t in report.targets:
        print(f"target {'met' if t.met else 'NOT met'}: {t.name}: {t.value}")
    if args.csv:
        print(f"wrote {report.write_csv(args.csv)}")
    if skipped:  # the results stand, but a script must know that some pairs are missing
        print(f"nightlab eval: {skipped} pair(s) skipped; see the lines above", file=sys.stderr)
        return 1
    return 0
