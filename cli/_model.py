"""``nightlab model inspect|export-fp16|camera-variant|to-blob|compiler``: a model checked and
onto the camera."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from cli._common import CliError, check_not_an_input, check_output_file

if TYPE_CHECKING:
    from engine.models import ModelIO


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "model",
        help="inspect a model, export it to FP16, compile it to a MyriadX blob",
        description="Model tools. The model contract is documented in resources/models/README.md.",
    )
    msub = p.add_subparsers(dest="model_command", metavar="ACTION", required=True)

    ins = msub.add_parser(
        "inspect",
        help="print a model's inputs/outputs and check them against its card",
        description="PATH: .onnx, .blob (parsed offline) or NN archive (.tar.xz/.tar). When "
        "<PATH>.card.json sits beside it, the card is validated and compared; mismatches are "
        "listed and the exit status is 1.",
    )
    ins.add_argument("path", type=Path, metavar="PATH")
    ins.set_defaults(func=run_inspect)

    _derived_model_parser(
        msub,
        "export-fp16",
        run_export_fp16,
        default_out="M_fp16.onnx",
        help="write an FP16 copy of an ONNX model and its updated card",
        description="Float32 weights become float16 and the graph I/O is declared float16 "
        "(the card says so). The FP16 outputs are compared with FP32 on random inputs against "
        "the card's fp16_tolerance.",
    )
    _derived_model_parser(
        msub,
        "camera-variant",
        run_camera_variant,
        default_out="M_camera.onnx",
        help="write a variant of an ONNX model whose night input takes gray levels (for the OAK)",
        description="The OAK feeds the night frame as GRAY8 gray levels, which no linear scale "
        "turns into CIE L. The variant's night input night_gray takes gray levels 0..255 and "
        "converts them to L inside the graph (Mul/Add polynomial); its card says encoding: "
        "gray8. Compile the variant with to-blob for the camera.",
    )

    blob = msub.add_parser(
        "to-blob",
        help="compile an ONNX model to a MyriadX blob (locally; --online for Luxonis' converter)",
        description="Compiles the FP16 model (an FP32 model is exported first) with OpenVINO "
        "2021.4's MYRIAD plugin on this machine (fetched and built once: see `nightlab model "
        "compiler`), checks every input/output of the card in the blob and writes "
        "M.blob.card.json (sha256, source sha256, compiler version, options). Same model and "
        "options = same bytes. The shipped blob: nightlab model to-blob "
        "resources/models/refcolor_s.onnx --camera-variant --out resources/models/refcolor_s.blob",
    )
    blob.add_argument("model", type=Path, metavar="M")
    blob.add_argument("--out", type=Path, metavar="P", help="output .blob (default M.blob)")
    blob.add_argument("--shaves", type=int, default=6, help="SHAVE cores (default 6)")
    blob.add_argument(
        "--cmx-slices", type=int, default=None, metavar="N", help="CMX slices (default: = shaves)"
    )
    blob.add_argument(
        "--input-precision",
        action="append",
        default=[],
        metavar="NAME=P",
        help="U8, FP16 or FP32 for one input (default: U8 for the camera-fed gray night input, "
        "FP16 for host-fed tensors); repeat per input",
    )
    blob.add_argument(
        "--output-precision", default="FP16", choices=["FP16", "FP32"], help="default FP16"
    )
    blob.add_argument(
        "--camera-variant",
        action="store_true",
        help="first make the camera variant (night input = the camera's gray levels, U8)",
    )
    blob.add_argument("--online", action="store_true", help="use Luxonis' converter (network)")
    blob.add_argument(
        "--tool",
        default="auto",
        choices=["auto", "blobconverter", "modelconverter"],
        help="online converter (default: the first one installed)",
    )
    blob.add_argument("--timeout", type=float, default=300.0, help="seconds (default 300)")
    blob.set_defaults(func=run_to_blob)

    comp = msub.add_parser(
        "compiler",
        help="is the local MyriadX compiler ready? --install fetches and builds it",
        description="The local compiler: the pinned openvino==2021.4.2 wheel's MYRIAD plugin "
        "(fetched once with pip, sha256-checked, into the user cache), the system library "
        "libusb-1.0, and a small tool built once from engine/models/myriad_compile.cpp with g++.",
    )
    comp.add_argument("--install", action="store_true", help="fetch the wheel, build the tool")
    comp.set_defaults(func=run_compiler)


def _derived_model_parser(
    msub: argparse._SubParsersAction,
    name: str,
    func: Callable[[argparse.Namespace], int],
    *,
    default_out: str,
    **texts: str,
) -> None:
    """An action that writes an ONNX model derived from M, and its card."""
    p = msub.add_parser(name, **texts)
    p.add_argument("model", type=Path, metavar="M")
    p.add_argument("--out", type=Path, metavar="P", help=f"output .onnx (default {default_out})")
    p.set_defaults(func=func)


def _print_tensors(io: ModelIO) -> None:
    """A model's inputs and outputs, one line each."""
    for kind, tensors in (("input", io.inputs), ("output", io.outputs)):
        for t in tensors:
            print(f"  {kind:<6}  {t.describe()}")


