"""The ``nightlab`` command line.

Subcommands: ``process``, ``bench``, ``eval``, ``model``, ``camera``, ``doctor``;
the experiment record: ``sessions``, ``ingest``, ``capture``, ``qa``.

Each subcommand lives in its own ``cli/_<name>.py`` with ``register(subparsers)``; heavy
libraries are imported inside the command functions so ``nightlab --help`` is instant.
User mistakes (missing file, not an image, bad model) print one line and exit non-zero,
without a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sqlite3
import sys

from cli._common import CliError

__all__ = ["COMMANDS", "end_without_finalization", "main"]

#: subcommand name -> module under ``cli`` that registers it
COMMANDS: dict[str, str] = {
    "process": "cli._process",
    "bench": "cli._bench",
    "eval": "cli._eval",
    "model": "cli._model",
    "camera": "cli._camera",
    "doctor": "cli._doctor",
    "sessions": "cli._sessions",
    "ingest": "cli._ingest",
    "capture": "cli._capture",
    "qa": "cli._qa",
    "reprocess": "cli._reprocess",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nightlab",
        description="NightLab: night-time reference colorization lab tool. "
        "Without a subcommand, starts the desktop app on the simulated camera; its options "
        "(--camera, --smoke, --screenshot, --resolution, --stats) are in 'nightlab gui --help'.",
        epilog="Each command's options: nightlab COMMAND --help.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    gui = sub.add_parser("gui", help="start the desktop app (default)")
    add_gui_arguments(gui)
    for module in COMMANDS.values():
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue  # subcommand not built yet
        mod.register(sub)
    return parser


def add_gui_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--camera",
        default="sim",
        help="camera: sim (default), sim:night, sim:PATH, oak[:ID], webcam[:INDEX|URL], "
        "replay:PATH (a video, image folder or saved session)",
    )
    parser.add_argument(
        "--smoke",
        type=float,
        metavar="SECONDS",
        help="run for SECONDS then quit (for CI and screenshots)",
    )
    parser.add_argument("--screenshot", metavar="PNG", help="with --smoke: save the window")
    parser.add_argument(
        "--resolution",
        metavar="WxH",
        help="frame size of the simulated camera (default 640x480), e.g. 1280x720",
    )
    parser.add_argument(
        "--stats",
        metavar="JSON",
        help="with --smoke: write display FPS, results/s, stalls, latency",
    )


def _gui_arguments_problem(args: argparse.Namespace) -> str:
    """Why --smoke / --screenshot / --stats cannot work ("" if they can), checked before any
    window (a run that writes its figures only at the end must not fail there)."""
    import math
    from pathlib import Path

    if args.smoke is not None and not (math.isfinite(args.smoke) and args.smoke > 0):
        return f"--smoke must be a number of seconds > 0, got {args.smoke:g}"
    if args.screenshot is not None:
        shot = Path(args.screenshot)
        if args.smoke is None:
            return "--screenshot needs --smoke SECONDS (it saves the window when the run ends)"
        if shot.suffix.lower() not in (".png", ".jpg", ".jpeg", ".bmp"):
            return f"{shot}: screenshot must be .png, .jpg or .bmp"
        if problem := _output_file_problem(shot, "the screenshot"):
            return problem
        if problem := _camera_reads(shot, args.camera, "--screenshot"):
            return problem
    if args.stats is not None:
        if args.smoke is None:
            return "--stats needs --smoke SECONDS (it writes the run's figures when it ends)"
        if problem := _output_file_problem(Path(args.stats), "the stats"):
            return problem
        if problem := _camera_reads(Path(args.stats), args.camera, "--stats"):
            return problem
    return ""


def _camera_reads(path, spec: str, option: str) -> str:
    """Why ``path`` must not be written: it is a file the app's camera reads (``""`` if not)."""
    from cli._common import camera_source_files, check_not_an_input

    try:
        check_not_an_input(path, camera_source_files(spec), option, "the camera's source")
    except CliError as exc:
        return str(exc)
    return ""


def _output_file_problem(path, what: str) -> str:
    from engine.atomic import special_file_kind

    if path.is_dir():
        return f"{path}: is a folder; give {what} a file name"
    if kind := special_file_kind(path):  # a rename over /dev/stdout or a FIFO replaces it
        return f"{path}: not a regular file ({kind}); give {what} a file name"
    folder = path.parent
    if not folder.is_dir():
        return f"{path}: folder {folder} does not exist"
    if not os.access(folder, os.W_OK | os.X_OK):
        return f"{path}: folder {folder} is not writable"
    from cli._common import folder_problem  # /proc passes access() for root, refuses files

    if problem := folder_problem(folder):
        return f"{path}: {problem}"
    return ""


#: options whose value may start with "-" (``--sort -ssim_mean``: descending, as documented)
DASH_VALUE_OPTIONS = ("--sort",)


def _attach_dash_values(argv: list[str]) -> list[str]:
    """``--sort -x`` -> ``--sort=-x``: argparse would take ``-x`` for an unknown option."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        if argv[i] in DASH_VALUE_OPTIONS and i + 1 < len(argv) and argv[i + 1][1:2].isalpha():
            if argv[i + 1].startswith("-") and not argv[i + 1].startswith("--"):
                out.append(f"{argv[i]}={argv[i + 1]}")
                i += 2
                continue
        out.append(argv[i])
        i += 1
    return out


def _raise_on_stop_signals(exc_type) -> None:
    """SIGINT and SIGTERM raise ``exc_type(signum)`` in the main thread (until a command
    installs its own handling)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def handler(signum, _frame):
        raise exc_type(signum)

    for s in (signal.SIGINT, signal.SIGTERM):
        signal.signal(s, handler)


