"""``nightlab camera``: list every backend's cameras with their controls; snap one frame."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cli._common import (
    CliError,
    camera_source_files,
    check_not_an_input,
    check_output_file,
    print_json,
    print_table,
    write_json,
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("camera", help="list cameras and their controls; snap a frame")
    csub = p.add_subparsers(dest="camera_command", metavar="ACTION", required=True)

    lst = csub.add_parser("list", help="every backend: devices found, controls and ranges")
    lst.add_argument("--json", action="store_true", help="print JSON instead of tables")
    lst.set_defaults(func=run_list)

    snap = csub.add_parser("snap", help="open a camera, save one frame (and its metadata)")
    snap.add_argument(
        "spec",
        nargs="?",
        default="sim",
        help="sim (default), sim:night, oak[:ID], webcam[:INDEX|URL], replay:PATH",
    )
    snap.add_argument("--out", type=Path, required=True, help="image file to write (.png, .jpg)")
    snap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="set a control first (repeatable), e.g. --set mode=night --set iso=800",
    )
    snap.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for a frame")
    snap.add_argument(
        "--no-meta", action="store_true", help="do not write the metadata beside it (OUT.json)"
    )
    snap.set_defaults(func=run_snap)


def _range(spec) -> str:
    if not spec.supported:
        return f"unsupported: {spec.reason}"
    if spec.kind == "choice":
        return " | ".join(map(str, spec.choices))
    if spec.kind == "bool":
        return "on | off"
    if spec.minimum is None and spec.maximum is None:
        return "range unknown"
    lo = "-inf" if spec.minimum is None else f"{spec.minimum:g}"
    hi = "inf" if spec.maximum is None else f"{spec.maximum:g}"
    return f"[{lo}, {hi}]" + (f" {spec.unit}" if spec.unit else "")


def run_list(args: argparse.Namespace) -> int:
    from engine.camera import list_cameras

    listings = list_cameras()
    if args.json:
        print_json([c.to_dict() for c in listings], default=str)
        return 0
    rows = []
    for c in listings:
        fmt = ""
        if c.info is not None and c.info.resolution[0]:
            w, h = c.info.resolution
            fmt = f"{w}x{h} @ {c.info.fps:g} fps"
        status = "available" if c.available else "not available"
        rows.append([c.backend, c.spec or "-", c.name, status, fmt or c.reason or "-"])
    print_table(rows, ["BACKEND", "SPEC", "NAME", "STATUS", "FORMAT / REASON"])
    for c in listings:
        if not c.controls:
            continue
        print(f"\ncontrols of {c.spec} ({c.name}):")
        crow = [
            [s.name, s.kind, _range(s), "-" if s.default is None else str(s.default)]
            for s in c.controls.values()
        ]
        print_table(crow, ["CONTROL", "KIND", "RANGE", "DEFAULT"])
    return 0


def _parse_setting(text: str) -> tuple[str, Any]:
    name, sep, raw = text.partition("=")
    if not sep or not name.strip():
        raise CliError(f"--set expects NAME=VALUE, got {text!r}")
    raw = raw.strip()
    lowered = raw.lower()
    if lowered in ("true", "on", "yes"):
        return name.strip(), True
    if lowered in ("false", "off", "no"):
        return name.strip(), False
    try:
        return name.strip(), json.loads(raw)
    except ValueError:
        return name.strip(), raw


def run_snap(args: argparse.Namespace) -> int:
    from engine.camera import CameraError, open_camera

    settings = [_parse_setting(s) for s in args.set]
    check_output_file(args.out, "--out")
    if args.out.suffix.lower() == ".json":
        raise CliError(f"--out {args.out}: give an image file (.png, .jpg); .json is the metadata")
    _check_not_the_source(args)
    try:
        cam = open_camera(args.spec)
    except CameraError as exc:
        raise CliError(str(exc)) from None
    try:
        for name, value in settings:
            cam.set_control(name, value)
        frame = cam.snap(timeout=args.timeout)
    except CameraError as exc:
        raise CliError(str(exc)) from None
    finally:
        cam.close()
    meta = None if args.no_meta else frame.meta.to_dict()
    placed = _write_image_and_meta(args.out, frame.image, meta)
    h, w = frame.image.shape[:2]
    kind = "gray" if frame.is_gray else "RGB"
    written = " and ".join([str(placed[0]), *(p.name for p in placed[1:])])
    print(f"wrote {written}: {w}x{h} {kind} from {cam.info.name}")
    return 0


def _check_not_the_source(args: argparse.Namespace) -> None:
    """Refuse a snapshot (or its sidecar) written over a file the camera reads."""
    read = camera_source_files(args.spec)
    targets = [args.out] if args.no_meta else [args.out, args.out.with_suffix(".json")]
    for target in targets:
        check_not_an_input(target, read, "--out", "the camera's source")


def _write_image_and_meta(out: Path, image, meta: dict[str, Any] | None) -> list[Path]:
    """Write the image and its ``.json`` sidecar together or not at all; returns their paths.

    A replayed folder pairs each image with its sidecar: an image left without one (the second
    write failed: disk full, a folder in the way) would replay with made-up metadata. Both are
    written complete into a hidden staging folder beside ``out``, then renamed into place; if
    anything fails, whatever was placed is removed and the error names the file.
    """
    import os

    from engine import write_image
    from engine.atomic import StagedOutputs, fsync_dir, os_reason, special_file_kind

    names = [out.name] + ([] if meta is None else [out.with_suffix(".json").name])
    for name in names:  # refuse before writing anything (check_output_file checked --out)
        if (out.parent / name).is_dir():
            raise CliError(f"{out.parent / name}: is a folder; cannot write the snapshot there")
        if kind := special_file_kind(out.parent / name):  # the rename would replace it
            raise CliError(f"{out.parent / name}: not a regular file ({kind}); not replaced")
    try:
        staged = StagedOutputs(out.parent)
    except OSError as exc:
        raise CliError(f"cannot write {out}: {os_reason(exc)}") from None
    placed: list[Path] = []
    try:
        for name in names:  # the error names the file asked for, not the staging folder
            try:
                if name == out.name:
                    write_image(staged.path(name), image)
                else:
                    write_json(staged.path(name), meta)
            except OSError as exc:
                raise CliError(f"cannot write {out.parent / name}: {os_reason(exc)}") from None
            except ValueError as exc:  # e.g. no encoder for the suffix: "PATH: cannot encode"
                raise CliError(str(exc).replace(str(staged.path(name)), str(out))) from None
        for name in names:
            target = out.parent / name
            try:
                os.replace(staged.path(name), target)
            except OSError as exc:
                raise CliError(f"cannot write {target}: {os_reason(exc)}") from None
            placed.append(target)
        fsync_dir(out.parent)
    except BaseException:
        for p in placed:  # never an image without its metadata
            p.unlink(missing_ok=True)
        raise
    finally:
        staged.discard()
    return placed