def run_inspect(args: argparse.Namespace) -> int:
    os.environ.setdefault("DEPTHAI_LEVEL", "error")  # no USB notice for an offline parse
    from engine.models import (
        card_path_for,
        check_against_card,
        inspect_model,
        load_card,
        sha256_file,
    )

    io = inspect_model(args.path)
    print(f"{args.path}  [{io.format}]")
    for key, value in io.info.items():
        if key != "declared":
            print(f"  {key}: {value}")
    _print_tensors(io)
    declared = io.info.get("declared")
    problems: list[str] = []
    if declared:  # NN archive: its config.json must agree with the executable too
        problems += _archive_config_problems(io, declared)
    card_path = card_path_for(args.path)
    if not card_path.is_file():
        print(f"card: none ({card_path.name} not found); nothing to check against")
        return 1 if problems else 0
    card = load_card(args.path)
    if sha256_file(args.path) != card.sha256:
        problems.append(f"sha256: file differs from the card's {card.sha256[:12]}...")
    problems += check_against_card(io, card)
    if problems:
        print(f"card: {card_path.name}: {len(problems)} mismatch(es)")
        for line in problems:
            print(f"  MISMATCH {line}")
        return 1
    print(f"card: {card_path.name}: matches ({card.name} {card.version})")
    return 0


def _archive_config_problems(io, declared) -> list[str]:
    problems = []
    for kind, real in (("inputs", io.inputs), ("outputs", io.outputs)):
        real_names = {t.name for t in real}
        for t in declared[kind]:
            if t.name not in real_names:
                problems.append(f"config.json {kind[:-1]} {t.name!r} not in the executable")
    return problems


def run_export_fp16(args: argparse.Namespace) -> int:
    """The source is verified against its card first; the copy and its card are written to a
    staging folder, checked against FP32, and only then moved into place (card last). A
    failure or an interrupt leaves nothing behind (and any earlier export untouched)."""
    from engine.evaluation import output_max_abs_diff
    from engine.models import card_path_for, default_fp16_path, export_fp16, load_card

    dst = default_fp16_path(args.model) if args.out is None else args.out
    with _staged_model(dst, args.model) as staged:
        export_fp16(args.model, dst=staged)
        has_card = card_path_for(staged).is_file()
        if has_card:
            card = load_card(staged)
            diff = output_max_abs_diff(args.model, staged)
            tol = card.fp16_tolerance
            if tol is not None and diff > tol:
                raise CliError(
                    f"{dst.name}: FP16 export differs from FP32 by {diff:.4f} > fp16_tolerance "
                    f"{tol}; nothing written"
                )
    print(f"wrote {dst}")
    if not has_card:
        print(f"(no card beside {args.model.name}: wrote the model only)")
        return 0
    print(f"wrote {card_path_for(dst)}")
    print(f"FP16 vs FP32 max abs difference: {diff:.5f} (tensor units; tolerance {tol}: within)")
    return 0