def end_without_finalization(status: int) -> None:
    """End the app's process with ``status`` once its window has closed in order, skipping
    the interpreter's finalization; never returns.

    When the window closes, the app stops the camera, joins the live workers, waits for the
    jobs and closes the store; every file it wrote went through `engine.atomic`. What is
    left for Python's finalization then is only risk: a daemon thread that comes back from
    native code while the interpreter finalizes is ended by ``pthread_exit`` (CPython
    3.11-3.13; gh-87135), and when that unwinds through a C++ frame -- OpenCV's and ONNX
    Runtime's bindings release the GIL in destructors -- the process aborts with "terminate
    called without an active exception" and status 134 after a clean run (seen in 1 of
    152 short smoke runs; `tests/test_app_exit.py` reproduces it).
    """
    import logging

    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, AttributeError):
            pass  # a closed or detached stream: nothing more can reach it
    logging.shutdown()
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    program = argv is None
    argv = sys.argv[1:] if argv is None else list(argv)
    # depthai logs a USB notice at import on machines without USB access (containers, CI),
    # which would break the one-line error promise; DEPTHAI_LEVEL=warn brings it back.
    os.environ.setdefault("DEPTHAI_LEVEL", "error")
    if not argv or (argv[0].startswith("-") and argv[0] not in ("-h", "--help")):
        argv = ["gui", *argv]  # `nightlab --smoke 5` means the app
    from cli._signals import Interrupted, interrupted_line, interruptible

    if program:
        # from the first moment: a SIGINT/SIGTERM while the command's modules load (a second
        # or more on a busy machine) ends it with the same one line, not a silent default kill
        _raise_on_stop_signals(Interrupted)
    argv = _attach_dash_values(argv)
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except Interrupted as exc:
        print(interrupted_line(argv[0], exc.signum), file=sys.stderr)
        if program:  # as below: nothing guards finalization any more
            end_without_finalization(exc.exit_code)
        return exc.exit_code
    if args.command == "gui":
        problem = _gui_arguments_problem(args)
        if problem:
            print(f"nightlab: error: {problem}", file=sys.stderr)
            return 2
        from gui.app import run_app

        try:
            status = run_app(
                camera=args.camera,
                smoke=args.smoke,
                screenshot=args.screenshot,
                stats=args.stats,
                resolution=args.resolution,
            )
        except KeyboardInterrupt as exc:  # while starting, before Qt's handler is installed
            signum = getattr(exc, "signum", signal.SIGINT)
            name = signal.Signals(signum).name
            print(f"nightlab: interrupted by {name}; closing", file=sys.stderr)
            status = 128 + signum
        if program:
            end_without_finalization(status)
        return status
    try:
        # argv None = the real program (sys.argv): a forked reaper may stand by; a command
        # called in-process (tests, embedding) must not fork its host
        if getattr(args, "handles_signals", False):
            # long commands that stop gracefully on their own (finish the item in progress,
            # record what was done, close workers) take SIGINT/SIGTERM themselves
            return int(args.func(args) or 0)
        with interruptible(args.command, reaper=program):
            return int(args.func(args) or 0)
    except Interrupted as exc:
        print(interrupted_line(args.command, exc.signum), file=sys.stderr)
        if program:
            # The command has unwound (outputs discarded, files and stores closed) and the
            # watchdog and reaper are gone: nothing guards the interpreter's finalization.
            # One CI run saw `process` print this line after a SIGTERM and then not end for
            # 60 s; "ends within a second" must not rest on finalization, so skip it as the
            # app does after its window closes.
            end_without_finalization(exc.exit_code)
        return exc.exit_code
    except CliError as exc:
        print(f"nightlab {args.command}: error: {exc}", file=sys.stderr)
        return exc.code
    except BrokenPipeError:
        # the reader left (``nightlab sessions list | head -1``): end quietly, as a program
        # killed by SIGPIPE does; stdout goes to /dev/null so the exit's flush cannot fail again
        if program:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)
        return 128 + signal.SIGPIPE
    except sqlite3.DatabaseError as exc:
        # a record damaged beyond what opening it checks (a page read mid-query): one line
        # naming the database, as the store says it at open
        if os.environ.get("NIGHTLAB_DEBUG"):
            raise
        from engine.store import DB_NAME, resolve_data_dir

        db = resolve_data_dir(getattr(args, "data_dir", None)) / DB_NAME
        name = getattr(exc, "sqlite_errorname", "") or ""  # "database is locked" is not damage
        damaged = name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))
        why = " (the record's database is damaged)" if damaged else ""
        print(f"nightlab {args.command}: error: {db}: {exc}{why}", file=sys.stderr)
        return 2
    except (ValueError, OSError, RuntimeError, ImportError) as exc:
        # engine errors are written for users: one line, no traceback
        # (set NIGHTLAB_DEBUG=1 to see the traceback when reporting a bug)
        if os.environ.get("NIGHTLAB_DEBUG"):
            raise
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        print(f"nightlab {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
