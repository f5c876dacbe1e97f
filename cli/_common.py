"""Shared CLI helpers: one-line errors, no tracebacks for user mistakes."""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from engine.atomic import finite_json, jsonable, special_file_kind, write_json_atomic


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status ``code``."""

    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def check_output_file(path: Path, option: str) -> None:
    """Refuse an output file that cannot be written, before the command does its work.

    ``option`` names the flag in the message (e.g. ``"--json"``). The file's folder may not
    exist yet (it is created on writing) but then its nearest existing ancestor must be a
    writable folder.
    """
    if path.is_dir():
        raise CliError(f"{option} {path}: is a folder; give a file name")
    if kind := special_file_kind(path):  # /dev/stdout, a FIFO: a rename would replace it
        raise CliError(f"{option} {path}: not a regular file ({kind}); give a file name")
    problem = folder_problem(path.parent)
    if problem:
        raise CliError(f"{option} {path}: {problem}")


def check_not_an_input(
    out: Path, inputs: Iterable[Path], option: str, what: str = "an input"
) -> None:
    """Refuse an output file that is one of the files the command reads (by any path to it):
    writing it would replace the input, and a failed run would leave neither.

    ``what`` says which input in the message (e.g. ``"the source model"``).
    """
    if not out.exists():
        return
    for inp in inputs:
        try:
            same = os.path.samefile(out, inp)
        except OSError:  # an input that is not there is not this output
            continue
        if same:
            raise CliError(
                f"{option} {out}: is {what}; the output would overwrite it, choose another name"
            )


def camera_source_files(spec: str | None) -> list[Path]:
    """The files a camera spec reads (``sim:PATH``, ``replay:PATH``: the file, or a folder
    and what is in it); none for a live camera. An output must not be one of them."""
    kind, sep, where = (spec or "").partition(":")
    if not sep or kind not in ("sim", "replay") or where in ("", "night"):
        return []
    source = Path(where)
    return [source, *(source.iterdir() if source.is_dir() else ())]


def check_image_size(image, path: Path) -> None:
    """Refuse an input image too small or too elongated to align, naming its file (before
    any work)."""
    from alignment import size_problem

    problem = size_problem(image.shape)
    if problem:
        raise CliError(f"{path}: {problem}")


def time_and_rate(seconds: float, payload_bytes: int) -> str:
    """How long a transfer took and its rate (``2.4 s, 46 MB/s``); under 0.05 s only the time
    (``under 0.1 s``): a rate over so short a time measures the clock, not the disk (an
    export timed at 0 s printed ``inf MB/s``). Under 1 MB/s the rate is in kB/s: a one-pair
    bag imported in 0.2 s printed ``0 MB/s``."""
    if not seconds >= 0.05:
        return "under 0.1 s"
    rate = payload_bytes / seconds
    if rate >= 1e6:
        return f"{seconds:.1f} s, {rate / 1e6:.0f} MB/s"
    return f"{seconds:.1f} s, {rate / 1e3:.0f} kB/s"


def size_text(n_bytes: int) -> str:
    """A size as an export says its bag's (``ExportResult.size_text``): kB under 0.1 MB, where
    ``0.0 MB`` said nothing."""
    mb = n_bytes / 1e6
    return f"{mb:.1f} MB" if mb >= 0.1 else f"{n_bytes / 1e3:.0f} kB"


def folder_problem(folder: Path) -> str:
    """Why files cannot be written into ``folder`` (created if missing); ``""`` if they can."""
    if folder.exists() and not folder.is_dir():
        return f"{folder} exists and is not a folder"
    parent = folder
    while not parent.exists():  # the nearest existing ancestor must let us create the rest
        parent = parent.parent
    if not parent.is_dir():
        return f"cannot create {folder} ({parent} is not a folder)"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"{parent} is not writable"
    if parent != folder:
        try:  # pseudo-filesystems (/proc, /sys) pass access() for root yet refuse new folders
            probe = parent / f".nightlab-probe-{os.getpid()}"
            probe.mkdir()
            probe.rmdir()
        except OSError as exc:
            why = exc.strerror or str(exc)
            if isinstance(exc, FileNotFoundError):  # the folder exists: ENOENT means "not here"
                why = f"{parent} does not accept new folders"
            return f"cannot create {folder} ({why})"
    else:  # an existing folder: /proc and /sys pass access() for root yet refuse new files
        probe = folder / f".nightlab-probe-{os.getpid()}"
        try:
            os.close(os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
            os.unlink(probe)
        except OSError as exc:
            why = exc.strerror or str(exc)
            if isinstance(exc, FileNotFoundError):  # the folder exists: ENOENT means "not here"
                why = f"{folder} does not accept new files"
            return f"cannot write into {folder} ({why})"
    return ""


def write_json(path: Path, data: Any) -> None:
    write_json_atomic(path, data, default=jsonable)


def print_json(data: Any, *, default=jsonable, file=None) -> None:
    """``data`` as indented strict JSON on stdout: NaN and infinities (a refused pair's
    metrics, a setting saved as NaN) print as null (`engine.atomic.finite_json`), never as
    the bare ``NaN`` a strict parser refuses."""
    file = file or sys.stdout
    json.dump(finite_json(data, default), file, indent=2, allow_nan=False)
    print(file=file)


def print_table(
    rows: list[list[str]], header: list[str], file=None, *, markdown: bool = False
) -> None:
    """Plain fixed-width table (no dependencies, readable in CI logs), or a markdown one."""
    file = file or sys.stdout
    if markdown:
        print("| " + " | ".join(header) + " |", file=file)
        print("|" + "|".join("---" for _ in header) + "|", file=file)
        for row in rows:
            print("| " + " | ".join(row) + " |", file=file)
        return
    cols = [header, *rows]
    widths = [max(len(str(r[i])) for r in cols) for i in range(len(header))]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    print(line, file=file)
    print("  ".join("-" * w for w in widths), file=file)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)), file=file)


def warn_if_no_colour(image, path, command: str) -> bool:
    """Print one warning line when a day reference has no colour (True if it printed).

    A gray "day" image gives the colorizer no reference colour: the result is gray, and the
    usual cause is ``--day`` and ``--night`` swapped. Not an error (alignment alone works).
    """
    from engine import has_colour

    if has_colour(image):
        return False
    print(
        f"nightlab {command}: warning: {path}: the day reference has no colour (a gray "
        "image), so the colorization will be gray; are --day and --night swapped?",
        file=sys.stderr,
    )
    return True


def flat_text(text: str) -> str:
    """``text`` with its control characters as spaces, for a line of a table: a session's
    name pasted with a tab or a newline, or a model's name from its card (someone else's
    file), keeps its row one line and its columns in place (exact in ``--json``)."""
    return "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in text)