def run_camera_variant(args: argparse.Namespace) -> int:
    from engine.evaluation import output_max_abs_diff
    from engine.models import (
        card_path_for,
        default_camera_variant_path,
        fit_gray_to_l,
        with_gray_night_input,
    )

    dst = default_camera_variant_path(args.model) if args.out is None else args.out
    with _staged_model(dst, args.model) as staged:
        with_gray_night_input(args.model, dst=staged)
        diff = output_max_abs_diff(args.model, staged)
    print(f"wrote {dst}")
    print(f"wrote {card_path_for(dst)}")
    print(f"gray -> L polynomial: max error {fit_gray_to_l().max_error:.3f} L")
    print(f"variant vs source max abs output difference: {diff:.5f} (tensor units)")
    return 0


@contextlib.contextmanager
def _staged_model(dst: Path, source: Path) -> Iterator[Path]:
    """Yield where to write a derived model (and its card); on success both move to ``dst``,
    the card last, so a model never appears without its card (engine.atomic.StagedOutputs)."""
    from engine.atomic import StagedOutputs, special_file_kind
    from engine.models import card_path_for

    dst = Path(dst)
    if dst.is_dir():
        raise CliError(f"{dst}: is a folder; give the output model a file name")
    if kind := special_file_kind(dst):  # the move into place would replace it
        raise CliError(f"{dst}: not a regular file ({kind}); give the output model a file name")
    check_not_an_input(dst, [source, card_path_for(source)], "--out", "the source model")
    try:
        stage = StagedOutputs(dst.parent, marker=card_path_for(dst).name)
    except OSError as exc:
        raise CliError(f"{dst}: cannot write there ({exc.strerror or exc})") from None
    with stage:
        yield stage.path(dst.name)


def run_to_blob(args: argparse.Namespace) -> int:
    os.environ.setdefault("DEPTHAI_LEVEL", "error")  # no USB notice for an offline parse
    from engine.models import card_path_for, inspect_model, to_blob

    precisions = {}
    for item in args.input_precision:
        name, sep, prec = item.partition("=")
        if not sep or not name or not prec:
            raise CliError(f"--input-precision {item!r}: expected NAME=U8|FP16|FP32")
        precisions[name] = prec
    if args.out is not None:  # before minutes of compiling, not after them
        check_output_file(args.out, "--out")
    out = to_blob(
        args.model,
        dst=args.out,
        shaves=args.shaves,
        cmx_slices=args.cmx_slices,
        input_precision=precisions or None,
        output_precision=args.output_precision,
        camera_variant=args.camera_variant,
        online=args.online,
        tool=args.tool,
        timeout=args.timeout,
        log=print,
    )
    io = inspect_model(out)
    _print_tensors(io)
    print(f"wrote {out} ({out.stat().st_size:,} bytes, {io.info['shaves']} shaves, "
          f"{io.info['slices']} slices, {io.info['stages']} stages)")  # fmt: skip
    if card_path_for(out).is_file():
        print(f"wrote {card_path_for(out)}")
    return 0


def run_compiler(args: argparse.Namespace) -> int:
    from engine.models import (
        ModelError,
        MyriadCompiler,
        ToolchainError,
        compiler_status,
        install_compiler,
        toolchain_dir,
    )

    if args.install:
        system = [m for m in compiler_status() if not m.command.startswith("nightlab")]
        if system:
            raise CliError("local MyriadX compiler needs " + "; ".join(str(m) for m in system))
        try:
            compiler = install_compiler(log=print)
        except ToolchainError as exc:
            raise ModelError(f"local MyriadX compiler: {exc}") from None
        print(f"ready: {compiler.description}, tool {compiler.tool.name} ({toolchain_dir()})")
        return 0
    missing = compiler_status()
    for m in missing:
        print(f"missing: {m}")
    if missing:
        print("local MyriadX compiler: not available (nightlab model to-blob --online still works)")
        return 1
    print(f"local MyriadX compiler: ready ({MyriadCompiler.find().description})")
    return 0
